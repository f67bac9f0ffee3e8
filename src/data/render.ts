/**
 * Rasterises a list of layers (shape + tissue value, painted in order) onto a grid with partial
 * volume, then adds correlated noise and quantises to integer HU. Knows nothing of anatomy.
 *
 * Partial volume: in-plane, a pixel takes the fraction `coverage(d, h)` of a layer (sdf.ts);
 * through-plane, each slice is the mean of `sub` sub-slices spread evenly over its thickness
 * (subSlices: at most 2.5 mm apart).
 */
import type { Rng } from "../rng.js";
import { axisIndex, axisMm, type Grid } from "./geometry.js";
import { coverage } from "./sdf.js";

/** Patient box `[u0, u1, v0, v1, w0, w1]` (mm) outside which a layer covers nothing. */
export type Box = [number, number, number, number, number, number];

export interface Layer {
  name: string;
  box: Box;
  /** Signed distance (mm) at (u, v, w); negative inside. */
  sdf: (u: number, v: number, w: number) => number;
  /** Tissue value (HU) inside, constant or varying. */
  hu: number | ((u: number, v: number, w: number) => number);
  /** Nested shells painted over it in order: the shape inset by `inset` mm (e.g. marrow in cortex). */
  inner?: readonly { inset: number; hu: number }[];
  /** The shape does not depend on w inside the box: its coverage is computed once, not per slice. */
  flat?: boolean;
  /**
   * In-plane shadow (mm, signed like an sdf): the layer covers nothing at (u, v) where this is
   * positive at every w. Only pixels within a pixel of it are visited (ribs: an elliptic band).
   */
  footprint?: (u: number, v: number) => number;
  /** When set, the layer's coverage is recorded under this key (see Rendered.tracks). */
  track?: string;
}

export interface Track {
  /** Per slice k: the sum over its voxels of the layer's coverage (a voxel count). */
  perSlice: Float64Array;
  /** Per voxel coverage [D, H, W], only when `masks` was asked for. */
  mask?: Float32Array;
}

export interface Rendered {
  /** HU before noise, [D, H, W]. */
  hu: Float32Array;
  tracks: Map<string, Track>;
}

export const BACKGROUND_HU = -1000;
/** Sub-slices are at most SUB_MM apart (so that a 3 mm nodule is sampled), and at most MAX_SUB per slice. */
export const SUB_MM = 2.5, MAX_SUB = 8;

/** Sub-slices per slice of a grid: ceil(sz / SUB_MM), between 1 and MAX_SUB. */
export function subSlices(grid: Grid): number {
  return Math.min(MAX_SUB, Math.max(1, Math.ceil(grid.spacing[0] / SUB_MM - 1e-9)));
}

/** The in-plane sampling of a grid: pixel centres (mm) and the pixel size h. */
interface Plane {
  W: number;
  us: Float64Array;
  vs: Float64Array;
  h: number;
}

/** The pixels `j * W + i` a layer may cover: its box grown by a pixel, cut to its footprint. */
function layerPixels(l: Layer, grid: Grid, pl: Plane): Int32Array {
  const [, H, W] = grid.shape, [, sy, sx] = grid.spacing, h = pl.h;
  const i0 = Math.max(0, Math.floor(axisIndex(l.box[0] - h, W, sx))), i1 = Math.min(W - 1, Math.ceil(axisIndex(l.box[1] + h, W, sx)));
  const j0 = Math.max(0, Math.floor(axisIndex(l.box[2] - h, H, sy))), j1 = Math.min(H - 1, Math.ceil(axisIndex(l.box[3] + h, H, sy)));
  const out: number[] = [];
  for (let j = j0; j <= j1; j++) {
    for (let i = i0; i <= i1; i++) {
      if (l.footprint === undefined || l.footprint(pl.us[i], pl.vs[j]) <= h) out.push(j * W + i);
    }
  }
  return Int32Array.from(out);
}

/** Paints `layers` in order over air; `masks` also returns per-voxel coverage of tracked layers. */
export function renderLayers(grid: Grid, layers: readonly Layer[], masks = false): Rendered {
  const [D, H, W] = grid.shape, [sz, sy, sx] = grid.spacing;
  const HW = H * W, sub = subSlices(grid);
  const pl: Plane = {
    W, h: Math.sqrt(sx * sy),
    us: Float64Array.from({ length: W }, (_, i) => axisMm(i, W, sx)),
    vs: Float64Array.from({ length: H }, (_, j) => axisMm(j, H, sy)),
  };
  const tracks = new Map<string, Track>();
  for (const l of layers) {
    if (l.track !== undefined && !tracks.has(l.track)) {
      tracks.set(l.track, { perSlice: new Float64Array(D), mask: masks ? new Float32Array(D * HW) : undefined });
    }
  }
  const pixels = new Map<Layer, Int32Array>(), flat = new Map<Layer, Float64Array>();
  const out = new Float32Array(D * HW), img = new Float64Array(HW), acc = new Float64Array(HW);
  for (let k = 0; k < D; k++) {
    acc.fill(0);
    for (let s = 0; s < sub; s++) {
      const w = axisMm(k, D, sz) + ((s + 0.5) / sub - 0.5) * sz;
      img.fill(BACKGROUND_HU);
      for (const l of layers) {
        if (w < l.box[4] - pl.h || w > l.box[5] + pl.h) continue;
        let px = pixels.get(l);
        if (px === undefined) pixels.set(l, (px = layerPixels(l, grid, pl)));
        let cov = flat.get(l);
        if (l.flat && cov === undefined) flat.set(l, (cov = flatCoverage(l, px, pl)));
        const track = l.track === undefined ? undefined : tracks.get(l.track);
        const covered = paint(l, px, w, pl, img, cov);
        if (track === undefined) continue;
        for (let n = 0; n < px.length; n++) {
          if (covered[n] === 0) continue;
          track.perSlice[k] += covered[n] / sub;
          if (track.mask !== undefined) track.mask[k * HW + px[n]] += covered[n] / sub;
        }
      }
      for (let p = 0; p < HW; p++) acc[p] += img[p];
    }
    for (let p = 0; p < HW; p++) out[k * HW + p] = acc[p] / sub;
  }
  return { hu: out, tracks };
}

