// Micro-kernels for products with one or two rows (m <= 2: a decoding step, a text projection),
// used by kernels/matmul.ts where packing B would cost more than the product: B is read in place,
// a Linear weight (B stored [n, k]) transposed in registers. Each keeps the sums of micro4x8 in
// lib/gemm.ts (one f32 accumulator per element, summed in p order), so a row computed alone has
// the bits it has inside a large product. A is a packed panel (MR = 4 floats per step, rows 0, 1).

/**
 * The 2x8 micro-kernel for m <= 2: micro4x8 without rows 2 and 3 of the A panel (the padding
 * rows a 4x8 tile would compute for nothing); same sums, same write-back, `rows` (1 or 2) stored.
 * Scalar loop it replaces:
 *   for (r < rows) for (j < 8) { acc = 0; for (p < kc) acc += Ap[p*4 + r] * Bp[p, j]; C[r, j] (+)= acc }
 */
// @ts-ignore: decorator
@inline
export function micro2x8(kc: i32, ap: usize, bp: usize, ldb: usize, c: usize, ldc: usize, add: bool, rows: i32): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00;
  const end = bp + <usize>kc * ldb;
  while (bp < end) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let x = v128.load32_splat(ap);
    c00 = f32x4.add(c00, f32x4.mul(x, b0)); c01 = f32x4.add(c01, f32x4.mul(x, b1));
    x = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(x, b0)); c11 = f32x4.add(c11, f32x4.mul(x, b1));
    ap += 16;
    bp += ldb;
  }
  if (add) {
    c00 = f32x4.add(v128.load(c), c00); c01 = f32x4.add(v128.load(c, 16), c01);
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  if (rows > 1) {
    c += ldc;
    if (add) {
      c10 = f32x4.add(v128.load(c), c10); c11 = f32x4.add(v128.load(c, 16), c11);
    }
    v128.store(c, c10); v128.store(c, c11, 16);
  }
}

/**
 * The 2x8 micro-kernel on a Linear weight read in place: rows 0, 1 of a packed A panel times
 * B stored [n, k] (8 rows j0..j0+7 of it, ldb bytes apart), for m <= 2 where packing B would
 * cost more than the product. Same sums as micro4x8 (one f32 accumulator per element, p order).
 * Scalar loop it replaces:
 *   for (r < rows) for (j < 8) { acc = 0; for (p < kc) acc += Ap[p*4 + r] * B[j, p]; C[r, j] (+)= acc }
 * Per 4 steps: 8 row loads B[j, p..p+3], two 4x4 transposes give t_s = B[0..3, p+s] and
 * u_s = B[4..7, p+s]; then c_r0 = c_r0 + splat(A[r, p+s]) * t_s, c_r1 = c_r1 + splat(A[r, p+s]) * u_s.
 * 4 accumulators + 8 transposed vectors + broadcast + product: 14 xmm registers.
 */
