/**
 * Adapter for kernels/rope.ts: copies x, positions and sections into the module's memory, gives the
 * kernel its geometry (a RopeOpts) and scratch (frequencies and one token's cos/sin table) and
 * copies the result out.
 * Threaded: token ranges (a token's rotation depends only on its own positions).
 */
import type { F32, I32, Kernels, RopeDims } from "../kernels.js";
import { ROPE_OPTS } from "./bindings/index.js";
import type { KernelModule } from "./runtime.js";

export function ropeWasm(mod: KernelModule<"rope">): Pick<Kernels, "rope"> {
  return {
    rope(out: F32, x: F32, pos: I32, d: RopeDims): void {
      const n = d.tokens * d.heads * d.dh;
      if (n === 0) return;
      const half = d.dh / 2;
      mod.scope(() => {
        const px = mod.put(x.subarray(0, n));
        const pp = mod.put(pos.subarray(0, d.tokens * d.axes));
        const ps = mod.put(Int32Array.from(d.sections));
        const po = mod.alloc(n * 4);
        const opts = mod.putOpts(ROPE_OPTS, { heads: d.heads, dh: d.dh, axes: d.axes, nsections: d.sections.length, base: d.base });
        // threaded: token ranges, each with its own scratch (inv f64[half], axisOf i32[half], cos, sin f32[half])
        mod.split("rope", { total: d.tokens, work: n * 2 }, (lo, hi) => [po, px, pp, ps, mod.alloc(20 * half), opts, lo, hi]);
        mod.read(po, out.subarray(0, n));
      });
    },
  };
}
