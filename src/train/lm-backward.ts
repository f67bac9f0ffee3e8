/**
 * Backward of the language model and its sequence plumbing (src/model/lm.ts): cross-entropy over
 * the answer tokens, the (tied) head and final RMSNorm, each block (SwiGLU MLP, causal GQA attention
 * with rotary q, k, RMSNorms), the image splice and the prompt mean. Weight gradients go to ctx.grads.
 * Legend: B batch · L text tokens · V vocab · d LM width · F MLP hidden · NH heads · dh head size.
 */
import { attentionBackward, rmsNormBackward, ropeBackward, swigluBackward } from "../backend/grad.js";
import type { Backend } from "../backend/backend.js";
import type { LmConfig } from "../model/config.js";
import { lmBlockWeights, targetWeights } from "../model/lm.js";
import type { SequenceLayout } from "../model/types.js";
import { getParam, scope, type ParamScope } from "../model/params.js";
import { Tensor, fromInts, type F32Tensor, type I32Tensor } from "../tensor.js";
import type { Ctx } from "./grads.js";
import { linearBackward, linearBackwardDx } from "./ops.js";

/** The gradient of the loss w.r.t. the logit rows that are CE targets: rows [Nt] (b*L + pos - 1), dz [Nt, V]. */
export interface LogitGrad {
  rows: I32Tensor;
  dz: F32Tensor;
}

/**
 * ce = sum_targets w_t (logsumexp(z_{b,pos-1}) - z_{b,pos-1}[ids[b,pos]]), w = targetWeights (a mean
 * over sequences of their mean token loss, weighted by `emphasis` when given):
 *   dz_{b,pos-1} = scale w_t (softmax(z_{b,pos-1}) - onehot(ids[b,pos])), every other row 0.
 */
export function crossEntropyBackward(be: Backend, logits: F32Tensor, ids: I32Tensor, seq: SequenceLayout, scale: number, emphasis?: Float32Array | null): LogitGrad {
  const [B, L, V] = logits.shape;
  const Nt = seq.targets.length;
  const rows = fromInts([Nt], seq.targets.map(({ b, pos }) => b * L + pos - 1));
  const p = be.softmax(be.gatherRows(logits.reshape([B * L, V]), rows)); // [Nt, V]
  seq.targets.forEach(({ b, pos }, t) => (p.data[t * V + ids.data[b * L + pos]] -= 1)); // one float32 subtraction each
  const w = targetWeights(seq, emphasis);
  for (let t = 0; t < Nt; t++) {
    const f = Math.fround(scale * w[t]), row = p.data.subarray(t * V, (t + 1) * V);
    for (let v = 0; v < V; v++) row[v] *= f; // float32 products, the same in every engine
  }
  return { rows, dz: p };
}

/**
 * logits = h E^T (E = lm.embed.weight tied, or lm.head.weight), h = RMSNorm(x): only the target
 * rows carry gradient, so dE += dz^T h_rows and dh = scatter(dz E); dx = RMSNorm'(dh).
 */
export function lmHeadBackward(ctx: Ctx, lm: LmConfig, g: LogitGrad): F32Tensor {
  const { be, params, grads } = ctx;
  const s = ctx.tape.pop("lmHead");
  const [B, L, d] = s.h.shape;
  const head = lm.tieEmbeddings ? "lm.embed.weight" : "lm.head.weight";
  const hRows = be.gatherRows(s.h.reshape([B * L, d]), g.rows); // [Nt, d]
  if (grads.wants(head)) be.matmul(g.dz, hRows, { transA: true, accumulate: grads.slot(head) });
  const dh = new Tensor("f32", [B * L, d]);
  be.scatterAddRows(dh, be.matmul(g.dz, getParam(params, head)), g.rows);
  const r = rmsNormBackward(be, dh.reshape([B, L, d]), s.x, getParam(params, "lm.norm.weight"), lm.normEps);
  grads.add(be, "lm.norm.weight", r.dgamma);
  return r.dx;
}

/**
 * q = rope(h Wq^T), k = rope(h Wk^T), v = h Wv^T, a = causal GQA attention, y = a Wo^T:
 *   da = dy Wo;  dq, dk, dv = attention'(da) (dk, dv summed over the heads of a kv group);
 *   dq, dk rotated back by -pos;  dh = dq Wq + dk Wk + dv Wv.
 */
export function lmAttentionBackward(ctx: Ctx, P: ParamScope, lm: LmConfig, dy: F32Tensor): F32Tensor {
  const { be } = ctx;
  const s = ctx.tape.pop("lmAttn");
  const W = lmBlockWeights(P);
  const da = linearBackwardDx(ctx, dy, s.a, W.o);
  const r = attentionBackward(be, da, s.q, s.k, s.v, s.a, { heads: lm.heads, kvHeads: lm.kvHeads, causal: true });
  const dq = ropeBackward(be, r.dq, s.pos, { heads: lm.heads, base: lm.ropeBase });
  const dk = ropeBackward(be, r.dk, s.pos, { heads: lm.kvHeads, base: lm.ropeBase });
  const dh = be.add(linearBackwardDx(ctx, dq, s.h, W.q), linearBackwardDx(ctx, dk, s.h, W.k));
  return be.add(dh, linearBackwardDx(ctx, r.dv, s.h, W.v));
}

