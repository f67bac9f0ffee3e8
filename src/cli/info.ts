/** `tgh-moe info`: what a checkpoint or golden file holds (metadata, config, parameter count, tensors), from its header only. */
import { TghError } from "../errors.js";
import { asFileError } from "../io/fs.js";
import { readSafetensorsHeaderFile } from "../io/node.js";
import { ITEMSIZE, type TensorInfo } from "../io/safetensors.js";
import { fromSpecJson, toSpecJson, type ModelConfig } from "../model/config.js";
import { paramSpecs } from "../model/params.js";
import { isWeightName } from "../golden/layout.js";
import { defineCommand, EXIT, type Io } from "./command.js";

export default defineCommand({
  name: "info",
  usage: "info FILE [--no-tensors]",
  help: `
Prints what a safetensors checkpoint or golden file holds, reading only its header: the metadata
(long values shortened), the config (section 9) with the parameter count it implies, the weights
found against the weights the config expects, and one line per tensor (name, dtype, shape, bytes).

options:
  --no-tensors   omit the per-tensor list`,
  options: { "no-tensors": { type: "boolean" } },
  positionals: [1, 1],
  async run(v, [file], io) {
    const header = await asFileError(file, () => readSafetensorsHeaderFile(file));
    io.out(`${file}: ${header.fileSize} bytes, ${header.tensors.length} tensors`);
    for (const [k, val] of header.metadata) if (k !== "config") io.out(`  ${k}: ${shorten(val)}`);
    const cfg = configOf(header.metadata.get("config"), io);
    const weights = header.tensors.filter((t) => isWeightName(t.name));
    const stored = weights.reduce((s, t) => s + count(t), 0);
    io.out(`weights: ${weights.length} tensors, ${stored} parameters`);
    if (cfg) describeParams(cfg, weights, io);
    if (!v["no-tensors"]) {
      const w = Math.max(...header.tensors.map((t) => t.name.length), 4);
      const shapes = header.tensors.map((t) => `[${t.shape.join(", ")}]`);
      const sw = Math.max(...shapes.map((s) => s.length), 2);
      io.out("tensors (file order: by storage dtype, then name):");
      header.tensors.forEach((t, i) => io.out(`  ${t.name.padEnd(w)}  ${t.dtype.padEnd(4)}  ${shapes[i].padEnd(sw)}  ${t.end - t.begin} bytes`));
    }
    return EXIT.ok;
  },
});

const count = (t: TensorInfo): number => (t.end - t.begin) / ITEMSIZE[t.dtype];

function shorten(s: string, max = 160): string {
  return s.length <= max ? s : `${s.slice(0, max)}... (${s.length} characters)`;
}

/** The config of the metadata, printed section by section; null (with a note) when absent or invalid. */
function configOf(text: string | undefined, io: Io): ModelConfig | null {
  if (text === undefined) {
    io.out("config: none (no __metadata__.config)");
    return null;
  }
  try {
    const cfg = fromSpecJson(text);
    io.out("config:");
    for (const [sec, keys] of Object.entries(toSpecJson(cfg))) io.out(`  ${sec}: ${JSON.stringify(keys)}`);
    return cfg;
  } catch (e) {
    if (!(e instanceof TghError)) throw e;
    io.out(`config: invalid (${e.message})`);
    return null;
  }
}

/** Parameter count of the config, and how the file's weights compare with the config's names and shapes. */
function describeParams(cfg: ModelConfig, weights: TensorInfo[], io: Io): void {
  const specs = paramSpecs(cfg);
  let total = 0;
  for (const shape of specs.values()) total += shape.reduce((a, b) => a * b, 1);
  const have = new Map(weights.map((t) => [t.name, t]));
  const missing = [...specs.keys()].filter((n) => !have.has(n));
  const unknown = weights.filter((t) => !specs.has(t.name)).map((t) => t.name);
  const badShape = [...specs].filter(([n, s]) => have.has(n) && String(have.get(n)!.shape) !== String(s)).map(([n]) => n);
  io.out(`config expects: ${specs.size} weight tensors, ${total} parameters${cfg.lm.tieEmbeddings ? " (head tied to lm.embed.weight)" : ""}`);
  const list = (xs: string[]) => `${xs.slice(0, 5).join(", ")}${xs.length > 5 ? `, ... (${xs.length})` : ""}`;
  if (missing.length + unknown.length + badShape.length === 0) io.out("  every expected weight present with its shape, none unknown");
  if (missing.length) io.out(`  missing: ${list(missing)}`);
  if (unknown.length) io.out(`  not in the config: ${list(unknown)}`);
  if (badShape.length) io.out(`  wrong shape: ${list(badShape)}`);
}
