/**
 * Adapter for kernels/matmul.ts: copies A, B (and out when accumulating) into the module's memory,
 * allocates the packing scratch there (never the AssemblyScript heap), runs the blocked GEMM and
 * copies the result out. A weight shared by the batch (broadcastB, A not transposed) is folded into
 * one [batch*m, k] x [k, n] product, so B is packed once; the bits are the same either way.
 */
import type { F32, Kernels, MatmulDims } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

/** Flag bits understood by the kernel's `matmul` export. */
export const MATMUL_FLAGS = { transA: 1, transB: 2, accumulate: 4, broadcastA: 8, broadcastB: 16 } as const;

/** The kernel's flags word for these dims. */
export function matmulFlags(d: MatmulDims): number {
  let f = 0;
  for (const key of Object.keys(MATMUL_FLAGS) as (keyof typeof MATMUL_FLAGS)[]) if (d[key]) f |= MATMUL_FLAGS[key];
  return f;
}

/** Folds a batch sharing B into the rows of one product when the layout allows it. */
export function foldBatch(d: MatmulDims): MatmulDims {
  if (d.batch > 1 && d.broadcastB && !d.broadcastA && !d.transA) {
    return { ...d, m: d.batch * d.m, batch: 1 };
  }
  return d;
}

/**
 * Runs the kernel on operands already in module memory (pointers); allocates the scratch in the
 * current scope. Exposed for benchmarks that keep operands resident.
 */
export function matmulResident(mod: WasmModule, pOut: number, pA: number, pB: number, dims: MatmulDims): void {
  const d = foldBatch(dims);
  const scratch = mod.alloc(mod.call("matmul_scratch_bytes", d.m, d.n, d.k));
  mod.call("matmul", pOut, pA, pB, scratch, d.batch, d.m, d.n, d.k, matmulFlags(d));
}

export function matmulWasm(mod: WasmModule): Pick<Kernels, "matmul"> {
  return {
    matmul(out: F32, a: F32, b: F32, d: MatmulDims): void {
      const aLen = (d.broadcastA ? 1 : d.batch) * d.m * d.k;
      const bLen = (d.broadcastB ? 1 : d.batch) * d.k * d.n;
      const oLen = d.batch * d.m * d.n;
      mod.scope(() => {
        const pA = mod.put(a.subarray(0, aLen));
        const pB = mod.put(b.subarray(0, bLen));
        const pOut = d.accumulate ? mod.put(out.subarray(0, oLen)) : mod.alloc(oLen * 4);
        matmulResident(mod, pOut, pA, pB, d);
        mod.read(pOut, out.subarray(0, oLen));
      });
    },
  };
}
