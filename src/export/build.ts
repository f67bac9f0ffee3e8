/**
 * `exportOnnx`: a model (config + weights) -> two ONNX graphs, `encoder.onnx` (vision encoder,
 * TGH-MoE and projector for one volume grid, the text guidance computed from the prompt's ids
 * inside the graph) and `lm.onnx` (the language model with a KV cache, prefill and decode steps),
 * each with its weights inline or, above the threshold, in `<name>.onnx.data`. Bytes in memory;
 * writing a folder is ./files.ts. Layout and use: docs/EXPORT.md.
 * Legend: B batch · D,H,W volume · L text tokens · d lm width.
 */
import type { Backend } from "../backend/backend.js";
import { createBackend } from "../backend/index.js";
import { ValueError } from "../errors.js";
import { textGuided, toSpecJson, type ModelConfig } from "../model/config.js";
import { checkParams, type Params } from "../model/params.js";
import { Graph, OPSET, type EncodedModel } from "./graph.js";
import { lmGraph } from "./lm.js";
import { embedTokens, textGuide } from "./text.js";
import { visionGraph } from "./vision.js";

/** The file names of an export (the data files exist only when the weights go external). */
export const ONNX_FILES = { encoder: "encoder.onnx", lm: "lm.onnx" } as const;

export interface ExportOptions {
  /** Slices D of the volume grid the encoder graph is built for (default: the config's preprocess depth, else 4 * depth_patch * depth_pool). */
  depth?: number;
  /** Routing trace outputs act.blocks.<l>.moe.{pi, group, topk_idx, topk_w} (default true). */
  trace?: boolean;
  /** "f32" (default) or "f16" weights (stored float16, cast to float32 inside the graph). */
  weightDtype?: "f32" | "f16";
  /** Weight bytes above which a graph's weights go to its external data file (default just under 2 GiB). */
  externalThreshold?: number;
  /** Computes the rotary tables (default: the wasm backend). */
  backend?: Backend;
  /** "all" (default) or "encoder" alone (then only its weights are needed: vision.*, moe.text_proj.*, projector.*, lm.embed.weight). */
  graphs?: "all" | "encoder";
}

export interface OnnxExport {
  /** encoder.onnx and lm.onnx (unless graphs "encoder") by file name, each with its external data when there is some. */
  files: Map<string, EncodedModel>;
  depth: number;
  opset: number;
}

/** Both graphs for the model (config validated; weights checked against it). */
export async function exportOnnx(cfg: ModelConfig, params: Params, o: ExportOptions = {}): Promise<OnnxExport> {
  const all = (o.graphs ?? "all") === "all";
  if (all) checkParams(params, cfg); // the encoder alone reads its weights by name (getParam: a missing one is named)
  const v = cfg.vision, unit = v.depthPatch * cfg.projector.depthPool;
  const depth = o.depth ?? 4 * unit;
  if (!Number.isInteger(depth) || depth < unit || depth % unit !== 0) {
    throw new ValueError(`exportOnnx: depth: expected a positive multiple of depth_patch*depth_pool=${unit}, got ${String(depth)}`);
  }
  const be = o.backend ?? await createBackend("wasm");
  const storage = { weightDtype: o.weightDtype ?? "f32" };
  if (storage.weightDtype !== "f32" && storage.weightDtype !== "f16") throw new ValueError(`exportOnnx: weightDtype: expected "f32" or "f16", got ${JSON.stringify(storage.weightDtype)}`);
  const metadata = { spec: "tgh-moe/1", config: JSON.stringify(toSpecJson(cfg)), depth: String(depth) };
  const files = new Map<string, EncodedModel>();

  const enc = new Graph("tgh-moe-encoder", storage);
  const volume = enc.input({ name: "volume", type: "float", dims: ["batch", "channels", depth, v.image, v.image] });
  const ids = enc.input({ name: "ids", type: "int64", dims: ["batch", "tokens"] });
  const guide = textGuided(cfg) ? textGuide(enc, params, cfg, ids, embedTokens(enc, params, ids), "act.text_guide") : null;
  const acts = visionGraph(enc, params, cfg, volume, guide, { depth, trace: o.trace ?? true, backend: be });
  if (guide) enc.output(guide, { name: "act.text_guide", type: "float", dims: ["batch", v.width] });
  for (const a of acts) enc.output(a.name, a);
  files.set(ONNX_FILES.encoder, enc.finish({ dataFile: `${ONNX_FILES.encoder}.data`, externalThreshold: o.externalThreshold, metadata, docString: "TGH-MoE vision encoder, TGH-MoE and projector" }));

  if (!all) return { files, depth, opset: OPSET };
  const lm = new Graph("tgh-moe-lm", storage);
  lmGraph(lm, params, cfg, be);
  files.set(ONNX_FILES.lm, lm.finish({ dataFile: `${ONNX_FILES.lm}.data`, externalThreshold: o.externalThreshold, metadata, docString: "TGH-MoE language model with KV cache" }));
  return { files, depth, opset: OPSET };
}
