/**
 * Reference backward ops (softmax, layerNorm, rmsNorm, activations, SwiGLU, patch-embedding weight
 * gradient): the scalar float64 oracle for kernels/backward.ts. Plain loops, float64 throughout with
 * JS Math, one rounding to float32 per output (sums over rows included); never optimised.
 * Attention's backward is reference/attention_backward.ts.
 */
import type { F32, Kernels, PatchDims } from "../src/backend/kernels.js";
import { meanVar } from "./rows.js";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/**
 * d/dx gelu_tanh(x). With s = sigmoid(2u), u = sqrt(2/pi)(x + 0.044715 x^3) (gelu = x s, see
 * reference/elementwise.ts): gelu' = s + x s (1 - s) 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2).
 * Limits: 1 at +inf, 0 at -inf (the formula would read inf * 0).
 */
export function geluTanhGrad1(x: number): number {
  if (x === Infinity) return 1;
  if (x === -Infinity) return 0;
  const s = sigmoid(2 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
  return s + x * s * (1 - s) * 2 * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
}

/** d/dx x sigmoid(1.702 x) = s + 1.702 x s (1 - s), s = sigmoid(1.702 x). Limits 1 and 0. */
export function quickGeluGrad1(x: number): number {
  if (x === Infinity) return 1;
  if (x === -Infinity) return 0;
  const s = sigmoid(1.702 * x);
  return s + 1.702 * x * s * (1 - s);
}

/** d/dx x sigmoid(x) = s + x s (1 - s), s = sigmoid(x). Limits 1 and 0. */
export function siluGrad1(x: number): number {
  if (x === Infinity) return 1;
  if (x === -Infinity) return 0;
  const s = sigmoid(x);
  return s + x * s * (1 - s);
}

/** silu(x) in float64 (limit -0 at -inf). */
function silu1(x: number): number {
  return x === -Infinity ? -0 : x * sigmoid(x);
}

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
    let ms = 0;
    for (let j = 0; j < cols; j++) ms += x[o + j] * x[o + j];
    const rr = 1 / Math.sqrt(ms / cols + eps);
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

function geluTanhBackward(dx: F32, x: F32, dy: F32, n: number): void {
  for (let i = 0; i < n; i++) dx[i] = dy[i] * geluTanhGrad1(x[i]);
}
function quickGeluBackward(dx: F32, x: F32, dy: F32, n: number): void {
  for (let i = 0; i < n; i++) dx[i] = dy[i] * quickGeluGrad1(x[i]);
}
function siluBackward(dx: F32, x: F32, dy: F32, n: number): void {
  for (let i = 0; i < n; i++) dx[i] = dy[i] * siluGrad1(x[i]);
}

/** y = silu(gate) up: dgate = dy up silu'(gate), dup = dy silu(gate). */
function swigluBackward(dgate: F32, dup: F32, gate: F32, up: F32, dy: F32, n: number): void {
  for (let i = 0; i < n; i++) {
    dgate[i] = dy[i] * up[i] * siluGrad1(gate[i]);
    dup[i] = dy[i] * silu1(gate[i]);
  }
}

/**
 * dweight [C, cin, t, p, p] = sum over the patches (b, z, r, c) of dout[b, z, r*n_w + c, o] times
 * the patch's voxels; with cv = 1 (one channel replicated cin times) every input channel gets the
 * same sum. Float64 accumulation over all patches, one rounding per weight.
 */
function patchEmbedBackward(dweight: F32, dout: F32, vol: F32, d: PatchDims): void {
  const { batch, cv, cin, depth, height, width, channels: C, patch: p, tdepth: t } = d;
  const nz = depth / t, nh = height / p, nw = width / p;
  for (let o = 0; o < C; o++) {
    for (let i = 0; i < cin; i++) {
      const vi = cv === 1 ? 0 : i;
      for (let tau = 0; tau < t; tau++) {
        for (let y = 0; y < p; y++) {
          for (let xx = 0; xx < p; xx++) {
            let acc = 0; // float64
            for (let b = 0; b < batch; b++) {
              for (let z = 0; z < nz; z++) {
                for (let r = 0; r < nh; r++) {
                  for (let c = 0; c < nw; c++) {
                    const g = dout[(((b * nz + z) * nh + r) * nw + c) * C + o];
                    acc += g * vol[(((b * cv + vi) * depth + z * t + tau) * height + r * p + y) * width + c * p + xx];
                  }
                }
              }
            }
            dweight[(((o * cin + i) * t + tau) * p + y) * p + xx] = acc;
          }
        }
      }
    }
  }
}

export const backwardReference: Pick<Kernels,
  "softmaxBackward" | "layerNormBackward" | "rmsNormBackward" | "geluTanhBackward" | "quickGeluBackward" |
  "siluBackward" | "swigluBackward" | "patchEmbedBackward"> = {
  softmaxBackward, layerNormBackward, rmsNormBackward, geluTanhBackward, quickGeluBackward, siluBackward,
  swigluBackward, patchEmbedBackward,
};
