/** The option objects of the Backend ops (src/backend/backend.ts) and the activation names. Types and one list, no code. */
import type { F32Tensor } from "../tensor.js";

export type Activation = "gelu_tanh" | "quick_gelu" | "silu";
export const ACTIVATIONS: readonly Activation[] = ["gelu_tanh", "quick_gelu", "silu"];

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** Add the product into this tensor (in place) and return it. */
  accumulate?: F32Tensor;
}
export interface SoftmaxOptions {
  /** Additive mask [..., cols] whose rows repeat over x's rows (-Infinity removes an entry). */
  mask?: F32Tensor;
  /** Lower-triangular over the last two axes, aligned to the bottom-right (KV-cache style). */
  causal?: boolean;
}
export interface RopeOptions {
  heads: number;
  base?: number;
  /** Pairs per position axis (sum dh/2); default: one axis, all pairs. */
  sections?: readonly number[];
}
export interface AttentionOptions {
  heads: number;
  kvHeads?: number;
  causal?: boolean;
  /** Additive mask [nq, nk] or [B, nq, nk]. */
  mask?: F32Tensor;
  /** Default 1/sqrt(dh). */
  scale?: number;
}
