/**
 * The whole TGH-MoE forward pass (spec sections 1-6): volume + token ids -> logits, routing trace,
 * losses and (optionally) the section 8 `act.*` tensors. The one forward: training, `encode` and
 * generation all run forwardPrefix, then lm.ts:lmForward (generation with a KV cache).
 * Legend: B batch · U distinct volumes · D,H,W volume · S=1+n^2 · C width · T tasks · k top-k ·
 * L text tokens · V vocab · m image tokens · d_lm = lm width.
 */
import type { Backend } from "../backend/backend.js";
import { DTypeError, ShapeError, ValueError, fmtShape } from "../errors.js";
import { Tensor, fromInts, type F32Tensor, type I32Tensor } from "../tensor.js";
import { textGuided, type ModelConfig } from "./config.js";
import { encode, type EncodeResult } from "./encoder.js";
import { crossEntropy, lmForward, parseSequence, promptMean, spliceImage } from "./lm.js";
import type { MoeTrace } from "./moe.js";
import { patchLoss, type PatchLoss } from "./patch-loss.js";
import { getParam, scope, type Params } from "./params.js";
import { imageTokens, project } from "./projector.js";
import type { Tape } from "./tape.js";
import type { Losses, SequenceLayout } from "./types.js";
import { embedSlices } from "./vit.js";

export interface ForwardInput {
  volume: F32Tensor; // [B, 1, D, H, W] (or [B, c_in, D, H, W])
  ids: I32Tensor; // [B, L], the section 6 sequence, right-padded with tokens.pad
  /** Task labels [B] (0 = report, 1 = vqa): hard routing follows them (training) and L_task is computed. */
  task?: Int32Array | readonly number[] | null;
  /**
   * Sequences that share a volume [B]: row b of ids reads volume row volumeOf[b], and `volume` holds
   * only the U distinct volumes [U, 1, D, H, W], each encoded once. The same logits as the volumes
   * repeated; only for an encoder that does not read the text or the task (no MoE layers).
   */
  volumeOf?: Int32Array | null;
  /**
   * Training only: which finding kinds cover each patch of each input slice [B (U with volumeOf) *
   * D * n^2], bit k for PATCH_KINDS[k]: with ForwardOptions.patchLoss, the patch finding loss.
   */
  cover?: Uint8Array | null;
  /**
   * Training only: how much each target token counts within its sequence's mean [B * L] (row b,
   * position pos: the target ids[b, pos]; lm.ts targetWeights), finite and >= 0 with a positive
   * sum over each sequence's targets. Absent: 1 everywhere.
   */
  emphasis?: Float32Array | null;
}
export interface ForwardOptions {
  /** Collect the section 8 activations (act.embed, act.blocks.<l>, ..., act.lm.logits). */
  acts?: boolean;
  /** Weights of mean(L_bal) and mean(L_task) in the total (spec: 0.01, 0.1). */
  alpha?: number;
  beta?: number;
  /** Weight of the patch finding loss L_patch (src/model/patch-loss.ts) in the total; needs ForwardInput.cover. Absent: 0. */
  patchLoss?: number;
  /** Record what the backward needs (training: src/train/model-backward.ts); inference passes none. */
  tape?: Tape;
}
export interface ForwardOutput {
  logits: F32Tensor; // [B, L, V]
  trace: MoeTrace[]; // one per MoE layer, in block order
  losses: Losses;
  acts?: Map<string, Tensor>;
}

