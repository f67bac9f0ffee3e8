/**
 * Adapter for kernels/rows.ts: copies operands into the module's memory, runs the row kernel
 * (in place where the kernel allows it), copies the result out. A null softmax mask is pointer 0.
 */
import type { F32, Kernels } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

type RowOps = "softmax" | "layerNorm" | "rmsNorm" | "sumRows" | "meanRows" | "maxRows";

export function rowsWasm(mod: WasmModule): Pick<Kernels, RowOps> {
  /** out [rows] = fn(x [rows, cols]) */
  const reduce = (fn: string) => (out: F32, x: F32, rows: number, cols: number): void => {
    mod.scope(() => {
      const px = mod.put(x.subarray(0, rows * cols));
      const po = mod.alloc(rows * 4);
      mod.call(fn, po, px, rows, cols);
      mod.read(po, out.subarray(0, rows));
    });
  };
  return {
    sumRows: reduce("sum_rows"),
    meanRows: reduce("mean_rows"),
    maxRows: reduce("max_rows"),
    softmax(out, x, d) {
      const n = d.rows * d.cols;
      mod.scope(() => {
        const px = mod.put(x.subarray(0, n));
        const pm = d.mask ? mod.put(d.mask.subarray(0, d.maskRows * d.cols)) : 0;
        mod.call("softmax", px, px, pm, d.rows, d.cols, d.maskRows, d.causal ? 1 : 0, d.qLen);
        mod.read(px, out.subarray(0, n));
      });
    },
    layerNorm(out, x, gamma, beta, rows, cols, eps) {
      const n = rows * cols;
      mod.scope(() => {
        const px = mod.put(x.subarray(0, n));
        const pg = mod.put(gamma.subarray(0, cols));
        const pb = mod.put(beta.subarray(0, cols));
        mod.call("layer_norm", px, px, pg, pb, rows, cols, eps);
        mod.read(px, out.subarray(0, n));
      });
    },
    rmsNorm(out, x, gamma, rows, cols, eps) {
      const n = rows * cols;
      mod.scope(() => {
        const px = mod.put(x.subarray(0, n));
        const pg = mod.put(gamma.subarray(0, cols));
        mod.call("rms_norm", px, px, pg, rows, cols, eps);
        mod.read(px, out.subarray(0, n));
      });
    },
  };
}
