/**
 * Reference matmul: the scalar oracle for every other matmul. Plain triple loop with float64
 * accumulation over k; never optimised (clarity is the point, speed is kernels/matmul.ts's job).
 */
import type { F32, Kernels, MatmulDims } from "../src/backend/kernels.js";

/**
 * out[b] (m x n) = op(A[b]) op(B[b]) (+ out[b] when accumulating).
 *   A[b] is [m, k] (or [k, m] with transA), B[b] is [k, n] (or [n, k] with transB);
 *   a broadcast operand has batch extent 1 and serves every b.
 * The sum over k is formed in float64, in order p = 0..k-1, then rounded once to float32
 * (after adding the previous out value when accumulating).
 */
function matmul(out: F32, a: F32, b: F32, d: MatmulDims): void {
  const { batch, m, n, k, transA, transB, accumulate, broadcastA, broadcastB } = d;
  const aSize = m * k, bSize = k * n, oSize = m * n;
  for (let bi = 0; bi < batch; bi++) {
    const aOff = broadcastA ? 0 : bi * aSize;
    const bOff = broadcastB ? 0 : bi * bSize;
    const oOff = bi * oSize;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0; // float64
        for (let p = 0; p < k; p++) {
          const aip = transA ? a[aOff + p * m + i] : a[aOff + i * k + p]; // A[i, p]
          const bpj = transB ? b[bOff + j * k + p] : b[bOff + p * n + j]; // B[p, j]
          acc += aip * bpj;
        }
        out[oOff + i * n + j] = accumulate ? out[oOff + i * n + j] + acc : acc;
      }
    }
  }
}

export const matmulReference: Pick<Kernels, "matmul"> = { matmul };
