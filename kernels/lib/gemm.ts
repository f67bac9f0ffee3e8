// GEMM building blocks for kernels/matmul.ts: the register-blocked micro-kernel (micro4x8, the
// workhorse; microEdge for partial tiles) and panel packing; the kernels for m <= 2 rows are in
// gemm_small.ts. Not an entry module; no allocation here (every buffer is a pointer handed in).
// Every micro-kernel is @inline: V8 then hoists the address arithmetic of its k loop (~15%).
//
// Packed layouts (floats, 4 bytes each):
//   A panel: MR rows x kc   stored p-major  Ap[p*MR + r] = op(A)[i0 + r, p0 + p]  (rows >= m: 0)
//   B panel: kc x NR cols   stored p-major  Bp[p*NR + j] = op(B)[p0 + p, j0 + j]  (cols >= n: 0)
// so that one step p of the micro-kernel reads MR consecutive A values and NR consecutive B values.

/** Micro-tile rows (A broadcasts per step). */
export const MR: i32 = 4;
/** Micro-tile columns (two f32x4 vectors of B per step). */
export const NR: i32 = 8;

// ------------------------------------------------------------------------------ micro-kernel
/**
 * The 4x8 micro-kernel: acc[r][0..7] = sum_p Ap[p, r] * Bp[p, 0..7], in order p = 0..kc-1.
 * Scalar loop it replaces:
 *   for (r < 4) for (j < 8) { acc = 0; for (p < kc) acc += Ap[p*4 + r] * Bp[p*8 + j]; C[r, j] (+)= acc }
 * Lane arithmetic per step p (b0 = Bp[p, 0..3], b1 = Bp[p, 4..7], x_r = splat(Ap[p, r])):
 *   c_r0 = c_r0 + x_r * b0  ->  [c0 + x*b0, c1 + x*b1, c2 + x*b2, c3 + x*b3]  (f32 mul, then f32 add)
 *   c_r1 = c_r1 + x_r * b1
 * 8 accumulators + 2 B vectors + 1 broadcast + 1 product fit the 15 xmm registers V8 allocates.
 * B rows are ldb bytes apart: NR * 4 for a packed panel, n * 4 when reading row-major B in place.
 * Write-back: C[r, :] = acc (add = false) or C[r, :] = C[r, :] + acc (add = true); ldc in bytes.
 * Every element is one f32 accumulator summed in p order, whatever its place in the matrix.
 */
// @ts-ignore: decorator
@inline
export function micro4x8(kc: i32, ap: usize, bp: usize, ldb: usize, c: usize, ldc: usize, add: bool): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const end = bp + <usize>kc * ldb;
  while (bp < end) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let x = v128.load32_splat(ap);
    c00 = f32x4.add(c00, f32x4.mul(x, b0)); c01 = f32x4.add(c01, f32x4.mul(x, b1));
    x = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(x, b0)); c11 = f32x4.add(c11, f32x4.mul(x, b1));
    x = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(x, b0)); c21 = f32x4.add(c21, f32x4.mul(x, b1));
    x = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(x, b0)); c31 = f32x4.add(c31, f32x4.mul(x, b1));
    ap += 16;
    bp += ldb;
  }
  if (add) {
    c00 = f32x4.add(v128.load(c), c00); c01 = f32x4.add(v128.load(c, 16), c01); c += ldc;
    c10 = f32x4.add(v128.load(c), c10); c11 = f32x4.add(v128.load(c, 16), c11); c += ldc;
    c20 = f32x4.add(v128.load(c), c20); c21 = f32x4.add(v128.load(c, 16), c21); c += ldc;
    c30 = f32x4.add(v128.load(c), c30); c31 = f32x4.add(v128.load(c, 16), c31);
    c -= ldc * 3;
  }
  v128.store(c, c00); v128.store(c, c01, 16); c += ldc;
  v128.store(c, c10); v128.store(c, c11, 16); c += ldc;
  v128.store(c, c20); v128.store(c, c21, 16); c += ldc;
  v128.store(c, c30); v128.store(c, c31, 16);
}

