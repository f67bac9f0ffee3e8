// PLACEHOLDER: wasm adapter for kernels/patch.ts (to be written).
import type { Kernels } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

export function patchWasm(mod: WasmModule): Pick<Kernels, 'patchEmbed'> {
  void mod;
  return {
    patchEmbed() { throw new Error('wasm patchEmbed: not implemented'); },
  };
}
