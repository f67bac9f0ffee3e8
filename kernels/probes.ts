// Test probes, not kernels: lib/ functions (and lib/opts.ts structs) exposed for their own tests. Built to build/probes.wasm
// like every entry, but not loaded by the runtime (not in MODULE_NAMES) and not shipped in dist/.
export { heap_base, memory_base } from "./lib/heap";
import { expShiftedRows4 } from "./lib/attn_exp";
import { BK } from "./lib/attn_tile";
import { expf, expf4, sigmoidf, sigmoidf4, tanhf, tanhf4 } from "./lib/math";
import { AdamwOpts, AttentionOpts, MatmulOpts, PatchOpts, RopeOpts } from "./lib/opts";
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

/** expShiftedRows4's pass buffers (3 x 4 rows of BK floats). */
const EXP_PASSES = memory.data(12 * BK * 4, 16);

/**
 * How many of x[0..n) (n a multiple of 16, every x <= 0, NaN
 * or -inf) get different bits from the softmax's exp (expShiftedRows4 with shift 0, over chunks of
 * 4 rows of up to BK) than from expf4 (NaN = NaN) (test/attention.test.ts). Uses n + 8 floats at `tmp`.
 */
export function exp_shifted_check(x: usize, tmp: usize, n: i32): i32 {
  const sh = tmp + (<usize>n << 2); // X: four zero shifts, then four sums
  memory.fill(sh, 0, 32);
  memory.copy(tmp, x, <usize>n << 2);
  for (let c = 0; c < n; c += 4 * BK) {
    const n4 = min(4 * BK, n - c) >> 2; // floats per row, a multiple of 4
    expShiftedRows4(tmp + (<usize>c << 2), <usize>n4 << 2, n4, sh, sh + 16, EXP_PASSES);
  }
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

// ---------------------------------------------------------------- lib/opts (the options structs)
// Each struct as the kernels see it, for the layout test of the generated writers
// (test/bindings.test.ts): out f64[1 + 2 * fields] = the struct's bytes (offsetof<T>()), then per
// field, in declaration order, its offsetof and the value a kernel reads from the struct at `ptr`.
// Returns the field count. One probe per struct, named probe_<snake_case name>; list every field.

// @ts-ignore: decorator
@inline
function field(out: usize, i: i32, offset: usize, value: f64): i32 {
  store<f64>(out + (<usize>(1 + 2 * i) << 3), <f64>offset);
  store<f64>(out + (<usize>(2 + 2 * i) << 3), value);
  return i + 1;
}

/** MatmulOpts at `ptr` as the kernels read it: its bytes, then offset and value per field (see above). */
export function probe_matmul_opts(ptr: usize, out: usize): i32 {
  const o = changetype<MatmulOpts>(ptr);
  store<f64>(out, <f64>offsetof<MatmulOpts>());
  let i = field(out, 0, offsetof<MatmulOpts>("batch"), o.batch);
  i = field(out, i, offsetof<MatmulOpts>("m"), o.m);
  i = field(out, i, offsetof<MatmulOpts>("n"), o.n);
  i = field(out, i, offsetof<MatmulOpts>("k"), o.k);
  return field(out, i, offsetof<MatmulOpts>("flags"), o.flags);
}

/** AttentionOpts at `ptr` as the kernels read it: its bytes, then offset and value per field (see above). */
export function probe_attention_opts(ptr: usize, out: usize): i32 {
  const o = changetype<AttentionOpts>(ptr);
  store<f64>(out, <f64>offsetof<AttentionOpts>());
  let i = field(out, 0, offsetof<AttentionOpts>("batch"), o.batch);
  i = field(out, i, offsetof<AttentionOpts>("nq"), o.nq);
  i = field(out, i, offsetof<AttentionOpts>("nk"), o.nk);
  i = field(out, i, offsetof<AttentionOpts>("heads"), o.heads);
  i = field(out, i, offsetof<AttentionOpts>("kvHeads"), o.kvHeads);
  i = field(out, i, offsetof<AttentionOpts>("dh"), o.dh);
  i = field(out, i, offsetof<AttentionOpts>("scale"), o.scale);
  i = field(out, i, offsetof<AttentionOpts>("causal"), o.causal ? 1 : 0);
  return field(out, i, offsetof<AttentionOpts>("maskBatch"), o.maskBatch);
}

/** RopeOpts at `ptr` as the kernels read it: its bytes, then offset and value per field (see above). */
export function probe_rope_opts(ptr: usize, out: usize): i32 {
  const o = changetype<RopeOpts>(ptr);
  store<f64>(out, <f64>offsetof<RopeOpts>());
  let i = field(out, 0, offsetof<RopeOpts>("heads"), o.heads);
  i = field(out, i, offsetof<RopeOpts>("dh"), o.dh);
  i = field(out, i, offsetof<RopeOpts>("axes"), o.axes);
  i = field(out, i, offsetof<RopeOpts>("nsections"), o.nsections);
  return field(out, i, offsetof<RopeOpts>("base"), o.base);
}

/** PatchOpts at `ptr` as the kernels read it: its bytes, then offset and value per field (see above). */
export function probe_patch_opts(ptr: usize, out: usize): i32 {
  const o = changetype<PatchOpts>(ptr);
  store<f64>(out, <f64>offsetof<PatchOpts>());
  let i = field(out, 0, offsetof<PatchOpts>("batch"), o.batch);
  i = field(out, i, offsetof<PatchOpts>("cv"), o.cv);
  i = field(out, i, offsetof<PatchOpts>("cin"), o.cin);
  i = field(out, i, offsetof<PatchOpts>("depth"), o.depth);
  i = field(out, i, offsetof<PatchOpts>("height"), o.height);
  i = field(out, i, offsetof<PatchOpts>("width"), o.width);
  i = field(out, i, offsetof<PatchOpts>("channels"), o.channels);
  i = field(out, i, offsetof<PatchOpts>("patch"), o.patch);
  return field(out, i, offsetof<PatchOpts>("tdepth"), o.tdepth);
}

/** AdamwOpts at `ptr` as the kernels read it: its bytes, then offset and value per field (see above). */
export function probe_adamw_opts(ptr: usize, out: usize): i32 {
  const o = changetype<AdamwOpts>(ptr);
  store<f64>(out, <f64>offsetof<AdamwOpts>());
  let i = field(out, 0, offsetof<AdamwOpts>("decay"), o.decay);
  i = field(out, i, offsetof<AdamwOpts>("b1"), o.b1);
  i = field(out, i, offsetof<AdamwOpts>("c1"), o.c1);
  i = field(out, i, offsetof<AdamwOpts>("b2"), o.b2);
  i = field(out, i, offsetof<AdamwOpts>("c2"), o.c2);
  i = field(out, i, offsetof<AdamwOpts>("stepSize"), o.stepSize);
  i = field(out, i, offsetof<AdamwOpts>("bc2Sqrt"), o.bc2Sqrt);
  return field(out, i, offsetof<AdamwOpts>("eps"), o.eps);
}
