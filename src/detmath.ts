/**
 * Deterministic float64 exp, log, cos and sin built from IEEE basic operations only (+, -, *, /,
 * floor, bit access), so every JS engine returns the same bits. Accurate to a few ulp; not a libm,
 * not correctly rounded, and never JS Math.exp/log/cos/sin (which engines may approximate differently).
 * Used for weight init (Box-Muller in src/rng.ts) and for scalar losses.
 */

// ln 2 split so that k * LN2_HI is exact for |k| < 2^11 (fdlibm's constants).
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
const INV_LN2 = 1.44269504088896338700e0;
const SQRT2 = 1.4142135623730951;
// pi/2 in three pieces of 33 bits each (fdlibm's pio2_1, pio2_2, pio2_3): k * piece is exact for |k| < 2^20.
const PIO2_1 = 1.57079632673412561417e0;
const PIO2_2 = 6.07710050630396597660e-11;
const PIO2_3 = 2.02226624871116645580e-21;
const INV_PIO2 = 6.36619772367581382433e-1;

const view = new DataView(new ArrayBuffer(8));

/** 2^k for integer k in [-1022, 1023], built from its bits. */
function pow2(k: number): number {
  view.setUint32(0, ((k + 1023) << 20) >>> 0);
  view.setUint32(4, 0);
  return view.getFloat64(0);
}

/** e^x. Reduction x = k ln2 + r, |r| <= ln2/2; Taylor series of degree 13 (remainder < 5e-18). */
export function exp(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x > 709.782712893384) return Infinity;
  if (x < -745.1332191019412) return 0;
  const k = Math.floor(x * INV_LN2 + 0.5);
  const r = x - k * LN2_HI - k * LN2_LO;
  let p = 1 / 6227020800; // 1/13!
  for (let i = 12; i >= 1; i--) p = p * r + INV_FACT[i];
  p = p * r + 1;
  // scale by 2^k in two steps so that neither factor overflows nor underflows early
  if (k > 1023) return p * pow2(1023) * pow2(k - 1023);
  if (k < -1022) return p * pow2(-1022) * pow2(k + 1022);
  return p * pow2(k);
}

/** 1/i! for i = 0..13. */
const INV_FACT: number[] = (() => {
  const f = [1];
  for (let i = 1; i <= 13; i++) f.push(f[i - 1] / i);
  return f;
})();

/**
 * Natural log. x = 2^e * m with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m-1)/(m+1),
 * |s| <= 0.1716, series to s^25 (remainder < 1e-19).
 */
export function log(x: number): number {
  if (Number.isNaN(x) || x < 0) return NaN;
  if (x === 0) return -Infinity;
  if (x === Infinity) return Infinity;
  let e = 0;
  if (x < 2.2250738585072014e-308) {
    x *= 18014398509481984; // 2^54: subnormal -> normal
    e = -54;
  }
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  e += ((hi >>> 20) & 0x7ff) - 1023;
  view.setUint32(0, ((hi & 0x000fffff) | 0x3ff00000) >>> 0); // same mantissa, exponent 0: m in [1, 2)
  let m = view.getFloat64(0);
  if (m > SQRT2) {
    m *= 0.5;
    e += 1;
  }
  const s = (m - 1) / (m + 1);
  const z = s * s;
  let p = 1 / 25;
  for (let i = 23; i >= 1; i -= 2) p = p * z + 1 / i;
  const logm = 2 * s * p;
  return e * LN2_HI + (logm + e * LN2_LO);
}

/** x - k pi/2 with k = round(x * 2/pi) (Cody-Waite, three pieces; good for |x| up to ~1e6). */
function reduce(x: number): { r: number; q: number } {
  const k = Math.floor(x * INV_PIO2 + 0.5);
  const r = x - k * PIO2_1 - k * PIO2_2 - k * PIO2_3;
  return { r, q: ((k % 4) + 4) % 4 };
}

/** sin r on |r| <= pi/4: Taylor to r^19 (remainder < 1e-20). */
function sinPoly(r: number): number {
  const z = r * r;
  let p = 0;
  for (let n = 19; n >= 3; n -= 2) p = (p + SIGNED_INV_FACT[n]) * z;
  return r + r * p;
}
/** cos r on |r| <= pi/4: Taylor to r^18. */
function cosPoly(r: number): number {
  const z = r * r;
  let p = 0;
  for (let n = 18; n >= 2; n -= 2) p = (p + SIGNED_INV_FACT[n]) * z;
  return 1 + p;
}
/** (-1)^(n/2 or (n-1)/2) / n! for n = 0..19, the Taylor coefficients of sin and cos. */
const SIGNED_INV_FACT: number[] = (() => {
  const f = [1];
  for (let n = 1; n <= 19; n++) f.push(f[n - 1] / n);
  return f.map((v, n) => (Math.floor(n / 2) % 2 === 0 ? v : -v));
})();

export function cos(x: number): number {
  if (!Number.isFinite(x)) return NaN;
  const { r, q } = reduce(x);
  return q === 0 ? cosPoly(r) : q === 1 ? -sinPoly(r) : q === 2 ? -cosPoly(r) : sinPoly(r);
}

export function sin(x: number): number {
  if (!Number.isFinite(x)) return NaN;
  const { r, q } = reduce(x);
  return q === 0 ? sinPoly(r) : q === 1 ? cosPoly(r) : q === 2 ? -sinPoly(r) : -cosPoly(r);
}
