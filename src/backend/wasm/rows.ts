/**
 * Adapter for kernels/rows.ts: copies operands into the module's memory, runs the row kernel
 * (in place where the kernel allows it), copies the result out. A null softmax mask is pointer 0.
 * Threaded: contiguous row ranges (rows are independent, so any split gives the same bits); the
 * norms' backward stays on one thread (dgamma and dbeta sum over all rows: a split would change
 * a summation order).
 */
import type { F32, Kernels } from "../kernels.js";
import type { Ptr } from "./bindings/index.js";
import type { KernelModule } from "./runtime.js";

type RowOps = "softmax" | "layerNorm" | "rmsNorm" | "sumRows" | "meanRows" | "maxRows" |
  "softmaxBackward" | "layerNormBackward" | "rmsNormBackward";

/** Estimated single-thread nanoseconds per element of a row op (the split threshold's scale). */
const NS_PER_ELEMENT = 1;

/** greatest common divisor, for the softmax split's row grain */
function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export function rowsWasm(mod: KernelModule<"rows">): Pick<Kernels, RowOps> {
  /** out [rows] = fn(x [rows, cols]) */
  const reduce = (fn: "sum_rows" | "mean_rows" | "max_rows") => (out: F32, x: F32, rows: number, cols: number): void => {
    mod.scope(() => {
      const px = mod.put(x.subarray(0, rows * cols));
      const po = mod.alloc(rows * 4);
      mod.split(fn, { total: rows, work: rows * cols * NS_PER_ELEMENT }, (lo, hi) => [po + lo * 4, px + lo * cols * 4, hi - lo, cols]);
      mod.read(po, out.subarray(0, rows));
    });
  };
  /** A row op's split over the rows of x [rows, cols], in pieces of a multiple of `grain` rows. */
  const byRows = (rows: number, cols: number, grain = 1) => ({ total: rows, grain, work: rows * cols * NS_PER_ELEMENT });
  /** The address of row r of an f32 array [rows, cols] at p. */
  const at = (p: Ptr, r: number, cols: number): Ptr => p + r * cols * 4;
  return {
    sumRows: reduce("sum_rows"),
    meanRows: reduce("mean_rows"),
    maxRows: reduce("max_rows"),
    softmax(out, x, d) {
      const n = d.rows * d.cols;
      mod.scope(() => {
        const px = mod.put(x.subarray(0, n));
        const pm = d.mask ? mod.put(d.mask.subarray(0, d.maskRows * d.cols)) : 0;
        // a piece starts at a row where both the mask row (r % maskRows) and the causal query (r % qLen) restart
        const a = d.mask ? d.maskRows : 1, b = d.causal ? d.qLen : 1;
        mod.split("softmax", byRows(d.rows, d.cols, (a / gcd(a, b)) * b), (lo, hi) => [
          at(px, lo, d.cols), at(px, lo, d.cols), pm, hi - lo, d.cols, d.maskRows, d.causal ? 1 : 0, d.qLen,
        ]);
        mod.read(px, out.subarray(0, n));
      });
    },
    layerNorm(out, x, gamma, beta, rows, cols, eps) {
      const n = rows * cols;
      mod.scope(() => {
        const px = mod.put(x.subarray(0, n));
        const pg = mod.put(gamma.subarray(0, cols));
        const pb = mod.put(beta.subarray(0, cols));
        mod.split("layer_norm", byRows(rows, cols), (lo, hi) => [at(px, lo, cols), at(px, lo, cols), pg, pb, hi - lo, cols, eps]);
        mod.read(px, out.subarray(0, n));
      });
    },
    rmsNorm(out, x, gamma, rows, cols, eps) {
      const n = rows * cols;
      mod.scope(() => {
        const px = mod.put(x.subarray(0, n));
        const pg = mod.put(gamma.subarray(0, cols));
        mod.split("rms_norm", byRows(rows, cols), (lo, hi) => [at(px, lo, cols), at(px, lo, cols), pg, hi - lo, cols, eps]);
        mod.read(px, out.subarray(0, n));
      });
    },
    softmaxBackward(dx, y, dy, rows, cols) {
      const n = rows * cols;
      if (n === 0) return;
      mod.scope(() => {
        const py = mod.put(y.subarray(0, n)), pg = mod.put(dy.subarray(0, n));
        const po = mod.alloc(n * 4);
        mod.split("softmax_backward", { total: rows, work: n }, (lo, hi) => [po + lo * cols * 4, py + lo * cols * 4, pg + lo * cols * 4, hi - lo, cols]);
        mod.read(po, dx.subarray(0, n));
      });
    },
    layerNormBackward(dx, dgamma, dbeta, dy, x, gamma, rows, cols, eps) {
      const n = rows * cols;
      mod.scope(() => {
        const pg = mod.put(dy.subarray(0, n)), px = mod.put(x.subarray(0, n)), pw = mod.put(gamma.subarray(0, cols));
        const po = mod.alloc(n * 4), pdg = mod.alloc(cols * 4), pdb = mod.alloc(cols * 4);
        mod.k.layer_norm_backward(po, pdg, pdb, pg, px, pw, rows, cols, eps);
        mod.read(po, dx.subarray(0, n));
        mod.read(pdg, dgamma.subarray(0, cols));
        mod.read(pdb, dbeta.subarray(0, cols));
      });
    },
    rmsNormBackward(dx, dgamma, dy, x, gamma, rows, cols, eps) {
      const n = rows * cols;
      mod.scope(() => {
        const pg = mod.put(dy.subarray(0, n)), px = mod.put(x.subarray(0, n)), pw = mod.put(gamma.subarray(0, cols));
        const po = mod.alloc(n * 4), pdg = mod.alloc(cols * 4);
        mod.k.rms_norm_backward(po, pdg, pg, px, pw, rows, cols, eps);
        mod.read(po, dx.subarray(0, n));
        mod.read(pdg, dgamma.subarray(0, cols));
      });
    },
  };
}
