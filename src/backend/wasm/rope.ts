/**
 * Adapter for kernels/rope.ts: copies x, positions and sections into the module's memory, gives the
 * kernel its scratch (frequencies and one token's cos/sin table) and copies the result out.
 */
import type { F32, I32, Kernels, RopeDims } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

export function ropeWasm(mod: WasmModule): Pick<Kernels, "rope"> {
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
        const scratch = mod.alloc(20 * half); // inv f64[half], axisOf i32[half], cos, sin f32[half]
        mod.call("rope", po, px, pp, d.tokens, d.heads, d.dh, d.axes, ps, d.sections.length, d.base, scratch);
        mod.read(po, out.subarray(0, n));
      });
    },
  };
}