export function forward(be: Backend, params: Params, cfg: ModelConfig, input: ForwardInput, o: ForwardOptions = {}): ForwardOutput {
  const { volume, ids } = input;
  const volumeOf = input.volumeOf ?? null;
  checkInput(cfg, volume, ids, volumeOf, "forward");
  const labels = input.task == null ? null : Int32Array.from(input.task);
  const acts = o.acts ? new Map<string, Tensor>() : undefined;
  const { tape } = o;
  const { seq, s, enc, x } = forwardPrefix(be, params, cfg, volume, ids, { labels, volumeOf, acts, tape });
  const logits = lmForward(be, params, cfg.lm, x, tape); // [B, L, V]
  acts?.set("act.lm.logits", logits);

  const emphasis = input.emphasis ?? null;
  if (emphasis) checkEmphasis(emphasis, seq, ids);
  const ce = crossEntropy(logits, ids, seq, emphasis);
  const mean = (xs: { value: number }[]) => (xs.length ? xs.reduce((s, x) => s + x.value, 0) / xs.length : 0);
  const alpha = o.alpha ?? 0.01, beta = o.beta ?? 0.1;
  const gamma = o.patchLoss ?? 0;
  const patch = gamma > 0 ? patchLossOf(enc.x, input.cover, cfg.vision.depthPatch) : null;
  const total = (ce ?? 0) + alpha * mean(enc.balance) + beta * mean(enc.task) + (patch ? gamma * patch.value : 0);
  const losses: Losses = { ce, balance: enc.balance, task: enc.task, total, ...(patch ? { patch: patch.value } : {}) };
  tape?.push("model", { ids, seq, s, logits, losses, alpha, beta, volumeOf, volumes: volume.dim(0), patch: patch ? { dz: patch.dz, weight: gamma } : null, emphasis });
  return { logits, trace: enc.traces, losses, acts };
}

export interface PrefixOptions {
  labels?: Int32Array | null; // task labels [B]: hard routing (ForwardInput.task)
  volumeOf?: Int32Array | null; // as ForwardInput.volumeOf
  acts?: Map<string, Tensor>; // receives act.embed, act.text_guide, act.blocks.*, act.projector
  tape?: Tape;
}
export interface Prefix {
  seq: SequenceLayout; // where the image, prompt and targets are in ids
  s: F32Tensor | null; // [B, d_lm] prompt mean (text-guided configs), g = text_proj(s)
  enc: EncodeResult; // the vision encoder's output, routing traces and MoE losses
  z: F32Tensor; // [B, m, d_lm] projector output (act.projector), per sequence
  x: F32Tensor; // [B, L, d_lm] the LM input: embedding(ids) with z spliced at the <image> positions
}

/**
 * Everything before the language model, for inputs already checked (checkInput): slice embedding,
 * token embeddings, text guidance g from the prompt mean, the encoder, the projector, the splice.
 */
export function forwardPrefix(be: Backend, params: Params, cfg: ModelConfig, volume: F32Tensor, ids: I32Tensor, o: PrefixOptions = {}): Prefix {
  const { acts, tape } = o, volumeOf = o.volumeOf ?? null;
  const seq = parseSequence(ids, cfg.tokens);
  const x0 = embedSlices(be, scope(params, "vision"), cfg.vision, volume, tape); // [U, D, S, C]
  acts?.set("act.embed", x0);
  const e = be.embedding(getParam(params, "lm.embed.weight"), ids); // [B, L, d_lm]
  let g: F32Tensor | null = null, s: F32Tensor | null = null;
  if (textGuided(cfg)) {
    const T = scope(params, "moe.text_proj");
    s = promptMean(be, e, seq); // [B, d_lm]
    g = be.linear(s, T("weight"), T("bias")); // g = W_s s + b_s [B, C]
    acts?.set("act.text_guide", g);
  }
  const enc = encode(be, params, cfg, x0, { g, labels: o.labels ?? null, acts, tape });
  const zU = project(be, params, cfg, enc.x, tape); // [U, m, d_lm] (U = B without volumeOf)
  const z = volumeOf ? be.gatherRows(zU.reshape([zU.dim(0) * zU.dim(1), zU.dim(2)]), imageRowsOf(volumeOf, zU.dim(1))).reshape([ids.dim(0), zU.dim(1), zU.dim(2)]) : zU; // [B, m, d_lm]
  acts?.set("act.projector", z);
  return { seq, s, enc, z, x: spliceImage(e, seq, z) };
}

