/**
 * Preprocessing presets: plain JSON objects, named and versioned, stored in checkpoints so that a
 * model is always fed what it was trained on. A preset is data, not code: ./index.ts runs it.
 * Validation (ValueError naming the key) for presets read back from a checkpoint.
 */
import { ValueError } from "../errors.js";

export interface PreprocessPreset {
  /** e.g. "m3d"; the built-in names are the model presets of src/model/config.ts. */
  name: string;
  /** Bumped whenever any field of a named preset changes; old versions stay available. */
  version: number;
  modality: "CT";
  /** The frame readNifti returns (src/io/orient.ts): w toward Left, h Posterior, d Superior. */
  orientation: "LPS";
  /** Hounsfield window: values are clipped to [lo, hi], then scaled to [0, 1] by (x - lo) / (hi - lo). */
  window: { lo: number; hi: number };
  /**
   * "shape": the whole volume is resized to `grid` (each axis its own scale, as M3D does), so
   *          nothing is cropped or padded;
   * "spacing": resampled to this voxel size in mm [d, h, w], then centre-cropped / padded to `grid`.
   */
  resample: { mode: "shape" } | { mode: "spacing"; spacing: [number, number, number] };
  interpolation: "trilinear";
  /** The model input [D, H, W]. */
  grid: [number, number, number];
}

/**
 * The built-in CT presets, one per model preset (small: version 1 = 16x64x64, version 2 = 32x128x128), all "shape" mode.
 * Window [-1000, 1000] HU: air (-1000) through lung, fat, soft tissue, contrast and most bone in one
 * channel without saturating any of them (the range CT-CLIP and RadFM feed their encoders); a lung
 * window (-1350..150) would flatten bone and contrast, a mediastinal one (-160..240) the lungs.
 */
function ct(name: string, grid: [number, number, number], version = 1): PreprocessPreset {
  return {
    name, version, modality: "CT", orientation: "LPS",
    window: { lo: -1000, hi: 1000 },
    resample: { mode: "shape" },
    interpolation: "trilinear",
    grid,
  };
}
const PRESETS: readonly PreprocessPreset[] = [
  ct("tiny", [4, 32, 32]),
  ct("small", [16, 64, 64]), // checkpoints made before the finer grid
  ct("small", [32, 128, 128], 2),
  ct("m3d", [32, 256, 256]),
  ct("phi3v", [32, 336, 336]),
];

export const PREPROCESS_PRESET_NAMES: readonly string[] = [...new Set(PRESETS.map((p) => p.name))];

/** A fresh copy of preset `name` at `version` (default: its latest version). */
export function preprocessPreset(name: string, version?: number): PreprocessPreset {
  const all = PRESETS.filter((p) => p.name === name);
  if (all.length === 0) {
    throw new ValueError(`preprocessPreset: name: expected one of ${PREPROCESS_PRESET_NAMES.join(", ")}, got ${String(name)}`);
  }
  const p = version === undefined ? all.reduce((a, b) => (b.version > a.version ? b : a)) : all.find((q) => q.version === version);
  if (!p) throw new ValueError(`preprocessPreset: version: ${name} has versions ${all.map((q) => q.version).join(", ")}, got ${version}`);
  return structuredClone(p) as PreprocessPreset;
}

/** Most voxels of a grid (and of a volume resampled on the way to it): 512^3, readNifti's own limit. */
export const MAX_GRID_VOXELS = 512 ** 3;

/** Checks a preset read from JSON (e.g. a checkpoint's metadata) field by field; returns a copy. */
export function validatePreset(x: unknown, where = "preset"): PreprocessPreset {
  const fail = (key: string, want: string, got: unknown): never => {
    throw new ValueError(`${where}: ${key}: expected ${want}, got ${JSON.stringify(got)}`);
  };
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const posTriple = (v: unknown, int: boolean) =>
    Array.isArray(v) && v.length === 3 && v.every((e) => typeof e === "number" && Number.isFinite(e) && e > 0 && (!int || Number.isInteger(e)));
  if (!isObj(x)) return fail("", "an object", x);
  const known = ["name", "version", "modality", "orientation", "window", "resample", "interpolation", "grid"];
  for (const k of Object.keys(x)) if (!known.includes(k)) fail(k, "no such key (unknown field)", x[k]);
  if (typeof x.name !== "string" || x.name === "") fail("name", "a non-empty string", x.name);
  if (!Number.isInteger(x.version) || (x.version as number) < 1) fail("version", "a positive integer", x.version);
  if (x.modality !== "CT") fail("modality", '"CT"', x.modality);
  if (x.orientation !== "LPS") fail("orientation", '"LPS"', x.orientation);
  const w = x.window;
  if (!isObj(w) || !Number.isFinite(w.lo) || !Number.isFinite(w.hi) || !((w.lo as number) < (w.hi as number)) || Object.keys(w).length !== 2) {
    fail("window", "{lo, hi} finite with lo < hi", w);
  }
  const r = x.resample;
  const rOk = isObj(r) && ((r.mode === "shape" && Object.keys(r).length === 1) ||
    (r.mode === "spacing" && Object.keys(r).length === 2 && posTriple(r.spacing, false)));
  if (!rOk) fail("resample", '{mode: "shape"} or {mode: "spacing", spacing: [d, h, w] mm > 0}', r);
  if (x.interpolation !== "trilinear") fail("interpolation", '"trilinear"', x.interpolation);
  if (!posTriple(x.grid, true)) fail("grid", "[D, H, W] positive integers", x.grid);
  const [D, H, W] = x.grid as number[];
  if (D * H * W > MAX_GRID_VOXELS) fail("grid", `at most ${MAX_GRID_VOXELS} voxels (512^3)`, x.grid);
  return structuredClone(x) as unknown as PreprocessPreset;
}
