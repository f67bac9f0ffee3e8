/**
 * Adapter for kernels/patch.ts: copies the volume and the weight into the module's memory, gives
 * the kernel its geometry (a PatchOpts) and its packing scratch (packed weight panels, one depth
 * step's im2col) and copies out.
 * The weight gradient sums over every depth step, so it stays on one thread.
 */
import type { F32, Kernels, PatchDims } from "../kernels.js";
import { PATCH_OPTS } from "./bindings/index.js";
import type { KernelModule } from "./runtime.js";

export function patchWasm(mod: KernelModule<"patch">): Pick<Kernels, "patchEmbed" | "patchEmbedBackward"> {
  return {
    patchEmbed(out: F32, vol: F32, weight: F32, d: PatchDims): void {
      if (out.length === 0) return;
      // contraction length: cv = 1 gathers one channel against weights folded over cin
      const k = d.cv * d.tdepth * d.patch * d.patch;
      const patches = (d.height / d.patch) * (d.width / d.patch);
      mod.scope(() => {
        const pv = mod.put(vol);
        const pw = mod.put(weight);
        const po = mod.alloc(out.byteLength);
        // threaded: depth steps (b, z), each with its own packing scratch
        const steps = d.batch * (d.depth / d.tdepth);
        const work = (2 * steps * patches * d.channels * k) / 20;
        const opts = mod.putOpts(PATCH_OPTS, d); // the geometry, by field name; shared by every piece
        mod.split("patch_embed", { total: steps, work }, (lo, hi) => [
          po, pv, pw, mod.alloc(mod.k.patch_scratch_w(d.channels, k)), mod.alloc(mod.k.patch_scratch_a(patches, k)), opts, lo, hi,
        ]);
        mod.read(po, out);
      });
    },
    patchEmbedBackward(dweight: F32, dout: F32, vol: F32, d: PatchDims): void {
      if (dweight.length === 0) return;
      mod.scope(() => {
        const pg = mod.put(dout), pv = mod.put(vol);
        const po = mod.alloc(dweight.byteLength);
        const ps = mod.alloc(mod.k.patch_backward_scratch(d.channels, d.cv, d.tdepth, d.patch));
        mod.k.patch_embed_backward(po, pg, pv, ps, mod.putOpts(PATCH_OPTS, d));
        mod.read(po, dweight);
      });
    },
  };
}
