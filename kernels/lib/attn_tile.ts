// The three steps of one flash-attention tile (a block of queries x a tile of BK keys), as
// f32x4 register-blocked micro-kernels over packed scratch: scores, online-softmax update
// (lib/attn_softmax.ts, lib/attn_exp.ts), P V;
// 4-row kernels for the bulk of a block, 1-row kernels (same per-row arithmetic) for its last rows.
// Not an entry point: kernels/attention.ts packs the operands and drives the tiles.
//
// Packed layouts (f32; keys past nk and query rows past nq are zero; "4": the query rows of one
// micro-block):
//   Qp [BQ/4][dh][4]      queries of a block, 4 rows interleaved per d (one splat per row)
//   Kt [BK/8][dh][8]      one key tile, transposed in panels of 8 keys: a panel's 8 keys of a channel are
//                         contiguous, and a panel (what one score micro-kernel reads) is too
//   Vp [dhp/4][nkp][4]    one head's values in panels of 4 channels (dhp = roundup(dh, 4); the pad never
//                         reaches the output): a key's 4 channels are 16 bytes after the previous key's;
//                         blocks of 1..3 rows read v in place instead (rows kw floats apart, dh = dhp).
//                         pv1 takes both: key j's channels e..e+3 at vp + j * vStride + (e / 4) * cs;
//                         pv4x8 and pv4x4 (4-row blocks, never in place) read Vp (vStride = 16)
//   S  [BQ][BK]           scores, then probabilities P, of the block
//   O  [BQ][dhp]          unnormalised output accumulator
//   M, L, C, X [BQ]       per row: running max, running sum, this tile's rescale, this tile's shift

/** Keys per tile (a multiple of 8: the score micro-kernel covers 8 keys). */
export const BK: i32 = 128;
/** Bytes between two rows of S. */
const SROW: usize = <usize>BK * 4;

/**
 * Scores of 4 queries x 8 keys, scaled:
 *   for r < 4, c < 8: S[r][c] = scale * sum_d Qp[d][r] * Kt[d][c]
 * Per channel d, lanes: [k_c0, k_c1, k_c2, k_c3] * splat(q_r)  -> 8 accumulators of 4 keys.
 * `s` points at S[r0][c0], `qp` at the micro-block of Qp, `kt` at the panel of keys c0..c0+7.
 */
// @ts-ignore: decorator
@inline
export function scores4x8(s: usize, qp: usize, kt: usize, dh: i32, scale: v128): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0);
  let a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  // two channels a step, with a loop exit between them (dh >= 1): one pointer pair and one test
  // per channel; the exit also keeps each channel's loads in their own block (hoisted together, the
  // loads of two channels would leave too few registers for the accumulators)
  const qlast = qp + <usize>(dh - 1) * 16, qend = qlast + 16;
  while (true) {
    let k0 = v128.load(kt);
    let k1 = v128.load(kt, 16);
    let x = v128.load32_splat(qp);
    a00 = f32x4.add(a00, f32x4.mul(x, k0));
    a01 = f32x4.add(a01, f32x4.mul(x, k1));
    x = v128.load32_splat(qp, 4);
    a10 = f32x4.add(a10, f32x4.mul(x, k0));
    a11 = f32x4.add(a11, f32x4.mul(x, k1));
    x = v128.load32_splat(qp, 8);
    a20 = f32x4.add(a20, f32x4.mul(x, k0));
    a21 = f32x4.add(a21, f32x4.mul(x, k1));
    x = v128.load32_splat(qp, 12);
    a30 = f32x4.add(a30, f32x4.mul(x, k0));
    a31 = f32x4.add(a31, f32x4.mul(x, k1));
    if (qp == qlast) break;
    k0 = v128.load(kt, 32);
    k1 = v128.load(kt, 48);
    x = v128.load32_splat(qp, 16);
    a00 = f32x4.add(a00, f32x4.mul(x, k0));
    a01 = f32x4.add(a01, f32x4.mul(x, k1));
    x = v128.load32_splat(qp, 20);
    a10 = f32x4.add(a10, f32x4.mul(x, k0));
    a11 = f32x4.add(a11, f32x4.mul(x, k1));
    x = v128.load32_splat(qp, 24);
    a20 = f32x4.add(a20, f32x4.mul(x, k0));
    a21 = f32x4.add(a21, f32x4.mul(x, k1));
    x = v128.load32_splat(qp, 28);
    a30 = f32x4.add(a30, f32x4.mul(x, k0));
    a31 = f32x4.add(a31, f32x4.mul(x, k1));
    qp += 32;
    kt += 64;
    if (qp == qend) break;
  }
  v128.store(s, f32x4.mul(a00, scale));
  v128.store(s, f32x4.mul(a01, scale), 16);
  v128.store(s + SROW, f32x4.mul(a10, scale));
  v128.store(s + SROW, f32x4.mul(a11, scale), 16);
  v128.store(s + 2 * SROW, f32x4.mul(a20, scale));
  v128.store(s + 2 * SROW, f32x4.mul(a21, scale), 16);
  v128.store(s + 3 * SROW, f32x4.mul(a30, scale));
  v128.store(s + 3 * SROW, f32x4.mul(a31, scale), 16);
}

