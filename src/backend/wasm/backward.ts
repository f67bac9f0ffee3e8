/**
 * Adapter for kernels/backward.ts: copies operands into the module's memory, runs the backward
 * kernel (outputs in their own buffers: the kernels never write over an input) and copies the
 * gradients out. No arithmetic happens here. Threaded: element ranges (activations) and row ranges
 * (softmax); the norms' dgamma/dbeta sum over all rows and the patch weight gradient over all
 * depth steps, so those stay on one thread (splitting them would change a summation order).
 */
import type { F32, Kernels, PatchDims } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

type BackwardOps = "softmaxBackward" | "layerNormBackward" | "rmsNormBackward" | "geluTanhBackward" |
  "quickGeluBackward" | "siluBackward" | "swigluBackward" | "patchEmbedBackward";

export function backwardWasm(mod: WasmModule): Pick<Kernels, BackwardOps> {
  /** dx = fn(x, dy) over n elements. */
  const activation = (fn: string) => (dx: F32, x: F32, dy: F32, n: number): void => {
    if (n === 0) return;
    mod.scope(() => {
      const px = mod.put(x.subarray(0, n)), pg = mod.put(dy.subarray(0, n));
      const po = mod.alloc(n * 4);
      mod.split(fn, { total: n, grain: 16, work: n * 2 }, (lo, hi) => [po + lo * 4, px + lo * 4, pg + lo * 4, hi - lo]);
      mod.read(po, dx.subarray(0, n));
    });
  };
  return {
    geluTanhBackward: activation("gelu_tanh_backward"),
    quickGeluBackward: activation("quick_gelu_backward"),
    siluBackward: activation("silu_backward"),
    swigluBackward(dgate, dup, gate, up, dy, n) {
      if (n === 0) return;
      mod.scope(() => {
        const pg = mod.put(gate.subarray(0, n)), pu = mod.put(up.subarray(0, n)), pd = mod.put(dy.subarray(0, n));
        const og = mod.alloc(n * 4), ou = mod.alloc(n * 4);
        mod.split("swiglu_backward", { total: n, grain: 16, work: n * 2 }, (lo, hi) => [
          og + lo * 4, ou + lo * 4, pg + lo * 4, pu + lo * 4, pd + lo * 4, hi - lo,
        ]);
        mod.read(og, dgate.subarray(0, n));
        mod.read(ou, dup.subarray(0, n));
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
        mod.call("layer_norm_backward", po, pdg, pdb, pg, px, pw, rows, cols, eps);
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
        mod.call("rms_norm_backward", po, pdg, pg, px, pw, rows, cols, eps);
        mod.read(po, dx.subarray(0, n));
        mod.read(pdg, dgamma.subarray(0, cols));
      });
    },
    patchEmbedBackward(dweight: F32, dout: F32, vol: F32, d: PatchDims): void {
      if (dweight.length === 0) return;
      mod.scope(() => {
        const pg = mod.put(dout), pv = mod.put(vol);
        const po = mod.alloc(dweight.byteLength);
        const ps = mod.alloc(mod.call("patch_backward_scratch", d.channels, d.cv, d.tdepth, d.patch) >>> 0);
        mod.call(
          "patch_embed_backward", po, pg, pv, ps,
          d.batch, d.cv, d.cin, d.depth, d.height, d.width, d.channels, d.patch, d.tdepth,
        );
        mod.read(po, dweight);
      });
    },
  };
}
