/**
 * Centre crop / pad of a [D, H, W] volume to a grid: per axis the output window starts at
 * trunc((n - g) / 2) in the input (negative: that much padding before), so an odd leftover voxel,
 * cropped or padded, is always at the end (MONAI's symmetric SpatialPad does the same for pads).
 * Pure data movement; the fill value is the caller's (the window minimum, i.e. air).
 */

/** Start of the output window in the input, per axis [d, h, w]; negative = padding before. */
export function centreOffsets(shape: readonly number[], grid: readonly number[]): [number, number, number] {
  return [0, 1, 2].map((a) => Math.trunc((shape[a] - grid[a]) / 2)) as [number, number, number];
}

/** out[d, h, w] = src[d + od, h + oh, w + ow] where inside src, else `fill`. */
export function cropOrPad(
  src: Float32Array, shape: readonly number[], grid: readonly number[], fill: number,
): { data: Float32Array; offset: [number, number, number] } {
  const [D, H, W] = shape, [GD, GH, GW] = grid;
  const offset = centreOffsets(shape, grid);
  const [od, oh, ow] = offset;
  const out = new Float32Array(GD * GH * GW).fill(fill);
  // the overlap in output coordinates, per axis: [max(0, -o), min(g, n - o))
  const w0 = Math.max(0, -ow), w1 = Math.min(GW, W - ow);
  for (let d = Math.max(0, -od); d < Math.min(GD, D - od); d++) {
    for (let h = Math.max(0, -oh); h < Math.min(GH, H - oh); h++) {
      const s = ((d + od) * H + (h + oh)) * W + ow;
      const o = (d * GH + h) * GW;
      if (w1 > w0) out.set(src.subarray(s + w0, s + w1), o + w0);
    }
  }
  return { data: out, offset };
}
