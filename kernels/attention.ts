// Fused attention, flash-attention style: softmax(q k^T * scale + mask) v per head without a
// score matrix. Blocks of BQ queries meet tiles of BK keys; each row keeps a running max m and sum
// l and rescales its accumulator when m grows (online softmax). Extra memory O(nk * dh): one
// head's packed K and V, plus one query block's fixed-size tiles. Micro-kernels: lib/attn_tile.ts.
//
// The scalar loop it replaces (per b, h, query i; reference/attention.ts does exactly this):
//   for j < nk: s[j] = j visible ? scale * dot(q[i], k[j]) + mask[i][j] : -inf
//   m = max_j s[j]; p[j] = exp(s[j] - m); out[i] = m == -inf ? 0 : sum_j p[j] v[j] / sum_j p[j]
// Online form, over key tiles t:  m' = max(m, max_t s); c = exp(m - m');
//   l = l c + sum_t exp(s - m');  O = O c + sum_t exp(s - m') v;  m = m';  out = O / l (l = 0: 0).
import { BK, prepareRow, pv4x4, pv4x8, scores4x8 } from "./lib/attn_tile";
import { expShiftedRows4 } from "./lib/attn_exp";
import { expf4 } from "./lib/math";
export { heap_base } from "./lib/heap";

/** Queries per block (a multiple of 4, the rows of a micro-kernel). */
const BQ: i32 = 64;
const SROW: usize = <usize>BK * 4;

// Geometry of the current call (set once by attention()) and its scratch buffers.
let nq = 0, nk = 0, dh = 0, dhp = 0, qw = 0, causal = false;
let Kt: usize = 0, Vp: usize = 0, Qp: usize = 0, S: usize = 0, O: usize = 0, M: usize = 0, L: usize = 0, C: usize = 0, X: usize = 0;

// @ts-ignore: decorator
@inline
function roundUp(x: i32, m: i32): i32 {
  return (x + m - 1) / m * m;
}

/**
 * Bytes of scratch that attention() needs (the adapter allocates them): one head's Kt and Vp
 * (nk rounded up to BK rows), and one query block's Qp, S, O, M, L, C, X. Not a function of nq.
 */
export function attention_scratch(nk_: i32, dh_: i32): usize {
  const nkp = roundUp(nk_, BK), dhp_ = roundUp(dh_, 4);
  return (<usize>nkp * dh_ + <usize>nkp * dhp_ + <usize>BQ * (dh_ + BK + dhp_ + 4)) * 4;
}

/**
 * out [B, nq, NH*dh] = attention(q [B, nq, NH*dh], k, v [B, nk, KV*dh]), query head h reading kv
 * head h / (NH/KV); mask [maskBatch, nq, nk] or 0; causal: query i keeps keys j <= i + nk - nq.
 * `scratch` holds attention_scratch(nk, dh) bytes, 16-byte aligned.
 * A NaN score (from q, k or the mask) makes its row NaN, as in the reference. A NaN in v at a key
 * that a row does not see reaches that row (as 0 * NaN) only if the key lies in a tile the row's
 * block processes; v is expected finite.
 */
export function attention(
  out: usize, q: usize, k: usize, v: usize, mask: usize, scratch: usize,
  batch: i32, nq_: i32, nk_: i32, heads: i32, kvHeads: i32, dh_: i32, scale: f32, causal_: i32, maskBatch: i32,
): void {
  nq = nq_; nk = nk_; dh = dh_; dhp = roundUp(dh_, 4); qw = heads * dh_; causal = causal_ != 0;
  const nkp = roundUp(nk, BK);
  Kt = scratch;
  Vp = Kt + <usize>nkp * dh * 4;
  Qp = Vp + <usize>nkp * dhp * 4;
  S = Qp + <usize>BQ * dh * 4;
  O = S + <usize>BQ * BK * 4;
  M = O + <usize>BQ * dhp * 4;
  L = M + <usize>BQ * 4;
  C = L + <usize>BQ * 4;
  X = C + <usize>BQ * 4;
  const group = heads / kvHeads;
  const kw = kvHeads * dh;
  for (let b = 0; b < batch; b++) {
    const mb: usize = mask == 0 ? 0 : mask + <usize>(maskBatch == 1 ? 0 : b) * nq * nk * 4;
    for (let kh = 0; kh < kvHeads; kh++) {
      packKV(k + (<usize>b * nk * kw + <usize>kh * dh) * 4, v + (<usize>b * nk * kw + <usize>kh * dh) * 4, kw);
      for (let g = 0; g < group; g++) {
        const off = (<usize>b * nq * qw + <usize>(kh * group + g) * dh) * 4; // [b, 0, h*dh]
        for (let i0 = 0; i0 < nq; i0 += BQ) block(q + off, out + off, mb, scale, i0, min(BQ, nq - i0));
      }
    }
  }
}