/**
 * A partial tile (mr <= MR rows, nr <= NR columns valid): the micro-kernel writes the full tile
 * into `tile` (MR x NR scratch), then the valid part goes to C with the same f32 operations.
 *   C[r, j] = tile[r, j]  or  C[r, j] = C[r, j] + tile[r, j]
 */
// @ts-ignore: decorator
@inline
export function microEdge(kc: i32, ap: usize, bp: usize, ldb: usize, c: usize, ldc: usize, add: bool, mr: i32, nr: i32, tile: usize): void {
  micro4x8(kc, ap, bp, ldb, tile, <usize>NR << 2, false);
  for (let r = 0; r < mr; r++) {
    const src = tile + (<usize>(r * NR) << 2), dst = c + <usize>r * ldc;
    for (let j = 0; j < nr; j++) {
      const o = <usize>j << 2;
      const v = load<f32>(src + o);
      store<f32>(dst + o, add ? load<f32>(dst + o) + v : v);
    }
  }
}

// ------------------------------------------------------------------------------ packing
/**
 * Packs rows i0 .. i0+mc-1, columns p0 .. p0+kc-1 of op(A) into ceil(mc/MR) panels at ap.
 * op(A)[i, p] = a[i*k + p] (A is [m, k]) or a[p*m + i] (transA: A stored [k, m]).
 * Scalar loop: for (panel) for (p < kc) for (r < MR) Ap[...] = i < m ? op(A)[i, p] : 0
 */
export function packA(ap: usize, a: usize, transA: bool, m: i32, k: i32, i0: i32, mc: i32, p0: i32, kc: i32): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const rows = min(MR, mc - ir);
    const i = i0 + ir;
    if (transA) packAT(ap, a + ((<usize>p0 * m + i) << 2), <usize>m << 2, kc, rows);
    else packAN(ap, a + ((<usize>i * k + p0) << 2), <usize>k << 2, kc, rows);
    ap += <usize>(kc * MR) << 2;
  }
}

/** One A panel from row-major A [m, k] (row stride lda bytes): a 4x4 transpose per 4 steps of p. */
function packAN(ap: usize, a: usize, lda: usize, kc: i32, rows: i32): void {
  if (rows == MR) {
    const a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda;
    let p = 0;
    for (; p + 4 <= kc; p += 4) {
      transpose4(ap + (<usize>p << 4), a + (<usize>p << 2), lda, 16);
    }
    for (; p < kc; p++) {
      const o = <usize>p << 2, dst = ap + (<usize>p << 4);
      store<f32>(dst, load<f32>(a + o));
      store<f32>(dst, load<f32>(a1 + o), 4);
      store<f32>(dst, load<f32>(a2 + o), 8);
      store<f32>(dst, load<f32>(a3 + o), 12);
    }
    return;
  }
  for (let p = 0; p < kc; p++) {
    const dst = ap + (<usize>(p * MR) << 2);
    for (let r = 0; r < MR; r++) {
      store<f32>(dst + (<usize>r << 2), r < rows ? load<f32>(a + <usize>r * lda + (<usize>p << 2)) : 0);
    }
  }
}

/** One A panel from A stored [k, m] (row stride lda bytes): MR consecutive values per step. */
function packAT(ap: usize, a: usize, lda: usize, kc: i32, rows: i32): void {
  for (let p = 0; p < kc; p++) {
    const src = a + <usize>p * lda, dst = ap + (<usize>(p * MR) << 2);
    if (rows == MR) {
      v128.store(dst, v128.load(src));
    } else {
      for (let r = 0; r < MR; r++) store<f32>(dst + (<usize>r << 2), r < rows ? load<f32>(src + (<usize>r << 2)) : 0);
    }
  }
}

