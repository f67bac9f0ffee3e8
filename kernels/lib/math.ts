// Transcendentals computed by our own polynomials, so that every engine gives the same bits
// (JS Math.exp/Math.tanh are not pinned by the standard). The scalar and f32x4 forms perform the
// same IEEE operations in the same order: a value gets the same bits in a SIMD body or in a tail.

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
  const scale = reinterpret<f32>((<i32>n + 127) << 23);
  let res = y * scale;
  if (x < EXP_LO) res = 0;
  if (x > EXP_HI) res = Infinity;
  return res;
}

// @ts-ignore: decorator
@inline
export function expf4(x: v128): v128 {
  const xc = f32x4.min(f32x4.max(x, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
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
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  let res = f32x4.mul(y, scale);
  res = v128.bitselect(f32x4.splat(0), res, f32x4.lt(x, f32x4.splat(EXP_LO)));
  res = v128.bitselect(f32x4.splat(Infinity), res, f32x4.gt(x, f32x4.splat(EXP_HI)));
  return res;
}
