/**
 * Backward of the ViT pieces (src/model/vit.ts), one function per forward, each reading its tape
 * entry: the MLP (every expert and the projector share it), the MLP and attention sublayers, and the
 * slice embedding. Each returns the gradient of its input (or null when nothing below needs it) and
 * adds the weight gradients into ctx.grads. The math is written above each function.
 * Legend: N sequences · T tokens each · C width · hid MLP width · B batch · D depth · S=1+n^2.
 */
import type { Activation } from "../backend/backend.js";
import { actBackward, attentionBackward, layerNormBackward, patchEmbedBackward, ropeBackward } from "../backend/grad.js";
import type { VisionConfig } from "../model/config.js";
import { dropFirstRow, joinLast } from "../model/layout.js";
import { scope, type ParamScope } from "../model/params.js";
import { blockWeights, embedWeights, mlpWeights } from "../model/vit.js";
import { fromInts, permute, type F32Tensor } from "../tensor.js";
import type { Ctx } from "./grads.js";
import { colSum, linearBackward, linearBackwardDx, trains } from "./ops.js";

/**
 * F(u) = fc2(act(fc1(u))) with the weights under P ("vision.blocks.0.mlp", "projector", ...), dy [..., C]:
 *   dh = dy W2 (dW2 += dy^T h, db2 += 1^T dy);  dz = dh * act'(z);  du = dz W1 (dW1 += dz^T u, db1 += 1^T dz).
 */
export function mlpBackward(ctx: Ctx, P: ParamScope, act: Activation, dy: F32Tensor, needDu: boolean): F32Tensor | null {
  const s = ctx.tape.pop("mlp");
  if (!needDu && !trains(ctx, P)) return null;
  const { fc1, fc2 } = mlpWeights(P);
  const needDh = needDu || trains(ctx, fc1);
  const dh = linearBackward(ctx, dy, s.h, fc2, needDh);
  if (!dh) return null;
  const dz = actBackward(ctx.be, act, s.z, dh);
  return linearBackward(ctx, dz, s.u, fc1, needDu);
}

/**
 * y = x + F(u), u = LN2(x):  dx = dy + LN2'(du), du = F'(dy). `dy` and the result have x's shape.
 */
export function mlpSublayerBackward(ctx: Ctx, P: ParamScope, v: VisionConfig, dy: F32Tensor, needDx: boolean): F32Tensor | null {
  const s = ctx.tape.pop("mlpSublayer");
  const W = blockWeights(P);
  const needDu = needDx || trains(ctx, W.ln2);
  const du = mlpBackward(ctx, W.mlp, v.act, dy, needDu);
  return du ? layerNormInputBackward(ctx, W.ln2, du, s.x, v.normEps, needDx ? dy : null) : null;
}

/**
 * y = x + a Wp^T + bp, a = attention(q, k, v) per head, [q; k; v] = rope?(u Wqkv^T + bqkv), u = LN1(x):
 *   da = dy Wp;  dq, dk, dv = attention'(da) (probabilities recomputed);  rotary: dq, dk rotated back
 *   by -pos;  du = [dq; dk; dv] Wqkv;  dx = dy + LN1'(du).
 */
export function attentionSublayerBackward(ctx: Ctx, P: ParamScope, v: VisionConfig, dy: F32Tensor, needDx: boolean): F32Tensor | null {
  const s = ctx.tape.pop("attn");
  const W = blockWeights(P);
  if (!needDx && !trains(ctx, W.qkv, W.proj, W.ln1)) return null;
  const { be } = ctx;
  const da = linearBackwardDx(ctx, dy, s.a, W.proj);
  let { dq, dk, dv } = attentionBackward(be, da, s.q, s.k, s.v, s.a, { heads: v.heads });
  if (s.rope) {
    const o = { heads: v.heads, base: s.rope.base, sections: s.rope.sections };
    dq = ropeBackward(be, dq, s.rope.pos, o);
    dk = ropeBackward(be, dk, s.rope.pos, o);
  }
  const needDu = needDx || trains(ctx, W.ln1);
  const du = linearBackward(ctx, joinLast([dq, dk, dv]), s.u, W.qkv, needDu);
  return du ? layerNormInputBackward(ctx, W.ln1, du, s.x, v.normEps, needDx ? dy : null) : null;
}

/**
 * u = LayerNorm(x) with the weights under N (weight, bias): adds dgamma, dbeta; returns residual + dx
 * when a residual gradient is given (the sublayer's x + ...), else null.
 */
export function layerNormInputBackward(ctx: Ctx, N: ParamScope, du: F32Tensor, x: F32Tensor, eps: number, residual: F32Tensor | null): F32Tensor | null {
  const { be, grads } = ctx;
  const r = layerNormBackward(be, du.reshape(x.shape), x, N("weight"), eps);
  grads.add(be, N.key("weight"), r.dgamma);
  grads.add(be, N.key("bias"), r.dbeta);
  return residual ? be.add(residual, r.dx.reshape(residual.shape)) : null;
}

/**
 * X = pre_norm(tokens + pos_embed), tokens = [class_embed ; patchEmbed(volume, W3)] per slice,
 * W3[:, :, tau] = W2 / t. dX [B, D, S, C]:
 *   dtokens = pre_norm'(dX);  dpos_embed = sum over slices of dtokens;  dclass_embed = sum over
 *   slices of dtokens[:, 0];  dW3 = patchEmbed'(dtokens[:, 1:], volume);  dW2 = sum_tau dW3[:, :, tau] / t.
 */
export function embedSlicesBackward(ctx: Ctx, v: VisionConfig, dX: F32Tensor): void {
  const s = ctx.tape.pop("embed");
  const { be, params, grads } = ctx;
  const P = scope(params, "vision"), E = embedWeights(P);
  const pos = P.key(E.posEmbed), cls = P.key(E.classEmbed), patch = E.patch.key("weight");
  const [B, Dt, S, C] = s.x.shape;
  const r = layerNormBackward(be, dX, s.x, E.preNorm("weight"), v.normEps);
  grads.add(be, E.preNorm.key("weight"), r.dgamma);
  grads.add(be, E.preNorm.key("bias"), r.dbeta);
  const dtok = r.dx.reshape([B * Dt, S, C]);
  if (grads.wants(pos)) grads.add(be, pos, colSum(be, dtok.reshape([B * Dt, S * C])));
  if (grads.wants(cls)) {
    const classRows = fromInts([B * Dt], Array.from({ length: B * Dt }, (_, i) => i * S)); // token 0 of every slice
    grads.add(be, cls, colSum(be, be.gatherRows(dtok.reshape([B * Dt * S, C]), classRows)));
  }
  if (grads.wants(patch)) {
    const n = Math.round(Math.sqrt(S - 1)), t = v.depthPatch;
    const dpatches = dropFirstRow(dtok).reshape([B, Dt, n * n, C]);
    const dW3 = patchEmbedBackward(be, dpatches, s.volume, [C, v.cIn, t, v.patch, v.patch]); // [C, cIn, t, p, p]
    // W3[:, :, tau] = W2 / t for every tau: dW2 = sum_tau dW3[:, :, tau] / t
    const dW2 = t === 1 ? dW3 : be.scale(be.sum(permute(dW3, [0, 1, 3, 4, 2])), 1 / t);
    grads.add(be, patch, dW2);
  }
}
