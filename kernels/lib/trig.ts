// Float64 sin, cos, exp and log by our own polynomials, so that rotary tables get the same bits in
// every engine (JS Math.sin/cos/pow are not pinned by the standard). Scalar f64, plus sin/cos of
// two angles in f64x2 lanes with the same bits (sincos2f32).
//
// Accuracy: about 1 ulp of f64 (far below the f32 rounding that follows in rope). sin/cos reduce
// by pi/2 in four parts (Cody-Waite): n*C1, n*C2, n*C3 are exact for |n| < 2^31, so the reduction
// stays exact to ~1e-16 for every |x| < 3.3e9 (every int32 position times a frequency <= 1).
// Beyond that the error grows like 1e-16 |x|, the size of the f64 rounding of x itself; from
// |x| >= 2^52 (no fractional bits left, no meaningful phase) and for non-finite x the result is NaN.

// pi/2 = C1 + C2 + C3 + C4: C1..C3 hold 22 significant bits each, C4 the rest rounded to f64.
const PIO2_C1: f64 = 1.570796012878418; //      0x1.921fbp+0
const PIO2_C2: f64 = 3.139164164167596e-7; //   0x1.5110bp-22
const PIO2_C3: f64 = 6.223371969669989e-14; //  0x1.18469800p-44
const PIO2_C4: f64 = 2.0222662487959506e-21; // 0x1.3198a2e037073p-69
const TWO_OVER_PI: f64 = 0.6366197723675814;
const TWO_P52: f64 = 4503599627370496.0;

// Taylor coefficients 1/n! (n! is an exact f64 for n <= 18, so each is correctly rounded).
// On |r| <= pi/4 the first omitted terms are r^19/19! < 1e-19 (sin) and r^20/20! < 1e-20 (cos).
const F3: f64 = 1.0 / 6.0;
const F5: f64 = 1.0 / 120.0;
const F7: f64 = 1.0 / 5040.0;
const F9: f64 = 1.0 / 362880.0;
const F11: f64 = 1.0 / 39916800.0;
const F13: f64 = 1.0 / 6227020800.0;
const F15: f64 = 1.0 / 1307674368000.0;
const F17: f64 = 1.0 / 355687428096000.0;
const F2: f64 = 1.0 / 2.0;
const F4: f64 = 1.0 / 24.0;
const F6: f64 = 1.0 / 720.0;
const F8: f64 = 1.0 / 40320.0;
const F10: f64 = 1.0 / 3628800.0;
const F12: f64 = 1.0 / 479001600.0;
const F14: f64 = 1.0 / 87178291200.0;
const F16: f64 = 1.0 / 20922789888000.0;
const F18: f64 = 1.0 / 6402373705728000.0;

/** sin r for |r| <= pi/4: r - r^3/3! + r^5/5! - ... - r^17/17! (Horner in z = r^2). */
// @ts-ignore: decorator
@inline
function sinPoly(r: f64): f64 {
  const z = r * r;
  let p = -F17;
  p = p * z + F15;
  p = p * z - F13;
  p = p * z + F11;
  p = p * z - F9;
  p = p * z + F7;
  p = p * z - F5;
  p = p * z + F3;
  return r - r * z * p;
}

/** cos r for |r| <= pi/4: 1 - r^2/2! + r^4/4! - ... + r^18/18!. */
// @ts-ignore: decorator
@inline
function cosPoly(r: f64): f64 {
  const z = r * r;
  let p = -F18;
  p = p * z + F16;
  p = p * z - F14;
  p = p * z + F12;
  p = p * z - F10;
  p = p * z + F8;
  p = p * z - F6;
  p = p * z + F4;
  p = p * z - F2;
  return 1.0 + z * p;
}

/** r = x - n*pi/2 with n = roundeven(x * 2/pi), |r| <= pi/4 (plus rounding). */
// @ts-ignore: decorator
@inline
function reducePio2(x: f64, n: f64): f64 {
  let r = x - n * PIO2_C1;
  r = r - n * PIO2_C2;
  r = r - n * PIO2_C3;
  return r - n * PIO2_C4;
}

/** n mod 4 in {0, 1, 2, 3}, computed in f64 (exact; no float-to-int trap for any finite n). */
// @ts-ignore: decorator
@inline
function quadrant(n: f64): i32 {
  return <i32>(n - 4.0 * floor<f64>(n * 0.25));
}

