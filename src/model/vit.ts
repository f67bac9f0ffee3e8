/**
 * The 2D ViT pieces (spec section 2): slice embedding, the pre-norm attention sublayer (fused qkv,
 * optional rotary for volume blocks) and the dense MLP sublayer. Composed from Backend ops only.
 * Legend: B batch · D depth · p patch · n=W/p · S=1+n^2 · C width · NH heads · dh head size.
 */
import type { Activation, Backend } from "../backend/backend.js";
import { ShapeError, fmtShape } from "../errors.js";
import type { F32Tensor, I32Tensor } from "../tensor.js";
import type { VisionConfig } from "./config.js";
import { inflateDepth } from "./inflate.js";
import { prependRow, splitLast } from "./layout.js";
import type { ParamScope } from "./params.js";
import type { Tape } from "./tape.js";
import type { RopeSpec } from "./types.js";

/** The weights of the slice embedding under "vision" (spec section 2); class and position embeddings are single tensors (leaf names). */
export function embedWeights(P: ParamScope) {
  return { patch: P.at("patch_embed"), classEmbed: "class_embed", posEmbed: "pos_embed", preNorm: P.at("pre_norm") };
}
/** The weights of one pre-norm block under "vision.blocks.<l>" (spec sections 2, 4): attention, norms, MLP or MoE. */
export function blockWeights(P: ParamScope) {
  return { ln1: P.at("ln1"), qkv: P.at("attn.qkv"), proj: P.at("attn.proj"), ln2: P.at("ln2"), mlp: P.at("mlp"), moe: P.at("moe") };
}
/** The weights of an MLP (block MLP, every expert, the projector). */
export function mlpWeights(P: ParamScope) {
  return { fc1: P.at("fc1"), fc2: P.at("fc2") };
}

/**
 * volume [B, 1 or cIn, D, H, W] -> X [B, D/t, S, C]: per slice (or depth patch of t slices) the
 * strided patch convolution, the class token first, + pos_embed, then pre_norm (this is `act.embed`).
 */
export function embedSlices(be: Backend, P: ParamScope, v: VisionConfig, volume: F32Tensor, tape?: Tape): F32Tensor {
  const [B, , D, H, W] = volume.shape;
  if (volume.rank !== 5 || H !== v.image || W !== v.image || D % v.depthPatch !== 0) {
    throw new ShapeError(`embedSlices: volume: expected [B, 1, D, ${v.image}, ${v.image}] with D divisible by depth_patch=${v.depthPatch}, got ${fmtShape(volume.shape)}`);
  }
  const C = v.width, n = v.image / v.patch, S = 1 + n * n, Dt = D / v.depthPatch;
  const E = embedWeights(P);
  const w2 = E.patch("weight"); // [C, cIn, p, p]
  const w3 = v.depthPatch === 1 ? w2.reshape([C, v.cIn, 1, v.patch, v.patch]) : inflateDepth(w2, v.depthPatch);
  const patches = be.patchEmbed(volume, w3).reshape([B * Dt, n * n, C]); // [B*D, n^2, C]
  const tokens = prependRow(patches, P(E.classEmbed)); // [B*D, S, C]
  const x = be.addBias(tokens.reshape([B * Dt, S * C]), P(E.posEmbed).reshape([S * C])).reshape([B, Dt, S, C]); // + pos_embed[S, C]
  tape?.push("embed", { volume, x });
  return be.layerNorm(x, E.preNorm("weight"), E.preNorm("bias"), v.normEps);
}

/** u [N, T, C] -> q, k, v [N, T, C] from the fused [3C, C] projection (q, k, v order); rotary on q and k if given. */
export function qkv(be: Backend, P: ParamScope, u: F32Tensor, heads: number, rope?: RopeSpec): { q: F32Tensor; k: F32Tensor; v: F32Tensor } {
  const W = blockWeights(P).qkv;
  let [q, k, v] = splitLast(be.linear(u, W("weight"), W("bias")), 3);
  if (rope) {
    q = be.rope(q, rope.pos, { heads, base: rope.base, sections: rope.sections });
    k = be.rope(k, rope.pos, { heads, base: rope.base, sections: rope.sections });
  }
  return { q, k, v };
}

/** x [N, T, C] -> x + proj(softmax(q k^T / sqrt(dh)) v), q, k, v from ln1(x). */
export function attentionSublayer(be: Backend, P: ParamScope, x: F32Tensor, v: VisionConfig, rope?: RopeSpec, tape?: Tape): F32Tensor {
  const W = blockWeights(P);
  const u = be.layerNorm(x, W.ln1("weight"), W.ln1("bias"), v.normEps);
  const { q, k, v: val } = qkv(be, P, u, v.heads, rope);
  const a = be.attention(q, k, val, { heads: v.heads }); // [N, T, C]
  tape?.push("attn", { x, u, q, k, v: val, a, rope });
  return be.add(x, be.linear(a, W.proj("weight"), W.proj("bias")));
}

/** F(u) = fc2(act(fc1(u))): the block MLP, and the shape of every expert. u [..., C] -> [..., C]. */
export function mlp(be: Backend, P: ParamScope, u: F32Tensor, act: Activation, tape?: Tape): F32Tensor {
  const { fc1, fc2 } = mlpWeights(P);
  const z = be.linear(u, fc1("weight"), fc1("bias")); // [..., hid]
  const h = be.act(act, z);
  tape?.push("mlp", { u, z, h });
  return be.linear(h, fc2("weight"), fc2("bias"));
}

/** x [N, T, C] -> x + MLP(ln2(x)). */
export function mlpSublayer(be: Backend, P: ParamScope, x: F32Tensor, v: VisionConfig, tape?: Tape): F32Tensor {
  const W = blockWeights(P);
  const u = be.layerNorm(x, W.ln2("weight"), W.ln2("bias"), v.normEps);
  const y = mlp(be, W.mlp, u, v.act, tape);
  tape?.push("mlpSublayer", { x });
  return be.add(x, y);
}

/** One dense pre-norm block: x = x + Attn(LN1(x)); x = x + MLP(LN2(x)). */
export function denseBlock(be: Backend, P: ParamScope, x: F32Tensor, v: VisionConfig, rope?: RopeSpec, tape?: Tape): F32Tensor {
  return mlpSublayer(be, P, attentionSublayer(be, P, x, v, rope, tape), v, tape);
}