/**
 * scores4x8 for one query row (the tail rows of a block, so that they cost 1/4 of a padded
 * micro-block), 32 keys per call so that 8 independent sums hide the add latency:
 *   for c < 32: S[r][c] = scale * sum_d Qp[d][r] * Kt[d][c]
 * in the same order as scores4x8, so a row gets the same bits from either kernel. `qp` points at
 * row r's lane of its Qp micro-block, `kt` at the first of the four panels (keys c0..c0+31).
 */
// @ts-ignore: decorator
@inline
export function scores1x32(s: usize, qp: usize, kt: usize, dh: i32, scale: v128): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  const ps = <usize>dh * 32; // bytes between two panels
  let k0 = kt, k1 = kt + ps, k2 = k1 + ps, k3 = k2 + ps;
  for (let d = 0; d < dh; d++) {
    const x = v128.load32_splat(qp);
    a0 = f32x4.add(a0, f32x4.mul(x, v128.load(k0)));
    a1 = f32x4.add(a1, f32x4.mul(x, v128.load(k0, 16)));
    a2 = f32x4.add(a2, f32x4.mul(x, v128.load(k1)));
    a3 = f32x4.add(a3, f32x4.mul(x, v128.load(k1, 16)));
    a4 = f32x4.add(a4, f32x4.mul(x, v128.load(k2)));
    a5 = f32x4.add(a5, f32x4.mul(x, v128.load(k2, 16)));
    a6 = f32x4.add(a6, f32x4.mul(x, v128.load(k3)));
    a7 = f32x4.add(a7, f32x4.mul(x, v128.load(k3, 16)));
    qp += 16;
    k0 += 32;
    k1 += 32;
    k2 += 32;
    k3 += 32;
  }
  v128.store(s, f32x4.mul(a0, scale));
  v128.store(s, f32x4.mul(a1, scale), 16);
  v128.store(s, f32x4.mul(a2, scale), 32);
  v128.store(s, f32x4.mul(a3, scale), 48);
  v128.store(s, f32x4.mul(a4, scale), 64);
  v128.store(s, f32x4.mul(a5, scale), 80);
  v128.store(s, f32x4.mul(a6, scale), 96);
  v128.store(s, f32x4.mul(a7, scale), 112);
}

/**
 * P V for 4 rows x 8 channels, rescaling the accumulator first:
 *   for r < 4, e < 8: O[r][e] = O[r][e] * C[r] + sum_{j < n} P[r][j] * Vp[j][e]
 * Per key j, lanes: [v_e0, v_e1, v_e2, v_e3] * splat(p_rj)  -> 8 accumulators of 4 channels.
 * `o` points at O[r0][e0] (rows oStride bytes apart), `p` at P[r0][0], `vp` at key 0's channels
 * e0..e0+3 in Vp (the next key's 16 bytes on; channels e0+4.. at vp + cs). n >= 1.
 */
// @ts-ignore: decorator
@inline
export function pv4x8(o: usize, oStride: usize, c: usize, p: usize, vp: usize, cs: usize, n: i32): void {
  const o1 = o + oStride, o2 = o1 + oStride, o3 = o2 + oStride;
  let x = v128.load32_splat(c);
  let a00 = f32x4.mul(v128.load(o), x), a01 = f32x4.mul(v128.load(o, 16), x);
  x = v128.load32_splat(c, 4);
  let a10 = f32x4.mul(v128.load(o1), x), a11 = f32x4.mul(v128.load(o1, 16), x);
  x = v128.load32_splat(c, 8);
  let a20 = f32x4.mul(v128.load(o2), x), a21 = f32x4.mul(v128.load(o2, 16), x);
  x = v128.load32_splat(c, 12);
  let a30 = f32x4.mul(v128.load(o3), x), a31 = f32x4.mul(v128.load(o3, 16), x);
  // two keys a step with a loop exit between them (n >= 1), as in scores4x8
  let vq = vp + cs;
  const plast = p + (<usize>(n - 1) << 2), pend = plast + 4;
  while (true) {
    let v0 = v128.load(vp);
    let v1 = v128.load(vq);
    x = v128.load32_splat(p);
    a00 = f32x4.add(a00, f32x4.mul(x, v0));
    a01 = f32x4.add(a01, f32x4.mul(x, v1));
    x = v128.load32_splat(p, SROW);
    a10 = f32x4.add(a10, f32x4.mul(x, v0));
    a11 = f32x4.add(a11, f32x4.mul(x, v1));
    x = v128.load32_splat(p, 2 * SROW);
    a20 = f32x4.add(a20, f32x4.mul(x, v0));
    a21 = f32x4.add(a21, f32x4.mul(x, v1));
    x = v128.load32_splat(p, 3 * SROW);
    a30 = f32x4.add(a30, f32x4.mul(x, v0));
    a31 = f32x4.add(a31, f32x4.mul(x, v1));
    if (p == plast) break;
    v0 = v128.load(vp, 16);
    v1 = v128.load(vq, 16);
    x = v128.load32_splat(p, 4);
    a00 = f32x4.add(a00, f32x4.mul(x, v0));
    a01 = f32x4.add(a01, f32x4.mul(x, v1));
    x = v128.load32_splat(p, SROW + 4);
    a10 = f32x4.add(a10, f32x4.mul(x, v0));
    a11 = f32x4.add(a11, f32x4.mul(x, v1));
    x = v128.load32_splat(p, 2 * SROW + 4);
    a20 = f32x4.add(a20, f32x4.mul(x, v0));
    a21 = f32x4.add(a21, f32x4.mul(x, v1));
    x = v128.load32_splat(p, 3 * SROW + 4);
    a30 = f32x4.add(a30, f32x4.mul(x, v0));
    a31 = f32x4.add(a31, f32x4.mul(x, v1));
    p += 8;
    vp += 32;
    vq += 32;
    if (p == pend) break;
  }
  v128.store(o, a00);
  v128.store(o, a01, 16);
  v128.store(o1, a10);
  v128.store(o1, a11, 16);
  v128.store(o2, a20);
  v128.store(o2, a21, 16);
  v128.store(o3, a30);
  v128.store(o3, a31, 16);
}

