/** `tgh-moe verify`: recomputes every act.* of a golden file and compares (exit 0 pass, 1 mismatch, 2 malformed). */
import { createBackend } from "../backend/index.js";
import { readOnnxFolder } from "../export/files.js";
import { verifyGoldenOnnx } from "../export/verify.js";
import { formatReport, verifyGolden } from "../golden/verify.js";
import { readBytes } from "../io/fs.js";
import { backendOption, defineCommand, EXIT } from "./command.js";

export default defineCommand({
  name: "verify",
  usage: "verify FILE [--backend wasm|reference | --onnx DIR]",
  help: `
Checks a golden file (ours or a port's; only the spec's names and the metadata are used): the
spec string, the config, every weight of the config (present, right shape, nothing unknown), the
inputs and every act.* of spec section 8. Then recomputes every act.* from the weights and inputs
and prints one line per tensor in forward order (shape, max abs and max rel error, or for integer
tensors the number of differing entries; pass/FAIL), the tokenizer cross-check, and a summary
naming the first tensor that diverges.

A float tensor passes when |ours - ref| <= atol + rtol*|ref| everywhere (atol, rtol from the file);
groups and top-k indices must be equal.

With --onnx DIR the act.* are recomputed instead by the graphs that tgh-moe export-onnx wrote in DIR
(exported from the same file) on onnxruntime-web (CPU); same checks, same report.

exit codes: 0 everything passes, 1 a mismatch, 2 a malformed file or a usage error.

options:
  --backend NAME   wasm (default) or reference (float64 accumulation, slower)
  --onnx DIR       run the exported ONNX graphs in DIR (needs onnxruntime-web installed)`,
  options: { backend: { type: "string", default: "wasm" }, onnx: { type: "string" } },
  positionals: [1, 1],
  async run(v, [file], io) {
    const backend = backendOption("verify", v.backend); // checked first: a usage error before any file is read
    const report = v.onnx !== undefined
      ? await verifyGoldenOnnx(await readBytes(file), await readOnnxFolder(v.onnx), { file })
      : await verifyGolden(await readBytes(file), { backend: await createBackend(backend), file });
    for (const line of formatReport(report)) io.out(line);
    return report.pass ? EXIT.ok : EXIT.mismatch;
  },
});
