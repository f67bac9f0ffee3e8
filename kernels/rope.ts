// Rotary position embedding (rotate-half, sectioned positions as in Qwen2-VL mrope), f32x4 SIMD.
// Angles in f64 by our own exp/log/sin/cos (kernels/lib/trig.ts), rounded to f32 once per pair.
export { heap_base, memory_base } from "./lib/heap";
import { RopeOpts } from "./lib/opts";
import { cos64, exp64, log64, sin64, sincos2f32 } from "./lib/trig";

// Scalar loop this replaces (per token t, head h, pair j < half = dh/2; axis(j) = section of j):
//   a = pos[t, axis(j)] * base^(-2j/dh)
//   out[j]        = x[j] * cos(a) - x[j+half] * sin(a)
//   out[j + half] = x[j+half] * cos(a) + x[j] * sin(a)
//
// Layout: x, out [tokens, NH*dh] f32; pos [tokens, axes] i32; sections [nsections] i32 (sum half).
// scratch (bytes): inv f64[half] | axisOf i32[half] | cos f32[half] | sin f32[half] = 20*half.

/** inv[j] = base^(-2j/dh) = exp(-(2j/dh) ln base) in f64; axisOf[j] = the section holding j. */
function buildFrequencies(inv: usize, axisOf: usize, half: i32, dh: i32, sections: usize, nsections: i32, base: f64): void {
  const lnBase = log64(base);
  for (let j = 0; j < half; j++) {
    store<f64>(inv + (<usize>j << 3), exp64(((<f64>(-2 * j)) / <f64>dh) * lnBase));
  }
  let j = 0;
  for (let a = 0; a < nsections; a++) {
    const len = load<i32>(sections + (<usize>a << 2));
    for (let s = 0; s < len; s++) {
      store<i32>(axisOf + (<usize>j << 2), a);
      j++;
    }
  }
}

/**
 * The per-token table: angle = pos[axis(j)] * inv[j] in f64; cos and sin rounded to f32 once.
 * Two pairs per step: [a_j, a_j+1] -> [sin a_j, sin a_j+1, cos a_j, cos a_j+1] (f64x2 lanes), the
 * odd one left over by the scalar sin64/cos64 (the same bits per lane).
 */
function buildTable(cosT: usize, sinT: usize, inv: usize, axisOf: usize, posRow: usize, half: i32): void {
  let j = 0;
  for (; j + 2 <= half; j += 2) {
    const a0 = angle(inv, axisOf, posRow, j), a1 = angle(inv, axisOf, posRow, j + 1);
    const sc = sincos2f32(f64x2(a0, a1));
    v128.store64_lane(sinT + (<usize>j << 2), sc, 0);
    v128.store64_lane(cosT + (<usize>j << 2), sc, 1);
  }
  if (j < half) { // leftover
    const a = angle(inv, axisOf, posRow, j);
    store<f32>(cosT + (<usize>j << 2), <f32>cos64(a));
    store<f32>(sinT + (<usize>j << 2), <f32>sin64(a));
  }
}

/** pos[axis(j)] * inv[j] (f64). */
// @ts-ignore: decorator
@inline
function angle(inv: usize, axisOf: usize, posRow: usize, j: i32): f64 {
  const axis = load<i32>(axisOf + (<usize>j << 2));
  return <f64>load<i32>(posRow + (<usize>axis << 2)) * load<f64>(inv + (<usize>j << 3));
}

/** True when token rows a and b have the same positions on every axis (the table can be reused). */
// @ts-ignore: decorator
@inline
function samePositions(a: usize, b: usize, axes: i32): bool {
  for (let i = 0; i < axes; i++) {
    if (load<i32>(a + (<usize>i << 2)) != load<i32>(b + (<usize>i << 2))) return false;
  }
  return true;
}

/**
 * One head: four pairs per step,
 *   lo = [x0 x1 x2 x3], hi = [x(h) .. x(h+3)], c = [c0..c3], s = [s0..s3]
 *   out lo = lo*c - hi*s ; out hi = hi*c + lo*s          (lane-wise, f32, no fused multiply-add)
 * then the leftover pairs one at a time with the same operations (same bits as in a SIMD lane).
 */
// @ts-ignore: decorator
@inline
function rotateHead(o: usize, x: usize, cosT: usize, sinT: usize, half: i32): void {
  const hb = <usize>half << 2;
  let j = 0;
  for (; j + 4 <= half; j += 4) {
    const off = <usize>j << 2;
    const lo = v128.load(x + off), hi = v128.load(x + hb + off);
    const c = v128.load(cosT + off), s = v128.load(sinT + off);
    v128.store(o + off, f32x4.sub(f32x4.mul(lo, c), f32x4.mul(hi, s)));
    v128.store(o + hb + off, f32x4.add(f32x4.mul(hi, c), f32x4.mul(lo, s)));
  }
  for (; j < half; j++) { // leftovers
    const off = <usize>j << 2;
    const lo = load<f32>(x + off), hi = load<f32>(x + hb + off);
    const c = load<f32>(cosT + off), s = load<f32>(sinT + off);
    store<f32>(o + off, lo * c - hi * s);
    store<f32>(o + hb + off, hi * c + lo * s);
  }
}

/**
 * out [tokens, NH*dh] = rope(x [tokens, NH*dh], pos [tokens, axes]); see the scalar loop above.
 * `opts` points at a RopeOpts (NH = heads, dh, axes, nsections, base). Only the tokens
 * t0 <= t < t1 are computed (a thread split hands out token ranges, every piece reading the same
 * RopeOpts; a token's rotation depends only on its own positions, so every split gives the same
 * bits). `scratch` holds 20 * (dh / 2) bytes (per piece).
 */
export function rope(out: usize, x: usize, pos: usize, sections: usize, scratch: usize, opts: usize, t0: i32, t1: i32): void {
  const o = changetype<RopeOpts>(opts);
  const heads = o.heads, dh = o.dh, axes = o.axes, nsections = o.nsections, base = o.base;
  // the range as the rows of its own: token t0 is row 0 (the table is built for it first)
  const tokens = t1 - t0;
  out += <usize>t0 * (<usize>(heads * dh) << 2);
  x += <usize>t0 * (<usize>(heads * dh) << 2);
  pos += <usize>t0 * (<usize>axes << 2);
  const half = dh >> 1;
  const inv = scratch;
  const axisOf = inv + (<usize>half << 3);
  const cosT = axisOf + (<usize>half << 2);
  const sinT = cosT + (<usize>half << 2);
  buildFrequencies(inv, axisOf, half, dh, sections, nsections, base);
  const rowBytes = <usize>(heads * dh) << 2;
  const posBytes = <usize>axes << 2;
  for (let t = 0; t < tokens; t++) {
    const posRow = pos + <usize>t * posBytes;
    // tokens of one slice share their positions ("depth" rope): build the table once for them
    if (t == 0 || !samePositions(posRow, posRow - posBytes, axes)) {
      buildTable(cosT, sinT, inv, axisOf, posRow, half);
    }
    const xr = x + <usize>t * rowBytes, or = out + <usize>t * rowBytes;
    for (let h = 0; h < heads; h++) {
      const hoff = <usize>(h * dh) << 2;
      rotateHead(or + hoff, xr + hoff, cosT, sinT, half);
    }
  }
}
