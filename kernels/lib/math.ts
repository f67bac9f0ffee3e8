// Transcendentals computed by our own polynomials, so that every engine gives the same bits
// (JS Math.exp/Math.tanh are not pinned by the standard). The scalar and f32x4 forms perform the
// same IEEE operations in the same order: a value gets the same bits in a SIMD body or in a tail
// (a NaN result is a NaN in both; wasm leaves its sign and payload to the engine).

// exp(x) = 2^n * exp(r), n = roundeven(x * log2(e)), r = x - n*ln2 (two-part ln2, Cody-Waite),
// exp(r) by the Cephes expf polynomial (|r| <= ln2/2, about 1 ulp). exp(x < -87) = 0 (flush below
// FLT_MIN, also exp(-inf) = 0); exp(x > 88.72) = +inf; NaN stays NaN.
//  - no clamp of x: inside [-87, 88.72] a clamp is the identity, and outside it the two final
//    selects replace whatever the steps computed (a NaN x stays NaN through every step);
//  - n by the rounding constant R = 1.5*2^23: t = x log2e + R rounds x log2e to the nearest-even
//    integer (|x log2e| < 2^22 here), n = t - R exactly, and bits(t) = 0x4B400000 + n;
//  - 2^n as 2^h * 2^(n-h), h = n >> 1: n reaches 128 for x in [88.38, 88.72], where a single scale
//    2^128 would overflow; the first product is exact, so the result is still rounded once. The
//    scales come from bits(t) directly: 0x4B400000 << 23 and 0x25A00000 << 23 vanish mod 2^32, so
//    ((bits(t) >> 1) + 127) << 23 = 2^h and ((bits(t) - (bits(t) >> 1)) + 127) << 23 = 2^(n-h).
// The f32x4 form takes its constants from a table (one load each: V8 rebuilds an inline v128
// constant at every use in ~3 instructions). Both forms give the same bits as the clamp+nearest
// version of commit 16d8c4f for all 2^32 inputs (NaN = NaN), checked exhaustively.
const LOG2E: f32 = 1.44269504088896341;
const ROUND: f32 = 12582912.0; // 1.5 * 2^23
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
// tanh's constants (see tanhf below)
const TANH_SPLIT: f32 = 0.625;
const T0: f32 = -5.70498872745e-3;
const T1: f32 = 2.06390887954e-2;
const T2: f32 = -5.37397155531e-2;
const T3: f32 = 1.33314422036e-1;
const T4: f32 = -3.33332819422e-1;

/** The f32x4 constants, each splatted to 16 bytes (byte offsets on the right). */
const V = memory.data<f32>([
  LOG2E, LOG2E, LOG2E, LOG2E, //                       0
  ROUND, ROUND, ROUND, ROUND, //                      16
  LN2_HI, LN2_HI, LN2_HI, LN2_HI, //                  32
  LN2_LO, LN2_LO, LN2_LO, LN2_LO, //                  48
  P0, P0, P0, P0, //                                  64
  P1, P1, P1, P1, //                                  80
  P2, P2, P2, P2, //                                  96
  P3, P3, P3, P3, //                                 112
  P4, P4, P4, P4, //                                 128
  P5, P5, P5, P5, //                                 144
  1.0, 1.0, 1.0, 1.0, //                             160
  EXP_LO, EXP_LO, EXP_LO, EXP_LO, //                 176
  EXP_HI, EXP_HI, EXP_HI, EXP_HI, //                 192
  Infinity, Infinity, Infinity, Infinity, //         208
  T0, T0, T0, T0, //                                 224
  T1, T1, T1, T1, //                                 240
  T2, T2, T2, T2, //                                 256
  T3, T3, T3, T3, //                                 272
  T4, T4, T4, T4, //                                 288
  TANH_SPLIT, TANH_SPLIT, TANH_SPLIT, TANH_SPLIT, // 304
  2.0, 2.0, 2.0, 2.0, //                             320
], 16);
/** i32 lanes: the exponent bias (0), the sign bit (16). */
const VI = memory.data<i32>([127, 127, 127, 127, 0x80000000, 0x80000000, 0x80000000, 0x80000000], 16);