/** sin x: quadrant q = n mod 4 picks sin r, cos r, -sin r, -cos r. */
export function sin64(x: f64): f64 {
  if (!(abs<f64>(x) < TWO_P52)) return NaN; // also inf and NaN
  const n = nearest<f64>(x * TWO_OVER_PI);
  const r = reducePio2(x, n);
  const q = quadrant(n);
  if (q == 0) return sinPoly(r);
  if (q == 1) return cosPoly(r);
  if (q == 2) return -sinPoly(r);
  return -cosPoly(r);
}

/** cos x: quadrant q = n mod 4 picks cos r, -sin r, -cos r, sin r. */
export function cos64(x: f64): f64 {
  if (!(abs<f64>(x) < TWO_P52)) return NaN; // also inf and NaN
  const n = nearest<f64>(x * TWO_OVER_PI);
  const r = reducePio2(x, n);
  const q = quadrant(n);
  if (q == 0) return cosPoly(r);
  if (q == 1) return -sinPoly(r);
  if (q == 2) return -cosPoly(r);
  return sinPoly(r);
}

/**
 * Two angles at once, f64x2: [x0, x1] -> [sin x0, sin x1, cos x0, cos x1] rounded to f32.
 * Lane for lane the operations of sin64 and cos64 (the same polynomials, the quadrant picks by
 * select and exact negation), so each lane has the bits of <f32>sin64(x) and <f32>cos64(x).
 */
// @ts-ignore: decorator
@inline
export function sincos2f32(x: v128): v128 {
  const n = f64x2.nearest(f64x2.mul(x, f64x2.splat(TWO_OVER_PI)));
  let r = f64x2.sub(x, f64x2.mul(n, f64x2.splat(PIO2_C1)));
  r = f64x2.sub(r, f64x2.mul(n, f64x2.splat(PIO2_C2)));
  r = f64x2.sub(r, f64x2.mul(n, f64x2.splat(PIO2_C3)));
  r = f64x2.sub(r, f64x2.mul(n, f64x2.splat(PIO2_C4)));
  const z = f64x2.mul(r, r);
  let ps = f64x2.splat(-F17); // sinPoly
  ps = f64x2.add(f64x2.mul(ps, z), f64x2.splat(F15));
  ps = f64x2.sub(f64x2.mul(ps, z), f64x2.splat(F13));
  ps = f64x2.add(f64x2.mul(ps, z), f64x2.splat(F11));
  ps = f64x2.sub(f64x2.mul(ps, z), f64x2.splat(F9));
  ps = f64x2.add(f64x2.mul(ps, z), f64x2.splat(F7));
  ps = f64x2.sub(f64x2.mul(ps, z), f64x2.splat(F5));
  ps = f64x2.add(f64x2.mul(ps, z), f64x2.splat(F3));
  const sr = f64x2.sub(r, f64x2.mul(f64x2.mul(r, z), ps));
  let pc = f64x2.splat(-F18); // cosPoly
  pc = f64x2.add(f64x2.mul(pc, z), f64x2.splat(F16));
  pc = f64x2.sub(f64x2.mul(pc, z), f64x2.splat(F14));
  pc = f64x2.add(f64x2.mul(pc, z), f64x2.splat(F12));
  pc = f64x2.sub(f64x2.mul(pc, z), f64x2.splat(F10));
  pc = f64x2.add(f64x2.mul(pc, z), f64x2.splat(F8));
  pc = f64x2.sub(f64x2.mul(pc, z), f64x2.splat(F6));
  pc = f64x2.add(f64x2.mul(pc, z), f64x2.splat(F4));
  pc = f64x2.sub(f64x2.mul(pc, z), f64x2.splat(F2));
  const cr = f64x2.add(f64x2.splat(1.0), f64x2.mul(z, pc));
  // q = n mod 4: q odd swaps sin and cos; sin is negated for q in {2, 3}, cos for q in {1, 2}
  const q = f64x2.sub(n, f64x2.mul(f64x2.splat(4.0), f64x2.floor(f64x2.mul(n, f64x2.splat(0.25)))));
  const q1 = f64x2.eq(q, f64x2.splat(1.0)), q2 = f64x2.eq(q, f64x2.splat(2.0)), q3 = f64x2.eq(q, f64x2.splat(3.0));
  const odd = v128.or(q1, q3);
  let sn = v128.bitselect(cr, sr, odd), cs = v128.bitselect(sr, cr, odd);
  sn = v128.bitselect(f64x2.neg(sn), sn, v128.or(q2, q3));
  cs = v128.bitselect(f64x2.neg(cs), cs, v128.or(q1, q2));
  const ok = f64x2.lt(f64x2.abs(x), f64x2.splat(TWO_P52)); // else NaN, as in sin64 / cos64
  sn = v128.bitselect(sn, f64x2.splat(NaN), ok);
  cs = v128.bitselect(cs, f64x2.splat(NaN), ok);
  return v128.shuffle<i64>(f32x4.demote_f64x2_zero(sn), f32x4.demote_f64x2_zero(cs), 0, 2);
}

