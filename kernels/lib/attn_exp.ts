// exp over rows of attention scores shifted by their running max (x = s - m <= 0, or NaN, or
// -inf): expf4 of kernels/lib/math.ts restated for a hot loop, with the same bits for every such
// x (tested: `exp_shifted_check` in kernels/probes.ts). Not a general exp: x > 0 is outside.
//
// Why restate: expf4 (which already rounds with 1.5*2^23 and loads its constants from a table)
// still reloads each constant at every use and covers x > 0. Here:
//  - the constants are loaded once per call and passed as values (spilled ones reload in 1 load);
//  - the steps of expf4 (t = x log2e + 1.5*2^23, n = t - 1.5*2^23, Cody-Waite, Cephes polynomial),
//    x < -87 becoming 0 by the final select, NaN propagating through every step, as in expf4;
//  - no x > 88.72 select, and 2^n in one product ((bits(t) + 127) << 23, as 0x4B400000 << 23
//    vanishes mod 2^32): expf4 splits it as 2^h 2^(n-h) only for n = 128 (x > 88.38); for
//    n in [-126, 0] both are the single rounding of y 2^n.

// Must equal kernels/lib/math.ts (LOG2E, LN2_HI, LN2_LO, P0..P5, EXP_LO); the bit test catches drift.
const K = memory.data<f32>([
  1.44269504088896341, // 0  log2(e)
  12582912.0, //          4  1.5 * 2^23, the rounding constant
  0.693359375, //         8  ln2, high part
  -2.12194440e-4, //     12  ln2, low part
  1.9875691500e-4, //    16  P0
  1.3981999507e-3, //    20  P1
  8.3334519073e-3, //    24  P2
  4.1665795894e-2, //    28  P3
  1.6666665459e-1, //    32  P4
  5.0000001201e-1, //    36  P5
  1.0, //                40
  -87.0, //              44  EXP_LO: below it exp flushes to 0
], 16);
const BIAS = memory.data<i32>([127], 16);

/**
 * Four rows of S (`stride` bytes apart):  s_r[j] = exp(s_r[j] - x_r) for j < n4 (a multiple of 4),
 * then L[r] += sum_j s_r[j], the sum taken as per-lane sums in j order, then (l0 + l1) + (l2 + l3).
 * x_r (X[r]) is row r's running max, finite, or +inf for a row with nothing to add (its s_r is 0
 * and stays 0: exp(-inf) = 0).
 * The steps of exp4, in three passes over the rows instead of one: each exp is a chain of about
 * 25 dependent operations, and V8 emits each chain in one piece, so a single pass keeps only a few
 * chains in the out-of-order window (latency-bound); shorter chains per pass let it overlap more.
 * The passes keep t and r, then q (the polynomial's first steps), in `w` (12 * n4 floats); the
 * same operations on the same values, so the same bits as exp4 (the x < -87 test recomputes
 * x = s - x_r). Split elsewhere, it was slower: two passes 340-342 ms against 333-335 ms.
 */