/**
 * Packs one head (rows kw floats apart): Vp[j][d] = v[j][d] and Kt[j / BK][d][j % BK] = k[j][d],
 * both zero for the keys past nk in the last tile (their P is 0, and 0 * a stale NaN would be NaN).
 * Vp's pad columns past dh are left as they are: they only reach O's pad columns, never written out.
 */
function packKV(kh: usize, vh: usize, kw: i32): void {
  const nkp = roundUp(nk, BK);
  const row = <usize>kw * 4, vrow = <usize>dhp * 4;
  for (let j = 0; j < nk; j++) memory.copy(Vp + <usize>j * vrow, vh + <usize>j * row, <usize>dh * 4);
  memory.fill(Vp + <usize>nk * vrow, 0, <usize>(nkp - nk) * vrow);
  // K in 4 x 4 blocks: keys j..j+3 x channels d..d+3 -> Kt[d..d+3][j..j+3]
  //   rows [a0 a1 a2 a3] [b0 ..] [c0 ..] [e0 ..]  ->  [a0 b0 c0 e0] [a1 b1 c1 e1] [a2 ..] [a3 ..]
  let j = 0;
  for (; j + 4 <= nk; j += 4) {
    const kt = Kt + (<usize>(j / BK) * BK * dh + <usize>(j % BK)) * 4;
    const r0 = kh + <usize>j * row, r1 = r0 + row, r2 = r1 + row, r3 = r2 + row;
    let d = 0;
    for (; d + 4 <= dh; d += 4) {
      const o = <usize>d << 2;
      const a = v128.load(r0 + o), b = v128.load(r1 + o), c = v128.load(r2 + o), e = v128.load(r3 + o);
      const ab01 = v128.shuffle<i32>(a, b, 0, 4, 1, 5), ce01 = v128.shuffle<i32>(c, e, 0, 4, 1, 5);
      const ab23 = v128.shuffle<i32>(a, b, 2, 6, 3, 7), ce23 = v128.shuffle<i32>(c, e, 2, 6, 3, 7);
      const t = kt + <usize>d * SROW;
      v128.store(t, v128.shuffle<i64>(ab01, ce01, 0, 2));
      v128.store(t + SROW, v128.shuffle<i64>(ab01, ce01, 1, 3));
      v128.store(t + 2 * SROW, v128.shuffle<i64>(ab23, ce23, 0, 2));
      v128.store(t + 3 * SROW, v128.shuffle<i64>(ab23, ce23, 1, 3));
    }
    for (; d < dh; d++) { // leftover channels
      const t = kt + <usize>d * SROW, o = <usize>d << 2;
      store<f32>(t, load<f32>(r0 + o));
      store<f32>(t, load<f32>(r1 + o), 4);
      store<f32>(t, load<f32>(r2 + o), 8);
      store<f32>(t, load<f32>(r3 + o), 12);
    }
  }
  for (; j < nkp; j++) { // leftover keys, then zeros up to the end of the last tile
    const kt = Kt + (<usize>(j / BK) * BK * dh + <usize>(j % BK)) * 4;
    for (let d = 0; d < dh; d++) {
      store<f32>(kt + <usize>d * SROW, j < nk ? load<f32>(kh + <usize>j * row + (<usize>d << 2)) : 0);
    }
  }
}

