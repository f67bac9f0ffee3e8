// Attention backward (training): dq, dk, dv of softmax(q k^T * scale + mask) v per head, with the
// probabilities recomputed from q and k for blocks of 8 query rows (never stored: extra memory is
// O(nk * dh) for one kv head plus O(8 * nk) for the block, not O(nq * nk)). Query heads that share a
// kv head (grouped-query) add into the same dk, dv. Not the model: src/backend/grad.ts calls it
// through the adapter src/backend/wasm/attention_backward.ts.
//
// The scalar loop it replaces (per b, h, query i; reference/attention_backward.ts does exactly this):
//   s[j] = j visible ? scale * dot(q[i], k[j]) + mask[i][j] : -inf;  m = max s;  if m == -inf: dq[i] = 0
//   p[j] = exp(s[j] - m) / sum_j' exp(s[j'] - m);  D = dot(dout[i], out[i])
//   ds[j] = scale * p[j] * (dot(dout[i], v[j]) - D)
//   dq[i] = sum_j ds[j] k[j];  dk[j] += ds[j] q[i];  dv[j] += p[j] dout[i]
//
// Layout of one kv head (scratch after the Call below, f32; nkp = nk rounded up to 4, dhp = dh rounded up to 4, zero padded):
//   Kt, Vt [dh][nkp]: keys across lanes, so four scores (or four dout . v[j]) of a row come at once;
//   dK, dV [nk][dhp]: accumulators, updated once per block of 8 rows (their traffic dominates: 8 rows
//   per pass over them instead of 1);
//   S, P [8][nkp]: the block's scores -> dS and its probabilities; Qb, Gb, Ob [8][dhp]: q, dout, out rows.
// Fixed order, so the bits never change run to run: every dot over d in order within a lane; sums
// over keys in a 4-lane accumulator (quads in order), then (A0 + A1) + (A2 + A3); dk[j], dv[j] add
// the block's rows 0..7 in order, blocks in query order, the heads of a group in order.
export { heap_base, memory_base } from "./lib/heap";
import { expf4 } from "./lib/math";
import { AttentionOpts } from "./lib/opts";

const R: i32 = 8; // query rows per block

/**
 * The geometry of one call and its scratch buffers: written once by attention_backward() at the
 * start of its own scratch (so every call, and every thread, has its own) and passed to the
 * helpers, which read it into locals. No module state: nothing carries over from one call to the next.
 */
// @ts-ignore: decorator
@unmanaged
class Call {
  nq: i32;
  nk: i32;
  dh: i32;
  dhp: i32;
  nkp: i32;
  qw: i32;
  causal: bool;
  Kt: usize;
  Vt: usize;
  dK: usize;
  dV: usize;
  S: usize;
  P: usize;
  Qb: usize;
  Gb: usize;
  Ob: usize;
}
/** Bytes of scratch that hold the Call (a multiple of 64: the buffers after it keep their cache-line phase). */
const CALL_BYTES: usize = (offsetof<Call>() + 63) & ~63;

// @ts-ignore: decorator
@inline function roundUp(x: i32, m: i32): i32 {
  return (x + m - 1) / m * m;
}
// @ts-ignore: decorator
@inline function hsum(a: v128): f32 {
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
}
// @ts-ignore: decorator
@inline function hmax(a: v128): f32 {
  return max<f32>(max<f32>(f32x4.extract_lane(a, 0), f32x4.extract_lane(a, 1)), max<f32>(f32x4.extract_lane(a, 2), f32x4.extract_lane(a, 3)));
}

/** Bytes of scratch attention_backward needs for nk keys of head size dh. */
export function attention_backward_scratch(nk: i32, dh: i32): usize {
  const nkp = <usize>roundUp(nk, 4), dhp = <usize>roundUp(dh, 4);
  return CALL_BYTES + (2 * <usize>dh * nkp + 2 * <usize>nk * dhp + 2 * <usize>R * nkp + 3 * <usize>R * dhp) * 4;
}

