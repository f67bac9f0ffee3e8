// Elementwise kernels (add, mul, scale, addBias) and activations (gelu_tanh, quick_gelu, silu,
// swiglu) over f32 arrays, f32x4 SIMD with a scalar tail. Not the model: src/backend/backend.ts calls these.
// Every kernel: pointers (usize) and sizes in, output first; out may alias an input (each element is
// read before it is written). Transcendentals come from ./lib/math, whose scalar and f32x4 forms give
// the same bits, so a value's result does not depend on whether it falls in a SIMD body or a tail.
export { heap_base, memory_base } from "./lib/heap";
import { expf, expf4, sigmoidf, sigmoidf4, tanhf, tanhf4 } from "./lib/math";

// ---------------------------------------------------------------- arithmetic

// for (i = 0; i < n; i++) out[i] = a[i] + b[i];
// Lanes: [a0,a1,a2,a3] + [b0,b1,b2,b3] => [a0+b0, a1+b1, a2+b2, a3+b3]; leftovers one at a time.
export function add(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

// for (i = 0; i < n; i++) out[i] = a[i] * b[i];
// Lanes: [a0..a3] * [b0..b3] => [a0*b0, .., a3*b3]; leftovers one at a time.
export function mul(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) * load<f32>(b + o));
  }
}

// for (i = 0; i < n; i++) out[i] = a[i] * s;      (s arrives as f32: JS rounds it on the call)
// Lanes: [a0..a3] * [s,s,s,s]; leftovers one at a time.
export function scale(out: usize, a: usize, s: f32, n: i32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(a + o), sv));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) * s);
  }
}

// for (r = 0; r < rows; r++) for (c = 0; c < cols; c++) out[r, c] = x[r, c] + bias[c];
// Lanes, per row: [x[r,c]..x[r,c+3]] + [bias[c]..bias[c+3]]; the row's leftover columns one at a time.
export function add_bias(out: usize, x: usize, bias: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = <usize>r * <usize>cols << 2;
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      v128.store(out + row + o, f32x4.add(v128.load(x + row + o), v128.load(bias + o)));
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(out + row + o, load<f32>(x + row + o) + load<f32>(bias + o));
    }
  }
}

// ---------------------------------------------------------------- activations
// Each is written as x * sigmoid(z): 0.5 (1 + tanh(u)) = sigmoid(2u) exactly, and the sigmoid form
// keeps full relative accuracy in the negative tail, where 1 + tanh(u) would cancel. The input is
// first clamped to x >= -FLT_MAX so that x = -inf gives -FLT_MAX * 0 = -0 (the limit), not
// -inf * 0 = NaN; max() lets NaN through, and so does f32x4.pmax(x, c) = x < c ? c : x (one instruction).
const NEG_MAX: f32 = -3.40282347e38;
const GELU_2K: f32 = 1.5957691216057308; // 2 sqrt(2/pi)
const GELU_C: f32 = 0.044715;
const QUICK: f32 = 1.702;

// gelu_tanh(x) = 0.5 x (1 + tanh(k (x + c x^3))) = x sigmoid(2k (x + c x^3)), k = sqrt(2/pi), c = 0.044715
// @ts-ignore: decorator
@inline function gelu1(x: f32): f32 {
  const xc = max<f32>(x, NEG_MAX);
  return xc * sigmoidf(GELU_2K * (xc + GELU_C * (xc * xc * xc)));
}
// @ts-ignore: decorator
@inline function gelu4(x: v128): v128 {
  const xc = f32x4.pmax(x, f32x4.splat(NEG_MAX));
  const cube = f32x4.mul(f32x4.mul(xc, xc), xc);
  const z = f32x4.mul(f32x4.splat(GELU_2K), f32x4.add(xc, f32x4.mul(f32x4.splat(GELU_C), cube)));
  return f32x4.mul(xc, sigmoidf4(z));
}

// quick_gelu(x) = x sigmoid(1.702 x)
// @ts-ignore: decorator
@inline function quick1(x: f32): f32 {
  const xc = max<f32>(x, NEG_MAX);
  return xc * sigmoidf(QUICK * xc);
}
// @ts-ignore: decorator
@inline function quick4(x: v128): v128 {
  const xc = f32x4.pmax(x, f32x4.splat(NEG_MAX));
  return f32x4.mul(xc, sigmoidf4(f32x4.mul(f32x4.splat(QUICK), xc)));
}

// silu(x) = x sigmoid(x)
// @ts-ignore: decorator
@inline function silu1(x: f32): f32 {
  const xc = max<f32>(x, NEG_MAX);
  return xc * sigmoidf(xc);
}
// @ts-ignore: decorator
@inline function silu4(x: v128): v128 {
  const xc = f32x4.pmax(x, f32x4.splat(NEG_MAX));
  return f32x4.mul(xc, sigmoidf4(xc));
}

// for (i = 0; i < n; i++) out[i] = gelu_tanh(x[i]);
// Lanes: [x0..x3] => [gelu(x0)..gelu(x3)] (gelu4), leftovers by gelu1 (same bits).
export function gelu_tanh(out: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, gelu4(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, gelu1(load<f32>(x + o)));
  }
}

// for (i = 0; i < n; i++) out[i] = x[i] * sigmoid(1.702 * x[i]);
export function quick_gelu(out: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, quick4(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, quick1(load<f32>(x + o)));
  }
}

// for (i = 0; i < n; i++) out[i] = x[i] * sigmoid(x[i]);
export function silu(out: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, silu4(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, silu1(load<f32>(x + o)));
  }
}

// for (i = 0; i < n; i++) out[i] = silu(gate[i]) * up[i];
// Lanes: silu4([g0..g3]) * [u0..u3]; leftovers one at a time.
export function swiglu(out: usize, gate: usize, up: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(silu4(v128.load(gate + o)), v128.load(up + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, silu1(load<f32>(gate + o)) * load<f32>(up + o));
  }
}

// ---------------------------------------------------------------- math probes
// The lib/math functions over an array, exported for their accuracy and scalar/SIMD bit-identity
// tests (test/elementwise.test.ts); not part of the Kernels contract.
// for (i = 0; i < n; i++) out[i] = f(x[i]);   f = exp | sigmoid | tanh

export function exp_f32(out: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, expf4(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, expf(load<f32>(x + o)));
  }
}

export function sigmoid_f32(out: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, sigmoidf4(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, sigmoidf(load<f32>(x + o)));
  }
}

export function tanh_f32(out: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, tanhf4(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, tanhf(load<f32>(x + o)));
  }
}
