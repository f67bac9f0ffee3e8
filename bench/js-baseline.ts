/**
 * Bench-only baseline: a plain-JS cache-blocked matmul over Float32Array (no SIMD, no wasm), the
 * in-run yardstick that every matmul ratio is printed against. Not used by the library.
 */

/** k-block: one block of B rows (KB x n floats) is reused by every row of A. */
const KB = 128;
/** n-block: the C row segment and the B row segments stay in L1 while p runs over the k-block. */
const NB = 512;

/**
 * out (m x n) = A (m x k) @ op(B), op(B) = B [k, n] or, with transB, B stored [n, k] (transposed
 * once into a scratch [k, n] first, counted in the time). i-p-j order over (KB x NB) blocks, four
 * rows of A at a time so each loaded B value feeds four multiply-adds.
 */
export function jsMatmul(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, transB = false): void {
  const bk = transB ? transpose(b, n, k) : b; // [k, n]
  out.fill(0, 0, m * n);
  for (let p0 = 0; p0 < k; p0 += KB) {
    const p1 = Math.min(k, p0 + KB);
    for (let j0 = 0; j0 < n; j0 += NB) {
      const j1 = Math.min(n, j0 + NB);
      let i = 0;
      for (; i + 4 <= m; i += 4) rows4(out, a, bk, n, k, i, p0, p1, j0, j1);
      for (; i < m; i++) {
        const ci = i * n;
        for (let p = p0; p < p1; p++) {
          const x = a[i * k + p], bp = p * n;
          for (let j = j0; j < j1; j++) out[ci + j] += x * bk[bp + j];
        }
      }
    }
  }
}

/** Rows i..i+3 of the block: out[i+r, j] += A[i+r, p] * B[p, j]. */
function rows4(out: Float32Array, a: Float32Array, bk: Float32Array, n: number, k: number, i: number, p0: number, p1: number, j0: number, j1: number): void {
  const c0 = i * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
  const a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
  for (let p = p0; p < p1; p++) {
    const x0 = a[a0 + p], x1 = a[a1 + p], x2 = a[a2 + p], x3 = a[a3 + p], bp = p * n;
    for (let j = j0; j < j1; j++) {
      const v = bk[bp + j];
      out[c0 + j] += x0 * v;
      out[c1 + j] += x1 * v;
      out[c2 + j] += x2 * v;
      out[c3 + j] += x3 * v;
    }
  }
}

function transpose(b: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = b[r * cols + c];
  return t;
}