/**
 * dq [B, nq, NH*dh], dk, dv [B, nk, KV*dh] from dout, q, out [B, nq, NH*dh], k, v [B, nk, KV*dh];
 * mask [maskBatch, nq, nk] or 0; causal: query i keeps keys j <= i + nk - nq. `opts` points at an
 * AttentionOpts (B = batch, nq, nk, NH = heads, KV = kvHeads, dh, scale, causal, maskBatch), as
 * for the forward. `scratch` holds attention_backward_scratch(nk, dh) bytes, 16-byte aligned. Only
 * the kv heads u0 <= b*KV + kh < u1 are computed (a thread split hands out ranges of them, every
 * piece reading the same AttentionOpts; dk, dv of one kv head sum over its query heads in one
 * thread, so every split gives the same bits).
 */
export function attention_backward(
  dq: usize, dk: usize, dv: usize, dout: usize, q: usize, k: usize, v: usize, out: usize, mask: usize, scratch: usize,
  opts: usize, u0: i32, u1: i32,
): void {
  const o = changetype<AttentionOpts>(opts);
  const batch = o.batch, nq = o.nq, nk = o.nk, heads = o.heads, kvHeads = o.kvHeads, dh = o.dh;
  const scale = o.scale, causal = o.causal, maskBatch = o.maskBatch;
  const dhp = roundUp(dh, 4), nkp = roundUp(nk, 4), qw = heads * dh;
  const call = changetype<Call>(scratch);
  call.nq = nq; call.nk = nk; call.dh = dh; call.dhp = dhp; call.nkp = nkp; call.qw = qw; call.causal = causal;
  call.Kt = scratch + CALL_BYTES;
  call.Vt = call.Kt + <usize>dh * nkp * 4;
  call.dK = call.Vt + <usize>dh * nkp * 4;
  call.dV = call.dK + <usize>nk * dhp * 4;
  call.S = call.dV + <usize>nk * dhp * 4;
  call.P = call.S + <usize>R * nkp * 4;
  call.Qb = call.P + <usize>R * nkp * 4;
  call.Gb = call.Qb + <usize>R * dhp * 4;
  call.Ob = call.Gb + <usize>R * dhp * 4;
  const dK = call.dK, dV = call.dV;
  const group = heads / kvHeads;
  const kw = kvHeads * dh;
  for (let b = 0; b < batch; b++) {
    const mb: usize = mask == 0 ? 0 : mask + <usize>(maskBatch == 1 ? 0 : b) * nq * nk * 4;
    for (let kh = 0; kh < kvHeads; kh++) {
      const u = b * kvHeads + kh;
      if (u < u0 || u >= u1) continue;
      const kvOff = (<usize>b * nk * kw + <usize>kh * dh) * 4; // [b, 0, kh*dh]
      packHead(call, k + kvOff, v + kvOff, kw);
      for (let g = 0; g < group; g++) {
        const off = (<usize>b * nq * qw + <usize>(kh * group + g) * dh) * 4; // [b, 0, h*dh]
        for (let i0 = 0; i0 < nq; i0 += R) queryBlock(call, dq + off, dout + off, q + off, out + off, mb, scale, i0, min(R, nq - i0));
      }
      // dk, dv rows of this kv head: the first dh floats of each accumulator row
      for (let j = 0; j < nk; j++) {
        const dst = kvOff + <usize>j * kw * 4;
        memory.copy(dk + dst, dK + <usize>j * dhp * 4, <usize>dh << 2);
        memory.copy(dv + dst, dV + <usize>j * dhp * 4, <usize>dh << 2);
      }
    }
  }
}

/** Kt, Vt [dh][nkp] for one kv head (rows kw floats apart), zero padded; dK = dV = 0. */
function packHead(call: Call, kh: usize, vh: usize, kw: i32): void {
  const nk = call.nk, dh = call.dh, dhp = call.dhp, nkp = call.nkp, Kt = call.Kt, Vt = call.Vt, dK = call.dK;
  memory.fill(Kt, 0, <usize>dh * nkp * 4);
  memory.fill(Vt, 0, <usize>dh * nkp * 4);
  memory.fill(dK, 0, <usize>nk * dhp * 4 * 2); // dK and dV are adjacent
  for (let j = 0; j < nk; j++) {
    const src = <usize>j * kw * 4;
    for (let d = 0; d < dh; d++) {
      store<f32>(Kt + (<usize>d * nkp + j) * 4, load<f32>(kh + src + (<usize>d << 2)));
      store<f32>(Vt + (<usize>d * nkp + j) * 4, load<f32>(vh + src + (<usize>d << 2)));
    }
  }
}

