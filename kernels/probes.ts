// Test probes, not kernels: lib/ functions exposed for their own tests. Built to build/probes.wasm
// like every entry, but not loaded by the runtime (not in MODULE_NAMES) and not shipped in dist/.
export { heap_base, memory_base } from "./lib/heap";
import { expShiftedRows4 } from "./lib/attn_exp";
import { expf, expf4, sigmoidf, sigmoidf4, tanhf, tanhf4 } from "./lib/math";
import { cos64, exp64, log64, sin64, sincos2f32 } from "./lib/trig";

// ---------------------------------------------------------------- lib/math over an array
// For the accuracy and scalar/SIMD bit-identity tests of lib/math (test/elementwise.test.ts).
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

// ---------------------------------------------------------------- the softmax exp of attention

/**
 * How many of x[0..n) (n a multiple of 16, every x <= 0, NaN
 * or -inf) get different bits from the softmax's exp (expShiftedRows4 with shift 0) than from
 * expf4 (NaN = NaN) (test/attention.test.ts). Uses n + 8 floats at `tmp`.
 */
export function exp_shifted_check(x: usize, tmp: usize, n: i32): i32 {
  const sh = tmp + (<usize>n << 2); // X: four zero shifts, then four sums
  memory.fill(sh, 0, 32);
  memory.copy(tmp, x, <usize>n << 2);
  const q = <usize>n; // bytes per row: n / 4 floats
  expShiftedRows4(tmp, q, n >> 2, sh, sh + 16);
  let bad = 0;
  for (let j = 0; j < n; j += 4) {
    const o = <usize>j << 2;
    const a = expf4(v128.load(x + o)), b = v128.load(tmp + o);
    const same = v128.or(i32x4.eq(a, b), v128.and(f32x4.ne(a, a), f32x4.ne(b, b)));
    bad += 4 - <i32>popcnt<u32>(<u32>i32x4.bitmask(same));
  }
  return bad;
}

// ---------------------------------------------------------------- lib/trig (the angles of rope)
// The f64 transcendentals of lib/trig.ts, to check them against high-precision values
// (test/rope.test.ts) and their symmetry (test/backward-kernels.test.ts).

export function trig_sin(x: f64): f64 { return sin64(x); }
export function trig_cos(x: f64): f64 { return cos64(x); }
export function trig_exp(x: f64): f64 { return exp64(x); }
export function trig_log(x: f64): f64 { return log64(x); }
/** Lane `lane` of sincos2f32([x0, x1]): 0, 1 = sin x0, sin x1; 2, 3 = cos x0, cos x1. */
export function trig_sincos2(x0: f64, x1: f64, lane: i32): f32 {
  const v = sincos2f32(f64x2(x0, x1));
  if (lane == 0) return f32x4.extract_lane(v, 0);
  if (lane == 1) return f32x4.extract_lane(v, 1);
  if (lane == 2) return f32x4.extract_lane(v, 2);
  return f32x4.extract_lane(v, 3);
}
