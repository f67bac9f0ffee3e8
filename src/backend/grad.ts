/**
 * The Tensor-level backward ops that training is written in: each checks shapes and dtypes (typed
 * errors), allocates the gradients and calls the `Kernels` backward primitive of the backend, like
 * `Backend` does for the forward ops. Matmul and scatter/gather need no entry here (they are their
 * own adjoints); rope's adjoint is rope with negated positions (`ropeBackward`).
 * Legend: B batch · NH heads · dh head size · C width.
 */
import { ShapeError, ValueError, assertFinite, fmtShape } from "../errors.js";
import { Tensor, type F32Tensor, type I32Tensor } from "../tensor.js";
import type { Activation, AttentionOptions, Backend, RopeOptions } from "./backend.js";
import { attentionDims, expectDType, expectRank, expectSameShape, expectShape, lead } from "./checks.js";

/** y = softmax(x) over the last axis: dx = y * (dy - sum(y * dy)). */
export function softmaxBackward(be: Backend, y: F32Tensor, dy: F32Tensor): F32Tensor {
  const op = "softmaxBackward";
  twoSame(op, y, "y", dy, "dy");
  const dx = new Tensor("f32", y.shape);
  be.kernels.softmaxBackward(dx.data, y.data, dy.data, lead(y), y.dim(-1));
  return dx;
}

/** y = layerNorm(x; gamma, beta, eps) over the last axis: dx, and dgamma, dbeta summed over the rows. */
export function layerNormBackward(be: Backend, dy: F32Tensor, x: F32Tensor, gamma: F32Tensor, eps: number): { dx: F32Tensor; dgamma: F32Tensor; dbeta: F32Tensor } {
  normArgs("layerNormBackward", dy, x, gamma, eps);
  const dx = new Tensor("f32", x.shape), dgamma = new Tensor("f32", gamma.shape), dbeta = new Tensor("f32", gamma.shape);
  be.kernels.layerNormBackward(dx.data, dgamma.data, dbeta.data, dy.data, x.data, gamma.data, lead(x), x.dim(-1), eps);
  return { dx, dgamma, dbeta };
}

/** y = rmsNorm(x; gamma, eps) over the last axis: dx, and dgamma summed over the rows. */
export function rmsNormBackward(be: Backend, dy: F32Tensor, x: F32Tensor, gamma: F32Tensor, eps: number): { dx: F32Tensor; dgamma: F32Tensor } {
  normArgs("rmsNormBackward", dy, x, gamma, eps);
  const dx = new Tensor("f32", x.shape), dgamma = new Tensor("f32", gamma.shape);
  be.kernels.rmsNormBackward(dx.data, dgamma.data, dy.data, x.data, gamma.data, lead(x), x.dim(-1), eps);
  return { dx, dgamma };
}

/** y = act(x): dx = dy * act'(x). `x` is the activation's input (the pre-activation). */
export function actBackward(be: Backend, name: Activation, x: F32Tensor, dy: F32Tensor): F32Tensor {
  const op = `${name}Backward`;
  twoSame(op, x, "x", dy, "dy");
  const dx = new Tensor("f32", x.shape);
  if (name === "gelu_tanh") be.kernels.geluTanhBackward(dx.data, x.data, dy.data, x.size);
  else if (name === "quick_gelu") be.kernels.quickGeluBackward(dx.data, x.data, dy.data, x.size);
  else if (name === "silu") be.kernels.siluBackward(dx.data, x.data, dy.data, x.size);
  else throw new ValueError(`actBackward: name: expected gelu_tanh, quick_gelu or silu, got ${String(name)}`);
  return dx;
}

/** y = silu(gate) * up: dgate = dy * up * silu'(gate), dup = dy * silu(gate). */
export function swigluBackward(be: Backend, gate: F32Tensor, up: F32Tensor, dy: F32Tensor): { dgate: F32Tensor; dup: F32Tensor } {
  const op = "swigluBackward";
  twoSame(op, gate, "gate", up, "up");
  twoSame(op, gate, "gate", dy, "dy");
  const dgate = new Tensor("f32", gate.shape), dup = new Tensor("f32", gate.shape);
  be.kernels.swigluBackward(dgate.data, dup.data, gate.data, up.data, dy.data, gate.size);
  return { dgate, dup };
}

