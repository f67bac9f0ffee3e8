// PLACEHOLDER: wasm adapter for kernels/matmul.ts (to be written).
import type { Kernels } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

export function matmulWasm(mod: WasmModule): Pick<Kernels, 'matmul'> {
  void mod;
  return {
    matmul() { throw new Error('wasm matmul: not implemented'); },
  };
}
