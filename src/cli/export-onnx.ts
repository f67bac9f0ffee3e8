/** `tgh-moe export-onnx`: a checkpoint or golden file -> encoder.onnx and lm.onnx in a folder (docs/EXPORT.md). */
import { exportOnnx } from "../export/build.js";
import { writeOnnxFolder } from "../export/files.js";
import { readExportSource } from "../export/source.js";
import { readBytes } from "../io/fs.js";
import { defineCommand, EXIT, integer, oneOf, required } from "./command.js";

export default defineCommand({
  name: "export-onnx",
  usage: "export-onnx --checkpoint FILE --out DIR [--depth D] [--weights f32|f16] [--trace on|off] [--external-threshold BYTES]",
  help: `
Exports a model (a checkpoint or a golden file: its config and weights; the tokenizer is not
needed) to two ONNX graphs (opset 17, standard operators only) in DIR:
  encoder.onnx  volume [B, 1, D, H, W] and the prompt sequence ids [B, L] -> act.embed,
                act.text_guide, act.blocks.<l> (and the routing trace), act.projector
  lm.onnx       ids [B, n], image tokens [B, m, d], past.<l>.key/value [B, KV, P, dh]
                -> logits [B, n, V], present.<l>.key/value [B, KV, P+n, dh]
A graph whose weights exceed the threshold keeps them in <name>.onnx.data beside it.
Check the export with: tgh-moe verify GOLDEN --onnx DIR.

options:
  --checkpoint FILE          the model: a checkpoint or a golden file
  --out DIR                  the folder to write (created if needed)
  --depth D                  slices of the volume grid of encoder.onnx (default: a golden file's input,
                             a checkpoint's preprocess grid, else 4 * depth_patch * depth_pool)
  --weights f32|f16          weight storage (default f32); f16 weights are cast to float32 in the graph
  --trace on|off             routing trace outputs act.blocks.<l>.moe.* (default on)
  --external-threshold BYTES weights above this many bytes go to an external data file (default 2080374784)`,
  options: {
    checkpoint: { type: "string" }, out: { type: "string" }, depth: { type: "string" },
    weights: { type: "string", default: "f32" }, trace: { type: "string", default: "on" }, "external-threshold": { type: "string" },
  },
  positionals: [0, 0],
  async run(v, _, io) {
    const out = required("export-onnx", "out", v.out);
    const weightDtype = oneOf("export-onnx", "weights", v.weights, ["f32", "f16"] as const);
    const trace = oneOf("export-onnx", "trace", v.trace, ["on", "off"] as const) === "on";
    const depth = v.depth === undefined ? undefined : integer("export-onnx", "depth", v.depth, 1, 4096);
    const externalThreshold = v["external-threshold"] === undefined ? undefined : integer("export-onnx", "external-threshold", v["external-threshold"], 0, Number.MAX_SAFE_INTEGER);
    const file = required("export-onnx", "checkpoint", v.checkpoint);
    const src = readExportSource(await readBytes(file), file);
    const exp = await exportOnnx(src.cfg, src.params, { depth: depth ?? src.depth ?? undefined, weightDtype, trace, externalThreshold });
    const paths = await writeOnnxFolder(out, exp);
    for (const [name, enc] of exp.files) {
      io.out(`${name}: ${enc.model.length} bytes${enc.external ? ` + ${name}.data (${enc.weightBytes} bytes of weights)` : ""}, opset ${exp.opset}, ${weightDtype} weights, volume depth ${exp.depth}`);
    }
    io.err(`wrote ${paths.length} files in ${out}`);
    return EXIT.ok;
  },
});