/** pv4x8 for the last 4 channels when dhp / 4 is odd (same arithmetic, one vector per row). */
// @ts-ignore: decorator
@inline
export function pv4x4(o: usize, oStride: usize, c: usize, p: usize, vp: usize, vStride: usize, n: i32): void {
  const o1 = o + oStride, o2 = o1 + oStride, o3 = o2 + oStride;
  let a0 = f32x4.mul(v128.load(o), v128.load32_splat(c));
  let a1 = f32x4.mul(v128.load(o1), v128.load32_splat(c, 4));
  let a2 = f32x4.mul(v128.load(o2), v128.load32_splat(c, 8));
  let a3 = f32x4.mul(v128.load(o3), v128.load32_splat(c, 12));
  for (let j = 0; j < n; j++) {
    const v0 = v128.load(vp);
    a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(p), v0));
    a1 = f32x4.add(a1, f32x4.mul(v128.load32_splat(p, SROW), v0));
    a2 = f32x4.add(a2, f32x4.mul(v128.load32_splat(p, 2 * SROW), v0));
    a3 = f32x4.add(a3, f32x4.mul(v128.load32_splat(p, 3 * SROW), v0));
    p += 4;
    vp += vStride;
  }
  v128.store(o, a0);
  v128.store(o1, a1);
  v128.store(o2, a2);
  v128.store(o3, a3);
}

/**
 * pv4x8 / pv4x4 for one row (a block's tail rows), the same arithmetic per channel:
 *   for e < dhp: O[e] = O[e] * c + sum_{j < n} P[j] * Vp[j][e]
 * 16 channels per pass (4 independent sums), then 4 at a time. `o` points at O[r][0], `c` at C[r],
 * `p` at P[r][0], `vp` at key 0's channels 0..3 (channels e..e+3 at vp + (e / 4) * cs).
 */
export function pv1(o: usize, c: usize, p: usize, vp: usize, vStride: usize, cs: usize, dhp: i32, n: i32): void {
  const sc = v128.load32_splat(c);
  let e = 0;
  for (; e + 16 <= dhp; e += 16) {
    const oe = o + (<usize>e << 2);
    let a0 = f32x4.mul(v128.load(oe), sc), a1 = f32x4.mul(v128.load(oe, 16), sc);
    let a2 = f32x4.mul(v128.load(oe, 32), sc), a3 = f32x4.mul(v128.load(oe, 48), sc);
    let pj = p, vj = vp + <usize>(e >> 2) * cs;
    const c2 = cs * 2, c3 = cs * 3;
    for (let j = 0; j < n; j++) {
      const x = v128.load32_splat(pj);
      a0 = f32x4.add(a0, f32x4.mul(x, v128.load(vj)));
      a1 = f32x4.add(a1, f32x4.mul(x, v128.load(vj + cs)));
      a2 = f32x4.add(a2, f32x4.mul(x, v128.load(vj + c2)));
      a3 = f32x4.add(a3, f32x4.mul(x, v128.load(vj + c3)));
      pj += 4;
      vj += vStride;
    }
    v128.store(oe, a0);
    v128.store(oe, a1, 16);
    v128.store(oe, a2, 32);
    v128.store(oe, a3, 48);
  }
  for (; e < dhp; e += 4) { // leftover channels, 4 at a time (dhp is a multiple of 4)
    const oe = o + (<usize>e << 2);
    let a0 = f32x4.mul(v128.load(oe), sc);
    let pj = p, vj = vp + <usize>(e >> 2) * cs;
    for (let j = 0; j < n; j++) {
      a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(pj), v128.load(vj)));
      pj += 4;
      vj += vStride;
    }
    v128.store(oe, a0);
  }
}