// @ts-ignore: decorator
@inline
export function micro2x8T(kc: i32, ap: usize, b: usize, ldb: usize, c: usize, ldc: usize, add: bool, rows: i32): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00;
  const b4 = b + (ldb << 2);
  let p = 0;
  for (; p + 4 <= kc; p += 4) {
    const o = <usize>p << 2, a = ap + (<usize>p << 4);
    let r0 = v128.load(b + o), r1 = v128.load(b + ldb + o), r2 = v128.load(b + ldb * 2 + o), r3 = v128.load(b + ldb * 3 + o);
    let q0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), q1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
    let q2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7), q3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
    const t0 = i64x2.shuffle(q0, q1, 0, 2), t1 = i64x2.shuffle(q0, q1, 1, 3);
    const t2 = i64x2.shuffle(q2, q3, 0, 2), t3 = i64x2.shuffle(q2, q3, 1, 3);
    r0 = v128.load(b4 + o); r1 = v128.load(b4 + ldb + o); r2 = v128.load(b4 + ldb * 2 + o); r3 = v128.load(b4 + ldb * 3 + o);
    q0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5); q1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
    q2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7); q3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
    const u0 = i64x2.shuffle(q0, q1, 0, 2), u1 = i64x2.shuffle(q0, q1, 1, 3);
    const u2 = i64x2.shuffle(q2, q3, 0, 2), u3 = i64x2.shuffle(q2, q3, 1, 3);
    let x = v128.load32_splat(a);
    c00 = f32x4.add(c00, f32x4.mul(x, t0)); c01 = f32x4.add(c01, f32x4.mul(x, u0));
    x = v128.load32_splat(a, 4);
    c10 = f32x4.add(c10, f32x4.mul(x, t0)); c11 = f32x4.add(c11, f32x4.mul(x, u0));
    x = v128.load32_splat(a, 16);
    c00 = f32x4.add(c00, f32x4.mul(x, t1)); c01 = f32x4.add(c01, f32x4.mul(x, u1));
    x = v128.load32_splat(a, 20);
    c10 = f32x4.add(c10, f32x4.mul(x, t1)); c11 = f32x4.add(c11, f32x4.mul(x, u1));
    x = v128.load32_splat(a, 32);
    c00 = f32x4.add(c00, f32x4.mul(x, t2)); c01 = f32x4.add(c01, f32x4.mul(x, u2));
    x = v128.load32_splat(a, 36);
    c10 = f32x4.add(c10, f32x4.mul(x, t2)); c11 = f32x4.add(c11, f32x4.mul(x, u2));
    x = v128.load32_splat(a, 48);
    c00 = f32x4.add(c00, f32x4.mul(x, t3)); c01 = f32x4.add(c01, f32x4.mul(x, u3));
    x = v128.load32_splat(a, 52);
    c10 = f32x4.add(c10, f32x4.mul(x, t3)); c11 = f32x4.add(c11, f32x4.mul(x, u3));
  }
  for (; p < kc; p++) { // leftovers: gather the 8 values of step p one by one
    const o = <usize>p << 2, a = ap + (<usize>p << 4);
    let t = f32x4.splat(load<f32>(b + o)), u = f32x4.splat(load<f32>(b4 + o));
    t = f32x4.replace_lane(t, 1, load<f32>(b + ldb + o)); u = f32x4.replace_lane(u, 1, load<f32>(b4 + ldb + o));
    t = f32x4.replace_lane(t, 2, load<f32>(b + ldb * 2 + o)); u = f32x4.replace_lane(u, 2, load<f32>(b4 + ldb * 2 + o));
    t = f32x4.replace_lane(t, 3, load<f32>(b + ldb * 3 + o)); u = f32x4.replace_lane(u, 3, load<f32>(b4 + ldb * 3 + o));
    let x = v128.load32_splat(a);
    c00 = f32x4.add(c00, f32x4.mul(x, t)); c01 = f32x4.add(c01, f32x4.mul(x, u));
    x = v128.load32_splat(a, 4);
    c10 = f32x4.add(c10, f32x4.mul(x, t)); c11 = f32x4.add(c11, f32x4.mul(x, u));
  }
  if (add) {
    c00 = f32x4.add(v128.load(c), c00); c01 = f32x4.add(v128.load(c, 16), c01);
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  if (rows > 1) {
    c += ldc;
    if (add) {
      c10 = f32x4.add(v128.load(c), c10); c11 = f32x4.add(v128.load(c, 16), c11);
    }
    v128.store(c, c10); v128.store(c, c11, 16);
  }
}

/**
 * The 1x16 micro-kernel on a Linear weight read in place, for m = 1 (a matrix-vector product,
 * e.g. one decoding step): row 0 of a packed A panel times rows j0..j0+15 of B stored [n, k].
 * Same sums as micro4x8 (one f32 accumulator per element, in p order), so a row computed alone
 * has the bits it has inside a large product.
 * Scalar loop it replaces:
 *   for (j < 16) { acc = 0; for (p < kc) acc += Ap[p*4] * B[j, p]; C[0, j] (+)= acc }
 * Per 4 steps and per group g of 4 rows: one 4x4 transpose gives t_s = B[4g..4g+3, p+s], then
 * c_g = c_g + splat(A[0, p+s]) * t_s for s = 0..3. Four groups keep four add chains in flight.
 */
// @ts-ignore: decorator
@inline
export function micro1x16T(kc: i32, ap: usize, b: usize, ldb: usize, c: usize, add: bool): void {
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0;
  const b4 = b + (ldb << 2), b8 = b4 + (ldb << 2), b12 = b8 + (ldb << 2);
  let p = 0;
  for (; p + 4 <= kc; p += 4) {
    const o = <usize>p << 2, a = ap + (<usize>p << 4);
    c0 = group4T(c0, a, b + o, ldb);
    c1 = group4T(c1, a, b4 + o, ldb);
    c2 = group4T(c2, a, b8 + o, ldb);
    c3 = group4T(c3, a, b12 + o, ldb);
  }
  for (; p < kc; p++) { // leftovers: one step, the 16 values gathered one by one
    const o = <usize>p << 2, x = v128.load32_splat(ap + (<usize>p << 4));
    c0 = f32x4.add(c0, f32x4.mul(x, gather4(b + o, ldb)));
    c1 = f32x4.add(c1, f32x4.mul(x, gather4(b4 + o, ldb)));
    c2 = f32x4.add(c2, f32x4.mul(x, gather4(b8 + o, ldb)));
    c3 = f32x4.add(c3, f32x4.mul(x, gather4(b12 + o, ldb)));
  }
  if (add) {
    c0 = f32x4.add(v128.load(c), c0); c1 = f32x4.add(v128.load(c, 16), c1);
    c2 = f32x4.add(v128.load(c, 32), c2); c3 = f32x4.add(v128.load(c, 48), c3);
  }
  v128.store(c, c0); v128.store(c, c1, 16); v128.store(c, c2, 32); v128.store(c, c3, 48);
}