/** ForwardInput.emphasis: [B * L] values, finite and >= 0, each sequence with targets having a positive sum over them. */
function checkEmphasis(emphasis: Float32Array, seq: SequenceLayout, ids: I32Tensor): void {
  const [B, L] = ids.shape;
  if (!(emphasis instanceof Float32Array) || emphasis.length !== B * L) throw new ShapeError(`forward: emphasis: expected a Float32Array of B*L = ${B}*${L} = ${B * L} values, got ${emphasis instanceof Float32Array ? emphasis.length : typeof emphasis}`);
  const sums = new Float64Array(B);
  for (const { b, pos } of seq.targets) {
    const f = emphasis[b * L + pos];
    if (!(Number.isFinite(f) && f >= 0)) throw new ValueError(`forward: emphasis[${b}, ${pos}]: expected a finite number >= 0, got ${f}`);
    sums[b] += f;
  }
  const bad = seq.targets.find(({ b }) => !(sums[b] > 0));
  if (bad) throw new ValueError(`forward: emphasis: expected a positive sum over the targets of sequence ${bad.b}, got 0`);
}

/** L_patch of the encoder output, or a clear error when the input has no cover marks. */
function patchLossOf(x: F32Tensor, cover: Uint8Array | null | undefined, depthPatch: number): PatchLoss {
  if (!cover) throw new ValueError("forward: cover: expected the patch cover marks (ForwardInput.cover) with patchLoss > 0, got none");
  return patchLoss(x, cover, depthPatch);
}

/** The rows of the U volumes' image tokens [U*m, d] that the B sequences read, in order [B*m]. */
export function imageRowsOf(volumeOf: Int32Array, m: number): I32Tensor {
  const idx = new Int32Array(volumeOf.length * m);
  volumeOf.forEach((u, b) => { for (let j = 0; j < m; j++) idx[b * m + j] = u * m + j; });
  return fromInts([idx.length], idx);
}

/**
 * The volume rule of every entry point (forward, generate, encode): a Tensor<f32> [B, 1 or c_in,
 * D, image, image], D a positive multiple of depth_patch*depth_pool. Errors name `op`; returns m.
 */
export function checkVolume(cfg: ModelConfig, volume: F32Tensor, op: string): number {
  if (!(volume instanceof Tensor) || volume.dtype !== "f32") {
    throw new DTypeError(`${op}: volume: expected a Tensor<f32> [B, 1, D, H, W], got ${String((volume as { dtype?: unknown })?.dtype ?? typeof volume)}`);
  }
  const v = cfg.vision, dp = v.depthPatch * cfg.projector.depthPool;
  const [, ch, D, H, W] = volume.shape;
  if (volume.rank !== 5 || (ch !== 1 && ch !== v.cIn) || H !== v.image || W !== v.image || D === 0 || D % dp !== 0) {
    throw new ShapeError(`${op}: volume: expected [B, 1, D, ${v.image}, ${v.image}] with D a multiple of depth_patch*depth_pool=${dp}, got ${fmtShape(volume.shape)}`);
  }
  return imageTokens(cfg, D);
}

/** checkVolume, then ids [B, L] (i32) against it, or against volumeOf. */
export function checkInput(cfg: ModelConfig, volume: F32Tensor, ids: I32Tensor, volumeOf: Int32Array | null, op: string): void {
  checkVolume(cfg, volume, op);
  if (ids?.dtype !== "i32") throw new DTypeError(`${op}: ids: expected a Tensor<i32> [B, L], got ${String(ids?.dtype)}`);
  const B = volume.dim(0);
  if (volumeOf) return checkVolumeOf(cfg, B, ids, volumeOf, op);
  if (ids.rank !== 2 || ids.dim(0) !== B) throw new ShapeError(`${op}: ids: expected [B=${B}, L], got ${fmtShape(ids.shape)}`);
}

function checkVolumeOf(cfg: ModelConfig, U: number, ids: I32Tensor, volumeOf: Int32Array, op: string): void {
  if (cfg.vision.moeLayers.length > 0) throw new ValueError(`${op}: volumeOf: expected a model without MoE layers (its encoder reads the text), got moe_layers [${cfg.vision.moeLayers.join(", ")}]`);
  if (ids.rank !== 2 || ids.dim(0) !== volumeOf.length) throw new ShapeError(`${op}: ids: expected [B=${volumeOf.length} (volumeOf's length), L], got ${fmtShape(ids.shape)}`);
  const bad = volumeOf.findIndex((u) => !(Number.isInteger(u) && u >= 0 && u < U));
  if (bad >= 0) throw new ValueError(`${op}: volumeOf[${bad}]: expected a volume row in [0, ${U}), got ${volumeOf[bad]}`);
}
