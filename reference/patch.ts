// PLACEHOLDER: reference patch primitives (to be written).
import type { Kernels } from "../src/backend/kernels.js";

export const patchReference: Pick<Kernels, 'patchEmbed'> = {
  patchEmbed() { throw new Error('reference patchEmbed: not implemented'); },
};
