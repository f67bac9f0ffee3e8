/**
 * What the demo page computes, without the page: read a checkpoint, make a seeded synthetic CT
 * sample, preprocess it with the checkpoint's preset, generate an answer (greedy), draw the routing
 * map. No DOM here, so the browser test reruns exactly this in Node and compares the bits.
 * Legend: D,H,W volume · C width · T tasks · E experts · k top-k · L text tokens · V vocab.
 */
import { parseModel } from "../src/api.js";
import type { Backend } from "../src/backend/backend.js";
import { makeSample, type Sample } from "../src/data/dataset.js";
import type { Shape3 } from "../src/data/geometry.js";
import { FormatError, fmtShape } from "../src/errors.js";
import { generate, type GenerateResult, type GeneratedToken } from "../src/generate.js";
import { readSafetensors } from "../src/io/safetensors.js";
import { fromSpecJson, type ModelConfig } from "../src/model/config.js";
import { paramSpecs, type Params } from "../src/model/params.js";
import { preprocess, preprocessPreset, validatePreset, type PreprocessPreset } from "../src/preprocess/index.js";
import type { F32Tensor } from "../src/tensor.js";
import { BpeTokenizer } from "../src/tokenizer/bpe.js";
import { routingMaps } from "../src/viz/routing-map.js";

/** The report requests offered first; the sample's own questions follow them on the page. */
export const DEMO_PROMPTS: readonly string[] = ["Generate a radiology report.", "Describe the findings of this scan."];

export interface DemoModel {
  cfg: ModelConfig;
  params: Params;
  tokenizer: BpeTokenizer;
  preset: PreprocessPreset;
  /** "golden" for a golden vector file (seeded, untrained weights), else "checkpoint". */
  kind: "golden" | "checkpoint";
  /** The file's __metadata__ as stored. */
  metadata: Map<string, string>;
}

/**
 * A checkpoint (src/api.ts parseModel: strict, weights under the spec names, config, tokenizer,
 * optional preprocess preset) or a golden vector file (section 8), whose act.* and input.* tensors
 * parseModel rejects as not parameters: its weights are taken by name and shape-checked. The preset:
 * metadata `preprocess`, else the built-in one named by `preset`, else one whose grid fits the model.
 */
export function readModel(bytes: Uint8Array, file = "checkpoint"): DemoModel {
  const { tensors, metadata } = readSafetensors(bytes, { file });
  if (!tensors.has("act.lm.logits")) {
    const c = parseModel(bytes, file);
    return { cfg: c.cfg, params: c.params, tokenizer: c.tokenizer, preset: c.preprocess ?? presetOf(c.cfg, metadata, file), kind: "checkpoint", metadata };
  }
  const need = (key: string) => {
    const v = metadata.get(key);
    if (v === undefined) throw new FormatError(`${file}: __metadata__.${key}: missing (a golden file carries its config and tokenizer)`);
    return v;
  };
  const cfg = fromSpecJson(need("config"));
  const tokenizer = BpeTokenizer.deserialize(need("tokenizer"));
  const params: Params = new Map();
  for (const [name, shape] of paramSpecs(cfg)) {
    const t = tensors.get(name);
    if (!t) throw new FormatError(`${file}: ${name}: missing`);
    if (t.dtype !== "f32" || t.shape.join() !== shape.join()) {
      throw new FormatError(`${file}: ${name}: expected f32 ${fmtShape(shape)}, got ${t.dtype} ${fmtShape(t.shape)}`);
    }
    params.set(name, t as F32Tensor);
  }
  return { cfg, params, tokenizer, preset: presetOf(cfg, metadata, file), kind: "golden", metadata };
}

function presetOf(cfg: ModelConfig, metadata: Map<string, string>, file: string): PreprocessPreset {
  const json = metadata.get("preprocess");
  if (json !== undefined) return validatePreset(JSON.parse(json), `${file}: __metadata__.preprocess`);
  const names = [metadata.get("preset"), "tiny", "small", "m3d", "phi3v"].filter((n): n is string => n !== undefined);
  for (const name of names) {
    try {
      const p = preprocessPreset(name);
      if (p.grid[1] === cfg.vision.image && p.grid[2] === cfg.vision.image) return p;
    } catch {
      // not a built-in preset name: try the next
    }
  }
  throw new FormatError(`${file}: no preprocessing preset fits image ${cfg.vision.image}: store one as __metadata__.preprocess`);
}

export interface DemoSample {
  sample: Sample; // the synthetic CT in HU on the source grid, with its report and questions
  volume: F32Tensor; // [1, 1, D, H, W] the model input: windowed, scaled to [0, 1], resized to the preset grid
}

/** The source grid: the preset's grid with at least 16 slices of 64 x 64, so the page shows detail. */
export function sourceGrid(preset: PreprocessPreset): Shape3 {
  const [D, H, W] = preset.grid;
  return [Math.max(D, 16), Math.max(H, 64), Math.max(W, 64)];
}

/** Sample `index` of the synthetic dataset with master seed `seed`, preprocessed for the model. */
export function demoSample(model: DemoModel, seed: number, index: number): DemoSample {
  const sample = makeSample(seed, index, sourceGrid(model.preset));
  const { data } = preprocess({ data: sample.volumeHU, shape: sample.shape, spacing: sample.spacing, affine: sample.affine }, model.preset);
  return { sample, volume: data };
}

export interface DemoResult {
  gen: GenerateResult;
  /** The routing map of every MoE layer as one PNG (null without MoE layers). */
  png: Uint8Array | null;
}

export interface DemoOptions {
  prompt: string;
  maxNewTokens?: number;
  onToken?: (e: GeneratedToken) => void;
  signal?: AbortSignal;
}

/** Greedy generation on the sample (task from the task gate), then the routing map of its trace. */
export async function runDemo(be: Backend, model: DemoModel, s: DemoSample, o: DemoOptions): Promise<DemoResult> {
  const gen = await generate(
    { cfg: model.cfg, params: model.params, tokenizer: model.tokenizer, backend: be },
    { volume: s.volume, prompt: o.prompt, maxNewTokens: o.maxNewTokens ?? 24, onToken: o.onToken, signal: o.signal },
  );
  const D = s.volume.dim(2), H = s.volume.dim(3), W = s.volume.dim(4);
  const png = gen.routing.length === 0 ? null : routingMaps({
    volume: s.volume.data.subarray(0, D * H * W), cfg: model.cfg, traces: gen.routing, sample: 0, opts: { scale: Math.max(1, Math.floor(96 / H)) },
  });
  return { gen, png };
}

/** SHA-256 of bytes as hex (WebCrypto: browsers in a secure context, and Node >= 20). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", new Uint8Array(bytes)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Base64 of bytes, in chunks (String.fromCharCode takes a bounded number of arguments). */
export function bytesToBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
