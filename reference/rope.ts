// PLACEHOLDER: reference rope primitives (to be written).
import type { Kernels } from "../src/backend/kernels.js";

export const ropeReference: Pick<Kernels, 'rope'> = {
  rope() { throw new Error('reference rope: not implemented'); },
};
