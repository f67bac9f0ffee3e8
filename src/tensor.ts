/**
 * The tensor type: a dtype, a shape and one contiguous row-major typed array. No strides, no
 * views with offsets: reshape shares the data, transpose/permute copy. Kernels never see Tensors;
 * `Backend` (src/backend/backend.ts) unwraps them after checking shapes.
 */
import { DTypeError, MemoryError, ShapeError, ValueError, fmtShape } from "./errors.js";

export type DType = "f32" | "i32";
export type Data<D extends DType> = D extends "f32" ? Float32Array : Int32Array;

/** Largest element count we allocate (typed arrays and wasm32 both stop near 2^32 bytes). */
export const MAX_ELEMENTS = 2 ** 30 - 1;

export class Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: Data<D>;

  constructor(dtype: D, shape: readonly number[], data?: Data<D>) {
    const size = checkShape("Tensor", "shape", shape);
    if (data === undefined) {
      data = (dtype === "f32" ? new Float32Array(size) : new Int32Array(size)) as Data<D>;
    } else {
      const want = dtype === "f32" ? Float32Array : Int32Array;
      if (!(data instanceof want)) {
        throw new DTypeError(`Tensor: data: expected ${want.name} for dtype ${dtype}, got ${data.constructor.name}`);
      }
      if (data.length !== size) {
        throw new ShapeError(`Tensor: data: expected ${size} elements for shape ${fmtShape(shape)}, got ${data.length}`);
      }
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.data = data;
  }

  get size(): number {
    return this.data.length;
  }
  get rank(): number {
    return this.shape.length;
  }
  /** Extent of axis `i` (negative counts from the end). */
  dim(i: number): number {
    const r = this.shape.length;
    const a = i < 0 ? r + i : i;
    if (a < 0 || a >= r) throw new ValueError(`Tensor.dim: axis: expected in [${-r}, ${r - 1}], got ${i}`);
    return this.shape[a];
  }
  /** Same data, new shape (one -1 allowed). */
  reshape(shape: readonly number[]): Tensor<D> {
    return new Tensor(this.dtype, inferShape(shape, this.size), this.data);
  }
  clone(): Tensor<D> {
    return new Tensor(this.dtype, this.shape, this.data.slice() as Data<D>);
  }
  toString(): string {
    return `Tensor<${this.dtype}>${fmtShape(this.shape)}`;
  }
}

export type F32Tensor = Tensor<"f32">;
export type I32Tensor = Tensor<"i32">;

export function zeros(shape: readonly number[]): F32Tensor {
  return new Tensor("f32", shape);
}
export function fromArray(shape: readonly number[], values: ArrayLike<number>): F32Tensor {
  return new Tensor("f32", shape, Float32Array.from(values));
}
export function fromInts(shape: readonly number[], values: ArrayLike<number>): I32Tensor {
  return new Tensor("i32", shape, Int32Array.from(values));
}

/** Validates extents (non-negative integers) and returns the element count. */
export function checkShape(op: string, name: string, shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`${op}: ${name}: expected non-negative integer extents, got ${fmtShape(shape)}`);
    }
    size *= d;
  }
  if (size > MAX_ELEMENTS) {
    throw new MemoryError(`${op}: ${name}: ${fmtShape(shape)} has ${size} elements, more than the limit ${MAX_ELEMENTS}`);
  }
  return size;
}

function inferShape(shape: readonly number[], size: number): number[] {
  const out = [...shape];
  const hole = out.indexOf(-1);
  if (hole >= 0) {
    const rest = out.reduce((p, d, i) => (i === hole ? p : p * d), 1);
    if (rest === 0 || size % rest !== 0) {
      throw new ShapeError(`reshape: shape: cannot infer -1 in ${fmtShape(shape)} for ${size} elements`);
    }
    out[hole] = size / rest;
  }
  if (checkShape("reshape", "shape", out) !== size) {
    throw new ShapeError(`reshape: shape: expected ${size} elements, got ${fmtShape(shape)}`);
  }
  return out;
}

/** Copying permutation of axes: out.shape[i] = x.shape[perm[i]]. */
export function permute<D extends DType>(x: Tensor<D>, perm: readonly number[]): Tensor<D> {
  const r = x.rank;
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new ValueError(`permute: perm: expected a permutation of 0..${r - 1}, got ${fmtShape(perm)}`);
  }
  const shape = perm.map((p) => x.shape[p]);
  const out = new Tensor(x.dtype, shape);
  const inStrides = stridesOf(x.shape);
  const strides = perm.map((p) => inStrides[p]);
  const idx = new Array<number>(r).fill(0);
  const src = x.data, dst = out.data;
  let off = 0;
  for (let o = 0; o < dst.length; o++) {
    dst[o] = src[off];
    for (let a = r - 1; a >= 0; a--) {
      idx[a]++;
      off += strides[a];
      if (idx[a] < shape[a]) break;
      off -= strides[a] * shape[a];
      idx[a] = 0;
    }
  }
  return out;
}

/** Copying transpose of the last two axes. */
export function transpose<D extends DType>(x: Tensor<D>): Tensor<D> {
  if (x.rank < 2) throw new ShapeError(`transpose: x: expected rank >= 2, got ${fmtShape(x.shape)}`);
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return permute(x, perm);
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}
