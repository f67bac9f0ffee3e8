/**
 * What the web app draws, without the DOM: axial / coronal / sagittal slices of a canonical LPS+
 * volume (radiological convention), CT window presets, and the routing overlay (the expert each
 * voxel's patch token went to first, mapped back from the model's grid). Pure functions on typed
 * arrays, so Node tests check them (test/demo-views.test.ts). Not the page (./main.ts).
 * Legend: D,H,W volume · p patch · n=W/p · S=1+n^2 · t depth patch · E experts · k top-k.
 */

export type Plane = "axial" | "coronal" | "sagittal";
export const PLANES: readonly Plane[] = ["axial", "coronal", "sagittal"];

/** CT windows as [lo, hi] HU: level -/+ width/2. "model" is the checkpoint preset's window. */
export const WINDOWS: Readonly<Record<string, { label: string; lo: number; hi: number }>> = {
  lung: { label: "lung (W1500 L-600)", lo: -1350, hi: 150 },
  mediastinum: { label: "mediastinum (W350 L40)", lo: -135, hi: 215 },
  bone: { label: "bone (W1800 L400)", lo: -500, hi: 1300 },
};

export interface VolumeGeometry {
  shape: readonly number[]; // [D, H, W]: d toward Superior, h Posterior, w the patient's Left
  spacing: readonly number[]; // mm along d, h, w
}

/** One plane's image: `count` slices of rows x cols pixels, pixel size in mm, and the labels of its edges. */
export interface PlaneLayout {
  count: number;
  rows: number;
  cols: number;
  rowMm: number;
  colMm: number;
  /** Letters at the top, right, bottom, left edges (e.g. A, L, P, R for axial). */
  edges: [string, string, string, string];
}

/**
 * Radiological views: axial from the feet (anterior up, the patient's right on the viewer's left),
 * coronal from the front (superior up, right on the left), sagittal from the patient's left
 * (superior up, anterior on the left).
 */
export function planeLayout(g: VolumeGeometry, plane: Plane): PlaneLayout {
  const [D, H, W] = g.shape, [sd, sh, sw] = g.spacing;
  if (plane === "axial") return { count: D, rows: H, cols: W, rowMm: sh, colMm: sw, edges: ["A", "L", "P", "R"] };
  if (plane === "coronal") return { count: H, rows: D, cols: W, rowMm: sd, colMm: sw, edges: ["S", "L", "I", "R"] };
  return { count: W, rows: D, cols: H, rowMm: sd, colMm: sh, edges: ["S", "P", "I", "A"] };
}

/** The canonical voxel (d, h, w) shown at (row, col) of slice `index` of a plane. */
export function voxelAt(g: VolumeGeometry, plane: Plane, index: number, row: number, col: number): [number, number, number] {
  const D = g.shape[0];
  if (plane === "axial") return [index, row, col];
  if (plane === "coronal") return [D - 1 - row, index, col];
  return [D - 1 - row, col, index];
}

/** The slice's values, row-major [rows, cols]. */
export function extractSlice(data: Float32Array, g: VolumeGeometry, plane: Plane, index: number): Float32Array {
  const { rows, cols } = planeLayout(g, plane), [, H, W] = g.shape;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const [d, h, w] = voxelAt(g, plane, index, r, c);
      out[r * cols + c] = data[(d * H + h) * W + w];
    }
  }
  return out;
}

/** Grey RGBA of a slice: lo -> 0, hi -> 255, rounded, clamped. */
export function windowRgba(slice: Float32Array, lo: number, hi: number): Uint8ClampedArray {
  const out = new Uint8ClampedArray(4 * slice.length);
  for (let i = 0; i < slice.length; i++) {
    const g = Math.round(((slice[i] - lo) / (hi - lo)) * 255);
    out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = g;
    out[4 * i + 3] = 255;
  }
  return out;
}

/** What the overlay needs of the model and of one MoE layer's routing (sample 0). */
export interface RoutingGrid {
  grid: readonly number[]; // the preset's [D, H, W] (a "shape" preset: the whole volume resized to it)
  patch: number; // p
  depthPatch: number; // t
  topkIdx: Int32Array; // [1, M, k] of the trace
  k: number;
}

/**
 * The top-1 expert of the token that saw voxel (d, h, w) of the source volume: the voxel maps to
 * model-grid voxel floor((x + 0.5) * G / N) per axis (the resize is over the whole extent), which
 * lies in depth token floor(gd / t) and patch (floor(gh / p), floor(gw / p)); token
 * dt * S + 1 + row * n + col (token 0 of each depth group is its class token).
 */
export function expertOfVoxel(g: VolumeGeometry, r: RoutingGrid, d: number, h: number, w: number): number {
  const [G0, G1, G2] = r.grid, n = G2 / r.patch, S = 1 + n * n;
  const gd = Math.floor(((d + 0.5) * G0) / g.shape[0]), gh = Math.floor(((h + 0.5) * G1) / g.shape[1]), gw = Math.floor(((w + 0.5) * G2) / g.shape[2]);
  const token = Math.floor(gd / r.depthPatch) * S + 1 + Math.floor(gh / r.patch) * n + Math.floor(gw / r.patch);
  return r.topkIdx[token * r.k];
}

/** Blends each pixel of `rgba` (a plane slice) toward its expert's colour by `alpha` in [0, 1]. */
export function overlayRouting(
  rgba: Uint8ClampedArray, g: VolumeGeometry, plane: Plane, index: number, r: RoutingGrid,
  colours: readonly (readonly [number, number, number])[], alpha: number,
): void {
  const { rows, cols } = planeLayout(g, plane);
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      const [d, h, w] = voxelAt(g, plane, index, row, col);
      const c = colours[expertOfVoxel(g, r, d, h, w)], i = 4 * (row * cols + col);
      for (let ch = 0; ch < 3; ch++) rgba[i + ch] = Math.round((1 - alpha) * rgba[i + ch] + alpha * c[ch]);
    }
  }
}
