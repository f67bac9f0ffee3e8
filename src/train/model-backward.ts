/**
 * The backward of the whole model (src/model/model.ts:forward), reading the tape in reverse: loss ->
 * LM -> image splice -> projector -> encoder blocks (top down, MoE blocks adding into dg) -> slice
 * embedding, and the text side: dg -> text_proj -> prompt mean -> embedding table. It stops at the
 * lowest layer below which nothing trains (`BackwardPlan`); the rest of the tape is left unread.
 * `lossAndGrads` is forward-with-tape plus this, the unit a training step is made of.
 * Legend: B batch · D depth · S=1+n^2 · C width · m image tokens · L text tokens · d LM width.
 */
import type { Backend } from "../backend/backend.js";
import { textGuided, type ModelConfig } from "../model/config.js";
import { split2x2, tileRows } from "../model/layout.js";
import { forward, imageRowsOf, type ForwardInput, type ForwardOutput } from "../model/model.js";
import { scope, type Params } from "../model/params.js";
import { addPatchGrad } from "../model/patch-loss.js";
import { blockWeights } from "../model/vit.js";
import { Tape } from "../model/tape.js";
import { Tensor, type F32Tensor } from "../tensor.js";
import { Grads, type Ctx } from "./grads.js";
import { crossEntropyBackward, embeddingBackward, lmBackward, spliceImageBackward, textGuidanceBackward } from "./lm-backward.js";
import { moeSublayerBackward, type AuxCoef } from "./moe-backward.js";
import { trains } from "./ops.js";
import { attentionSublayerBackward, embedSlicesBackward, mlpBackward, mlpSublayerBackward } from "./vit-backward.js";

/**
 * Which gradients the backward must form, from the trainable set. Block l of the encoder runs when
 * it trains, or feeds dg (an MoE block, while text_proj or the embedding table trains), or something
 * below it needs its input's gradient.
 */
export interface BackwardPlan {
  runBlock: boolean[]; // per vision block: run its backward
  blockInput: boolean[]; // per vision block: form the gradient of its input
  embed: boolean; // the slice embedding trains
  g: boolean; // the text guidance g needs a gradient (text_proj or lm.embed train)
  projectorInput: boolean; // the encoder output needs a gradient
  lmInput: boolean; // the LM input embeddings need a gradient
}

export function backwardPlan(cfg: ModelConfig, grads: Grads): BackwardPlan {
  const v = cfg.vision;
  const embed = ["vision.patch_embed.", "vision.class_embed", "vision.pos_embed", "vision.pre_norm."].some((p) => grads.any(p));
  const g = textGuided(cfg) && (grads.any("moe.text_proj.") || grads.wants("lm.embed.weight"));
  const own = (l: number) => grads.any(`vision.blocks.${l}.`) || (g && v.moeLayers.includes(l));
  const blockInput: boolean[] = [], runBlock: boolean[] = [];
  let below = embed;
  for (let l = 0; l < v.layers; l++) {
    blockInput.push(below);
    runBlock.push(below || own(l));
    below = runBlock[l];
  }
  const projectorInput = below;
  return { runBlock, blockInput, embed, g, projectorInput, lmInput: projectorInput || grads.any("projector.") || grads.wants("lm.embed.weight") };
}

/** Options of one backward: the loss scale (1 / micro-batches), applied to every loss term. */
export interface BackwardOptions {
  scale?: number;
}

/** Runs the backward of the forward recorded on ctx.tape, adding every gradient into ctx.grads. */
export function modelBackward(ctx: Ctx, cfg: ModelConfig, o: BackwardOptions = {}): void {
  const { be, tape, grads } = ctx;
  const scale = o.scale ?? 1;
  const m = tape.pop("model");
  const plan = backwardPlan(cfg, grads);
  const [B, L] = m.ids.shape;
  // total = ce + alpha mean(L_bal) + beta mean(L_task): each term's weight, times the loss scale
  const coef: AuxCoef = {
    balance: m.losses.balance.length ? (scale * m.alpha) / m.losses.balance.length : 0,
    task: m.losses.task.length ? (scale * m.beta) / m.losses.task.length : 0,
  };
  const dLogits = crossEntropyBackward(be, m.logits, m.ids, m.seq, m.losses.ce === null ? 0 : scale, m.emphasis);
  const dx = lmBackward(ctx, cfg.lm, dLogits, plan.lmInput); // [B, L, d]
  if (!dx) return;
  const mTokens = m.seq.imagePos[0]?.length ?? 0;
  const spliced = spliceImageBackward(be, dx, m.seq, mTokens), de = spliced.de;
  const dz = m.volumeOf ? sumPerVolume(be, spliced.dz, m.volumeOf, m.volumes) : spliced.dz; // [U, m, d]
  const dg = plan.g ? new Tensor("f32", [B, cfg.vision.width]) : null;
  if (plan.projectorInput || grads.any("projector.")) {
    const dEnc = projectBackward(ctx, cfg, dz, plan.projectorInput);
    if (dEnc && m.patch) addPatchGrad(dEnc, m.patch.dz, scale * m.patch.weight); // gamma L_patch reads the encoder output too
    if (dEnc) encodeBackward(ctx, cfg, dEnc, dg, coef, plan);
  }
  // the embedding table feeds the LM (de) and, through the prompt mean and text_proj, g (dg)
  const dGuide = dg && m.s ? textGuidanceBackward(ctx, dg, m.s, m.seq, L) : null;
  embeddingBackward(ctx, dGuide ? be.add(de, dGuide) : de, m.ids);
}

