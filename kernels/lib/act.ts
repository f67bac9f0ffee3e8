// The activations as scalar and f32x4 inline functions, forward and derivative, with their constants
// written once: kernels/elementwise.ts runs them over arrays (forward and backward kernels).
// Not the model. sigmoid is lib/math's sigmoidf / sigmoidf4 (the scalar and SIMD forms give the same bits).
import { sigmoidf, sigmoidf4 } from "./math";

export const NEG_MAX: f32 = -3.40282347e38;
export const GELU_2K: f32 = 1.5957691216057308; // 2 sqrt(2/pi)
export const GELU_C: f32 = 0.044715;
export const GELU_3C: f32 = 0.134145; // 3 * 0.044715
export const QUICK: f32 = 1.702;
export const CLAMP: f32 = 100.0;

// ---------------------------------------------------------------- forward
// Each is written as x * sigmoid(z): 0.5 (1 + tanh(u)) = sigmoid(2u) exactly, and the sigmoid form
// keeps full relative accuracy in the negative tail, where 1 + tanh(u) would cancel. The input is
// first clamped to x >= -FLT_MAX so that x = -inf gives -FLT_MAX * 0 = -0 (the limit), not
// -inf * 0 = NaN; max() lets NaN through, and so does f32x4.pmax(x, c) = x < c ? c : x (one instruction).
// gelu_tanh(x) = 0.5 x (1 + tanh(k (x + c x^3))) = x sigmoid(2k (x + c x^3)), k = sqrt(2/pi), c = 0.044715
// @ts-ignore: decorator
@inline export function gelu1(x: f32): f32 {
  const xc = max<f32>(x, NEG_MAX);
  return xc * sigmoidf(GELU_2K * (xc + GELU_C * (xc * xc * xc)));
}
// @ts-ignore: decorator
@inline export function gelu4(x: v128): v128 {
  const xc = f32x4.pmax(x, f32x4.splat(NEG_MAX));
  const cube = f32x4.mul(f32x4.mul(xc, xc), xc);
  const z = f32x4.mul(f32x4.splat(GELU_2K), f32x4.add(xc, f32x4.mul(f32x4.splat(GELU_C), cube)));
  return f32x4.mul(xc, sigmoidf4(z));
}

// quick_gelu(x) = x sigmoid(1.702 x)
// @ts-ignore: decorator
@inline export function quick1(x: f32): f32 {
  const xc = max<f32>(x, NEG_MAX);
  return xc * sigmoidf(QUICK * xc);
}
// @ts-ignore: decorator
@inline export function quick4(x: v128): v128 {
  const xc = f32x4.pmax(x, f32x4.splat(NEG_MAX));
  return f32x4.mul(xc, sigmoidf4(f32x4.mul(f32x4.splat(QUICK), xc)));
}

// silu(x) = x sigmoid(x)
// @ts-ignore: decorator
@inline export function silu1(x: f32): f32 {
  const xc = max<f32>(x, NEG_MAX);
  return xc * sigmoidf(xc);
}
// @ts-ignore: decorator
@inline export function silu4(x: v128): v128 {
  const xc = f32x4.pmax(x, f32x4.splat(NEG_MAX));
  return f32x4.mul(xc, sigmoidf4(xc));
}

// ---------------------------------------------------------------- derivatives
// Each derivative is s + x s (1 - s) z'(x) for act = x sigmoid(z(x)). x is clamped to [-100, 100]
// first: beyond it s is exactly 0 or 1 in float32 (expf flushes past -87 and overflows past 88.7,
// for every z here), so the derivative is exactly 0 or 1 either way, while x * 0 * z'(x) could read
// inf * 0 = NaN at +-inf. The clamp (pmax/pmin, one instruction each) lets NaN through.
// @ts-ignore: decorator
@inline export function clamp1(x: f32): f32 {
  return min<f32>(max<f32>(x, -CLAMP), CLAMP);
}
// @ts-ignore: decorator
@inline export function clamp4(x: v128): v128 {
  return f32x4.pmin(f32x4.pmax(x, f32x4.splat(-CLAMP)), f32x4.splat(CLAMP));
}
// gelu_tanh'(x) = s + (x (s (1 - s))) z',  z = 2k (x + c x^3), z' = 2k (1 + 3c x^2), s = sigmoid(z)
// @ts-ignore: decorator
@inline export function geluGrad1(x: f32): f32 {
  const xc = clamp1(x);
  const x2 = xc * xc;
  const s = sigmoidf(GELU_2K * (xc + GELU_C * (x2 * xc)));
  return s + (xc * (s * (<f32>1.0 - s))) * (GELU_2K * (<f32>1.0 + GELU_3C * x2));
}
// @ts-ignore: decorator
@inline export function geluGrad4(x: v128): v128 {
  const one = f32x4.splat(1.0), k2 = f32x4.splat(GELU_2K);
  const xc = clamp4(x);
  const x2 = f32x4.mul(xc, xc);
  const s = sigmoidf4(f32x4.mul(k2, f32x4.add(xc, f32x4.mul(f32x4.splat(GELU_C), f32x4.mul(x2, xc)))));
  const dz = f32x4.mul(k2, f32x4.add(one, f32x4.mul(f32x4.splat(GELU_3C), x2)));
  return f32x4.add(s, f32x4.mul(f32x4.mul(xc, f32x4.mul(s, f32x4.sub(one, s))), dz));
}

// quick_gelu'(x) = s + ((1.702 x) (s (1 - s))),  s = sigmoid(1.702 x)
// @ts-ignore: decorator
@inline export function quickGrad1(x: f32): f32 {
  const z = QUICK * clamp1(x);
  const s = sigmoidf(z);
  return s + z * (s * (<f32>1.0 - s));
}
// @ts-ignore: decorator
@inline export function quickGrad4(x: v128): v128 {
  const z = f32x4.mul(f32x4.splat(QUICK), clamp4(x));
  const s = sigmoidf4(z);
  return f32x4.add(s, f32x4.mul(z, f32x4.mul(s, f32x4.sub(f32x4.splat(1.0), s))));
}

// silu'(x) = s + (x (s (1 - s))),  s = sigmoid(x)
// @ts-ignore: decorator
@inline export function siluGrad1(x: f32): f32 {
  const xc = clamp1(x);
  const s = sigmoidf(xc);
  return s + xc * (s * (<f32>1.0 - s));
}
// @ts-ignore: decorator
@inline export function siluGrad4(x: v128): v128 {
  const xc = clamp4(x);
  const s = sigmoidf4(xc);
  return f32x4.add(s, f32x4.mul(xc, f32x4.mul(s, f32x4.sub(f32x4.splat(1.0), s))));
}
