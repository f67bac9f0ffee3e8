/**
 * Adapter for kernels/elementwise.ts: copies operands into the module's memory, runs the kernel
 * in place over the first operand's copy (the kernels allow out == input), copies the result out.
 * The backward kernels write into their own buffers (they never write over an input); adamw updates
 * the copies of w, m, v in place and copies the three out. Threaded: contiguous element ranges
 * (multiples of 16), rows for add_bias; elementwise, so any split gives the same bits.
 */
import type { F32, Kernels } from "../kernels.js";
import { ADAMW_OPTS } from "./bindings/index.js";
import type { KernelModule } from "./runtime.js";

type ElementwiseOps = "add" | "mul" | "scale" | "addBias" | "geluTanh" | "quickGelu" | "silu" | "swiglu" |
  "geluTanhBackward" | "quickGeluBackward" | "siluBackward" | "swigluBackward" | "adamw";

/** Estimated single-thread nanoseconds per element: arithmetic ops, and ops with an exp or tanh. */
const NS_SIMPLE = 0.3, NS_TRANSCENDENTAL = 1.5;

export function elementwiseWasm(mod: KernelModule<"elementwise">): Pick<Kernels, ElementwiseOps> {
  /** out = fn(a) over n elements. */
  const unary = (fn: "gelu_tanh" | "quick_gelu" | "silu") => (out: F32, x: F32, n: number): void => {
    mod.scope(() => {
      const px = mod.put(x.subarray(0, n));
      mod.split(fn, { total: n, grain: 16, work: n * NS_TRANSCENDENTAL }, (lo, hi) => [px + lo * 4, px + lo * 4, hi - lo]);
      mod.read(px, out.subarray(0, n));
    });
  };
  /** out = fn(a, b) over n elements. */
  const binary = (fn: "add" | "mul" | "swiglu", ns: number) => (out: F32, a: F32, b: F32, n: number): void => {
    mod.scope(() => {
      const pa = mod.put(a.subarray(0, n));
      const pb = mod.put(b.subarray(0, n));
      mod.split(fn, { total: n, grain: 16, work: n * ns }, (lo, hi) => [pa + lo * 4, pa + lo * 4, pb + lo * 4, hi - lo]);
      mod.read(pa, out.subarray(0, n));
    });
  };
  /** dx = fn(x, dy) over n elements (the backward kernels write to their own buffer). */
  const activation = (fn: "gelu_tanh_backward" | "quick_gelu_backward" | "silu_backward") => (dx: F32, x: F32, dy: F32, n: number): void => {
    if (n === 0) return;
    mod.scope(() => {
      const px = mod.put(x.subarray(0, n)), pg = mod.put(dy.subarray(0, n));
      const po = mod.alloc(n * 4);
      mod.split(fn, { total: n, grain: 16, work: n * 2 }, (lo, hi) => [po + lo * 4, px + lo * 4, pg + lo * 4, hi - lo]);
      mod.read(po, dx.subarray(0, n));
    });
  };
  return {
    add: binary("add", NS_SIMPLE),
    mul: binary("mul", NS_SIMPLE),
    swiglu: binary("swiglu", NS_TRANSCENDENTAL),
    geluTanh: unary("gelu_tanh"),
    quickGelu: unary("quick_gelu"),
    silu: unary("silu"),
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
    scale(out, a, s, n) {
      mod.scope(() => {
        const pa = mod.put(a.subarray(0, n));
        mod.split("scale", { total: n, grain: 16, work: n * NS_SIMPLE }, (lo, hi) => [pa + lo * 4, pa + lo * 4, Math.fround(s), hi - lo]);
        mod.read(pa, out.subarray(0, n));
      });
    },
    adamw(w, m, v, g, n, s) {
      if (n === 0) return;
      mod.scope(() => {
        const pw = mod.put(w.subarray(0, n)), pm = mod.put(m.subarray(0, n)), pv = mod.put(v.subarray(0, n)), pg = mod.put(g.subarray(0, n));
        const opts = mod.putOpts(ADAMW_OPTS, s);
        mod.split("adamw", { total: n, grain: 16, work: n * NS_SIMPLE * 4 }, (lo, hi) => [pw + lo * 4, pm + lo * 4, pv + lo * 4, pg + lo * 4, opts, hi - lo]);
        mod.read(pw, w.subarray(0, n));
        mod.read(pm, m.subarray(0, n));
        mod.read(pv, v.subarray(0, n));
      });
    },
    addBias(out, x, bias, rows, cols) {
      const n = rows * cols;
      mod.scope(() => {
        const px = mod.put(x.subarray(0, n));
        const pb = mod.put(bias.subarray(0, cols));
        mod.split("add_bias", { total: rows, work: n * NS_SIMPLE }, (lo, hi) => [px + lo * cols * 4, px + lo * cols * 4, pb, hi - lo, cols]);
        mod.read(px, out.subarray(0, n));
      });
    },
  };
}
