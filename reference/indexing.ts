// PLACEHOLDER: reference indexing primitives (to be written).
import type { Kernels } from "../src/backend/kernels.js";

export const indexingReference: Pick<Kernels, 'topk' | 'gatherRows' | 'scatterAddRows'> = {
  topk() { throw new Error('reference topk: not implemented'); },
  gatherRows() { throw new Error('reference gatherRows: not implemented'); },
  scatterAddRows() { throw new Error('reference scatterAddRows: not implemented'); },
};