/**
 * For the R = 8 rows x of a [R][dhp] buffer and a d-major T [dh][nkp], four dot products per row at once:
 *   out[r][j0..j0+3] = [x_r . T[:, j0], .., x_r . T[:, j0+3]] * scale, for every quad j0 < kq.
 * Lanes: per d, T[d][j0..j0+3] times the splat of x_r[d], for the 8 rows (8 accumulators).
 */
function rowsTimesCols(call: Call, out: usize, x: usize, T: usize, kq: i32, scale: f32): void {
  const dh = call.dh, dhp = call.dhp, nkp = call.nkp;
  const sv = f32x4.splat(scale);
  const stride = <usize>nkp << 2, xs = <usize>dhp << 2;
  for (let j0 = 0; j0 < kq; j0 += 4) {
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    const col = T + (<usize>j0 << 2);
    for (let d = 0; d < dh; d++) {
      const t = v128.load(col + <usize>d * stride);
      const xd = x + (<usize>d << 2);
      a0 = f32x4.add(a0, f32x4.mul(v128.load_splat<f32>(xd), t));
      a1 = f32x4.add(a1, f32x4.mul(v128.load_splat<f32>(xd + xs), t));
      a2 = f32x4.add(a2, f32x4.mul(v128.load_splat<f32>(xd + 2 * xs), t));
      a3 = f32x4.add(a3, f32x4.mul(v128.load_splat<f32>(xd + 3 * xs), t));
      a4 = f32x4.add(a4, f32x4.mul(v128.load_splat<f32>(xd + 4 * xs), t));
      a5 = f32x4.add(a5, f32x4.mul(v128.load_splat<f32>(xd + 5 * xs), t));
      a6 = f32x4.add(a6, f32x4.mul(v128.load_splat<f32>(xd + 6 * xs), t));
      a7 = f32x4.add(a7, f32x4.mul(v128.load_splat<f32>(xd + 7 * xs), t));
    }
    const o = out + (<usize>j0 << 2);
    v128.store(o, f32x4.mul(a0, sv));
    v128.store(o + stride, f32x4.mul(a1, sv));
    v128.store(o + 2 * stride, f32x4.mul(a2, sv));
    v128.store(o + 3 * stride, f32x4.mul(a3, sv));
    v128.store(o + 4 * stride, f32x4.mul(a4, sv));
    v128.store(o + 5 * stride, f32x4.mul(a5, sv));
    v128.store(o + 6 * stride, f32x4.mul(a6, sv));
    v128.store(o + 7 * stride, f32x4.mul(a7, sv));
  }
}

/**
 * acc[j][0..dhp) += sum_r c[r][j] x_r[0..dhp) for j < kmax (rows r = 0..7 in order): dK from dS and
 * the q rows, dV from P and the dout rows. Lanes over d; the 8 coefficients of key j splat once.
 */