/** 4 steps of one 4-column group: acc + A[0,p]*t_0 + A[0,p+1]*t_1 + ..., t_s = column s of the 4x4 block at src. */
// @ts-ignore: decorator
@inline
function group4T(acc: v128, a: usize, src: usize, ldb: usize): v128 {
  const r0 = v128.load(src), r1 = v128.load(src + ldb), r2 = v128.load(src + ldb * 2), r3 = v128.load(src + ldb * 3);
  const q0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), q1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const q2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7), q3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(a), i64x2.shuffle(q0, q1, 0, 2)));
  acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(a, 16), i64x2.shuffle(q0, q1, 1, 3)));
  acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(a, 32), i64x2.shuffle(q2, q3, 0, 2)));
  return f32x4.add(acc, f32x4.mul(v128.load32_splat(a, 48), i64x2.shuffle(q2, q3, 1, 3)));
}

/** [src[0], src[ld], src[2 ld], src[3 ld]] (ld in bytes). */
// @ts-ignore: decorator
@inline
function gather4(src: usize, ld: usize): v128 {
  let t = f32x4.splat(load<f32>(src));
  t = f32x4.replace_lane(t, 1, load<f32>(src + ld));
  t = f32x4.replace_lane(t, 2, load<f32>(src + ld * 2));
  return f32x4.replace_lane(t, 3, load<f32>(src + ld * 3));
}

/**
 * The 1x32 micro-kernel for m = 1 and a row-major B [k, n] read in place (ldb = n * 4 bytes):
 * out[0, j0..j0+31] (+)= sum_p A[0, p] * B[p, j0..j0+31], eight f32x4 accumulators, each step
 * reading 128 contiguous bytes of row p. Same sums as micro4x8.
 * Scalar loop it replaces:
 *   for (j < 32) { acc = 0; for (p < kc) acc += Ap[p*4] * B[p, j]; C[0, j] (+)= acc }
 */
// @ts-ignore: decorator
@inline
export function micro1x32(kc: i32, ap: usize, bp: usize, ldb: usize, c: usize, add: bool): void {
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  const end = bp + <usize>kc * ldb;
  while (bp < end) {
    const x = v128.load32_splat(ap);
    c0 = f32x4.add(c0, f32x4.mul(x, v128.load(bp))); c1 = f32x4.add(c1, f32x4.mul(x, v128.load(bp, 16)));
    c2 = f32x4.add(c2, f32x4.mul(x, v128.load(bp, 32))); c3 = f32x4.add(c3, f32x4.mul(x, v128.load(bp, 48)));
    c4 = f32x4.add(c4, f32x4.mul(x, v128.load(bp, 64))); c5 = f32x4.add(c5, f32x4.mul(x, v128.load(bp, 80)));
    c6 = f32x4.add(c6, f32x4.mul(x, v128.load(bp, 96))); c7 = f32x4.add(c7, f32x4.mul(x, v128.load(bp, 112)));
    ap += 16;
    bp += ldb;
  }
  if (add) {
    c0 = f32x4.add(v128.load(c), c0); c1 = f32x4.add(v128.load(c, 16), c1);
    c2 = f32x4.add(v128.load(c, 32), c2); c3 = f32x4.add(v128.load(c, 48), c3);
    c4 = f32x4.add(v128.load(c, 64), c4); c5 = f32x4.add(v128.load(c, 80), c5);
    c6 = f32x4.add(v128.load(c, 96), c6); c7 = f32x4.add(v128.load(c, 112), c7);
  }
  v128.store(c, c0); v128.store(c, c1, 16); v128.store(c, c2, 32); v128.store(c, c3, 48);
  v128.store(c, c4, 64); v128.store(c, c5, 80); v128.store(c, c6, 96); v128.store(c, c7, 112);
}
