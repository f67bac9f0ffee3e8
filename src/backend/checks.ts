/** Argument checks shared by every Backend op: each throws a typed error naming op and argument. */
import { DTypeError, ShapeError, ValueError, fmtShape } from "../errors.js";
import type { DType, Tensor } from "../tensor.js";

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

/** Product of the leading axes (all but the last `keep`). */
export function lead(t: Tensor, keep = 1): number {
  let r = 1;
  for (let i = 0; i < t.rank - keep; i++) r *= t.shape[i];
  return r;
}
