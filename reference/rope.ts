// Rotary position embedding (rotate-half), the scalar oracle: float64 angles from Math.pow/cos/sin,
// float64 arithmetic, one rounding to float32 per output. Plain loops, never optimised.
import type { F32, I32, Kernels, RopeDims } from "../src/backend/kernels.js";

/**
 * x, out [tokens, NH*dh]; pos [tokens, axes]. For head h and pair j in [0, dh/2) (j global across
 * sections; axis(j) = the section that contains j):
 *   a = pos[t, axis(j)] * base^(-2j/dh)
 *   out[j]        = x[j] cos a - x[j + dh/2] sin a
 *   out[j + dh/2] = x[j + dh/2] cos a + x[j] sin a
 */
function rope(out: F32, x: F32, pos: I32, d: RopeDims): void {
  const half = d.dh / 2;
  const width = d.heads * d.dh;
  // axisOf[j]: the position axis that pair j reads (sections laid end to end)
  const axisOf: number[] = [];
  for (let a = 0; a < d.sections.length; a++) {
    for (let s = 0; s < d.sections[a]; s++) axisOf.push(a);
  }
  for (let t = 0; t < d.tokens; t++) {
    for (let h = 0; h < d.heads; h++) {
      const row = t * width + h * d.dh;
      for (let j = 0; j < half; j++) {
        const angle = pos[t * d.axes + axisOf[j]] * Math.pow(d.base, (-2 * j) / d.dh);
        const c = Math.cos(angle), s = Math.sin(angle);
        const x1 = x[row + j], x2 = x[row + j + half];
        out[row + j] = x1 * c - x2 * s;
        out[row + j + half] = x2 * c + x1 * s;
      }
    }
  }
}

export const ropeReference: Pick<Kernels, "rope"> = { rope };
