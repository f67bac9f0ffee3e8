// Fused attention, flash-attention style: softmax(q k^T * scale + mask) v per head without a
// score matrix. Blocks of BQ query rows meet tiles of BK keys; each row keeps a running max m and
// sum l and rescales its accumulator when m grows (online softmax). Extra memory O(nk * dh): one
// head's packed K and V, plus one query block's fixed-size tiles; or, on several threads, every kv
// head's packed K and V, packed once by attention_pack before the query blocks are handed out
// (so that a thread may take any query block without packing its head again). Micro-kernels: lib/attn_tile.ts
// (scores, P V), lib/attn_softmax.ts and lib/attn_exp.ts (the online-softmax update).
// Few queries (KV-cache decode, nq = 1): a block holds the rows of every query head that reads the
// same kv head, and rows past a multiple of 4 take 1-row micro-kernels instead of padding rows.
//
// The scalar loop it replaces (per b, h, query i; reference/attention.ts does exactly this):
//   for j < nk: s[j] = j visible ? scale * dot(q[i], k[j]) + mask[i][j] : -inf
//   m = max_j s[j]; p[j] = exp(s[j] - m); out[i] = m == -inf ? 0 : sum_j p[j] v[j] / sum_j p[j]
// Online form, over key tiles t:  m' = max(m, max_t s); c = exp(m - m');
//   l = l c + sum_t exp(s - m');  O = O c + sum_t exp(s - m') v;  m = m';  out = O / l (l = 0: 0).
import { BK, pv1, pv4x4, pv4x8, scores1x32, scores4x8 } from "./lib/attn_tile";
import { maskRow, prepareRow, prepareRows4 } from "./lib/attn_softmax";
import { expShiftedRow1, expShiftedRows4 } from "./lib/attn_exp";
import { AttentionOpts } from "./lib/opts";
import { packK, packV, roundUp } from "./lib/attn_pack";
export { heap_base, memory_base } from "./lib/heap";

/** Queries per block (a multiple of 4, the rows of a micro-kernel). */
const BQ: i32 = 64;
const SROW: usize = <usize>BK * 4;

/**
 * The geometry of one call and its scratch buffers: written once by attention() at the start of
 * its own scratch (so every call, and every thread, has its own) and passed to the helpers, which
 * read it into locals. No module state: nothing carries over from one call to the next.
 */
// @ts-ignore: decorator
@unmanaged
class Call {
  nq: i32;
  nk: i32;
  dh: i32;
  dhp: i32;
  qw: i32;
  causal: bool;
  Kt: usize;
  Vp: usize;
  Qp: usize;
  S: usize;
  O: usize;
  M: usize;
  L: usize;
  C: usize;
  X: usize;
  E: usize;
}
/** Bytes of scratch that hold the Call (a multiple of 64: the buffers after it keep their cache-line phase). */
const CALL_BYTES: usize = (offsetof<Call>() + 63) & ~63;

/**
 * Bytes of one kv head's packed keys and values: Kt (nkp x dh floats, nkp = nk rounded up to BK)
 * then Vp (nkp x dhp floats, dhp = dh rounded up to 4). A multiple of 64 (BK = 128 rows).
 */
export function attention_kv_bytes(nk: i32, dh: i32): usize {
  const nkp = roundUp(nk, BK), dhp = roundUp(dh, 4);
  return (<usize>nkp * dh + <usize>nkp * dhp) * 4;
}

/**
 * Bytes of scratch that attention() needs (the adapter allocates them): the Call, one head's Kt and
 * Vp (attention_kv_bytes(nk, dh)), one query block's Qp, S, O, M, L, C, X, and E (the exp passes'
 * 12 x BK floats). Not a function of nq. With K and V prepacked (`kv` != 0): attention_scratch(0, dh).
 */
