/**
 * Adapter for kernels/elementwise.ts: copies operands into the module's memory, runs the kernel
 * in place over the first operand's copy (the kernels allow out == input), copies the result out.
 */
import type { F32, Kernels } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

type ElementwiseOps = "add" | "mul" | "scale" | "addBias" | "geluTanh" | "quickGelu" | "silu" | "swiglu";

export function elementwiseWasm(mod: WasmModule): Pick<Kernels, ElementwiseOps> {
  /** out = fn(a) over n elements. */
  const unary = (fn: string) => (out: F32, x: F32, n: number): void => {
    mod.scope(() => {
      const px = mod.put(x.subarray(0, n));
      mod.call(fn, px, px, n);
      mod.read(px, out.subarray(0, n));
    });
  };
  /** out = fn(a, b) over n elements. */
  const binary = (fn: string) => (out: F32, a: F32, b: F32, n: number): void => {
    mod.scope(() => {
      const pa = mod.put(a.subarray(0, n));
      const pb = mod.put(b.subarray(0, n));
      mod.call(fn, pa, pa, pb, n);
      mod.read(pa, out.subarray(0, n));
    });
  };
  return {
    add: binary("add"),
    mul: binary("mul"),
    swiglu: binary("swiglu"),
    geluTanh: unary("gelu_tanh"),
    quickGelu: unary("quick_gelu"),
    silu: unary("silu"),
    scale(out, a, s, n) {
      mod.scope(() => {
        const pa = mod.put(a.subarray(0, n));
        mod.call("scale", pa, pa, Math.fround(s), n);
        mod.read(pa, out.subarray(0, n));
      });
    },
    addBias(out, x, bias, rows, cols) {
      const n = rows * cols;
      mod.scope(() => {
        const px = mod.put(x.subarray(0, n));
        const pb = mod.put(bias.subarray(0, cols));
        mod.call("add_bias", px, px, pb, rows, cols);
        mod.read(px, out.subarray(0, n));
      });
    },
  };
}
