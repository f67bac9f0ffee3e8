/**
 * Pure data movement on Tensors (copies, no arithmetic): the one place where the model splits,
 * concatenates, inserts and reorders rows and channels. Every arithmetic step goes through Backend.
 * Legend: B batch · D depth · n=W/p · S=1+n^2 · C width · L text tokens.
 */
import { ShapeError, fmtShape } from "../errors.js";
import { Tensor, permute, type DType, type F32Tensor, type I32Tensor } from "../tensor.js";

/** [..., parts*c] -> parts tensors [..., c] (e.g. fused qkv [N, T, 3C] -> q, k, v [N, T, C]). */
export function splitLast(x: F32Tensor, parts: number): F32Tensor[] {
  const w = x.dim(-1);
  if (w % parts !== 0) throw new ShapeError(`splitLast: x: expected a last axis divisible by ${parts}, got ${fmtShape(x.shape)}`);
  const c = w / parts, rows = x.size / w;
  const shape = [...x.shape.slice(0, -1), c];
  return Array.from({ length: parts }, (_, p) => {
    const out = new Tensor("f32", shape);
    for (let r = 0; r < rows; r++) out.data.set(x.data.subarray(r * w + p * c, r * w + (p + 1) * c), r * c);
    return out;
  });
}

/** parts [..., c] -> [..., parts*c]: the inverse of splitLast (e.g. dq, dk, dv -> d qkv). */
export function joinLast(parts: F32Tensor[]): F32Tensor {
  const c = parts[0].dim(-1), rows = parts[0].size / c, n = parts.length;
  for (const p of parts) {
    if (fmtShape(p.shape) !== fmtShape(parts[0].shape)) throw new ShapeError(`joinLast: expected every part ${fmtShape(parts[0].shape)}, got ${fmtShape(p.shape)}`);
  }
  const out = new Tensor("f32", [...parts[0].shape.slice(0, -1), n * c]);
  for (let r = 0; r < rows; r++) parts.forEach((p, i) => out.data.set(p.data.subarray(r * c, (r + 1) * c), r * n * c + i * c));
  return out;
}

/** [..., ca] ++ [..., cb] -> [..., ca+cb] along the last axis (same leading axes). */
export function concatLast(a: F32Tensor, b: F32Tensor): F32Tensor {
  const ca = a.dim(-1), cb = b.dim(-1), rows = a.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  if (fmtShape(a.shape.slice(0, -1)) !== fmtShape(b.shape.slice(0, -1))) {
    throw new ShapeError(`concatLast: b: expected leading axes ${fmtShape(a.shape.slice(0, -1))}, got ${fmtShape(b.shape)}`);
  }
  const out = new Tensor("f32", [...a.shape.slice(0, -1), ca + cb]);
  for (let r = 0; r < rows; r++) {
    out.data.set(a.data.subarray(r * ca, (r + 1) * ca), r * (ca + cb));
    out.data.set(b.data.subarray(r * cb, (r + 1) * cb), r * (ca + cb) + ca);
  }
  return out;
}

/** Concatenate along axis 0 (e.g. slices of a batch). */
export function concatRows<D extends DType>(xs: Tensor<D>[]): Tensor<D> {
  const rest = xs[0].shape.slice(1);
  for (const x of xs) {
    if (fmtShape(x.shape.slice(1)) !== fmtShape(rest)) throw new ShapeError(`concatRows: expected trailing axes ${fmtShape(rest)}, got ${fmtShape(x.shape)}`);
  }
  const out = new Tensor(xs[0].dtype, [xs.reduce((a, x) => a + x.dim(0), 0), ...rest]);
  let off = 0;
  for (const x of xs) {
    (out.data as Float32Array | Int32Array).set(x.data, off);
    off += x.size;
  }
  return out;
}

/** x [N, T, C], row [C] -> [N, 1+T, C] with `row` first in every sequence (the class token). */
export function prependRow(x: F32Tensor, row: F32Tensor): F32Tensor {
  const [N, T, C] = x.shape;
  if (row.size !== C) throw new ShapeError(`prependRow: row: expected [${C}], got ${fmtShape(row.shape)}`);
  const out = new Tensor("f32", [N, T + 1, C]);
  for (let i = 0; i < N; i++) {
    out.data.set(row.data, i * (T + 1) * C);
    out.data.set(x.data.subarray(i * T * C, (i + 1) * T * C), (i * (T + 1) + 1) * C);
  }
  return out;
}

/** x [N, T, C] -> [N, T-1, C] without each sequence's first row (drops the class tokens). */
export function dropFirstRow(x: F32Tensor): F32Tensor {
  const [N, T, C] = x.shape;
  const out = new Tensor("f32", [N, T - 1, C]);
  for (let i = 0; i < N; i++) out.data.set(x.data.subarray((i * T + 1) * C, (i + 1) * T * C), i * (T - 1) * C);
  return out;
}

/**
 * x [B, D, n, n, C] -> [B, D, n/2, n/2, 4C], channels of the 2x2 neighbours concatenated in the
 * order (2r,2c), (2r,2c+1), (2r+1,2c), (2r+1,2c+1): view as [B, D, n/2, 2, n/2, 2, C] (axes r, dr,
 * c, dc) and bring dr, dc next to C.
 */
export function merge2x2(x: F32Tensor): F32Tensor {
  const [B, D, nr, nc, C] = x.shape;
  if (x.rank !== 5 || nr % 2 || nc % 2) throw new ShapeError(`merge2x2: x: expected [B, D, n, n, C] with n even, got ${fmtShape(x.shape)}`);
  const v = x.reshape([B, D, nr / 2, 2, nc / 2, 2, C]);
  return permute(v, [0, 1, 2, 4, 3, 5, 6]).reshape([B, D, nr / 2, nc / 2, 4 * C]);
}

/** x [B, D, n/2, n/2, 4C] -> [B, D, n, n, C]: the inverse of merge2x2 (the same swap of axes r2 and c). */
export function split2x2(x: F32Tensor): F32Tensor {
  const [B, D, hr, hc, C4] = x.shape;
  if (x.rank !== 5 || C4 % 4) throw new ShapeError(`split2x2: x: expected [B, D, n/2, n/2, 4C], got ${fmtShape(x.shape)}`);
  const C = C4 / 4;
  return permute(x.reshape([B, D, hr, hc, 2, 2, C]), [0, 1, 2, 4, 3, 5, 6]).reshape([B, D, 2 * hr, 2 * hc, C]);
}

/** x [N, R] -> [N, times, R]: each row repeated `times` times (the adjoint of a sum over that axis). */
export function tileRows(x: F32Tensor, times: number): F32Tensor {
  const [N, R] = x.shape;
  const out = new Tensor("f32", [N, times, R]);
  for (let i = 0; i < N; i++) {
    for (let t = 0; t < times; t++) out.data.set(x.data.subarray(i * R, (i + 1) * R), (i * times + t) * R);
  }
  return out;
}

/** Row b of a [B, ...] integer tensor as a plain array (for sequence bookkeeping). */
export function rowOf(ids: I32Tensor, b: number): Int32Array {
  const L = ids.dim(1);
  return ids.data.subarray(b * L, (b + 1) * L);
}
