// PLACEHOLDER: wasm adapter for kernels/rope.ts (to be written).
import type { Kernels } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

export function ropeWasm(mod: WasmModule): Pick<Kernels, 'rope'> {
  void mod;
  return {
    rope() { throw new Error('wasm rope: not implemented'); },
  };
}
