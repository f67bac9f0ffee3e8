/**
 * Adapter for kernels/indexing.ts: top-k and scatter-add run in wasm; row gather is done here, by
 * copying rows between the JS arrays, because it has no arithmetic to speed up. Indices were
 * validated by Backend.
 */
import type { F32, I32, Kernels } from "../kernels.js";
import type { KernelModule } from "./runtime.js";

/** Below this row width a plain element loop beats one TypedArray.set call per row. */
const NARROW = 16;

export function indexingWasm(mod: KernelModule<"indexing">): Pick<Kernels, "topk" | "gatherRows" | "scatterAddRows"> {
  return {
    topk(values: F32, indices: I32, x: F32, rows: number, cols: number, k: number): void {
      if (rows === 0 || k === 0) return;
      mod.scope(() => {
        const px = mod.put(x.subarray(0, rows * cols));
        const pv = mod.alloc(rows * k * 4), pi = mod.alloc(rows * k * 4), keys = mod.alloc(k * 4);
        mod.k.topk(pv, pi, px, rows, cols, k, keys);
        mod.read(pv, values.subarray(0, rows * k));
        mod.read(pi, indices.subarray(0, rows * k));
      });
    },

    // Staging x [R, cols] through wasm memory would copy all R rows to move `count` of them:
    // measured 2-90x slower than these direct copies (exact either way).
    gatherRows(out: F32, x: F32, idx: I32, count: number, cols: number): void {
      for (let i = 0; i < count; i++) {
        const s = idx[i] * cols, d = i * cols;
        if (cols >= NARROW) out.set(x.subarray(s, s + cols), d);
        else for (let c = 0; c < cols; c++) out[d + c] = x[s + c];
      }
    },

    scatterAddRows(out: F32, src: F32, idx: I32, w: F32 | null, count: number, cols: number): void {
      if (count === 0 || cols === 0) return;
      const R = out.length / cols;
      // stage only the rows that receive something (all of out when that is not more work)
      const { rows, local } = R > count ? touchedRows(idx, count, R) : { rows: null, local: idx };
      mod.scope(() => {
        const n = (rows ? rows.length : R) * cols;
        const po = mod.alloc(n * 4);
        const staged = mod.f32(po, n);
        if (rows) rows.forEach((r, j) => staged.set(out.subarray(r * cols, (r + 1) * cols), j * cols));
        else staged.set(out);
        const ps = mod.put(src.subarray(0, count * cols)), pi = mod.put(local.subarray(0, count));
        const pw = w ? mod.put(w.subarray(0, count)) : 0;
        mod.k.scatter_add_rows(po, ps, pi, pw, count, cols);
        const result = mod.f32(po, n); // a fresh view: put() may have grown memory
        if (rows) rows.forEach((r, j) => out.set(result.subarray(j * cols, (j + 1) * cols), r * cols));
        else out.set(result);
      });
    },
  };
}

/** The distinct rows of idx in first-use order, and idx renumbered into them. */
function touchedRows(idx: I32, count: number, R: number): { rows: number[]; local: I32 } {
  const slot = new Int32Array(R).fill(-1);
  const rows: number[] = [];
  const local = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const r = idx[i];
    if (slot[r] < 0) slot[r] = rows.push(r) - 1;
    local[i] = slot[r];
  }
  return { rows, local };
}
