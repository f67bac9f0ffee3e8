/** Argument checks shared by every Backend op: each throws a typed error naming op and argument. */
import { DTypeError, ShapeError, ValueError, assertFinite, fmtShape } from "../errors.js";
import type { DType, Tensor } from "../tensor.js";
import type { AttentionOptions } from "./backend.js";
import type { AttentionDims } from "./kernels.js";

export function expectDType<D extends DType>(op: string, name: string, t: Tensor, dtype: D): asserts t is Tensor<D> {
  if (!t || typeof t !== "object" || !("dtype" in t)) {
    throw new DTypeError(`${op}: ${name}: expected a Tensor<${dtype}>, got ${String(t)}`);
  }
  if (t.dtype !== dtype) throw new DTypeError(`${op}: ${name}: expected dtype ${dtype}, got ${t.dtype} ${fmtShape(t.shape)}`);
}

export function expectRank(op: string, name: string, t: Tensor, lo: number, hi = lo): void {
  if (t.rank < lo || t.rank > hi) {
    const want = lo === hi ? `rank ${lo}` : `rank ${lo}..${hi}`;
    throw new ShapeError(`${op}: ${name}: expected ${want}, got ${fmtShape(t.shape)}`);
  }
}

export function expectShape(op: string, name: string, t: Tensor, shape: readonly number[]): void {
  if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${op}: ${name}: expected shape ${fmtShape(shape)}, got ${fmtShape(t.shape)}`);
  }
}

export function expectSameShape(op: string, a: Tensor, aName: string, b: Tensor, bName: string): void {
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`${op}: ${bName}: expected the shape of ${aName} ${fmtShape(a.shape)}, got ${fmtShape(b.shape)}`);
  }
}

export function expectIndices(op: string, name: string, idx: Int32Array, limit: number): void {
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (v < 0 || v >= limit) throw new ValueError(`${op}: ${name}: expected indices in [0, ${limit}), got ${v} at position ${i}`);
  }
}

export function expectPositive(op: string, name: string, x: number): void {
  if (!Number.isInteger(x) || x <= 0) throw new ValueError(`${op}: ${name}: expected a positive integer, got ${String(x)}`);
}

/**
 * The checks of attention (forward and backward) on q [B, nq, NH*dh], k and v [B, nk, KV*dh] and
 * options; `like` are further f32 tensors of q's shape (the backward's out and dout). Returns the
 * kernel's dims.
 */
export function attentionDims(op: string, q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions, like: readonly (readonly [string, Tensor])[] = []): AttentionDims {
  for (const [name, t] of [["q", q], ["k", k], ["v", v], ...like] as const) {
    expectDType(op, name, t, "f32");
    expectRank(op, name, t, 3);
  }
  expectPositive(op, "heads", o.heads);
  const kvHeads = o.kvHeads ?? o.heads;
  expectPositive(op, "kvHeads", kvHeads);
  if (o.heads % kvHeads !== 0) throw new ValueError(`${op}: kvHeads: expected a divisor of heads=${o.heads}, got ${kvHeads}`);
  const [batch, nq, width] = q.shape;
  const dh = width / o.heads;
  if (!Number.isInteger(dh)) throw new ShapeError(`${op}: q: expected a last axis divisible by heads=${o.heads}, got ${fmtShape(q.shape)}`);
  const nk = k.dim(1);
  expectShape(op, "k", k, [batch, nk, kvHeads * dh]);
  expectSameShape(op, k, "k", v, "v");
  for (const [name, t] of like) expectSameShape(op, q, "q", t, name);
  if (o.causal && nq > nk) throw new ShapeError(`${op}: k: expected nk >= nq=${nq} for causal, got ${fmtShape(k.shape)}`);
  let maskBatch = 1;
  if (o.mask) {
    expectDType(op, "mask", o.mask, "f32");
    maskBatch = o.mask.rank === 3 ? o.mask.dim(0) : 1;
    expectShape(op, "mask", o.mask, o.mask.rank === 3 ? [maskBatch, nq, nk] : [nq, nk]);
    if (maskBatch !== 1 && maskBatch !== batch) throw new ShapeError(`${op}: mask: expected batch 1 or ${batch}, got ${fmtShape(o.mask.shape)}`);
  }
  const scale = o.scale ?? 1 / Math.sqrt(dh);
  assertFinite(op, "scale", scale);
  return { batch, nq, nk, heads: o.heads, kvHeads, dh, scale, causal: !!o.causal, mask: o.mask?.data ?? null, maskBatch };
}

/** Product of the leading axes (all but the last `keep`). */
export function lead(t: Tensor, keep = 1): number {
  let r = 1;
  for (let i = 0; i < t.rank - keep; i++) r *= t.shape[i];
  return r;
}
