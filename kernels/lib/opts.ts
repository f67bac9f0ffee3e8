// The options structs of the kernels with long scalar lists: the host writes one (by field name,
// src/backend/wasm/bindings/ `write<Name>Opts`) in the module's memory and passes its pointer
// `opts`; the kernel reads the fields into locals once per call. The layout is declared only here:
// scripts/gen-bindings.mjs reads these classes (fields in declaration order, each aligned to its
// size, as AssemblyScript lays out an @unmanaged class) and emits the TypeScript interface, size
// and writer of each; test/bindings.test.ts checks them against offsetof (kernels/probes.ts).
// Fields only (`name: type;`, a number type), no methods, no initialisers.

/**
 * The geometry of `matmul` and `matmul_part` (kernels/matmul.ts): out[b] (m x n) = op(A[b]) op(B[b])
 * for b < batch; flags: TRANS_A 1, TRANS_B 2, ACCUMULATE 4, BROADCAST_A 8, BROADCAST_B 16.
 */
// @ts-ignore: decorator
@unmanaged
export class MatmulOpts {
  batch: i32;
  /** Rows of out and op(A) (of the full product, for matmul_part). */
  m: i32;
  /** Columns of out and op(B) (of the full product, for matmul_part). */
  n: i32;
  /** The contraction length. */
  k: i32;
  /** TRANS_A 1, TRANS_B 2, ACCUMULATE 4, BROADCAST_A 8, BROADCAST_B 16. */
  flags: i32;
}

/**
 * The geometry of `attention` (kernels/attention.ts) and `attention_backward`
 * (kernels/attention_backward.ts): q, out [batch, nq, heads*dh], k, v [batch, nk, kvHeads*dh].
 */
// @ts-ignore: decorator
@unmanaged
export class AttentionOpts {
  batch: i32;
  /** Queries per batch entry. */
  nq: i32;
  /** Keys per batch entry. */
  nk: i32;
  /** Query heads (a multiple of kvHeads). */
  heads: i32;
  /** Key/value heads: query head h reads kv head h / (heads / kvHeads). */
  kvHeads: i32;
  /** Head size. */
  dh: i32;
  /** The scores are scale * q . k (+ mask). */
  scale: f32;
  /** Query i keeps keys j <= i + nk - nq. */
  causal: bool;
  /** Batch entries of the mask [maskBatch, nq, nk]: 1 (shared) or batch; unused without a mask. */
  maskBatch: i32;
}

/**
 * The geometry of `rope` (kernels/rope.ts): x, out [tokens, heads*dh], pos [tokens, axes],
 * sections [nsections] (pairs per axis, summing to dh / 2).
 */
// @ts-ignore: decorator
@unmanaged
export class RopeOpts {
  heads: i32;
  /** Head size (even). */
  dh: i32;
  /** Position axes per token. */
  axes: i32;
  /** Entries of `sections`. */
  nsections: i32;
  /** Angle of pair j: pos * base^(-2j/dh). */
  base: f64;
}

/**
 * The geometry of `patch_embed` and `patch_embed_backward` (kernels/patch.ts): vol [batch, cv,
 * depth, height, width] (cv = cin, or 1: one channel replicated cin times), weight [channels, cin,
 * tdepth, patch, patch].
 */
// @ts-ignore: decorator
@unmanaged
export class PatchOpts {
  batch: i32;
  /** Channels stored in vol: cin, or 1. */
  cv: i32;
  /** Input channels of the weight. */
  cin: i32;
  depth: i32;
  height: i32;
  width: i32;
  /** Output channels. */
  channels: i32;
  /** Patch size in height and width (the kernel and stride). */
  patch: i32;
  /** Patch size in depth. */
  tdepth: i32;
}

/**
 * The scalars of one `adamw` step (kernels/elementwise.ts), each a float32 as the optimizer rounded
 * it: m <- b1 m + c1 g, v <- b2 v + c2 g g, w <- w decay - stepSize (m / (sqrt(v) / bc2Sqrt + eps)).
 */
// @ts-ignore: decorator
@unmanaged
export class AdamwOpts {
  /** 1 - lr * weightDecay (1 for a tensor that does not decay). */
  decay: f32;
  /** beta1. */
  b1: f32;
  /** 1 - beta1. */
  c1: f32;
  /** beta2. */
  b2: f32;
  /** 1 - beta2. */
  c2: f32;
  /** lr / (1 - beta1^t). */
  stepSize: f32;
  /** sqrt(1 - beta2^t). */
  bc2Sqrt: f32;
  eps: f32;
}
