/**
 * Intensity window: clip to [lo, hi] and scale to [0, 1]. Scalar loop in float64, one rounding to
 * float32 per voxel; lo maps to exactly 0, hi to exactly 1, and no output leaves [0, 1].
 */
import { ValueError } from "../errors.js";

/** out[i] = (min(max(x[i], lo), hi) - lo) / (hi - lo) */
export function windowScale(x: Float32Array, lo: number, hi: number): Float32Array {
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) {
    throw new ValueError(`windowScale: window: expected finite lo < hi, got [${lo}, ${hi}]`);
  }
  const out = new Float32Array(x.length);
  const width = hi - lo;
  for (let i = 0; i < x.length; i++) {
    const v = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
    out[i] = (v - lo) / width;
  }
  return out;
}
