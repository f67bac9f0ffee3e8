// PLACEHOLDER: reference elementwise primitives (to be written).
import type { Kernels } from "../src/backend/kernels.js";

export const elementwiseReference: Pick<Kernels, 'add' | 'mul' | 'scale' | 'addBias' | 'geluTanh' | 'quickGelu' | 'silu' | 'swiglu'> = {
  add() { throw new Error('reference add: not implemented'); },
  mul() { throw new Error('reference mul: not implemented'); },
  scale() { throw new Error('reference scale: not implemented'); },
  addBias() { throw new Error('reference addBias: not implemented'); },
  geluTanh() { throw new Error('reference geluTanh: not implemented'); },
  quickGelu() { throw new Error('reference quickGelu: not implemented'); },
  silu() { throw new Error('reference silu: not implemented'); },
  swiglu() { throw new Error('reference swiglu: not implemented'); },
};
