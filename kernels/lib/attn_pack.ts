// Operand packing of the attention kernel (kernels/attention.ts): one head's keys into panels of 8
// keys (what a score micro-kernel reads front to back) and its values into panels of 4 channels
// (what a P V micro-kernel reads). Pure data movement: the same floats, reordered.
import { BK } from "./attn_tile";

/** x rounded up to a multiple of m. */
// @ts-ignore: decorator
@inline
export function roundUp(x: i32, m: i32): i32 {
  return (x + m - 1) / m * m;
}

/**
 * Packs one head's values (nk rows of dh floats, kw floats apart) into Vp in panels of 4 channels: Vp[d / 4][j][d % 4] =
 * v[j][d], panels nkp keys long, so that each P V micro-kernel reads its channels of consecutive
 * keys front to back. Lanes past dh in the last panel are left as they are: they only reach O's pad
 * columns, never written out.
 */
export function packV(Vp: usize, vh: usize, kw: i32, nk: i32, dh: i32): void {
  const row = <usize>kw * 4, ps = <usize>roundUp(nk, BK) * 16; // bytes per panel
  const dh4 = dh & ~3;
  for (let j = 0; j < nk; j++) { // a loop, not memory.copy: a call per row costs more than the row
    const src = vh + <usize>j * row, dst = Vp + (<usize>j << 4);
    let d = 0;
    for (; d < dh4; d += 4) v128.store(dst + <usize>(d >> 2) * ps, v128.load(src + (<usize>d << 2)));
    for (; d < dh; d++) store<f32>(dst + <usize>(d >> 2) * ps + (<usize>(d & 3) << 2), load<f32>(src + (<usize>d << 2)));
  }
}

/**
 * Packs one head's keys (nk rows of dh floats, kw floats apart) into Kt in panels of 8 keys: within key tile t = j / BK,
 * Kt[t][(j % BK) / 8][d][j % 8] = k[j][d], zero for the keys past nk in the last tile (their
 * scores are then finite, and replaced by -inf in maskRow). A panel (dh x 8 floats) is what one
 * score micro-kernel reads, front to back.
 */
export function packK(Kt: usize, kh: usize, kw: i32, nk: i32, dh: i32): void {
  const nkp = roundUp(nk, BK);
  const row = <usize>kw * 4, prow: usize = 32; // bytes between a panel's channels
  // K in 4 x 4 blocks: keys j..j+3 x channels d..d+3 -> panel rows d..d+3, lanes j % 8 .. j % 8 + 3
  //   rows [a0 a1 a2 a3] [b0 ..] [c0 ..] [e0 ..]  ->  [a0 b0 c0 e0] [a1 b1 c1 e1] [a2 ..] [a3 ..]
  let j = 0;
  for (; j + 4 <= nk; j += 4) {
    const kt = Kt + keyOffset(j, dh);
    const r0 = kh + <usize>j * row, r1 = r0 + row, r2 = r1 + row, r3 = r2 + row;
    let d = 0;
    for (; d + 4 <= dh; d += 4) {
      const o = <usize>d << 2;
      const a = v128.load(r0 + o), b = v128.load(r1 + o), c = v128.load(r2 + o), e = v128.load(r3 + o);
      const ab01 = v128.shuffle<i32>(a, b, 0, 4, 1, 5), ce01 = v128.shuffle<i32>(c, e, 0, 4, 1, 5);
      const ab23 = v128.shuffle<i32>(a, b, 2, 6, 3, 7), ce23 = v128.shuffle<i32>(c, e, 2, 6, 3, 7);
      const t = kt + <usize>d * prow;
      v128.store(t, v128.shuffle<i64>(ab01, ce01, 0, 2));
      v128.store(t + prow, v128.shuffle<i64>(ab01, ce01, 1, 3));
      v128.store(t + 2 * prow, v128.shuffle<i64>(ab23, ce23, 0, 2));
      v128.store(t + 3 * prow, v128.shuffle<i64>(ab23, ce23, 1, 3));
    }
    for (; d < dh; d++) { // leftover channels
      const t = kt + <usize>d * prow, o = <usize>d << 2;
      store<f32>(t, load<f32>(r0 + o));
      store<f32>(t, load<f32>(r1 + o), 4);
      store<f32>(t, load<f32>(r2 + o), 8);
      store<f32>(t, load<f32>(r3 + o), 12);
    }
  }
  for (; j < nkp; j++) { // leftover keys, then zeros up to the end of the last tile
    const kt = Kt + keyOffset(j, dh);
    for (let d = 0; d < dh; d++) {
      store<f32>(kt + <usize>d * prow, j < nk ? load<f32>(kh + <usize>j * row + (<usize>d << 2)) : 0);
    }
  }
}

/** Byte offset in Kt of key j's channel 0 (tile j / BK, panel (j % BK) / 8, lane j % 8). */
// @ts-ignore: decorator
@inline
function keyOffset(j: i32, dh: i32): usize {
  const jj = j % BK;
  return (<usize>(j - jj) * dh + <usize>(jj >> 3) * dh * 8 + <usize>(jj & 7)) * 4;
}
