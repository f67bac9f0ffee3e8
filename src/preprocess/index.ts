/**
 * preprocess: a canonical volume (readNifti's output, or any [D, H, W] float32 volume in HU with
 * its spacing and affine) -> the model input [1, 1, D, H, W] of a preset, with the geometry of
 * that input. Steps, in this order: window + scale (./window.ts) -> trilinear resample
 * (./resample.ts) -> centre crop / pad with 0, the scaled window minimum = air (./crop.ts).
 *
 *   const { data, meta } = preprocess(readNifti(bytes), preprocessPreset("m3d"));  // data [1,1,32,256,256]
 */
import { ShapeError, ValueError, fmtShape } from "../errors.js";
import { matmul4, type Mat4 } from "../io/orient.js";
import { Tensor, type F32Tensor } from "../tensor.js";
import { cropOrPad } from "./crop.js";
import { MAX_GRID_VOXELS, validatePreset, type PreprocessPreset } from "./presets.js";
import { resampleTrilinear } from "./resample.js";
import { windowScale } from "./window.js";

export { MAX_GRID_VOXELS, preprocessPreset, validatePreset, PREPROCESS_PRESET_NAMES, type PreprocessPreset } from "./presets.js";
export { windowScale } from "./window.js";
export { resampleTrilinear, resizeTrilinear, axisTaps } from "./resample.js";
export { cropOrPad, centreOffsets } from "./crop.js";

/** What preprocess needs of a volume (a NiftiVolume has all of it). */
export interface VolumeLike {
  data: Float32Array; // [D, H, W], Hounsfield units
  shape: readonly number[];
  spacing: readonly number[]; // mm along d, h, w
  affine: Mat4; // (w, h, d, 1) -> world mm
}

export interface PreprocessMeta {
  preset: PreprocessPreset;
  sourceShape: [number, number, number];
  sourceSpacing: [number, number, number];
  /** Extent after resampling, before crop / pad. */
  resampledShape: [number, number, number];
  /** Start of the output grid in the resampled volume, per axis [d, h, w]; negative = padding. */
  offset: [number, number, number];
  /** Voxel size of the output in mm [d, h, w]. */
  spacing: [number, number, number];
  /** Output index (w, h, d, 1) -> world mm, so predictions can be mapped back. */
  affine: Mat4;
  /** Share of source voxels below / above the window (a sanity check that the input is HU). */
  clipped: { low: number; high: number };
}

export function preprocess(vol: VolumeLike, preset: PreprocessPreset): { data: F32Tensor; meta: PreprocessMeta } {
  const p = validatePreset(preset);
  const shape = checkVolume(vol);
  const spacing = [0, 1, 2].map((a) => vol.spacing[a]) as [number, number, number];
  // resampled extent and input step per output step, per axis [d, h, w]
  let rshape: [number, number, number], scale: number[], outSpacing: [number, number, number];
  if (p.resample.mode === "shape") {
    rshape = [...p.grid];
    scale = [0, 1, 2].map((a) => shape[a] / rshape[a]);
    outSpacing = [0, 1, 2].map((a) => spacing[a] * scale[a]) as [number, number, number];
  } else {
    const target = p.resample.spacing;
    rshape = [0, 1, 2].map((a) => Math.max(1, Math.round((shape[a] * spacing[a]) / target[a]))) as [number, number, number];
    const n = rshape[0] * rshape[1] * rshape[2];
    if (!(n <= MAX_GRID_VOXELS)) {
      throw new ValueError(`preprocess: resample.spacing: ${fmtShape(shape)} voxels of ${fmtShape(spacing)} mm at ${fmtShape(target)} mm gives ${fmtShape(rshape)} = ${n} voxels, more than ${MAX_GRID_VOXELS} (512^3)`);
    }
    scale = [0, 1, 2].map((a) => target[a] / spacing[a]);
    outSpacing = [...target];
  }
  const scaled = windowScale(vol.data, p.window.lo, p.window.hi);
  const resampled = resampleTrilinear(scaled, shape, rshape, scale);
  const { data, offset } = cropOrPad(resampled, rshape, p.grid, 0);
  return {
    data: new Tensor("f32", [1, 1, ...p.grid], data),
    meta: {
      preset: p, sourceShape: shape, sourceSpacing: spacing, resampledShape: rshape, offset,
      spacing: outSpacing,
      affine: outputAffine(vol.affine, scale, offset),
      clipped: clippedShares(vol.data, p.window.lo, p.window.hi),
    },
  };
}

function checkVolume(vol: VolumeLike): [number, number, number] {
  const s = vol.shape;
  if (s.length !== 3 || !s.every((e) => Number.isInteger(e) && e >= 1)) {
    throw new ShapeError(`preprocess: vol.shape: expected [D, H, W] positive integers, got ${fmtShape(s)}`);
  }
  if (!(vol.data instanceof Float32Array) || vol.data.length !== s[0] * s[1] * s[2]) {
    throw new ShapeError(`preprocess: vol.data: expected a Float32Array of ${s[0] * s[1] * s[2]} elements for ${fmtShape(s)}`);
  }
  if (vol.spacing.length !== 3 || !vol.spacing.every((e) => Number.isFinite(e) && e > 0)) {
    throw new ValueError(`preprocess: vol.spacing: expected 3 positive mm sizes [d, h, w], got ${fmtShape(vol.spacing)}`);
  }
  return [s[0], s[1], s[2]];
}

/**
 * affine_out = affine . S . T, where S maps a resampled index to the source index
 * (x = (o + 0.5) scale - 0.5) and T a grid index to the resampled one (o = g + offset). Affine
 * columns are ordered (w, h, d); `scale` and `offset` are [d, h, w].
 */
function outputAffine(affine: Mat4, scale: readonly number[], offset: readonly number[]): Mat4 {
  const S = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]];
  const T = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
  for (let c = 0; c < 3; c++) {
    const a = 2 - c; // affine column c (w, h, d) is array axis a (d, h, w)
    S[c][c] = scale[a];
    S[c][3] = 0.5 * scale[a] - 0.5;
    T[c][3] = offset[a];
  }
  return matmul4(matmul4(affine, S), T);
}

function clippedShares(x: Float32Array, lo: number, hi: number): { low: number; high: number } {
  let low = 0, high = 0;
  for (let i = 0; i < x.length; i++) {
    if (x[i] < lo) low++;
    else if (x[i] > hi) high++;
  }
  return { low: low / x.length, high: high / x.length };
}
