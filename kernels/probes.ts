// Test probes, not kernels: lib/ functions exposed for their own tests. Built to build/probes.wasm
// like every entry, but not loaded by the runtime (not in MODULE_NAMES) and not shipped in dist/.
export { heap_base, memory_base } from "./lib/heap";
import { expShiftedRows4 } from "./lib/attn_exp";
import { expf, expf4, sigmoidf, sigmoidf4, tanhf, tanhf4 } from "./lib/math";

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
