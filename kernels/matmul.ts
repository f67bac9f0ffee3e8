// Batched matmul kernel: cache-blocked GEMM over packed panels with a 4x8 f32x4 micro-kernel
// (kernels/lib/gemm.ts), plus panel paths for few rows (m <= MC; lib/gemm_small.ts for m <= 2). Not a naive loop; the scalar
// oracle is reference/matmul.ts. Single-threaded; no allocation (the adapter passes `scratch`).
export { heap_base, memory_base } from "./lib/heap";
import { MR, NR, micro4x8, microEdge, packA, packB } from "./lib/gemm";
import { micro1x16T, micro1x32, micro2x8, micro2x8T } from "./lib/gemm_small";
import { MatmulOpts } from "./lib/opts";

// Scalar loop this replaces (per batch entry b):
//   for (i < m) for (j < n) { acc = 0; for (p < k) acc += op(A)[i, p] * op(B)[p, j];
//                             out[i, j] = accumulate ? out[i, j] + acc : acc }
// Here acc is an f32 summed in p order within blocks of KC; blocks are added to out in order:
//   out[i, j] = (((out0 + s_0) + s_1) + ...)  with s_q = sum of block q, out0 = 0 or the old value.
// That order depends only on k, so an element's bits never depend on m, n, the batch or its tile.

// Blocking for a core with 48 KiB L1d and 1 MiB L2 (AMD Zen 5; measured, see bench/README.md).
/** k-block: a B micro-panel (KC x NR = 16 KiB) stays in L1 while A micro-panels stream past it. */
const KC: i32 = 512;
/** m-block: the packed A block (MC x KC floats = 256 KiB) stays in L2 for the whole jr loop. */
const MC: i32 = 128;
/** n-block: the packed B block (KC x NC floats, up to 8 MiB) lives in L3 and is read once per m-block. */
const NC: i32 = 4096;

/** Flag bits of MatmulOpts.flags. */
const TRANS_A = 1, TRANS_B = 2, ACCUMULATE = 4, BROADCAST_A = 8, BROADCAST_B = 16;

function roundUp(x: i32, q: i32): i32 {
  return (x + q - 1) / q * q;
}

/** Bytes of scratch `matmul` needs for these extents: packed B (block or panel), packed A block, one tile. */
export function matmul_scratch_bytes(m: i32, n: i32, k: i32): usize {
  const kc = min(KC, max(k, 1));
  const nc = m <= MC ? NR : roundUp(min(NC, max(n, 1)), NR);
  const mc = roundUp(min(MC, max(m, 1)), MR);
  return (<usize>(kc * nc) + <usize>(mc * kc) + <usize>(MR * NR)) << 2;
}

/**
 * out[b] (m x n) = op(A[b]) op(B[b]) (+ out[b]) for b < batch; `opts` points at a MatmulOpts
 * (batch, m, n, k, flags: TRANS_A 1, TRANS_B 2, ACCUMULATE 4, BROADCAST_A 8, BROADCAST_B 16).
 * `scratch` holds matmul_scratch_bytes(m, n, k) bytes (16-byte aligned). Loop nest (the BLIS
 * order): jc (NC) > pc (KC, pack B) > batch > ic (MC, pack A) > jr (NR) > ir (MR, micro-kernel):
 * a B micro-panel stays in L1 across the ir loop.
 */
export function matmul(out: usize, a: usize, b: usize, scratch: usize, opts: usize): void {
  const o = changetype<MatmulOpts>(opts);
  const batch = o.batch, m = o.m, n = o.n, k = o.k, flags = o.flags;
  gemm(out, a, b, scratch, batch, m, n, k, flags, m, n);
}

/**
 * The output block rows [i0, i1) x columns [j0, j1) of `matmul(out, a, b, scratch, opts)`, in
 * every batch entry: one thread's share of a split over output panels (never over k); every piece
 * of a split reads the same MatmulOpts (the full product's m, n). Each element is summed exactly
 * as in the whole product (the order depends only on k), so any split gives the same bits.
 * `scratch` holds matmul_scratch_bytes(i1 - i0, j1 - j0, k) bytes.
 */