/** z[b] = zU[volumeOf[b]]: dzU[u] = sum of dz[b] over the sequences b of volume u, in order of b. */
function sumPerVolume(be: Backend, dz: F32Tensor, volumeOf: Int32Array, U: number): F32Tensor {
  const [B, mTokens, d] = dz.shape;
  const out = new Tensor("f32", [U * mTokens, d]);
  be.scatterAddRows(out, dz.reshape([B * mTokens, d]), imageRowsOf(volumeOf, mTokens));
  return out.reshape([U, mTokens, d]);
}

/**
 * Z = MLP(merge(x)) at "projector": dt = MLP'(dZ); merge' = spread the depth mean back (1/depth_pool
 * to each pooled slice), undo the 2x2 merge, put zero rows at the class tokens (they were dropped).
 */
export function projectBackward(ctx: Ctx, cfg: ModelConfig, dZ: F32Tensor, needDx: boolean): F32Tensor | null {
  const { be } = ctx;
  const s = ctx.tape.pop("project");
  const dt = mlpBackward(ctx, scope(ctx.params, "projector"), cfg.projector.act, dZ, needDx); // [B, m, 4C]
  if (!dt) return null;
  const [B, D, S, C] = s.xShape;
  const n = Math.round(Math.sqrt(S - 1)), dp = cfg.projector.depthPool, Dp = D / dp, R = (n / 2) * (n / 2) * 4 * C;
  let dm = dt.reshape([B * Dp, R]);
  if (dp > 1) dm = tileRows(be.scale(dm, 1 / dp), dp); // mean over dp slices: each gets 1/dp
  const patches = split2x2(dm.reshape([B, D, n / 2, n / 2, 4 * C])).reshape([B * D, n * n, C]);
  const dx = new Tensor("f32", [B * D, S, C]); // class-token rows stay 0
  for (let i = 0; i < B * D; i++) dx.data.set(patches.data.subarray(i * n * n * C, (i + 1) * n * n * C), (i * S + 1) * C);
  return dx.reshape([B, D, S, C]);
}

/** The encoder's blocks top down (the MLP or MoE sublayer, then attention), then the embedding. */
function encodeBackward(ctx: Ctx, cfg: ModelConfig, dX: F32Tensor, dg: F32Tensor | null, coef: AuxCoef, plan: BackwardPlan): void {
  const v = cfg.vision;
  const s = ctx.tape.pop("encode");
  const [B, D, S, C] = s.shape;
  let dx: F32Tensor | null = dX;
  for (let l = v.layers - 1; l >= 0 && dx; l--) {
    if (!plan.runBlock[l]) return;
    const P = scope(ctx.params, `vision.blocks.${l}`), W = blockWeights(P);
    const volume = l >= v.layers - v.volumeLayers;
    const dy: F32Tensor = dx.reshape(volume ? [B, D * S, C] : [B * D, S, C]);
    const needDh = plan.blockInput[l] || trains(ctx, W.qkv, W.proj, W.ln1);
    const dh: F32Tensor | null = v.moeLayers.includes(l)
      ? moeSublayerBackward(ctx, P, cfg, dy, coef, dg, needDh)
      : mlpSublayerBackward(ctx, P, v, dy, needDh);
    dx = dh ? attentionSublayerBackward(ctx, P, v, dh, plan.blockInput[l]) : null;
  }
  if (dx && plan.embed) embedSlicesBackward(ctx, v, dx.reshape([B, D, S, C]));
}

/** Options of lossAndGrads: the forward's loss weights and labels, and the loss scale. */
export interface LossAndGradsOptions extends BackwardOptions {
  alpha?: number;
  beta?: number;
  patchLoss?: number;
}

/**
 * One micro-batch: forward with a tape, then the backward of its total loss (times `scale`),
 * accumulated into `grads`. Returns the forward's output (losses, trace, logits).
 */
export function lossAndGrads(be: Backend, params: Params, cfg: ModelConfig, input: ForwardInput, grads: Grads, o: LossAndGradsOptions = {}): ForwardOutput {
  const tape = new Tape();
  const out = forward(be, params, cfg, input, { alpha: o.alpha, beta: o.beta, patchLoss: o.patchLoss, tape });
  modelBackward({ be, params, grads, tape }, cfg, { scale: o.scale });
  return out;
}
