// Transcendentals computed by our own polynomials, so that every engine gives the same bits
// (JS Math.exp/Math.tanh are not pinned by the standard). The scalar and f32x4 forms perform the
// same IEEE operations in the same order: a value gets the same bits in a SIMD body or in a tail
// (a NaN result is a NaN in both; wasm leaves its sign and payload to the engine).

// exp(x) = 2^n * exp(r), n = roundeven(x * log2(e)), r = x - n*ln2 (two-part ln2, Cody-Waite),
// exp(r) by the Cephes expf polynomial (|r| <= ln2/2, about 1 ulp). exp(x < -87) = 0 (flush below
// FLT_MIN, also exp(-inf) = 0); exp(x > 88.72) = +inf; NaN stays NaN.
const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const EXP_LO: f32 = -87.0;
const EXP_HI: f32 = 88.72283905206835;
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;

// @ts-ignore: decorator
@inline
export function expf(x: f32): f32 {
  const xc = min<f32>(max<f32>(x, EXP_LO), EXP_HI);
  const n = nearest<f32>(xc * LOG2E);
  let r = xc - n * LN2_HI;
  r = r - n * LN2_LO;
  let p = P0;
  p = p * r + P1;
  p = p * r + P2;
  p = p * r + P3;
  p = p * r + P4;
  p = p * r + P5;
  const y = p * (r * r) + r + 1.0;
  // 2^n applied as 2^h * 2^(n-h), h = n >> 1: n reaches 128 for x in [88.38, 88.72], where a single
  // scale 2^128 would overflow; the first product is exact, so the result is still rounded once.
  const ni = <i32>n;
  const h = ni >> 1;
  let res = y * reinterpret<f32>((h + 127) << 23) * reinterpret<f32>((ni - h + 127) << 23);
  if (x < EXP_LO) res = 0;
  if (x > EXP_HI) res = Infinity;
  return res;
}

// @ts-ignore: decorator
@inline
export function expf4(x: v128): v128 {
  // pmax(x, LO) = x < LO ? LO : x and pmin(t, HI) = HI < t ? HI : t: the clamp of min/max (NaN passes
  // through as in the scalar form) in one instruction each instead of a NaN-aware sequence.
  const xc = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(LOG2E)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(P0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P5));
  const y = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), f32x4.splat(1.0));
  // n is integral and |n| <= 128: n + 1.5*2^23 holds n in its low mantissa bits, exactly
  // (the same integer as i32x4.trunc_sat_f32x4_s(n), without its saturation sequence; NaN lanes stay NaN via y).
  const ni = i32x4.sub(f32x4.add(n, f32x4.splat(12582912.0)), i32x4.splat(0x4b400000));
  const h = i32x4.shr_s(ni, 1);
  const s1 = i32x4.shl(i32x4.add(h, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(ni, h), i32x4.splat(127)), 23);
  let res = f32x4.mul(f32x4.mul(y, s1), s2);
  res = v128.bitselect(f32x4.splat(0), res, f32x4.lt(x, f32x4.splat(EXP_LO)));
  res = v128.bitselect(f32x4.splat(Infinity), res, f32x4.gt(x, f32x4.splat(EXP_HI)));
  return res;
}

// sigmoid(x) = 1 / (1 + exp(-x)), with expf above: about 2 ulp. sigmoid(-inf) = 0 (exp(+inf) = inf),
// sigmoid(+inf) = 1, sigmoid(x < -88.72) = 0 (exp(-x) overflows: a flush below about 3e-39), NaN stays NaN.

// @ts-ignore: decorator
@inline
export function sigmoidf(x: f32): f32 {
  return <f32>1.0 / (<f32>1.0 + expf(-x));
}

// @ts-ignore: decorator
@inline
export function sigmoidf4(x: v128): v128 {
  return f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), expf4(f32x4.neg(x))));
}

// tanh(x), odd, in two pieces (the Cephes tanhf split), a few ulp everywhere. On a = |x|:
//   a <  0.625: a + a^3 P(a^2), degree-4 P: no cancellation at small |x|, tanh(denormal) = x;
//   a >= 0.625: 1 - 2 / (exp(2a) + 1), which reaches exactly 1 for a > 9.01 (and for a = inf:
//               exp(inf) = inf, 2/inf = 0); NaN stays NaN (this branch).
// then the sign bit of x is put back, so tanh(-x) = -tanh(x) bit for bit and tanh(-0) = -0.
const TANH_SPLIT: f32 = 0.625;
const T0: f32 = -5.70498872745e-3;
const T1: f32 = 2.06390887954e-2;
const T2: f32 = -5.37397155531e-2;
const T3: f32 = 1.33314422036e-1;
const T4: f32 = -3.33332819422e-1;

// @ts-ignore: decorator
@inline
export function tanhf(x: f32): f32 {
  const a = abs<f32>(x);
  let t: f32;
  if (a < TANH_SPLIT) {
    const z = a * a;
    let p = T0;
    p = p * z + T1;
    p = p * z + T2;
    p = p * z + T3;
    p = p * z + T4;
    t = p * z * a + a;
  } else {
    t = <f32>1.0 - <f32>2.0 / (expf(a + a) + <f32>1.0);
  }
  return reinterpret<f32>(reinterpret<u32>(t) | (reinterpret<u32>(x) & 0x80000000));
}

// Lanes: both pieces are computed for all four lanes, then each lane takes its piece:
//   a = |x| ; t = a < 0.625 ? poly(a) : 1 - 2/(e^{2a}+1)  (NaN: the second) ; out = t | signbit(x)
// @ts-ignore: decorator
@inline
export function tanhf4(x: v128): v128 {
  const a = f32x4.abs(x);
  const z = f32x4.mul(a, a);
  let p = f32x4.splat(T0);
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(T1));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(T2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(T3));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(T4));
  const poly = f32x4.add(f32x4.mul(f32x4.mul(p, z), a), a);
  const one = f32x4.splat(1.0);
  const big = f32x4.sub(one, f32x4.div(f32x4.splat(2.0), f32x4.add(expf4(f32x4.add(a, a)), one)));
  const t = v128.bitselect(poly, big, f32x4.lt(a, f32x4.splat(TANH_SPLIT)));
  return v128.or(t, v128.and(x, i32x4.splat(0x80000000)));
}
