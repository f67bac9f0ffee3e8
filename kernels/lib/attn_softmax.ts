// The online-softmax update of a block's rows for one key tile, first half (lib/attn_exp.ts does
// the second): per row, over its first `n4` (a multiple of 4) scores of S, of which the first `cnt`
// are visible (the rest, causal or past nk, become -Infinity):
//   s_j += mask_j (j < cnt);  m' = max(m, max_j s_j);  c = exp(m - m');  l = l * c;  x = m'
// (expShiftedRows4 then sets p_j = exp(s_j - x) over s and adds sum_j p_j to l.)
// A row that has seen only masked keys (m' = -Infinity) gets p = 0, keeps l = 0, c = 1 and
// x = +inf: it attends to nothing and its output stays zero instead of exp(-inf - -inf) = NaN.
// A NaN score (NaN in q, k or the mask) makes the row NaN, as in the reference.
// Not an entry point: kernels/attention.ts calls maskRow, then prepareRows4 on 4-row groups and
// prepareRow on a block's last rows; both give a row the same bits.
import { expf, expf4 } from "./math";

/**
 * s_j += mask_j for j < cnt (`mrow`: the row's mask for these keys, 0: none), s_j = -Infinity for
 * cnt <= j < n4. Nothing to do (and not called) when mrow = 0 and cnt = n4.
 */
export function maskRow(s: usize, n4: i32, cnt: i32, mrow: usize): void {
  if (mrow != 0) {
    let j = 0;
    for (; j + 4 <= cnt; j += 4) {
      const o = <usize>j << 2;
      v128.store(s + o, f32x4.add(v128.load(s + o), v128.load(mrow + o)));
    }
    for (; j < cnt; j++) {
      const o = <usize>j << 2;
      store<f32>(s + o, load<f32>(s + o) + load<f32>(mrow + o)); // leftovers
    }
  }
  for (let j = cnt; j < n4; j++) store<f32>(s + (<usize>j << 2), -Infinity);
}

/**
 * Row max in lanes: [max(s0,s4,..), max(s1,s5,..), ..] (the caller takes the max across lanes).
 * pmax (one maxps) skips a NaN score where max would keep it; the NaN still reaches the output
 * through exp(NaN - m). Four independent chains over 16 scores a step (max is exact: any grouping
 * gives the same value, and pmax never returns a NaN here, so the NaN handling is unchanged).
 */
// @ts-ignore: decorator
@inline
function rowMax(s: usize, n4: i32): v128 {
  let v0 = f32x4.splat(-Infinity), v1 = v0, v2 = v0, v3 = v0;
  let j = 0;
  for (; j + 16 <= n4; j += 16) {
    const o = s + (<usize>j << 2);
    v0 = f32x4.pmax(v0, v128.load(o));
    v1 = f32x4.pmax(v1, v128.load(o, 16));
    v2 = f32x4.pmax(v2, v128.load(o, 32));
    v3 = f32x4.pmax(v3, v128.load(o, 48));
  }
  for (; j < n4; j += 4) v0 = f32x4.pmax(v0, v128.load(s + (<usize>j << 2))); // leftovers
  return f32x4.pmax(f32x4.pmax(v0, v1), f32x4.pmax(v2, v3));
}

/**
 * The update of one row (`s` its scores; `m`, `l`, `c`, `x` its M, L, C, X), given its tile max
 * `tmax` (max across the lanes of rowMax).
 */
function rowUpdate(s: usize, n4: i32, tmax: f32, m: usize, l: usize, c: usize, x: usize): void {
  const mold = load<f32>(m);
  const mnew = max<f32>(mold, tmax);
  if (mnew == -Infinity) {
    // every score so far is -inf (masked), or NaN, which pmax skipped: a NaN score must still
    // make the row NaN (as max(-inf, NaN) = NaN does in the reference), through l
    let nan = f32x4.splat(0);
    for (let j = 0; j < n4; j += 4) {
      const v = v128.load(s + (<usize>j << 2));
      nan = v128.or(nan, f32x4.ne(v, v));
      v128.store(s + (<usize>j << 2), f32x4.splat(0));
    }
    if (v128.any_true(nan)) store<f32>(l, NaN);
    store<f32>(c, 1);
    store<f32>(x, Infinity);
    return;
  }
  const corr = expf(mold - mnew); // exp(-inf) = 0 on the first visible tile
  store<f32>(l, load<f32>(l) * corr);
  store<f32>(m, mnew);
  store<f32>(c, corr);
  store<f32>(x, mnew);
}

/** The update of one row (after maskRow): `m`, `l`, `c`, `x` point at its M, L, C, X. */
export function prepareRow(s: usize, n4: i32, m: usize, l: usize, c: usize, x: usize): void {
  const v = rowMax(s, n4);
  const tmax = max<f32>(
    max<f32>(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)),
    max<f32>(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)),
  );
  rowUpdate(s, n4, tmax, m, l, c, x);
}

/**
 * prepareRow for 4 rows (`stride` bytes apart) at once, the per-row scalar steps as lanes: the
 * max across lanes of the four rowMax vectors after a 4 x 4 transpose, then max, exp (expf4: the
 * bits of expf), the product and the stores as vectors. `M`, `L`, `C`, `X` point at row 0's.
 * A row whose m' is -Infinity takes rowUpdate (all four do then).
 */
export function prepareRows4(s: usize, stride: usize, n4: i32, M: usize, L: usize, C: usize, X: usize): void {
  const s1 = s + stride, s2 = s1 + stride, s3 = s2 + stride;
  const a = rowMax(s, n4), b = rowMax(s1, n4), c = rowMax(s2, n4), d = rowMax(s3, n4);
  // lane k of col_k = [a_k, b_k, c_k, d_k]; tmax = (col0 max col1) max (col2 max col3)
  const ab01 = v128.shuffle<i32>(a, b, 0, 4, 1, 5), cd01 = v128.shuffle<i32>(c, d, 0, 4, 1, 5);
  const ab23 = v128.shuffle<i32>(a, b, 2, 6, 3, 7), cd23 = v128.shuffle<i32>(c, d, 2, 6, 3, 7);
  const tmax = f32x4.max(
    f32x4.max(v128.shuffle<i64>(ab01, cd01, 0, 2), v128.shuffle<i64>(ab01, cd01, 1, 3)),
    f32x4.max(v128.shuffle<i64>(ab23, cd23, 0, 2), v128.shuffle<i64>(ab23, cd23, 1, 3)),
  );
  const mold = v128.load(M);
  const mnew = f32x4.max(mold, tmax);
  if (v128.any_true(f32x4.eq(mnew, f32x4.splat(-Infinity)))) {
    rowUpdate(s, n4, f32x4.extract_lane(tmax, 0), M, L, C, X);
    rowUpdate(s1, n4, f32x4.extract_lane(tmax, 1), M + 4, L + 4, C + 4, X + 4);
    rowUpdate(s2, n4, f32x4.extract_lane(tmax, 2), M + 8, L + 8, C + 8, X + 8);
    rowUpdate(s3, n4, f32x4.extract_lane(tmax, 3), M + 12, L + 12, C + 12, X + 12);
    return;
  }
  const corr = expf4(f32x4.sub(mold, mnew)); // exp(-inf) = 0 on the first visible tile
  v128.store(L, f32x4.mul(v128.load(L), corr));
  v128.store(M, mnew);
  v128.store(C, corr);
  v128.store(X, mnew);
}