// ln 2 = LN2_HI + LN2_LO, LN2_HI with 41 fraction bits so that n * LN2_HI is exact for |n| < 2^11.
const LN2_HI: f64 = 0.6931471805598903; // 0x1.62e42fefa38p-1
const LN2_LO: f64 = 5.497923018708371e-14;
const LOG2E: f64 = 1.4426950408889634;
const SQRT2: f64 = 1.4142135623730951;

/** 2^k as an f64, for k in [-1022, 1023]. */
// @ts-ignore: decorator
@inline
function pow2(k: i32): f64 {
  return reinterpret<f64>(<u64>(k + 1023) << 52);
}

/**
 * e^y = 2^n e^r with n = roundeven(y / ln 2), r = y - n ln 2 (|r| <= ln2/2), e^r by Taylor to r^16/16!
 * (omitted terms < 1e-22). e^y = +inf above 709.78, 0 below -745.2, NaN stays NaN.
 */
export function exp64(y: f64): f64 {
  if (isNaN<f64>(y)) return y;
  if (y > 709.782712893384) return Infinity;
  if (y < -745.2) return 0;
  const n = nearest<f64>(y * LOG2E);
  const r = (y - n * LN2_HI) - n * LN2_LO;
  let p: f64 = 1.0 / 20922789888000.0; // 1/16!
  p = p * r + 1.0 / 1307674368000.0;
  p = p * r + 1.0 / 87178291200.0;
  p = p * r + 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  const er = 1.0 + r + r * r * p;
  // scale in two halves so that neither 2^k leaves the normal range (n in [-1075, 1024])
  const k = <i32>n;
  const k1 = k >> 1;
  return er * pow2(k1) * pow2(k - k1);
}

/**
 * ln x = e ln 2 + ln m with x = 2^e m, m in [sqrt(1/2), sqrt 2), and ln m = 2 atanh s =
 * 2(s + s^3/3 + ... + s^23/23), s = (m-1)/(m+1), |s| <= 0.1716 (omitted terms < 1e-19).
 * ln 0 = -inf, ln x<0 = NaN, ln inf = inf.
 */
export function log64(x: f64): f64 {
  if (isNaN<f64>(x) || x < 0) return NaN;
  if (x == 0) return -Infinity;
  if (x == Infinity) return x;
  let e: i32 = 0;
  if (x < 2.2250738585072014e-308) { // subnormal: scale into the normal range first
    x *= 18014398509481984.0; // 2^54
    e = -54;
  }
  const bits = reinterpret<u64>(x);
  e += <i32>((bits >> 52) & 0x7ff) - 1023;
  let m = reinterpret<f64>((bits & 0x000fffffffffffff) | 0x3ff0000000000000); // [1, 2)
  if (m > SQRT2) {
    m *= 0.5;
    e += 1;
  }
  const s = (m - 1.0) / (m + 1.0);
  const z = s * s;
  let p: f64 = 1.0 / 23.0;
  p = p * z + 1.0 / 21.0;
  p = p * z + 1.0 / 19.0;
  p = p * z + 1.0 / 17.0;
  p = p * z + 1.0 / 15.0;
  p = p * z + 1.0 / 13.0;
  p = p * z + 1.0 / 11.0;
  p = p * z + 1.0 / 9.0;
  p = p * z + 1.0 / 7.0;
  p = p * z + 1.0 / 5.0;
  p = p * z + 1.0 / 3.0;
  const lnm = 2.0 * s + 2.0 * s * z * p;
  const fe = <f64>e;
  return fe * LN2_HI + (fe * LN2_LO + lnm);
}
