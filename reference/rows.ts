/**
 * Reference row ops (softmax, layerNorm, rmsNorm, sum/mean/max over the last axis) and the
 * backward of softmax and the norms: the scalar oracle for kernels/rows.ts. Plain loops, float64 throughout, one rounding per output; never optimised.
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
function meanVar(x: F32, o: number, cols: number): { mean: number; variance: number } {
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

/** mean(x^2) of x[o .. o + cols) in float64 (also rmsNorm's backward). */
function meanSquare(x: F32, o: number, cols: number): number {
  let ms = 0;
  for (let j = 0; j < cols; j++) ms += x[o + j] * x[o + j];
  return ms / cols;
}

/** x / sqrt(mean(x^2) + eps) * gamma per row. */
function rmsNorm(out: F32, x: F32, gamma: F32, rows: number, cols: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const rms = Math.sqrt(meanSquare(x, o, cols) + eps);
    for (let j = 0; j < cols; j++) out[o + j] = (x[o + j] / rms) * gamma[j];
  }
}

// ---------------------------------------------------------------- backward (the same statistics as the forward)

/** dx[r, :] = y[r, :] * (dy[r, :] - sum_j y[r, j] dy[r, j]) */
function softmaxBackward(dx: F32, y: F32, dy: F32, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += y[o + j] * dy[o + j];
    for (let j = 0; j < cols; j++) dx[o + j] = y[o + j] * (dy[o + j] - dot);
  }
}

/**
 * Per row: mean, biased variance (two passes), rstd = 1/sqrt(var + eps), xh = (x - mean) rstd,
 * g = dy gamma; dx = rstd (g - mean(g) - xh mean(g xh)). dgamma = sum_rows dy xh, dbeta = sum_rows dy.
 */
function layerNormBackward(dx: F32, dgamma: F32, dbeta: F32, dy: F32, x: F32, gamma: F32, rows: number, cols: number, eps: number): void {
  const dg = new Float64Array(cols), db = new Float64Array(cols), xh = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const { mean, variance } = meanVar(x, o, cols);
    const rstd = 1 / Math.sqrt(variance + eps);
    let a = 0, b = 0;
    for (let j = 0; j < cols; j++) {
      xh[j] = (x[o + j] - mean) * rstd;
      const g = dy[o + j] * gamma[j];
      a += g;
      b += g * xh[j];
      dg[j] += dy[o + j] * xh[j];
      db[j] += dy[o + j];
    }
    a /= cols;
    b /= cols;
    for (let j = 0; j < cols; j++) dx[o + j] = rstd * (dy[o + j] * gamma[j] - a - xh[j] * b);
  }
  dgamma.set(dg);
  dbeta.set(db);
}

/** Per row: r = 1/sqrt(mean(x^2) + eps), g = dy gamma; dx = r g - x r^3 mean(g x). dgamma = sum_rows dy x r. */
function rmsNormBackward(dx: F32, dgamma: F32, dy: F32, x: F32, gamma: F32, rows: number, cols: number, eps: number): void {
  const dg = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const rr = 1 / Math.sqrt(meanSquare(x, o, cols) + eps);
    let b = 0;
    for (let j = 0; j < cols; j++) {
      b += dy[o + j] * gamma[j] * x[o + j];
      dg[j] += dy[o + j] * x[o + j] * rr;
    }
    b /= cols;
    for (let j = 0; j < cols; j++) dx[o + j] = rr * dy[o + j] * gamma[j] - x[o + j] * rr * rr * rr * b;
  }
  dgamma.set(dg);
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

export const rowsReference: Pick<Kernels, "softmax" | "layerNorm" | "rmsNorm" | "sumRows" | "meanRows" | "maxRows" |
  "softmaxBackward" | "layerNormBackward" | "rmsNormBackward"> = {
  softmax, layerNorm, rmsNorm, sumRows, meanRows, maxRows, softmaxBackward, layerNormBackward, rmsNormBackward,
};