export function attention_scratch(nk: i32, dh: i32): usize {
  const dhp = roundUp(dh, 4);
  return CALL_BYTES + attention_kv_bytes(nk, dh) + (<usize>BQ * (dh + BK + dhp + 4) + 12 * <usize>BK) * 4;
}

/**
 * Packs the keys and values of kv heads h0 <= h < h1 (h = b * KV + kv head; B * KV in all) into
 * `kv`, head h at kv + h * attention_kv_bytes(nk, dh): the same Kt and Vp that attention() packs
 * into its scratch, so attention(..., kv, ...) gives the same bits. A thread split hands out head
 * ranges (`opts` as for attention).
 */
export function attention_pack(kv: usize, k: usize, v: usize, opts: usize, h0: i32, h1: i32): void {
  const o = changetype<AttentionOpts>(opts);
  const nk = o.nk, kvHeads = o.kvHeads, dh = o.dh;
  const kw = kvHeads * dh, nkp = roundUp(nk, BK), hb = attention_kv_bytes(nk, dh);
  for (let h = h0; h < h1; h++) {
    const b = h / kvHeads, kh = h % kvHeads;
    const kvOff = (<usize>b * nk * kw + <usize>kh * dh) * 4; // [b, 0, kh*dh]
    const Kt = kv + <usize>h * hb;
    packK(Kt, k + kvOff, kw, nk, dh);
    packV(Kt + <usize>nkp * dh * 4, v + kvOff, kw, nk, dh);
  }
}

/** Query blocks per kv head: the work units a thread split hands out (see `attention`). */
export function attention_units(batch: i32, nq: i32, heads: i32, kvHeads: i32): i32 {
  const group = heads / kvHeads, nqb = min(BQ, nq);
  const gpb = max(1, min(group, BQ / max(nqb, 1)));
  return batch * kvHeads * ((group + gpb - 1) / gpb) * ((nq + BQ - 1) / BQ);
}

/**
 * out [B, nq, NH*dh] = attention(q [B, nq, NH*dh], k, v [B, nk, KV*dh]), query head h reading kv
 * head h / (NH/KV); mask [maskBatch, nq, nk] or 0; causal: query i keeps keys j <= i + nk - nq.
 * `opts` points at an AttentionOpts (B = batch, nq, nk, NH = heads, KV = kvHeads, dh, scale,
 * causal, maskBatch). `kv`: 0, or every kv head's keys and values packed by attention_pack (then
 * `scratch` holds attention_scratch(0, dh) bytes, and no head is packed here); otherwise `scratch`
 * holds attention_scratch(nk, dh) bytes, and each kv head is packed into it before its first unit.
 * Scratch is 16-byte aligned.
 * Only the work units u0 <= u < u1 are computed (units in the order b, kv head, head group, query
 * block; attention_units counts them): a thread split hands out unit ranges (every piece reads the
 * same AttentionOpts), and a unit's rows are computed the same way whichever thread runs it, so
 * every split gives the same bits.
 * A NaN score (from q, k or the mask) makes its row NaN, as in the reference. A NaN in v at a key
 * that a row does not see reaches that row (as 0 * NaN) only if the key lies in a tile the row's
 * block processes; v is expected finite.
 */
