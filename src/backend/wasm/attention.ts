// PLACEHOLDER: wasm adapter for kernels/attention.ts (to be written).
import type { Kernels } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

export function attentionWasm(mod: WasmModule): Pick<Kernels, 'attention'> {
  void mod;
  return {
    attention() { throw new Error('wasm attention: not implemented'); },
  };
}
