/**
 * Reference row ops (softmax, layerNorm, rmsNorm, sum/mean/max over the last axis): the scalar
 * oracle for kernels/rows.ts. Plain loops, float64 throughout, one rounding per output; never optimised.
 */
import type { F32, Kernels, SoftmaxDims } from "../src/backend/kernels.js";

/**
 * Row softmax, max-subtracted. Row r of x [rows, cols] sees the scores
 *   v[j] = x[r, j] + mask[r % maskRows, j]            (mask null: + 0)
 * and, when causal, v[j] = -inf for j > q + cols - qLen with q = r % qLen.
 * out[r, j] = exp(v[j] - m) / sum_i exp(v[i] - m), m = max_j v[j]. A -inf score gives exactly 0; a
 * row whose scores are all -inf gives all zeros (not NaN). NaN or +inf scores give a NaN row.
 */
function softmax(out: F32, x: F32, d: SoftmaxDims): void {
  const { rows, cols, mask, maskRows, causal, qLen } = d;
  const v = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const mOff = (r % maskRows) * cols;
    const keep = causal ? (r % qLen) + cols - qLen : cols - 1; // last column kept
    let m = -Infinity;
    for (let j = 0; j < cols; j++) {
      v[j] = j > keep ? -Infinity : x[r * cols + j] + (mask ? mask[mOff + j] : 0);
      m = Math.max(m, v[j]);
    }
    if (m === -Infinity) {
      for (let j = 0; j < cols; j++) out[r * cols + j] = 0;
      continue;
    }
    let sum = 0;
    for (let j = 0; j < cols; j++) {
      v[j] = Math.exp(v[j] - m);
      sum += v[j];
    }
    for (let j = 0; j < cols; j++) out[r * cols + j] = v[j] / sum;
  }
}

/** Mean and biased variance of x[o .. o + cols), two passes in float64 (also layerNorm's backward). */
export function meanVar(x: F32, o: number, cols: number): { mean: number; variance: number } {
  let mean = 0;
  for (let j = 0; j < cols; j++) mean += x[o + j];
  mean /= cols;
  let v = 0;
  for (let j = 0; j < cols; j++) v += (x[o + j] - mean) * (x[o + j] - mean);
  return { mean, variance: v / cols };
}

/** (x - mean) / sqrt(var + eps) * gamma + beta per row; biased variance, two passes in float64. */
function layerNorm(out: F32, x: F32, gamma: F32, beta: F32, rows: number, cols: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const { mean, variance } = meanVar(x, o, cols);
    const std = Math.sqrt(variance + eps);
    for (let j = 0; j < cols; j++) out[o + j] = ((x[o + j] - mean) / std) * gamma[j] + beta[j];
  }
}

/** x / sqrt(mean(x^2) + eps) * gamma per row. */
function rmsNorm(out: F32, x: F32, gamma: F32, rows: number, cols: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let ms = 0;
    for (let j = 0; j < cols; j++) ms += x[o + j] * x[o + j];
    ms /= cols;
    const rms = Math.sqrt(ms + eps);
    for (let j = 0; j < cols; j++) out[o + j] = (x[o + j] / rms) * gamma[j];
  }
}

/** out[r] = sum_j x[r, j] */
function sumRows(out: F32, x: F32, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += x[r * cols + j];
    out[r] = s;
  }
}

/** out[r] = sum_j x[r, j] / cols */
function meanRows(out: F32, x: F32, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += x[r * cols + j];
    out[r] = s / cols;
  }
}

/** out[r] = max_j x[r, j]; NaN if the row holds a NaN (as Math.max). */
function maxRows(out: F32, x: F32, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, x[r * cols + j]);
    out[r] = m;
  }
}

export const rowsReference: Pick<Kernels, "softmax" | "layerNorm" | "rmsNorm" | "sumRows" | "meanRows" | "maxRows"> = {
  softmax, layerNorm, rmsNorm, sumRows, meanRows, maxRows,
};
