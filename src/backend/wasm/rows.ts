// PLACEHOLDER: wasm adapter for kernels/rows.ts (to be written).
import type { Kernels } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

export function rowsWasm(mod: WasmModule): Pick<Kernels, 'softmax' | 'layerNorm' | 'rmsNorm' | 'sumRows' | 'meanRows' | 'maxRows'> {
  void mod;
  return {
    softmax() { throw new Error('wasm softmax: not implemented'); },
    layerNorm() { throw new Error('wasm layerNorm: not implemented'); },
    rmsNorm() { throw new Error('wasm rmsNorm: not implemented'); },
    sumRows() { throw new Error('wasm sumRows: not implemented'); },
    meanRows() { throw new Error('wasm meanRows: not implemented'); },
    maxRows() { throw new Error('wasm maxRows: not implemented'); },
  };
}