function addOuter(call: Call, acc: usize, c: usize, x: usize, kmax: i32): void {
  const dhp = call.dhp, nkp = call.nkp;
  const stride = <usize>nkp << 2, xs = <usize>dhp << 2;
  for (let j = 0; j < kmax; j++) {
    const o = c + (<usize>j << 2);
    const c0 = v128.load_splat<f32>(o), c1 = v128.load_splat<f32>(o + stride), c2 = v128.load_splat<f32>(o + 2 * stride), c3 = v128.load_splat<f32>(o + 3 * stride);
    const c4 = v128.load_splat<f32>(o + 4 * stride), c5 = v128.load_splat<f32>(o + 5 * stride), c6 = v128.load_splat<f32>(o + 6 * stride), c7 = v128.load_splat<f32>(o + 7 * stride);
    const row = acc + <usize>j * xs;
    for (let d = 0; d < dhp; d += 4) {
      const e = <usize>d << 2;
      let a = v128.load(row + e);
      a = f32x4.add(a, f32x4.mul(c0, v128.load(x + e)));
      a = f32x4.add(a, f32x4.mul(c1, v128.load(x + xs + e)));
      a = f32x4.add(a, f32x4.mul(c2, v128.load(x + 2 * xs + e)));
      a = f32x4.add(a, f32x4.mul(c3, v128.load(x + 3 * xs + e)));
      a = f32x4.add(a, f32x4.mul(c4, v128.load(x + 4 * xs + e)));
      a = f32x4.add(a, f32x4.mul(c5, v128.load(x + 5 * xs + e)));
      a = f32x4.add(a, f32x4.mul(c6, v128.load(x + 6 * xs + e)));
      a = f32x4.add(a, f32x4.mul(c7, v128.load(x + 7 * xs + e)));
      v128.store(row + e, a);
    }
  }
}

/** Row r of the block: P[r] = softmax(S[r]) over its visible keys (mask added, the rest -inf). Returns false when it sees no key. */
function softmaxRow(call: Call, r: i32, i: i32, maskRow: usize, kq: i32): bool {
  const nq = call.nq, nk = call.nk, nkp = call.nkp, causal = call.causal, S = call.S, P = call.P;
  const s = S + <usize>r * nkp * 4, p = P + <usize>r * nkp * 4;
  const kend = i < 0 ? 0 : causal ? min(nk, max(0, i + nk - nq + 1)) : nk;
  if (maskRow != 0) {
    for (let j = 0; j < kend; j++) store<f32>(s + (<usize>j << 2), load<f32>(s + (<usize>j << 2)) + load<f32>(maskRow + (<usize>j << 2)));
  }
  for (let j = kend; j < kq; j++) store<f32>(s + (<usize>j << 2), -Infinity);
  let mv = f32x4.splat(-Infinity);
  for (let j0 = 0; j0 < kq; j0 += 4) mv = f32x4.max(mv, v128.load(s + (<usize>j0 << 2)));
  const m = hmax(mv);
  if (m == -Infinity) { // no visible key (or a padding row): out = 0, no gradient
    memory.fill(p, 0, <usize>kq << 2);
    return false;
  }
  const msplat = f32x4.splat(m);
  let lacc = f32x4.splat(0);
  for (let j0 = 0; j0 < kq; j0 += 4) {
    const e = expf4(f32x4.sub(v128.load(s + (<usize>j0 << 2)), msplat));
    v128.store(p + (<usize>j0 << 2), e);
    lacc = f32x4.add(lacc, e);
  }
  const lv = f32x4.splat(hsum(lacc));
  for (let j0 = 0; j0 < kq; j0 += 4) v128.store(p + (<usize>j0 << 2), f32x4.div(v128.load(p + (<usize>j0 << 2)), lv));
  return true;
}