/** One block of nb queries (i0 ..) of one head against every key it may see; writes nb output rows. */
function block(qh: usize, oh: usize, mb: usize, scale: f32, i0: i32, nb: i32): void {
  const nbp = roundUp(nb, 4);
  // Qp[r / 4][d][r % 4] = q[i0 + r][d]; rows past nb are zero
  for (let r = 0; r < nbp; r++) {
    const dst = Qp + (<usize>(r >> 2) * dh * 4 + <usize>(r & 3)) * 4;
    const src = qh + <usize>(i0 + r) * qw * 4;
    for (let d = 0; d < dh; d++) store<f32>(dst + (<usize>d << 4), r < nb ? load<f32>(src + (<usize>d << 2)) : 0);
  }
  memory.fill(O, 0, <usize>nbp * dhp * 4);
  for (let r = 0; r < nbp; r++) {
    store<f32>(M + (<usize>r << 2), -Infinity);
    store<f32>(L + (<usize>r << 2), 0);
    store<f32>(C + (<usize>r << 2), 1);
  }
  // keys the block sees: j < kend (causal: the last row's limit)
  const kend = causal ? min(nk, i0 + nb + nk - nq) : nk;
  const vscale = f32x4.splat(scale);
  const vstride = <usize>dhp * 4;
  for (let j0 = 0; j0 < kend; j0 += BK) {
    const kvis = min(BK, kend - j0);
    const n8 = roundUp(kvis, 8), n4 = roundUp(kvis, 4);
    const kt = Kt + <usize>j0 * dh * 4;
    const vt = Vp + <usize>j0 * dhp * 4;
    // S = scale * Q K^T on 4 x 8 micro-blocks
    for (let rb = 0; rb < nbp; rb += 4) {
      const qp = Qp + <usize>rb * dh * 4;
      for (let c = 0; c < n8; c += 8) scores4x8(S + <usize>rb * SROW + (<usize>c << 2), qp, kt + (<usize>c << 2), dh, vscale);
    }
    // mask, causal limit, online softmax: per row max and rescale, then exp over 4 rows at once;
    // padding rows get P = 0
    for (let r = 0; r < nbp; r++) {
      const s = S + <usize>r * SROW;
      if (r >= nb) {
        memory.fill(s, 0, <usize>n4 * 4);
        store<f32>(X + (<usize>r << 2), Infinity);
        continue;
      }
      const i = i0 + r;
      const cnt = causal ? max(0, min(kvis, i + nk - nq + 1 - j0)) : kvis;
      const mrow: usize = mb == 0 ? 0 : mb + (<usize>i * nk + j0) * 4;
      const o = <usize>r << 2;
      prepareRow(s, n4, cnt, mrow, M + o, L + o, C + o, X + o);
    }
    for (let rb = 0; rb < nbp; rb += 4) expShiftedRows4(S + <usize>rb * SROW, SROW, n4, X + (<usize>rb << 2), L + (<usize>rb << 2));
    // O = O * C + P V on 4 x 8 micro-blocks (4 x 4 for an odd last vector)
    for (let rb = 0; rb < nbp; rb += 4) {
      const o = O + <usize>rb * vstride, p = S + <usize>rb * SROW, c = C + (<usize>rb << 2);
      let e = 0;
      for (; e + 8 <= dhp; e += 8) pv4x8(o + (<usize>e << 2), vstride, c, p, vt + (<usize>e << 2), vstride, n4);
      if (e < dhp) pv4x4(o + (<usize>e << 2), vstride, c, p, vt + (<usize>e << 2), vstride, n4);
    }
  }
  // out = O / l; a row that saw no key (l = 0) stays zero, not 0/0
  for (let r = 0; r < nb; r++) {
    const l = load<f32>(L + (<usize>r << 2));
    const src = O + <usize>r * vstride;
    const dst = oh + <usize>(i0 + r) * qw * 4;
    if (l == 0) {
      memory.fill(dst, 0, <usize>dh * 4);
      continue;
    }
    const vl = f32x4.splat(l);
    let d = 0;
    for (; d + 4 <= dh; d += 4) v128.store(dst + (<usize>d << 2), f32x4.div(v128.load(src + (<usize>d << 2)), vl));
    for (; d < dh; d++) store<f32>(dst + (<usize>d << 2), load<f32>(src + (<usize>d << 2)) / l); // leftovers
  }
}

/**
 * Test probe, not part of attention: how many of x[0..n) (n a multiple of 16, every x <= 0, NaN
 * or -inf) get different bits from the softmax's exp (expShiftedRows4 with shift 0) than from
 * expf4 (NaN = NaN). Uses n + 8 floats at `tmp`.
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