export function expShiftedRows4(s: usize, stride: usize, n4: i32, X: usize, L: usize, w: usize): void {
  // w holds, per row and vector of 4 scores, t, r and then q: 48 bytes, rows one after the other
  const bytes = <usize>n4 << 2, wrow = <usize>n4 * 12;
  // pass 1: x = s - x_r;  t = x log2e + 1.5*2^23;  n = t - 1.5*2^23;  r = (x - n ln2hi) - n ln2lo
  {
    const log2e = v128.load32_splat(K, 0), round = v128.load32_splat(K, 4);
    const ln2hi = v128.load32_splat(K, 8), ln2lo = v128.load32_splat(K, 12);
    for (let r = 0; r < 4; r++) {
      const xr = v128.load32_splat(X + (<usize>r << 2));
      let sj = s + <usize>r * stride, wj = w + <usize>r * wrow;
      const send = sj + bytes;
      for (; sj < send; sj += 16, wj += 48) {
        const x = f32x4.sub(v128.load(sj), xr);
        const t = f32x4.add(f32x4.mul(x, log2e), round);
        const n = f32x4.sub(t, round);
        v128.store(wj, t);
        v128.store(wj, f32x4.sub(f32x4.sub(x, f32x4.mul(n, ln2hi)), f32x4.mul(n, ln2lo)), 16);
      }
    }
  }
  // pass 2, over the four rows at once: q = ((P0 r + P1) r + P2) r + P3
  {
    const p0 = v128.load32_splat(K, 16), p1 = v128.load32_splat(K, 20), p2 = v128.load32_splat(K, 24);
    const p3 = v128.load32_splat(K, 28);
    const wend = w + 4 * wrow;
    for (let wj = w; wj < wend; wj += 48) {
      const x = v128.load(wj, 16);
      let p = f32x4.add(f32x4.mul(p0, x), p1);
      p = f32x4.add(f32x4.mul(p, x), p2);
      v128.store(wj, f32x4.add(f32x4.mul(p, x), p3), 32);
    }
  }
  // pass 3: p = (q r + P4) r + P5;  e = (p r^2 + r + 1) 2^n, 0 where x < -87; store e and sum it
  {
    const p4 = v128.load32_splat(K, 32), p5 = v128.load32_splat(K, 36);
    const one = v128.load32_splat(K, 40), lo = v128.load32_splat(K, 44), bias = v128.load32_splat(BIAS, 0);
    for (let r = 0; r < 4; r++) {
      const xr = v128.load32_splat(X + (<usize>r << 2));
      let sj = s + <usize>r * stride, wj = w + <usize>r * wrow;
      const send = sj + bytes;
      let sum = f32x4.splat(0);
      for (; sj < send; sj += 16, wj += 48) {
        const x = f32x4.sub(v128.load(sj), xr);
        const rr = v128.load(wj, 16);
        let p = f32x4.add(f32x4.mul(v128.load(wj, 32), rr), p4);
        p = f32x4.add(f32x4.mul(p, rr), p5);
        const y = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(rr, rr)), rr), one);
        const e = v128.andnot(f32x4.mul(y, i32x4.shl(i32x4.add(v128.load(wj), bias), 23)), f32x4.lt(x, lo));
        v128.store(sj, e);
        sum = f32x4.add(sum, e);
      }
      addLanes(L + (<usize>r << 2), sum);
    }
  }
}

/** expShiftedRows4 for one row (a block's tail rows), the same steps: the same bits per row. */
export function expShiftedRow1(s: usize, n4: i32, X: usize, L: usize): void {
  const log2e = v128.load32_splat(K, 0), round = v128.load32_splat(K, 4);
  const ln2hi = v128.load32_splat(K, 8), ln2lo = v128.load32_splat(K, 12);
  const p0 = v128.load32_splat(K, 16), p1 = v128.load32_splat(K, 20), p2 = v128.load32_splat(K, 24);
  const p3 = v128.load32_splat(K, 28), p4 = v128.load32_splat(K, 32), p5 = v128.load32_splat(K, 36);
  const one = v128.load32_splat(K, 40), lo = v128.load32_splat(K, 44), bias = v128.load32_splat(BIAS, 0);
  const x0 = v128.load32_splat(X);
  let sum = f32x4.splat(0);
  for (let j = 0; j < n4; j += 4) {
    const o = <usize>j << 2;
    const e = exp4(f32x4.sub(v128.load(s + o), x0), log2e, round, ln2hi, ln2lo, p0, p1, p2, p3, p4, p5, one, lo, bias);
    v128.store(s + o, e);
    sum = f32x4.add(sum, e);
  }
  addLanes(L, sum);
}

/** *l += (v0 + v1) + (v2 + v3) */
// @ts-ignore: decorator
@inline
function addLanes(l: usize, v: v128): void {
  store<f32>(l, load<f32>(l) + ((f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3))));
}

/** One vector of exp (x <= 0, NaN or -inf), the steps of expf4; the constants come in as values. */
// @ts-ignore: decorator
@inline
function exp4(
  x: v128, log2e: v128, round: v128, ln2hi: v128, ln2lo: v128,
  p0: v128, p1: v128, p2: v128, p3: v128, p4: v128, p5: v128, one: v128, lo: v128, bias: v128,
): v128 {
  const t = f32x4.add(f32x4.mul(x, log2e), round);
  const n = f32x4.sub(t, round); // roundeven(x log2e)
  let r = f32x4.sub(x, f32x4.mul(n, ln2hi));
  r = f32x4.sub(r, f32x4.mul(n, ln2lo)); // x - n ln2, |r| <= ln2/2
  let p = p0;
  p = f32x4.add(f32x4.mul(p, r), p1);
  p = f32x4.add(f32x4.mul(p, r), p2);
  p = f32x4.add(f32x4.mul(p, r), p3);
  p = f32x4.add(f32x4.mul(p, r), p4);
  p = f32x4.add(f32x4.mul(p, r), p5);
  const y = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), one); // exp(r)
  const scale = i32x4.shl(i32x4.add(t, bias), 23); // 2^n
  return v128.andnot(f32x4.mul(y, scale), f32x4.lt(x, lo)); // x < -87: 0
}