export function attention(out: usize, q: usize, k: usize, v: usize, mask: usize, kv: usize, scratch: usize, opts: usize, u0: i32, u1: i32): void {
  const o = changetype<AttentionOpts>(opts);
  const batch = o.batch, nq = o.nq, nk = o.nk, heads = o.heads, kvHeads = o.kvHeads, dh = o.dh;
  const scale = o.scale, causal = o.causal, maskBatch = o.maskBatch;
  const dhp = roundUp(dh, 4), qw = heads * dh;
  const nkp = roundUp(nk, BK);
  const call = changetype<Call>(scratch);
  call.nq = nq; call.nk = nk; call.dh = dh; call.dhp = dhp; call.qw = qw; call.causal = causal;
  call.Kt = scratch + CALL_BYTES; // own Kt, Vp (kv = 0); with kv, set per head below
  call.Vp = call.Kt + <usize>nkp * dh * 4;
  call.Qp = kv != 0 ? scratch + CALL_BYTES : call.Vp + <usize>nkp * dhp * 4;
  call.S = call.Qp + <usize>BQ * dh * 4;
  call.O = call.S + <usize>BQ * BK * 4;
  call.M = call.O + <usize>BQ * dhp * 4;
  call.L = call.M + <usize>BQ * 4;
  call.C = call.L + <usize>BQ * 4;
  call.X = call.C + <usize>BQ * 4;
  call.E = call.X + <usize>BQ * 4;
  const group = heads / kvHeads;
  const kw = kvHeads * dh;
  // Query heads that share a kv head go into one block when the queries alone do not fill it
  // (decode: nq = 1, a block of `group` rows): rows (g, i), g < ng heads of the group, i < nb queries.
  const nqb = min(BQ, nq);
  const gpb = max(1, min(group, BQ / nqb));
  // Blocks of at most 3 rows (decode with group <= 3) run only 1-row kernels, which can read v in
  // place when dh is a multiple of 4 (their 4-channel loads then stay inside the head): no V copy.
  // (The same sums in the same order as from Vp: only the addresses differ.)
  const vInPlace = kv == 0 && nqb * gpb < 4 && (dh & 3) == 0;
  const hb = attention_kv_bytes(nk, dh);
  const perHead = ((group + gpb - 1) / gpb) * ((nq + BQ - 1) / BQ);
  for (let b = 0; b < batch; b++) {
    const mb: usize = mask == 0 ? 0 : mask + <usize>(maskBatch == 1 ? 0 : b) * nq * nk * 4;
    for (let kh = 0; kh < kvHeads; kh++) {
      let u = (b * kvHeads + kh) * perHead;
      if (u + perHead <= u0 || u >= u1) continue; // none of this head's units
      const kvOff = (<usize>b * nk * kw + <usize>kh * dh) * 4; // [b, 0, kh*dh]
      if (kv != 0) { // packed by attention_pack
        call.Kt = kv + <usize>(b * kvHeads + kh) * hb;
        call.Vp = call.Kt + <usize>nkp * dh * 4;
      } else {
        packK(call.Kt, k + kvOff, kw, nk, dh);
      }
      // V as the P V step reads it: key j's channels e..e+3 at V + j * vs + (e / 4) * cs; Vp (packed
      // in panels of 4 channels: vs = 16 bytes, cs = a panel) or v itself (vs = a row, cs = 16 bytes)
      let V: usize, vs: usize, cs: usize;
      if (vInPlace) {
        V = v + kvOff;
        vs = <usize>kw * 4;
        cs = 16;
      } else {
        if (kv == 0) packV(call.Vp, v + kvOff, kw, nk, dh);
        V = call.Vp;
        vs = 16;
        cs = <usize>nkp * 16;
      }
      for (let g0 = 0; g0 < group; g0 += gpb) {
        const off = (<usize>b * nq * qw + <usize>(kh * group + g0) * dh) * 4; // [b, 0, h*dh]
        const ng = min(gpb, group - g0);
        for (let i0 = 0; i0 < nq; i0 += BQ) {
          if (u >= u0 && u < u1) block(call, V, vs, cs, q + off, out + off, mb, scale, i0, min(BQ, nq - i0), ng);
          u++;
        }
      }
    }
  }
}

/**
 * One block: queries i0 .. i0+nb-1 of ng consecutive heads (row r = g * nb + (i - i0), at
 * q + g*dh + i*qw floats) against every key they may see; writes the block's ng * nb output rows.
 * Rows in whole groups of 4 use the 4-row micro-kernels, the last nr % 4 rows the 1-row ones
 * (no padding rows): each row's arithmetic is the same in both, so its bits do not depend on
 * how rows are grouped (query independence, KV-cache decode = full forward).
 */
