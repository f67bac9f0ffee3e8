/**
 * AdamW (decoupled weight decay) with the spec's settings, and gradient clipping by global norm.
 * The optimizer keeps the state (moments, step counts) and forms each step's scalars; the elementwise
 * pass is the backend's `adamw` op, float32 arithmetic whose every result is pinned bit for bit
 * (IEEE + - * / sqrt, one rounding each) on either backend, so a resumed run reproduces an
 * uninterrupted one on any engine. Not a scheduler.
 */
import { Backend } from "../backend/backend.js";
import { referenceKernels } from "../backend/reference.js";
import { ValueError } from "../errors.js";
import type { Params } from "../model/params.js";
import { Tensor, type F32Tensor } from "../tensor.js";
import type { Grads } from "./grads.js";

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}
/** Spec section 7: beta1 0.9, beta2 0.95, eps 1e-8, weight decay 0.01 (on matrices only). */
export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01 };

/**
 * "Matrices only": a tensor of rank >= 2 decays (linear and router weights, the embedding table,
 * pos_embed, the patch kernel); biases, norm weights and class_embed (rank 1) never do.
 */
export function decays(shape: readonly number[]): boolean {
  return shape.length >= 2;
}

const f = Math.fround;

/** b^t for an integer t >= 0 by repeated squaring (IEEE products only: the same bits everywhere). */
export function powInt(b: number, t: number): number {
  let r = 1, x = b;
  for (let e = t; e > 0; e = Math.floor(e / 2)) {
    if (e % 2 === 1) r *= x;
    x *= x;
  }
  return r;
}

/**
 * Per parameter (its own step count t, as PyTorch keeps it), with scalars formed in float64 and
 * rounded to float32 once, every elementwise operation rounded to float32:
 *   p <- p * (1 - lr wd)                               (decaying tensors only)
 *   m <- b1 m + (1 - b1) g
 *   v <- b2 v + (1 - b2) g g
 *   p <- p - (lr / (1 - b1^t)) * (m / (sqrt(v) / sqrt(1 - b2^t) + eps))   (PyTorch's order of operations)
 * A parameter without a gradient this step (frozen, or an expert no token chose) is not touched:
 * no decay, no moment update, no step count (PyTorch's `grad is None`).
 */
export class AdamW {
  readonly m = new Map<string, F32Tensor>();
  readonly v = new Map<string, F32Tensor>();
  readonly steps = new Map<string, number>();

  /** `be`: the backend that runs the elementwise step (the trainer's; default: the reference, same bits). */
  constructor(readonly cfg: AdamWConfig = ADAMW_DEFAULTS, private readonly be: Backend = new Backend(referenceKernels)) {
    for (const k of ["beta1", "beta2"] as const) {
      if (!(cfg[k] >= 0 && cfg[k] < 1)) throw new ValueError(`AdamW: ${k}: expected a number in [0, 1), got ${cfg[k]}`);
    }
    if (!(cfg.eps > 0) || !(cfg.weightDecay >= 0)) throw new ValueError(`AdamW: expected eps > 0 and weightDecay >= 0, got ${cfg.eps}, ${cfg.weightDecay}`);
  }

  /**
   * Updates every parameter that has a gradient, in place, with learning rate lr (times `scaleOf(name)`
   * when given: a parameter group joining the training gently).
   */
  update(params: Params, grads: Grads, lr: number, scaleOf?: (name: string) => number): void {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new ValueError(`AdamW.update: lr: expected a finite number >= 0, got ${lr}`);
    for (const name of grads.names()) this.updateOne(name, params.get(name)!, grads.get(name)!, scaleOf ? lr * scaleOf(name) : lr);
  }

  private updateOne(name: string, p: F32Tensor, g: F32Tensor, lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.cfg;
    if (!this.m.has(name)) {
      this.m.set(name, new Tensor("f32", p.shape));
      this.v.set(name, new Tensor("f32", p.shape));
    }
    const t = (this.steps.get(name) ?? 0) + 1;
    this.be.adamw(p, this.m.get(name)!, this.v.get(name)!, g, {
      decay: f(1 - lr * (decays(p.shape) ? weightDecay : 0)),
      b1: f(beta1), c1: f(1 - beta1), b2: f(beta2), c2: f(1 - beta2),
      stepSize: f(lr / (1 - powInt(beta1, t))),
      bc2Sqrt: f(Math.sqrt(1 - powInt(beta2, t))),
      eps: f(eps),
    });
    this.steps.set(name, t); // after the step: a rejected one (ShapeError) counts nothing
  }
}

/**
 * Clips the gradients in place to global L2 norm `maxNorm` (spec: 1.0). The norm is summed in
 * float64 over parameters in parameter order, elements in order; when it exceeds maxNorm every
 * gradient is multiplied by maxNorm / (norm + 1e-6) (PyTorch's clip_grad_norm_). Returns the norm
 * before clipping.
 */
export function clipGradNorm(grads: Grads, maxNorm: number): number {
  let sq = 0;
  for (const name of grads.names()) {
    const d = grads.get(name)!.data;
    for (let i = 0; i < d.length; i++) sq += d[i] * d[i]; // indexed: for...of over a typed array is several times slower
  }
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    const c = f(coef);
    for (const name of grads.names()) {
      const d = grads.get(name)!.data;
      for (let i = 0; i < d.length; i++) d[i] = f(d[i] * c);
    }
  }
  return norm;
}
