/**
 * Adapter for kernels/matmul.ts: copies A, B (and out when accumulating) into the module's memory,
 * allocates the packing scratch there (never the AssemblyScript heap), runs the blocked GEMM and
 * copies the result out (split by rows over threads: each row panel as soon as it is final, while
 * the others are computed). A weight shared by the batch (broadcastB, A not transposed) is folded
 * into one [batch*m, k] x [k, n] product, so B is packed once; the bits are the same either way.
 */
import type { F32, Kernels, MatmulDims } from "../kernels.js";
import { MATMUL_OPTS, type Ptr } from "./bindings/index.js";
import { touchPages } from "./pages.js";
import type { KernelModule } from "./runtime.js";

/** Flag bits of the kernel's MatmulOpts.flags. */
export const MATMUL_FLAGS = { transA: 1, transB: 2, accumulate: 4, broadcastA: 8, broadcastB: 16 } as const;

/** The kernel's flags word (MatmulOpts.flags) for these dims. */
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

/** Single-thread f32 flops per nanosecond the split threshold assumes (bench/README.md: ~40). */
const FLOPS_PER_NS = 40;

/**
 * Runs the kernel on operands already in module memory (pointers); allocates its options and
 * scratch in the current scope. Exposed for benchmarks that keep operands resident. Threaded: the
 * output is split into row panels (multiples of 16 rows) when there are enough rows, else into
 * column panels (multiples of 32 columns), never over k, so every element keeps its summation order.
 * `meanwhile`: JavaScript for the caller's thread while the workers compute (split calls only).
 * `done(lo, hi)`: rows [lo, hi) of the output, seen as one [batch*m, n] matrix, are final (on the
 * caller's thread, while other rows are still computed); called only when row pieces are whole
 * rows of that matrix (split by rows, batch 1 once folded), then for every row. Returns whether it
 * was called; false: the output is final when this returns.
 */
export function matmulResident(mod: KernelModule<"matmul">, pOut: Ptr, pA: Ptr, pB: Ptr, dims: MatmulDims, meanwhile?: () => void, done?: (lo: number, hi: number) => void): boolean {
  const d = foldBatch(dims);
  const flags = matmulFlags(d);
  const work = (2 * d.batch * d.m * d.n * d.k) / FLOPS_PER_NS;
  const byRows = d.m >= 32 * mod.threads || d.n < 64;
  const scratch = (m: number, n: number) => mod.alloc(mod.k.matmul_scratch_bytes(m, n, d.k));
  const opts = mod.putOpts(MATMUL_OPTS, { batch: d.batch, m: d.m, n: d.n, k: d.k, flags }); // shared by every piece
  if (byRows) {
    const rows = d.batch === 1 ? done : undefined; // batch > 1: a piece's rows repeat in every batch
    mod.split("matmul_part", { total: d.m, grain: 16, work, perThread: rowPiecesPerThread(d.m, mod.threads) }, (lo, hi) => [pOut, pA, pB, scratch(hi - lo, d.n), opts, lo, hi, 0, d.n], meanwhile, rows);
    return rows !== undefined;
  }
  mod.split("matmul_part", { total: d.n, grain: 32, work }, (lo, hi) => [pOut, pA, pB, scratch(d.m, hi - lo), opts, 0, d.m, lo, hi], meanwhile);
  return false;
}

/** The fewest rows a row piece of a split GEMM gets (rowPiecesPerThread). */
const MIN_PIECE_ROWS = 512;

/**
 * Row pieces per thread: every row piece packs all of B again, so a piece keeps at least
 * MIN_PIECE_ROWS rows (measured, 2048 x 768 x 3072 on 2 threads: 2 pieces per thread 116-117 ms,
 * 3 pieces 122-124 ms), up to the pool's usual 3 per thread.
 */
export function rowPiecesPerThread(m: number, threads: number): number {
  return Math.max(1, Math.min(3, Math.floor(m / (threads * MIN_PIECE_ROWS))));
}

/** Bytes of resident weights per backend (the m3d preset's weights fit; more stays per call). */
const RESIDENT_MAX_BYTES = 1 << 30;

/**
 * Resident weights: arrays registered with `keepResident` are copied into module memory once (a
 * pinned block, below every scope) and read from there by every later product, until
 * `weightsChanged` marks them stale (the optimizer wrote new values): the next product copies them
 * again, into the same block. Unregistered operands are copied per call, as before.
 */
class Resident {
  private readonly kept = new WeakMap<F32, { ptr: number | null; stale: boolean }>();
  /** Pinned blocks are never freed (a bump arena): at most this many bytes; past it, copy per call. */
  private budget = RESIDENT_MAX_BYTES;
  constructor(private readonly mod: KernelModule<"matmul">) {}
  /** Registers an array; registering it again marks it stale (the caller may have written it). */
  keep(data: F32): void {
    const e = this.kept.get(data);
    if (e) e.stale = true;
    else this.kept.set(data, { ptr: null, stale: true });
  }
  changed(data: F32): void {
    const e = this.kept.get(data);
    if (e) e.stale = true;
  }
  /** The pointer of a kept array (uploaded now if stale), or null: copy it per call. */
  pointer(data: F32, len: number): number | null {
    const e = this.kept.get(data);
    if (!e || len !== data.length) return null;
    if (e.ptr === null && data.byteLength <= this.budget) {
      e.ptr = this.mod.arena.pin(data.byteLength);
      if (e.ptr !== null) this.budget -= data.byteLength;
    }
    if (e.ptr === null) return null;
    if (e.stale) {
      this.mod.f32(e.ptr, data.length).set(data);
      e.stale = false;
    }
    return e.ptr;
  }
}

export function matmulWasm(mod: KernelModule<"matmul">): Pick<Kernels, "matmul" | "keepResident" | "weightsChanged"> {
  const resident = new Resident(mod);
  return {
    keepResident: (data) => resident.keep(data),
    weightsChanged: (data) => resident.changed(data),
    matmul(out: F32, a: F32, b: F32, d: MatmulDims): void {
      const aLen = (d.broadcastA ? 1 : d.batch) * d.m * d.k;
      const bLen = (d.broadcastB ? 1 : d.batch) * d.k * d.n;
      const oLen = d.batch * d.m * d.n;
      const pinned = resident.pointer(b, bLen); // before the scope: pinning needs an empty arena
      mod.scope(() => {
        const pA = mod.put(a.subarray(0, aLen));
        const pB = pinned ?? mod.put(b.subarray(0, bLen));
        const pOut = d.accumulate ? mod.put(out.subarray(0, oLen)) : mod.alloc(oLen * 4);
        const touch = d.accumulate ? undefined : () => touchPages(out.subarray(0, oLen)); // accumulating: out's pages are mapped
        const copy = (lo: number, hi: number) => mod.read(pOut + lo * d.n * 4, out.subarray(lo * d.n, hi * d.n));
        if (!matmulResident(mod, pOut, pA, pB, d, touch, copy)) mod.read(pOut, out.subarray(0, oLen));
      });
    },
  };
}