/**
 * out = attention(q, k, v, o): dq [B, nq, NH*dh], dk, dv [B, nk, KV*dh] (summed over the query
 * heads of each kv head), with the probabilities recomputed from q and k; `out` is the forward's output.
 */
export function attentionBackward(be: Backend, dout: F32Tensor, q: F32Tensor, k: F32Tensor, v: F32Tensor, out: F32Tensor, o: AttentionOptions): { dq: F32Tensor; dk: F32Tensor; dv: F32Tensor } {
  const d = attentionDims("attentionBackward", q, k, v, o, [["out", out], ["dout", dout]]);
  const dq = new Tensor("f32", q.shape), dk = new Tensor("f32", k.shape), dv = new Tensor("f32", v.shape);
  be.kernels.attentionBackward(dq.data, dk.data, dv.data, dout.data, q.data, k.data, v.data, out.data, d);
  return { dq, dk, dv };
}

/**
 * y = rope(x, pos): a rotation by angle pos * f per pair, so dx = R(-a) dy = rope(dy, -pos). With
 * integer positions the negated angle is exactly -(pos * f) (tested against the adjoint identity).
 */
export function ropeBackward(be: Backend, dy: F32Tensor, pos: I32Tensor, o: RopeOptions): F32Tensor {
  return be.rope(dy, negatePositions(pos), o);
}

/** -pos, elementwise (int32; positions are far from -2^31). */
export function negatePositions(pos: I32Tensor): I32Tensor {
  const out = new Tensor("i32", pos.shape);
  for (let i = 0; i < pos.size; i++) out.data[i] = -pos.data[i];
  return out;
}

/**
 * out = patchEmbed(vol, weight): the weight gradient [C, cin, t, p, p] from dout [B, D/t, n_h*n_w, C]
 * (cv = 1: one channel replicated cin times, so every input channel gets the same gradient).
 */
export function patchEmbedBackward(be: Backend, dout: F32Tensor, vol: F32Tensor, weightShape: readonly number[]): F32Tensor {
  const op = "patchEmbedBackward";
  expectDType(op, "dout", dout, "f32");
  expectDType(op, "vol", vol, "f32");
  expectRank(op, "vol", vol, 5);
  if (weightShape.length !== 5) throw new ShapeError(`${op}: weightShape: expected [C, cin, t, p, p], got ${fmtShape(weightShape)}`);
  const [batch, cv, depth, height, width] = vol.shape;
  const [channels, cin, tdepth, p, p2] = weightShape;
  if (p !== p2 || p === 0 || tdepth === 0 || height % p || width % p || depth % tdepth || (cv !== cin && cv !== 1)) {
    throw new ShapeError(`${op}: vol: expected [B, ${cin} or 1, D, H, W] with D divisible by t=${tdepth} and H, W by p=${p}, got ${fmtShape(vol.shape)}`);
  }
  expectShape(op, "dout", dout, [batch, depth / tdepth, (height / p) * (width / p), channels]);
  const dweight = new Tensor("f32", weightShape);
  be.kernels.patchEmbedBackward(dweight.data, dout.data, vol.data, { batch, cv, cin, depth, height, width, channels, patch: p, tdepth });
  return dweight;
}

// ---------------------------------------------------------------- helpers
function twoSame(op: string, a: F32Tensor, an: string, b: F32Tensor, bn: string): void {
  expectDType(op, an, a, "f32");
  expectDType(op, bn, b, "f32");
  expectRank(op, an, a, 1, 8);
  expectSameShape(op, a, an, b, bn);
}

function normArgs(op: string, dy: F32Tensor, x: F32Tensor, gamma: F32Tensor, eps: number): void {
  twoSame(op, x, "x", dy, "dy");
  expectDType(op, "gamma", gamma, "f32");
  expectShape(op, "gamma", gamma, [x.dim(-1)]);
  assertFinite(op, "eps", eps);
  if (eps < 0) throw new ValueError(`${op}: eps: expected >= 0, got ${eps}`);
}
