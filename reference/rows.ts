// PLACEHOLDER: reference rows primitives (to be written).
import type { Kernels } from "../src/backend/kernels.js";

export const rowsReference: Pick<Kernels, 'softmax' | 'layerNorm' | 'rmsNorm' | 'sumRows' | 'meanRows' | 'maxRows'> = {
  softmax() { throw new Error('reference softmax: not implemented'); },
  layerNorm() { throw new Error('reference layerNorm: not implemented'); },
  rmsNorm() { throw new Error('reference rmsNorm: not implemented'); },
  sumRows() { throw new Error('reference sumRows: not implemented'); },
  meanRows() { throw new Error('reference meanRows: not implemented'); },
  maxRows() { throw new Error('reference maxRows: not implemented'); },
};
