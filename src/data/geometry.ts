/**
 * Grids of the synthetic CT volumes: shape, voxel spacing, the voxel -> patient map and the NIfTI
 * affine. Geometry only: what is drawn where lives in anatomy.ts and findings.ts.
 *
 * Array layout `[D, H, W]` = `[k, j, i]`, row-major, in LPS+ orientation:
 *   i (W axis) runs from the patient's right to the patient's Left,
 *   j (H axis) from anterior to Posterior,
 *   k (D axis) from inferior to Superior.
 * Patient coordinates (mm) `(u, v, w)` = (left, posterior, superior) from the isocentre, which is
 * the centre of the grid: `u = (i - (W-1)/2) sx`, `v = (j - (H-1)/2) sy`, `w = (k - (D-1)/2) sz`.
 * Shown as an image (row j down, column i right), a slice is in the radiological convention: the
 * patient's right on the viewer's left, anterior up.
 */
import { ValueError } from "../errors.js";

/** `[D, H, W]`. */
export type Shape3 = [number, number, number];
/** Voxel size in mm in the order of the array axes: `[sz, sy, sx]`. */
export type Spacing3 = [number, number, number];

export interface Grid {
  shape: Shape3;
  spacing: Spacing3;
}

export type GridName = "tiny" | "small" | "m3d";

/** The volume of each model preset (src/model/config.ts PRESET_VOLUME). */
export const GRID_SHAPES: Record<GridName, Shape3> = {
  tiny: [4, 32, 32], // tests: 80 mm slices of 12 mm pixels
  small: [32, 128, 128], // training on 2 CPU cores: 10 mm x 3 mm x 3 mm
  m3d: [32, 256, 256], // M3D-sized (a chest CT resized to 32 x 256 x 256): 10 mm x 1.5 mm x 1.5 mm
};

/** Default field of view: 384 mm square in-plane (a body FOV), 320 mm craniocaudal (a chest CT: lower neck to upper abdomen). */
export const FOV_MM = 384;
export const COVERAGE_MM = 320;

/** A grid from a preset name, or a shape with the default field of view, or a shape and spacing. */
export function makeGrid(spec: GridName | Shape3 | Grid): Grid {
  if (typeof spec === "string") {
    const shape = GRID_SHAPES[spec];
    if (shape === undefined) throw new ValueError(`makeGrid: grid: expected one of ${Object.keys(GRID_SHAPES).join(", ")}, got "${spec}"`);
    return makeGrid([...shape] as Shape3);
  }
  const grid: Grid = Array.isArray(spec)
    ? { shape: [...spec] as Shape3, spacing: [COVERAGE_MM / spec[0], FOV_MM / spec[1], FOV_MM / spec[2]] }
    : { shape: [...spec.shape] as Shape3, spacing: [...spec.spacing] as Spacing3 };
  checkGrid(grid);
  return grid;
}

/** Parses the CLI form: `tiny`, `small`, `m3d` or `DxHxW` (e.g. `24x96x96`), default spacing. */
export function parseGrid(text: string): Grid {
  if (text in GRID_SHAPES) return makeGrid(text as GridName);
  const m = /^(\d+)x(\d+)x(\d+)$/.exec(text);
  if (m === null) throw new ValueError(`parseGrid: grid: expected tiny, small, m3d or DxHxW (e.g. 16x64x64), got "${text}"`);
  return makeGrid([Number(m[1]), Number(m[2]), Number(m[3])]);
}

function checkGrid(g: Grid): void {
  g.shape.forEach((n, a) => {
    if (!Number.isInteger(n) || n < 1 || n > 1024) {
      throw new ValueError(`makeGrid: shape[${a}]: expected an integer in [1, 1024], got ${n}`);
    }
  });
  g.spacing.forEach((s, a) => {
    if (!Number.isFinite(s) || s <= 0 || s > 1000) throw new ValueError(`makeGrid: spacing[${a}]: expected mm in (0, 1000], got ${s}`);
  });
}

/** Patient coordinate (mm) of voxel index `i` along an axis of `n` voxels of size `s`. */
export function axisMm(i: number, n: number, s: number): number {
  return (i - (n - 1) / 2) * s;
}

/** Voxel index (fractional) of the patient coordinate `x` (mm) along such an axis. */
export function axisIndex(x: number, n: number, s: number): number {
  return x / s + (n - 1) / 2;
}

/** `[u, v, w]` mm of the voxel `[k, j, i]` (fractional indices allowed). */
export function voxelToPatient(grid: Grid, kji: readonly [number, number, number]): [number, number, number] {
  const [D, H, W] = grid.shape, [sz, sy, sx] = grid.spacing;
  return [axisMm(kji[2], W, sx), axisMm(kji[1], H, sy), axisMm(kji[0], D, sz)];
}

/** `[k, j, i]` (fractional) of the patient point `[u, v, w]` mm. */
export function patientToVoxel(grid: Grid, uvw: readonly [number, number, number]): [number, number, number] {
  const [D, H, W] = grid.shape, [sz, sy, sx] = grid.spacing;
  return [axisIndex(uvw[2], D, sz), axisIndex(uvw[1], H, sy), axisIndex(uvw[0], W, sx)];
}

/**
 * The NIfTI affine, row-major 4x4, mapping `(i, j, k, 1)` to NIfTI world mm, which is RAS+ (x grows
 * towards the patient's Right, y Anterior, z Superior): `x = -u`, `y = -v`, `z = w`. So the
 * diagonal is `(-sx, -sy, +sz)` and the grid centre maps to the world origin.
 */
export function niftiAffine(grid: Grid): number[][] {
  const [D, H, W] = grid.shape, [sz, sy, sx] = grid.spacing;
  // RAS+ world: x = -u (towards the patient's right), y = -v (anterior), z = w (superior)
  return [
    [-sx, 0, 0, ((W - 1) / 2) * sx],
    [0, -sy, 0, ((H - 1) / 2) * sy],
    [0, 0, sz, -((D - 1) / 2) * sz],
    [0, 0, 0, 1],
  ];
}