function block(call: Call, V: usize, vs: usize, cs: usize, qh: usize, oh: usize, mb: usize, scale: f32, i0: i32, nb: i32, ng: i32): void {
  const nq = call.nq, nk = call.nk, dh = call.dh, dhp = call.dhp, qw = call.qw, causal = call.causal;
  const Kt = call.Kt, Qp = call.Qp, S = call.S, O = call.O, M = call.M, L = call.L, C = call.C, X = call.X, E = call.E;
  const nr = nb * ng, n4r = nr & ~3;
  // Qp[r / 4][d][r % 4] = q row r [d] (lanes of rows past nr are not read): 4 x 4 transposes for
  // whole groups of 4 rows and 4 channels (as in packK), then one float at a time
  for (let rb = 0; rb < n4r; rb += 4) {
    const dst = Qp + <usize>rb * dh * 4; // micro-block rb / 4: dh x 16 bytes
    const r0 = qh + (<usize>(rb / nb) * dh + <usize>(i0 + rb % nb) * qw) * 4;
    const r1 = qh + (<usize>((rb + 1) / nb) * dh + <usize>(i0 + (rb + 1) % nb) * qw) * 4;
    const r2 = qh + (<usize>((rb + 2) / nb) * dh + <usize>(i0 + (rb + 2) % nb) * qw) * 4;
    const r3 = qh + (<usize>((rb + 3) / nb) * dh + <usize>(i0 + (rb + 3) % nb) * qw) * 4;
    let d = 0;
    for (; d + 4 <= dh; d += 4) {
      const o = <usize>d << 2, t = dst + (<usize>d << 4);
      const a = v128.load(r0 + o), b = v128.load(r1 + o), c = v128.load(r2 + o), e = v128.load(r3 + o);
      const ab01 = v128.shuffle<i32>(a, b, 0, 4, 1, 5), ce01 = v128.shuffle<i32>(c, e, 0, 4, 1, 5);
      const ab23 = v128.shuffle<i32>(a, b, 2, 6, 3, 7), ce23 = v128.shuffle<i32>(c, e, 2, 6, 3, 7);
      v128.store(t, v128.shuffle<i64>(ab01, ce01, 0, 2));
      v128.store(t, v128.shuffle<i64>(ab01, ce01, 1, 3), 16);
      v128.store(t, v128.shuffle<i64>(ab23, ce23, 0, 2), 32);
      v128.store(t, v128.shuffle<i64>(ab23, ce23, 1, 3), 48);
    }
    for (; d < dh; d++) { // leftover channels
      const o = <usize>d << 2, t = dst + (<usize>d << 4);
      store<f32>(t, load<f32>(r0 + o));
      store<f32>(t, load<f32>(r1 + o), 4);
      store<f32>(t, load<f32>(r2 + o), 8);
      store<f32>(t, load<f32>(r3 + o), 12);
    }
  }
  for (let r = n4r; r < nr; r++) {
    const dst = Qp + (<usize>(r >> 2) * dh * 4 + <usize>(r & 3)) * 4;
    const src = qh + (<usize>(r / nb) * dh + <usize>(i0 + r % nb) * qw) * 4;
    for (let d = 0; d < dh; d++) store<f32>(dst + (<usize>d << 4), load<f32>(src + (<usize>d << 2)));
  }
  memory.fill(O, 0, <usize>nr * dhp * 4);
  for (let r = 0; r < nr; r++) {
    store<f32>(M + (<usize>r << 2), -Infinity);
    store<f32>(L + (<usize>r << 2), 0);
    store<f32>(C + (<usize>r << 2), 1);
  }
  // keys the block sees: j < kend (causal: the last query's limit)
  const kend = causal ? min(nk, i0 + nb + nk - nq) : nk;
  const vscale = f32x4.splat(scale);
  const vstride = <usize>dhp * 4; // O's rows
  for (let j0 = 0; j0 < kend; j0 += BK) {
    const kvis = min(BK, kend - j0);
    const n8 = roundUp(kvis, 8), n4 = roundUp(kvis, 4);
    const kt = Kt + <usize>j0 * dh * 4;
    const vt = V + <usize>j0 * vs;
    // S = scale * Q K^T on 4 x 8 micro-blocks, then 1 x 32 for the last rows
    for (let rb = 0; rb < n4r; rb += 4) {
      const qp = Qp + <usize>rb * dh * 4;
      for (let c = 0; c < n8; c += 8) scores4x8(S + <usize>rb * SROW + (<usize>c << 2), qp, kt + <usize>c * dh * 4, dh, vscale);
    }
    for (let r = n4r; r < nr; r++) {
      const qp = Qp + (<usize>(r >> 2) * dh * 4 + <usize>(r & 3)) * 4;
      for (let c = 0; c < n8; c += 32) scores1x32(S + <usize>r * SROW + (<usize>c << 2), qp, kt + <usize>c * dh * 4, dh, vscale); // Kt and S rows hold BK = 128 keys
    }
    // mask, causal limit, online softmax: per row max and rescale (4 rows at once, then the last
    // rows one by one), then exp over 4 rows at once
    if (mb != 0 || kvis < n4 || (causal && j0 + kvis > i0 + nk - nq + 1)) {
      for (let r = 0; r < nr; r++) { // some row has masked or invisible keys in this tile
        const i = i0 + r % nb;
        const cnt = causal ? max(0, min(kvis, i + nk - nq + 1 - j0)) : kvis;
        const mrow: usize = mb == 0 ? 0 : mb + (<usize>i * nk + j0) * 4;
        if (mrow != 0 || cnt < n4) maskRow(S + <usize>r * SROW, n4, cnt, mrow);
      }
    }
    for (let rb = 0; rb < n4r; rb += 4) {
      const o = <usize>rb << 2;
      prepareRows4(S + <usize>rb * SROW, SROW, n4, M + o, L + o, C + o, X + o);
    }
    for (let r = n4r; r < nr; r++) {
      const o = <usize>r << 2;
      prepareRow(S + <usize>r * SROW, n4, M + o, L + o, C + o, X + o);
    }
    for (let rb = 0; rb < n4r; rb += 4) expShiftedRows4(S + <usize>rb * SROW, SROW, n4, X + (<usize>rb << 2), L + (<usize>rb << 2), E);
    for (let r = n4r; r < nr; r++) expShiftedRow1(S + <usize>r * SROW, n4, X + (<usize>r << 2), L + (<usize>r << 2));
    // O = O * C + P V on 4 x 8 micro-blocks (4 x 4 for an odd last vector), then row by row, over
    // the kvis keys of the tile (the rest have P = 0)
    for (let rb = 0; rb < n4r; rb += 4) {
      const o = O + <usize>rb * vstride, p = S + <usize>rb * SROW, c = C + (<usize>rb << 2);
      let e = 0;
      for (; e + 8 <= dhp; e += 8) pv4x8(o + (<usize>e << 2), vstride, c, p, vt + <usize>(e >> 2) * cs, cs, kvis);
      if (e < dhp) pv4x4(o + (<usize>e << 2), vstride, c, p, vt + <usize>(e >> 2) * cs, vs, kvis);
    }
    for (let r = n4r; r < nr; r++) pv1(O + <usize>r * vstride, C + (<usize>r << 2), S + <usize>r * SROW, vt, vs, cs, dhp, kvis);
  }
  // out = O / l; a row that saw no key (l = 0) stays zero, not 0/0
  for (let r = 0; r < nr; r++) {
    const l = load<f32>(L + (<usize>r << 2));
    const src = O + <usize>r * vstride;
    const dst = oh + (<usize>(r / nb) * dh + <usize>(i0 + r % nb) * qw) * 4;
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
