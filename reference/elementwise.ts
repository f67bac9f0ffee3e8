/**
 * Reference elementwise ops, activations and their derivatives (backward), and the AdamW step: the
 * scalar oracle for kernels/elementwise.ts. Plain loops in float64 with JS Math.exp, one rounding to
 * float32 per output (AdamW: per operation); never optimised.
 */
import type { AdamwScalars, F32, Kernels } from "../src/backend/kernels.js";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** 1 / (1 + e^-z), float64. sigmoid(-inf) = 0, sigmoid(+inf) = 1. */
function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/**
 * gelu_tanh(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), as in the spec (section 0),
 * evaluated as x sigmoid(2u): 0.5 (1 + tanh u) = sigmoid(2u) exactly, and the left side cancels in
 * float64 once u < -19 (1 + tanh u falls below the float64 ulp of 1), the right side does not.
 * At x = -inf the formula reads -inf * 0 = NaN; we return its limit, -0.
 */
export function geluTanh1(x: number): number {
  if (x === -Infinity) return -0;
  const u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
  return x * sigmoid(2 * u);
}

/** quick_gelu(x) = x sigmoid(1.702 x) (CLIP). Limit -0 at x = -inf. */
export function quickGelu1(x: number): number {
  if (x === -Infinity) return -0;
  return x * sigmoid(1.702 * x);
}

/** silu(x) = x sigmoid(x). Limit -0 at x = -inf. */
export function silu1(x: number): number {
  if (x === -Infinity) return -0;
  return x * sigmoid(x);
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

function add(out: F32, a: F32, b: F32, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}

function mul(out: F32, a: F32, b: F32, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] * b[i];
}

/** out = a * s, with s taken as a float32 (as PyTorch does for a Python scalar and a f32 tensor). */
function scale(out: F32, a: F32, s: number, n: number): void {
  const s32 = Math.fround(s);
  for (let i = 0; i < n; i++) out[i] = a[i] * s32;
}

/** out[r, c] = x[r, c] + bias[c]; x [rows, cols], bias [cols]. */
function addBias(out: F32, x: F32, bias: F32, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c] + bias[c];
  }
}

function geluTanh(out: F32, x: F32, n: number): void {
  for (let i = 0; i < n; i++) out[i] = geluTanh1(x[i]);
}

function quickGelu(out: F32, x: F32, n: number): void {
  for (let i = 0; i < n; i++) out[i] = quickGelu1(x[i]);
}

function silu(out: F32, x: F32, n: number): void {
  for (let i = 0; i < n; i++) out[i] = silu1(x[i]);
}

/** out = silu(gate) * up, the product inside SwiGLU (both factors in float64, one rounding). */
function swiglu(out: F32, gate: F32, up: F32, n: number): void {
  for (let i = 0; i < n; i++) out[i] = silu1(gate[i]) * up[i];
}

// ---------------------------------------------------------------- backward

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

// ---------------------------------------------------------------- optimizer

const f = Math.fround;

/** AdamW in place: every operation rounded to float32 (Math.fround), scalars taken as float32. */
function adamw(w: F32, m: F32, v: F32, g: F32, n: number, s: AdamwScalars): void {
  const decay = f(s.decay), b1 = f(s.b1), c1 = f(s.c1), b2 = f(s.b2), c2 = f(s.c2);
  const stepSize = f(s.stepSize), bc2Sqrt = f(s.bc2Sqrt), eps = f(s.eps);
  for (let i = 0; i < n; i++) {
    const gi = g[i];
    m[i] = f(f(b1 * m[i]) + f(c1 * gi));
    v[i] = f(f(b2 * v[i]) + f(c2 * f(gi * gi)));
    const denom = f(f(f(Math.sqrt(v[i])) / bc2Sqrt) + eps);
    w[i] = f(f(w[i] * decay) - f(stepSize * f(m[i] / denom)));
  }
}

export const elementwiseReference: Pick<Kernels, "add" | "mul" | "scale" | "addBias" | "geluTanh" | "quickGelu" | "silu" | "swiglu" |
  "geluTanhBackward" | "quickGeluBackward" | "siluBackward" | "swigluBackward" | "adamw"> = {
  add, mul, scale, addBias, geluTanh, quickGelu, silu, swiglu, geluTanhBackward, quickGeluBackward, siluBackward, swigluBackward, adamw,
};