/** Rows i0 .. i0+nb-1 of one head: writes their dq rows, adds into dK, dV. Rows past nb are zero padding. */
function queryBlock(call: Call, dqh: usize, gh: usize, qh: usize, oh: usize, mb: usize, scale: f32, i0: i32, nb: i32): void {
  const nq = call.nq, nk = call.nk, dh = call.dh, dhp = call.dhp, nkp = call.nkp, qw = call.qw, causal = call.causal;
  const Kt = call.Kt, Vt = call.Vt, dK = call.dK, dV = call.dV, S = call.S, P = call.P, Qb = call.Qb, Gb = call.Gb, Ob = call.Ob;
  const last = i0 + nb - 1;
  const kmax = causal ? min(nk, max(0, last + nk - nq + 1)) : nk; // keys the block's last row sees
  const kq = roundUp(kmax, 4);
  // padded copies of the rows of q, dout, out
  memory.fill(Qb, 0, <usize>R * dhp * 3 * 4);
  for (let r = 0; r < nb; r++) {
    const src = <usize>(i0 + r) * qw * 4, dst = <usize>r * dhp * 4;
    memory.copy(Qb + dst, qh + src, <usize>dh << 2);
    memory.copy(Gb + dst, gh + src, <usize>dh << 2);
    memory.copy(Ob + dst, oh + src, <usize>dh << 2);
  }
  // scores S = scale Q K^T, then P = softmax per row
  rowsTimesCols(call, S, Qb, Kt, kq, scale);
  let any = false;
  for (let r = 0; r < R; r++) {
    const i = r < nb ? i0 + r : -1;
    any = softmaxRow(call, r, i, mb == 0 || i < 0 ? 0 : mb + <usize>i * nk * 4, kq) || any;
  }
  if (!any) {
    for (let r = 0; r < nb; r++) memory.fill(dqh + <usize>(i0 + r) * qw * 4, 0, <usize>dh << 2);
    return;
  }
  // dS = scale P (dP - D), dP = dout V^T (rows of dout against Vt), D_r = dout_r . out_r
  rowsTimesCols(call, S, Gb, Vt, kq, 1);
  for (let r = 0; r < R; r++) {
    let dacc = f32x4.splat(0);
    const go = Gb + <usize>r * dhp * 4, oo = Ob + <usize>r * dhp * 4;
    for (let d = 0; d < dhp; d += 4) dacc = f32x4.add(dacc, f32x4.mul(v128.load(go + (<usize>d << 2)), v128.load(oo + (<usize>d << 2))));
    const Dv = f32x4.splat(hsum(dacc)), sv = f32x4.splat(scale);
    const s = S + <usize>r * nkp * 4, p = P + <usize>r * nkp * 4;
    for (let j0 = 0; j0 < kq; j0 += 4) {
      const o = <usize>j0 << 2;
      v128.store(s + o, f32x4.mul(sv, f32x4.mul(v128.load(p + o), f32x4.sub(v128.load(s + o), Dv))));
    }
  }
  // dq_r[d] = sum_j dS[r][j] k[j][d]: per d, the 8 rows against Kt[d] (4-lane sums over keys)
  const stride = <usize>nkp << 2;
  for (let d = 0; d < dh; d++) {
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    const kt = Kt + <usize>d * stride;
    for (let j0 = 0; j0 < kq; j0 += 4) {
      const o = <usize>j0 << 2;
      const t = v128.load(kt + o);
      const s0 = S + o;
      a0 = f32x4.add(a0, f32x4.mul(v128.load(s0), t));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(s0 + stride), t));
      a2 = f32x4.add(a2, f32x4.mul(v128.load(s0 + 2 * stride), t));
      a3 = f32x4.add(a3, f32x4.mul(v128.load(s0 + 3 * stride), t));
      a4 = f32x4.add(a4, f32x4.mul(v128.load(s0 + 4 * stride), t));
      a5 = f32x4.add(a5, f32x4.mul(v128.load(s0 + 5 * stride), t));
      a6 = f32x4.add(a6, f32x4.mul(v128.load(s0 + 6 * stride), t));
      a7 = f32x4.add(a7, f32x4.mul(v128.load(s0 + 7 * stride), t));
    }
    const at = dqh + <usize>i0 * qw * 4 + (<usize>d << 2), rs = <usize>qw * 4;
    store<f32>(at, hsum(a0)); // nb >= 1
    if (nb > 1) store<f32>(at + rs, hsum(a1));
    if (nb > 2) store<f32>(at + 2 * rs, hsum(a2));
    if (nb > 3) store<f32>(at + 3 * rs, hsum(a3));
    if (nb > 4) store<f32>(at + 4 * rs, hsum(a4));
    if (nb > 5) store<f32>(at + 5 * rs, hsum(a5));
    if (nb > 6) store<f32>(at + 6 * rs, hsum(a6));
    if (nb > 7) store<f32>(at + 7 * rs, hsum(a7));
  }
  // dk[j] += sum_r dS[r][j] q_r;  dv[j] += sum_r P[r][j] dout_r
  addOuter(call, dK, S, Qb, kmax);
  addOuter(call, dV, P, Gb, kmax);
}
