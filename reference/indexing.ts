// Top-k, row gather and row scatter-add, the scalar oracle: plain loops, float64 accumulation.
// Never optimised; the order rule below is the contract the wasm kernel must reproduce exactly.
import type { F32, I32, Kernels } from "../src/backend/kernels.js";

/**
 * The top-k order: a larger value first; equal values (including -0 == +0) by the lower index
 * first (the ONNX TopK rule); NaN ranks below every number, -Infinity included, so a NaN is only
 * selected when fewer than k entries of the row are numbers (NaNs then by lower index first).
 * Returns true when entry (a, ia) goes before entry (b, ib).
 */
function topkBefore(a: number, ia: number, b: number, ib: number): boolean {
  const aNaN = Number.isNaN(a), bNaN = Number.isNaN(b);
  if (aNaN || bNaN) return aNaN && bNaN ? ia < ib : bNaN;
  if (a !== b) return a > b;
  return ia < ib;
}

/** values, indices [rows, k]; x [rows, cols]: per row the first k entries in `topkBefore` order. */
function topk(values: F32, indices: I32, x: F32, rows: number, cols: number, k: number): void {
  for (let r = 0; r < rows; r++) {
    const order: number[] = [];
    for (let c = 0; c < cols; c++) order.push(c);
    const v = (c: number): number => x[r * cols + c];
    order.sort((i, j) => (topkBefore(v(i), i, v(j), j) ? -1 : topkBefore(v(j), j, v(i), i) ? 1 : 0));
    for (let s = 0; s < k; s++) {
      values[r * k + s] = v(order[s]);
      indices[r * k + s] = order[s];
    }
  }
}

/** out [count, cols]; x [R, cols]: out[i, :] = x[idx[i], :] */
function gatherRows(out: F32, x: F32, idx: I32, count: number, cols: number): void {
  for (let i = 0; i < count; i++) {
    for (let c = 0; c < cols; c++) out[i * cols + c] = x[idx[i] * cols + c];
  }
}

/**
 * out [R, cols] += scatter of src [count, cols]: out[idx[i], :] += w[i] * src[i, :] (w null: 1),
 * in order of i. Accumulated in float64 over all contributions, rounded once per output element.
 */
function scatterAddRows(out: F32, src: F32, idx: I32, w: F32 | null, count: number, cols: number): void {
  const acc = Float64Array.from(out);
  for (let i = 0; i < count; i++) {
    const wi = w === null ? 1 : w[i];
    for (let c = 0; c < cols; c++) acc[idx[i] * cols + c] += wi * src[i * cols + c];
  }
  out.set(acc);
}

export const indexingReference: Pick<Kernels, "topk" | "gatherRows" | "scatterAddRows"> = {
  topk,
  gatherRows,
  scatterAddRows,
};
