// PLACEHOLDER: wasm adapter for kernels/elementwise.ts (to be written).
import type { Kernels } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

export function elementwiseWasm(mod: WasmModule): Pick<Kernels, 'add' | 'mul' | 'scale' | 'addBias' | 'geluTanh' | 'quickGelu' | 'silu' | 'swiglu'> {
  void mod;
  return {
    add() { throw new Error('wasm add: not implemented'); },
    mul() { throw new Error('wasm mul: not implemented'); },
    scale() { throw new Error('wasm scale: not implemented'); },
    addBias() { throw new Error('wasm addBias: not implemented'); },
    geluTanh() { throw new Error('wasm geluTanh: not implemented'); },
    quickGelu() { throw new Error('wasm quickGelu: not implemented'); },
    silu() { throw new Error('wasm silu: not implemented'); },
    swiglu() { throw new Error('wasm swiglu: not implemented'); },
  };
}