export function matmul_part(out: usize, a: usize, b: usize, scratch: usize, opts: usize, i0: i32, i1: i32, j0: i32, j1: i32): void {
  const o = changetype<MatmulOpts>(opts);
  const batch = o.batch, m = o.m, n = o.n, k = o.k, flags = o.flags;
  const transA = (flags & TRANS_A) != 0, transB = (flags & TRANS_B) != 0;
  const pa = a + (transA ? <usize>i0 << 2 : <usize>i0 * k << 2);
  const pb = b + (transB ? <usize>j0 * k << 2 : <usize>j0 << 2);
  gemm(out + ((<usize>i0 * n + j0) << 2), pa, pb, scratch, batch, i1 - i0, j1 - j0, k, flags, m, n);
}

/**
 * The product of an m x n block of a full M x N product: extents m, n; strides from the full
 * extents (A stored [k, M] when transposed, B stored [k, N] when not, out rows N floats apart).
 */
function gemm(out: usize, a: usize, b: usize, scratch: usize, batch: i32, m: i32, n: i32, k: i32, flags: i32, M: i32, N: i32): void {
  const transA = (flags & TRANS_A) != 0, transB = (flags & TRANS_B) != 0;
  const accumulate = (flags & ACCUMULATE) != 0;
  const strideA: usize = (flags & BROADCAST_A) != 0 ? 0 : <usize>M * k << 2;
  const strideB: usize = (flags & BROADCAST_B) != 0 ? 0 : <usize>k * N << 2;
  const strideC: usize = <usize>M * N << 2;
  if (m <= 0 || n <= 0 || batch <= 0) return;
  const ldc: usize = <usize>N << 2;
  if (k <= 0) {
    if (!accumulate) {
      for (let bi = 0; bi < batch; bi++) {
        for (let i = 0; i < m; i++) memory.fill(out + <usize>bi * strideC + <usize>i * ldc, 0, <usize>n << 2);
      }
    }
    return;
  }
  if (m <= MC) {
    panelMatmul(out, a, b, scratch, batch, m, n, k, transA, transB, accumulate, strideA, strideB, strideC, M, N);
    return;
  }
  const kcMax = min(KC, k), ncMax = roundUp(min(NC, n), NR);
  const bpack = scratch;
  const apack = bpack + (<usize>(kcMax * ncMax) << 2);
  const tile = apack + (<usize>(roundUp(min(MC, m), MR) * kcMax) << 2);

  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      const add = accumulate || pc > 0;
      for (let bi = 0; bi < batch; bi++) {
        if (bi == 0 || strideB != 0) packB(bpack, b + <usize>bi * strideB, transB, N, k, jc, nc, pc, kc);
        const ab = a + <usize>bi * strideA, cb = out + <usize>bi * strideC;
        for (let ic = 0; ic < m; ic += MC) {
          const mc = min(MC, m - ic);
          packA(apack, ab, transA, M, k, ic, mc, pc, kc);
          blockKernel(cb + (<usize>ic * ldc) + (<usize>jc << 2), ldc, apack, bpack, mc, nc, kc, add, tile);
        }
      }
    }
  }
}

/**
 * C block (mc x nc at c, row stride ldc bytes) (+)= packed A block x packed B block, tile by tile.
 * The micro-kernel is inlined here: V8 then hoists its address arithmetic out of the k loop
 * (measured: ~15% faster than a call per tile).
 */
