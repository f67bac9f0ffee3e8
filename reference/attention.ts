// PLACEHOLDER: reference attention primitives (to be written).
import type { Kernels } from "../src/backend/kernels.js";

export const attentionReference: Pick<Kernels, 'attention'> = {
  attention() { throw new Error('reference attention: not implemented'); },
};