/**
 * x1 = x + Attn(RMSNorm1(x)), y = x1 + down(silu(gate(h2)) * up(h2)), h2 = RMSNorm2(x1):
 *   dff = dy Wdown;  dgate, dup = swiglu'(dff);  dh2 = dgate Wgate + dup Wup;  dx1 = dy + RMSNorm2'(dh2);
 *   dx = dx1 + RMSNorm1'(Attn'(dx1)).
 */
export function lmBlockBackward(ctx: Ctx, P: ParamScope, lm: LmConfig, dy: F32Tensor): F32Tensor {
  const { be, grads } = ctx;
  const s = ctx.tape.pop("lmBlock");
  const W = lmBlockWeights(P);
  const dff = linearBackwardDx(ctx, dy, s.ff, W.down);
  const { dgate, dup } = swigluBackward(be, s.gate, s.up, dff);
  const dh2 = be.add(linearBackwardDx(ctx, dgate, s.h2, W.gate), linearBackwardDx(ctx, dup, s.h2, W.up));
  const n2 = rmsNormBackward(be, dh2, s.x1, W.norm2("weight"), lm.normEps);
  grads.add(be, W.norm2.key("weight"), n2.dgamma);
  const dx1 = be.add(dy, n2.dx);
  const dh1 = lmAttentionBackward(ctx, P, lm, dx1);
  const n1 = rmsNormBackward(be, dh1, s.x, W.norm1("weight"), lm.normEps);
  grads.add(be, W.norm1.key("weight"), n1.dgamma);
  return be.add(dx1, n1.dx);
}

/**
 * The whole LM from the logit gradient down to its input embeddings x [B, L, d]. Blocks below which
 * nothing trains are skipped (`needInput` false: the input's gradient is not wanted either); their
 * tape entries are then left unread. Returns dx, or null when not needed.
 */
export function lmBackward(ctx: Ctx, lm: LmConfig, g: LogitGrad, needInput: boolean): F32Tensor | null {
  let dx = lmHeadBackward(ctx, lm, g);
  for (let l = lm.layers - 1; l >= 0; l--) {
    const below = needInput || Array.from({ length: l }, (_, j) => j).some((j) => ctx.grads.any(`lm.blocks.${j}.`));
    if (!below && !ctx.grads.any(`lm.blocks.${l}.`)) return null;
    dx = lmBlockBackward(ctx, scope(ctx.params, `lm.blocks.${l}`), lm, dx);
  }
  return needInput ? dx : null;
}

/**
 * x = e with the rows at the image positions replaced by z [B, m, d]: dz = dx at those rows;
 * de = dx with those rows zeroed (the embedding of <image> reached nothing).
 */
export function spliceImageBackward(be: Backend, dx: F32Tensor, seq: SequenceLayout, m: number): { dz: F32Tensor; de: F32Tensor } {
  const [B, L, d] = dx.shape;
  const imageRows = seq.imagePos.flatMap((pos, b) => pos.map((p) => b * L + p));
  const dz = be.gatherRows(dx.reshape([B * L, d]), fromInts([imageRows.length], imageRows)).reshape([B, m, d]);
  const de = dx.clone();
  for (const r of imageRows) de.data.fill(0, r * d, (r + 1) * d);
  return { dz, de };
}

/**
 * g = W_s s + b_s (moe.text_proj), s = prompt mean of e: ds = dg W_s (dW_s += dg^T s, db_s += 1^T dg),
 * then de = promptMean'(ds). Returns de [B, L, d], or null when the embedding table is frozen.
 */
export function textGuidanceBackward(ctx: Ctx, dg: F32Tensor, s: F32Tensor, seq: SequenceLayout, L: number): F32Tensor | null {
  const ds = linearBackward(ctx, dg, s, scope(ctx.params, "moe.text_proj"), ctx.grads.wants("lm.embed.weight"));
  return ds ? promptMeanBackward(ctx.be, ds, seq, L) : null;
}

/** e = embedding(lm.embed.weight, ids): every row of de is added into its token's row of the table. */
export function embeddingBackward(ctx: Ctx, de: F32Tensor, ids: I32Tensor): void {
  if (!ctx.grads.wants("lm.embed.weight")) return;
  const d = de.dim(-1);
  ctx.be.scatterAddRows(ctx.grads.slot("lm.embed.weight"), de.reshape([ids.size, d]), ids.reshape([ids.size]));
}

/** s = (mask e) / count per sample: de += mask^T (ds / count), i.e. each prompt row gets ds[b] / count[b]. */
export function promptMeanBackward(be: Backend, ds: F32Tensor, seq: SequenceLayout, L: number): F32Tensor {
  const [B, d] = ds.shape;
  const dsum = be.divRows(ds, seq.promptCount).reshape([B, 1, d]);
  return be.matmul(seq.promptMask.reshape([B, 1, L]), dsum, { transA: true }); // [B, L, d]
}