function blockKernel(c: usize, ldc: usize, apack: usize, bpack: usize, mc: i32, nc: i32, kc: i32, add: bool, tile: usize): void {
  const aPanel: usize = <usize>(kc * MR) << 2, bPanel: usize = <usize>(kc * NR) << 2;
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    const bp = bpack + <usize>(jr / NR) * bPanel;
    const cj = c + (<usize>jr << 2);
    for (let ir = 0; ir < mc; ir += MR) {
      const mr = min(MR, mc - ir);
      const ap = apack + <usize>(ir / MR) * aPanel;
      const ct = cj + <usize>ir * ldc;
      if (mr == MR && nr == NR) micro4x8(kc, ap, bp, NR << 2, ct, ldc, add);
      else microEdge(kc, ap, bp, NR << 2, ct, ldc, add, mr, nr, tile);
    }
  }
}

/**
 * m <= MC (one m-block): B is packed one NR-column panel at a time, right before the ir loop that
 * uses it, so the packed panel (16 KiB) never leaves L1 and no B block goes through L3. When each
 * B element is used by at most MR rows, B is not packed at all: a Linear weight (transB) goes to
 * micro1x16T (m = 1) or micro2x8T (m = 2), which transpose in registers; a row-major B is read
 * in place (row stride n) by micro1x32 (m = 1) or the 8-column kernels (m <= MR). m <= 2 uses
 * 2-row tiles instead of padding to 4 rows.
 * Partial panels (n % NR columns) are always packed (zero-padded), never read past B's end.
 * Same sums as the blocked path: a row's bits do not depend on which path computed it.
 */
function panelMatmul(out: usize, a: usize, b: usize, scratch: usize, batch: i32, m: i32, n: i32, k: i32,
  transA: bool, transB: bool, accumulate: bool, strideA: usize, strideB: usize, strideC: usize, M: i32, N: i32): void {
  const kcMax = min(KC, k);
  const panel = scratch, apack = panel + (<usize>(kcMax * NR) << 2);
  const tile = apack + (<usize>(roundUp(m, MR) * kcMax) << 2);
  const ldc: usize = <usize>N << 2; // rows of out, and of a row-major B, are N floats apart
  for (let bi = 0; bi < batch; bi++) {
    const ab = a + <usize>bi * strideA, bb = b + <usize>bi * strideB, cb = out + <usize>bi * strideC;
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      const add = accumulate || pc > 0, aPanel: usize = <usize>(kc * MR) << 2;
      packA(apack, ab, transA, M, k, 0, m, pc, kc);
      let jr = 0;
      if (m == 1) { // a vector-matrix product: B in place, 16 (transB) or 32 columns at a time
        if (transB) for (; jr + 16 <= n; jr += 16) micro1x16T(kc, apack, bb + ((<usize>jr * k + pc) << 2), <usize>k << 2, cb + (<usize>jr << 2), add);
        else for (; jr + 32 <= n; jr += 32) micro1x32(kc, apack, bb + ((<usize>pc * N + jr) << 2), ldc, cb + (<usize>jr << 2), add);
      }
      for (; jr < n; jr += NR) {
        const nr = min(NR, n - jr);
        const cj = cb + (<usize>jr << 2);
        if (nr == NR && transB && m <= 2) {
          micro2x8T(kc, apack, bb + ((<usize>jr * k + pc) << 2), <usize>k << 2, cj, ldc, add, m);
          continue;
        }
        let bp = panel, ldb: usize = NR << 2;
        if (nr == NR && !transB && m <= MR) {
          bp = bb + ((<usize>pc * N + jr) << 2); // in place: row p of the panel is B[pc + p, jr..jr+7]
          ldb = ldc;
        } else {
          packB(panel, bb, transB, N, k, jr, nr, pc, kc);
        }
        if (nr == NR && m <= 2) {
          micro2x8(kc, apack, bp, ldb, cj, ldc, add, m);
          continue;
        }
        for (let ir = 0; ir < m; ir += MR) {
          const mr = min(MR, m - ir);
          const ap = apack + <usize>(ir / MR) * aPanel, ct = cj + <usize>ir * ldc;
          if (mr == MR && nr == NR) micro4x8(kc, ap, bp, ldb, ct, ldc, add);
          else microEdge(kc, ap, bp, ldb, ct, ldc, add, mr, nr, tile);
        }
      }
    }
  }
}
