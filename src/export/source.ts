/**
 * What an export reads from a safetensors file: the config (`__metadata__.config`) and the weights
 * of that config, from a checkpoint or a golden file alike (a tokenizer, inputs, act.* and optimizer
 * state may be there and are not needed). Also the default volume depth: a golden file's input,
 * else a checkpoint's preprocess grid, else none.
 */
import { loadChecked, parseHeader, type Expected } from "../io/safetensors.js";
import { configOfMetadata, type ModelConfig } from "../model/config.js";
import { paramSpecs, type Params } from "../model/params.js";
import type { F32Tensor } from "../tensor.js";

export interface ExportSource {
  cfg: ModelConfig;
  params: Params;
  /** Slices of the file's input.volume (golden) or preprocess grid (checkpoint); null when neither says. */
  depth: number | null;
}

export function readExportSource(bytes: Uint8Array, file: string): ExportSource {
  const header = parseHeader(bytes, file);
  const cfg = configOfMetadata(header.metadata.get("config"), file, "expected a checkpoint or a golden file");
  const expected = new Map<string, Expected>();
  for (const [name, shape] of paramSpecs(cfg)) expected.set(name, { shape, dtype: "f32" });
  const loaded = loadChecked(bytes, expected, { file, allowUnknown: true });
  const params: Params = new Map();
  for (const name of expected.keys()) params.set(name, loaded.get(name) as F32Tensor);
  const volume = header.tensors.find((t) => t.name === "input.volume");
  let depth: number | null = volume?.shape.length === 5 ? volume.shape[2] : null;
  const pre = header.metadata.get("preprocess");
  if (depth === null && pre !== undefined) {
    try {
      const grid = (JSON.parse(pre) as { grid?: unknown }).grid;
      if (Array.isArray(grid) && Number.isInteger(grid[0])) depth = grid[0] as number;
    } catch {
      // a malformed preset says nothing about the depth; --depth decides
    }
  }
  return { cfg, params, depth };
}