// @ts-ignore: decorator
@inline
export function expf(x: f32): f32 {
  const t = x * LOG2E + ROUND;
  const n = t - ROUND; // roundeven(x log2e)
  let r = x - n * LN2_HI;
  r = r - n * LN2_LO;
  let p = P0;
  p = p * r + P1;
  p = p * r + P2;
  p = p * r + P3;
  p = p * r + P4;
  p = p * r + P5;
  const y = p * (r * r) + r + 1.0;
  const tb = reinterpret<i32>(t), hb = tb >> 1;
  let res = y * reinterpret<f32>((hb + 127) << 23) * reinterpret<f32>((tb - hb + 127) << 23);
  if (x < EXP_LO) res = 0;
  if (x > EXP_HI) res = Infinity;
  return res;
}

// Lanes: the steps of expf on [x0..x3]; then lanes with x < -87 are zeroed (andnot) and lanes with
// x > 88.72 become +inf (or). Every constant is one load from V.
// @ts-ignore: decorator
@inline
export function expf4(x: v128): v128 {
  const round = v128.load(V, 16), bias = v128.load(VI);
  const t = f32x4.add(f32x4.mul(x, v128.load(V)), round);
  const n = f32x4.sub(t, round); // roundeven(x log2e)
  let r = f32x4.sub(x, f32x4.mul(n, v128.load(V, 32)));
  r = f32x4.sub(r, f32x4.mul(n, v128.load(V, 48)));
  let p = v128.load(V, 64);
  p = f32x4.add(f32x4.mul(p, r), v128.load(V, 80));
  p = f32x4.add(f32x4.mul(p, r), v128.load(V, 96));
  p = f32x4.add(f32x4.mul(p, r), v128.load(V, 112));
  p = f32x4.add(f32x4.mul(p, r), v128.load(V, 128));
  p = f32x4.add(f32x4.mul(p, r), v128.load(V, 144));
  const y = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), v128.load(V, 160));
  const hb = i32x4.shr_s(t, 1);
  const s1 = i32x4.shl(i32x4.add(hb, bias), 23); // 2^h
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(t, hb), bias), 23); // 2^(n-h)
  const res = f32x4.mul(f32x4.mul(y, s1), s2);
  const hi = f32x4.gt(x, v128.load(V, 192));
  const kept = v128.andnot(res, v128.or(f32x4.lt(x, v128.load(V, 176)), hi));
  return v128.or(kept, v128.and(hi, v128.load(V, 208)));
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
  const one = v128.load(V, 160);
  return f32x4.div(one, f32x4.add(one, expf4(f32x4.neg(x))));
}

// tanh(x), odd, in two pieces (the Cephes tanhf split), a few ulp everywhere. On a = |x|:
//   a <  0.625: a + a^3 P(a^2), degree-4 P: no cancellation at small |x|, tanh(denormal) = x;
//   a >= 0.625: 1 - 2 / (exp(2a) + 1), which reaches exactly 1 for a > 9.01 (and for a = inf:
//               exp(inf) = inf, 2/inf = 0); NaN stays NaN (this branch).
// then the sign bit of x is put back, so tanh(-x) = -tanh(x) bit for bit and tanh(-0) = -0.
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
  let p = v128.load(V, 224);
  p = f32x4.add(f32x4.mul(p, z), v128.load(V, 240));
  p = f32x4.add(f32x4.mul(p, z), v128.load(V, 256));
  p = f32x4.add(f32x4.mul(p, z), v128.load(V, 272));
  p = f32x4.add(f32x4.mul(p, z), v128.load(V, 288));
  const poly = f32x4.add(f32x4.mul(f32x4.mul(p, z), a), a);
  const one = v128.load(V, 160);
  const big = f32x4.sub(one, f32x4.div(v128.load(V, 320), f32x4.add(expf4(f32x4.add(a, a)), one)));
  const sel = f32x4.lt(a, v128.load(V, 304));
  const t = v128.or(v128.and(poly, sel), v128.andnot(big, sel));
  return v128.or(t, v128.and(x, v128.load(VI, 16)));
}
