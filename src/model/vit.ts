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
  const w2 = P("patch_embed.weight"); // [C, cIn, p, p]
  const w3 = v.depthPatch === 1 ? w2.reshape([C, v.cIn, 1, v.patch, v.patch]) : inflateDepth(w2, v.depthPatch);
  const patches = be.patchEmbed(volume, w3).reshape([B * Dt, n * n, C]); // [B*D, n^2, C]
  const tokens = prependRow(patches, P("class_embed")); // [B*D, S, C]
  const x = be.addBias(tokens.reshape([B * Dt, S * C]), P("pos_embed").reshape([S * C])).reshape([B, Dt, S, C]); // + pos_embed[S, C]
  tape?.push("embed", { volume, x });
  return be.layerNorm(x, P("pre_norm.weight"), P("pre_norm.bias"), v.normEps);
}

/** u [N, T, C] -> q, k, v [N, T, C] from the fused [3C, C] projection (q, k, v order); rotary on q and k if given. */
export function qkv(be: Backend, P: ParamScope, u: F32Tensor, heads: number, rope?: RopeSpec): { q: F32Tensor; k: F32Tensor; v: F32Tensor } {
  let [q, k, v] = splitLast(be.linear(u, P("attn.qkv.weight"), P("attn.qkv.bias")), 3);
  if (rope) {
    q = be.rope(q, rope.pos, { heads, base: rope.base, sections: rope.sections });
    k = be.rope(k, rope.pos, { heads, base: rope.base, sections: rope.sections });
  }
  return { q, k, v };
}

/** x [N, T, C] -> x + proj(softmax(q k^T / sqrt(dh)) v), q, k, v from ln1(x). */
export function attentionSublayer(be: Backend, P: ParamScope, x: F32Tensor, v: VisionConfig, rope?: RopeSpec, tape?: Tape): F32Tensor {
  const u = be.layerNorm(x, P("ln1.weight"), P("ln1.bias"), v.normEps);
  const { q, k, v: val } = qkv(be, P, u, v.heads, rope);
  const a = be.attention(q, k, val, { heads: v.heads }); // [N, T, C]
  tape?.push("attn", { x, u, q, k, v: val, a, rope });
  return be.add(x, be.linear(a, P("attn.proj.weight"), P("attn.proj.bias")));
}

/** F(u) = fc2(act(fc1(u))): the block MLP, and the shape of every expert. u [..., C] -> [..., C]. */
export function mlp(be: Backend, P: ParamScope, u: F32Tensor, act: Activation, tape?: Tape): F32Tensor {
  const z = be.linear(u, P("fc1.weight"), P("fc1.bias")); // [..., hid]
  const h = be.act(act, z);
  tape?.push("mlp", { u, z, h });
  return be.linear(h, P("fc2.weight"), P("fc2.bias"));
}

/** x [N, T, C] -> x + MLP(ln2(x)). */
export function mlpSublayer(be: Backend, P: ParamScope, x: F32Tensor, v: VisionConfig, tape?: Tape): F32Tensor {
  const u = be.layerNorm(x, P("ln2.weight"), P("ln2.bias"), v.normEps);
  const y = mlp(be, (name) => P(`mlp.${name}`), u, v.act, tape);
  tape?.push("mlpSublayer", { x });
  return be.add(x, y);
}

/** One dense pre-norm block: x = x + Attn(LN1(x)); x = x + MLP(LN2(x)). */
export function denseBlock(be: Backend, P: ParamScope, x: F32Tensor, v: VisionConfig, rope?: RopeSpec, tape?: Tape): F32Tensor {
  return mlpSublayer(be, P, attentionSublayer(be, P, x, v, rope, tape), v, tape);
}
