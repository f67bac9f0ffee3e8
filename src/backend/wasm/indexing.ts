// PLACEHOLDER: wasm adapter for kernels/indexing.ts (to be written).
import type { Kernels } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

export function indexingWasm(mod: WasmModule): Pick<Kernels, 'topk' | 'gatherRows' | 'scatterAddRows'> {
  void mod;
  return {
    topk() { throw new Error('wasm topk: not implemented'); },
    gatherRows() { throw new Error('wasm gatherRows: not implemented'); },
    scatterAddRows() { throw new Error('wasm scatterAddRows: not implemented'); },
  };
}