/**
 * Packs rows p0 .. p0+kc-1, columns j0 .. j0+nc-1 of op(B) into ceil(nc/NR) panels at bp.
 * op(B)[p, j] = b[p*n + j] (B is [k, n]) or b[j*k + p] (transB: B stored [n, k], a Linear weight).
 * Scalar loop: for (panel) for (p < kc) for (j < NR) Bp[...] = j < n ? op(B)[p, j] : 0
 */
export function packB(bp: usize, b: usize, transB: bool, n: i32, k: i32, j0: i32, nc: i32, p0: i32, kc: i32): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = min(NR, nc - jr);
    const j = j0 + jr;
    if (transB) packBT(bp, b + ((<usize>j * k + p0) << 2), <usize>k << 2, kc, cols);
    else packBN(bp, b + ((<usize>p0 * n + j) << 2), <usize>n << 2, kc, cols);
    bp += <usize>(kc * NR) << 2;
  }
}

/** One B panel from row-major B [k, n] (row stride ldb bytes): NR consecutive values per step. */
function packBN(bp: usize, b: usize, ldb: usize, kc: i32, cols: i32): void {
  for (let p = 0; p < kc; p++) {
    const src = b + <usize>p * ldb, dst = bp + (<usize>(p * NR) << 2);
    if (cols == NR) {
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
    } else {
      for (let j = 0; j < NR; j++) store<f32>(dst + (<usize>j << 2), j < cols ? load<f32>(src + (<usize>j << 2)) : 0);
    }
  }
}

/** One B panel from B stored [n, k] (row stride ldb bytes): two 4x4 transposes per 4 steps of p. */
function packBT(bp: usize, b: usize, ldb: usize, kc: i32, cols: i32): void {
  if (cols == NR) {
    let p = 0;
    for (; p + 4 <= kc; p += 4) {
      const o = <usize>p << 2, dst = bp + (<usize>p << 5);
      transpose4(dst, b + o, ldb, 32);
      transpose4(dst + 16, b + (ldb << 2) + o, ldb, 32);
    }
    for (; p < kc; p++) {
      const o = <usize>p << 2, dst = bp + (<usize>p << 5);
      for (let j = 0; j < NR; j++) store<f32>(dst + (<usize>j << 2), load<f32>(b + <usize>j * ldb + o));
    }
    return;
  }
  for (let p = 0; p < kc; p++) {
    const dst = bp + (<usize>(p * NR) << 2);
    for (let j = 0; j < NR; j++) {
      store<f32>(dst + (<usize>j << 2), j < cols ? load<f32>(b + <usize>j * ldb + (<usize>p << 2)) : 0);
    }
  }
}

/**
 * 4x4 transpose: reads rows s0..s3 (4 floats each, row stride ls bytes) and writes column q of
 * them, [s0[q], s1[q], s2[q], s3[q]], at dst + q*ld (ld bytes). Lanes:
 *   t0 = [s0.0 s1.0 s0.1 s1.1]  t1 = [s2.0 s3.0 s2.1 s3.1]   (i32x4.shuffle 0 4 1 5)
 *   t2 = [s0.2 s1.2 s0.3 s1.3]  t3 = [s2.2 s3.2 s2.3 s3.3]   (i32x4.shuffle 2 6 3 7)
 *   column 0 = [s0.0 s1.0 s2.0 s3.0] = low halves of t0, t1 (i64x2.shuffle 0 2), column 1 = high
 *   halves (1 3); columns 2, 3 likewise from t2, t3.
 */
// @ts-ignore: decorator
@inline
function transpose4(dst: usize, src: usize, ls: usize, ld: usize): void {
  const r0 = v128.load(src), r1 = v128.load(src + ls), r2 = v128.load(src + ls * 2), r3 = v128.load(src + ls * 3);
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(dst, i64x2.shuffle(t0, t1, 0, 2));
  v128.store(dst + ld, i64x2.shuffle(t0, t1, 1, 3));
  v128.store(dst + ld * 2, i64x2.shuffle(t2, t3, 0, 2));
  v128.store(dst + ld * 3, i64x2.shuffle(t2, t3, 1, 3));
}