/** Coverage of a flat layer and of its shells at its pixels, [1 + shells, pixels] (sdf at w = 0). */
function flatCoverage(l: Layer, px: Int32Array, pl: Plane): Float64Array {
  const shells = 1 + (l.inner?.length ?? 0), n = px.length;
  const cov = new Float64Array(shells * n);
  for (let q = 0; q < n; q++) {
    const i = px[q] % pl.W, j = (px[q] - i) / pl.W;
    const d = l.sdf(pl.us[i], pl.vs[j], 0);
    cov[q] = coverage(d, pl.h);
    for (let m = 1; m < shells; m++) cov[m * n + q] = coverage(d + l.inner![m - 1].inset, pl.h);
  }
  return cov;
}

/**
 * Blends one layer (and its shells) into the sub-slice image at height w. Returns the layer's
 * coverage at each of its pixels (the same array each call; valid until the next call).
 */
function paint(l: Layer, px: Int32Array, w: number, pl: Plane, img: Float64Array, cov: Float64Array | undefined): Float64Array {
  const n = px.length, hu = l.hu, inner = l.inner ?? [];
  if (scratch.length < n) scratch = new Float64Array(n);
  const covered = scratch;
  for (let q = 0; q < n; q++) {
    const p = px[q], i = p % pl.W, j = (p - i) / pl.W, u = pl.us[i], v = pl.vs[j];
    const d = cov === undefined ? l.sdf(u, v, w) : 0;
    const c = cov === undefined ? coverage(d, pl.h) : cov[q];
    covered[q] = c;
    if (c === 0) continue;
    img[p] += c * ((typeof hu === "number" ? hu : hu(u, v, w)) - img[p]);
    for (let m = 0; m < inner.length; m++) {
      const ci = cov === undefined ? coverage(d + inner[m].inset, pl.h) : cov[(m + 1) * n + q];
      if (ci > 0) img[p] += ci * (inner[m].hu - img[p]);
    }
  }
  return covered;
}
let scratch = new Float64Array(0);

/** CT number range stored (12-bit CT: -1024 .. 3071). */
export const HU_MIN = -1024, HU_MAX = 3071;

/**
 * Adds noise of standard deviation `sigma` HU, correlated in-plane like CT noise, then rounds to
 * integer HU (never -0) and clips to [HU_MIN, HU_MAX]. In place.
 * White noise: per voxel in array order, the Irwin-Hall sum of four uint32 draws of `rng`
 * (`(sum / 2^32 - 2) * sqrt(3)`: mean 0, variance 1, bounded by +-3.46: "Gaussian-ish", and no
 * transcendental function). It is smoothed by [1,2,1]/4 along rows and columns (edges replicated),
 * which scales the standard deviation by 3/8, so it is drawn with sigma * 8/3.
 */
export function addNoise(grid: Grid, vol: Float32Array, sigma: number, rng: Rng): void {
  const [D, H, W] = grid.shape, HW = H * W;
  const white = new Float64Array(HW), tmp = new Float64Array(HW);
  const gain = ((sigma * 8) / 3) * Math.sqrt(3);
  for (let k = 0; k < D; k++) {
    for (let p = 0; p < HW; p++) {
      const sum = rng.nextU32() + rng.nextU32() + rng.nextU32() + rng.nextU32();
      white[p] = (sum / 4294967296 - 2) * gain;
    }
    for (let j = 0; j < H; j++) {
      for (let i = 0; i < W; i++) {
        const p = j * W + i;
        tmp[p] = (white[i > 0 ? p - 1 : p] + 2 * white[p] + white[i < W - 1 ? p + 1 : p]) / 4;
      }
    }
    for (let j = 0; j < H; j++) {
      const up = j > 0 ? -W : 0, down = j < H - 1 ? W : 0;
      for (let i = 0; i < W; i++) {
        const p = j * W + i, q = k * HW + p;
        const x = vol[q] + (tmp[p + up] + 2 * tmp[p] + tmp[p + down]) / 4;
        const r = Math.round(x) + 0; // + 0 turns -0 into 0: integers, as int16 files hold them
        vol[q] = r < HU_MIN ? HU_MIN : r > HU_MAX ? HU_MAX : r;
      }
    }
  }
}
