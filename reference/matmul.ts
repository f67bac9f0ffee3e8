// PLACEHOLDER: reference matmul primitives (to be written).
import type { Kernels } from "../src/backend/kernels.js";

export const matmulReference: Pick<Kernels, 'matmul'> = {
  matmul() { throw new Error('reference matmul: not implemented'); },
};
