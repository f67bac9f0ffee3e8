/**
 * readDicomSeries: one CT series given as DICOM files (one slice per file, any order) -> one
 * float32 volume [D, H, W] in Hounsfield units in the same canonical LPS+ frame, with the same
 * kind of affine (canonical index -> RAS+ mm), as readNifti. Works on bytes (Node and browsers);
 * files come from a folder, a file list or a drop. Conventions and every check: docs/INPUT.md, "DICOM".
 *
 *   const vol = readDicomSeries(files);   // files: { name, bytes }[]; vol.data, shape, spacing, affine, meta
 */
import { FormatError, ValueError } from "../errors.js";
import { MAX_ELEMENTS } from "../tensor.js";
import { DEFAULT_MAX_VOXELS } from "./nifti.js";
import { decodeSlice, parseSlice, READABLE_TRANSFER_SYNTAXES, type SliceInfo, type VolumeFile } from "./dicom-slice.js";
import { axcodes, columnNorm, planCanonical, reorient, type Mat4 } from "./orient.js";

export { isDicom, type VolumeFile } from "./dicom-slice.js";

export interface ReadDicomOptions {
  /** SeriesInstanceUID to read when the files hold several series (default: refuse a mix). */
  series?: string;
  /** Largest Rows * Columns * slices accepted (default 512^3, as readNifti). */
  maxVoxels?: number;
}

export interface DicomMeta {
  seriesUid: string;
  seriesDescription: string;
  modality: string;
  transferSyntax: string; // its name, e.g. "Explicit VR Little Endian"
  slices: number;
  /** File names in slice order (inferior to superior along the slice normal's direction of increase). */
  files: string[];
  /** Axis codes of the series' own axes: column, row, slice (e.g. "LPS" for a plain axial series). */
  sourceAxcodes: string;
  /** Distance between neighbouring slices along the normal, from ImagePositionPatient (mm). */
  sliceSpacing: number;
  /** Things accepted but worth knowing (files that are not DICOM, gantry tilt, RescaleType). */
  warnings: string[];
}

export interface DicomVolume {
  /** [D, H, W] row-major, canonical LPS+ (w fastest), Hounsfield units. */
  data: Float32Array;
  shape: [number, number, number];
  /** Voxel size in mm along d, h, w. */
  spacing: [number, number, number];
  /** 4x4 rows: canonical index (w, h, d, 1) -> world RAS+ mm (DICOM's LPS x and y negated), as readNifti. */
  affine: Mat4;
  meta: DicomMeta;
}

/** Relative and absolute tolerance on slice positions: 1% of the spacing, at least 0.01 mm. */
const REL_TOL = 0.01, ABS_TOL = 0.01;

export function readDicomSeries(files: readonly VolumeFile[], opts: ReadDicomOptions = {}): DicomVolume {
  const maxVoxels = opts.maxVoxels ?? DEFAULT_MAX_VOXELS;
  if (!Number.isInteger(maxVoxels) || maxVoxels < 1 || maxVoxels > MAX_ELEMENTS) {
    throw new ValueError(`readDicomSeries: maxVoxels: expected an integer in [1, ${MAX_ELEMENTS}], got ${String(maxVoxels)}`);
  }
  if (!Array.isArray(files) || files.length === 0) throw new ValueError("readDicomSeries: files: expected at least one { name, bytes }, got none");
  const warnings: string[] = [];
  const parsed: SliceInfo[] = [], skipped: string[] = [];
  for (const f of files) {
    if (!f || typeof f.name !== "string" || !(f.bytes instanceof Uint8Array)) {
      throw new ValueError(`readDicomSeries: files: expected { name: string, bytes: Uint8Array } items, got ${typeof f}`);
    }
    const s = parseSlice(f);
    if (s) parsed.push(s);
    else skipped.push(f.name);
  }
  if (parsed.length === 0) {
    throw new FormatError(`${files.length === 1 ? files[0].name : `${files.length} files`}: no DICOM image among them (a DICOM file has "DICM" at byte 128 and PixelData)`);
  }
  if (skipped.length > 0) warnings.push(`${skipped.length} file(s) without a DICOM image ignored: ${list(skipped)}`);
  const slices = pickSeries(parsed, opts.series);
  const first = slices[0];
  checkModality(slices, warnings);
  checkSameGrid(slices);
  const geo = orderSlices(slices);
  if (geo.tiltDegrees > 0.1) warnings.push(`gantry tilt: the slices are sheared by ${geo.tiltDegrees.toFixed(1)} degrees; kept in the affine, not resampled`);
  const types = new Set(slices.map((s) => s.rescaleType).filter((t) => t !== "" && t !== "HU"));
  if (types.size > 0) warnings.push(`(0028,1054) RescaleType ${[...types].join(", ")}: values may not be Hounsfield units`);

  const { rows, columns } = first, N = geo.order.length;
  if (rows * columns * N > maxVoxels) {
    throw new FormatError(`${first.file}: ${columns} x ${rows} x ${N} slices = ${rows * columns * N} voxels, more than the limit ${maxVoxels} (option maxVoxels)`);
  }
  const values = new Float32Array(rows * columns * N);
  geo.order.forEach((s, k) => decodeSlice(s, values, k * rows * columns));
  const dims: [number, number, number] = [columns, rows, N];
  const canon = planCanonical(geo.affine, dims);
  return {
    data: reorient(values, dims, canon),
    shape: canon.shape,
    spacing: [2, 1, 0].map((t) => columnNorm(canon.affine, t)) as [number, number, number],
    affine: canon.affine,
    meta: {
      seriesUid: first.seriesUid, seriesDescription: first.seriesDescription, modality: first.modality ?? "CT",
      transferSyntax: READABLE_TRANSFER_SYNTAXES[first.transferSyntax], slices: N, files: geo.order.map((s) => s.file),
      sourceAxcodes: axcodes(geo.affine), sliceSpacing: geo.spacing, warnings,
    },
  };
}

/** The slices of one series: the only one, or the one named by `series`; a mix is refused. */
function pickSeries(slices: SliceInfo[], series: string | undefined): SliceInfo[] {
  const bySeries = new Map<string, SliceInfo[]>();
  for (const s of slices) bySeries.set(s.seriesUid, [...(bySeries.get(s.seriesUid) ?? []), s]);
  if (series !== undefined) {
    const picked = bySeries.get(series);
    if (!picked) throw new ValueError(`readDicomSeries: series: ${series} is not among the files' series: ${[...bySeries.keys()].join(", ")}`);
    return picked;
  }
  if (bySeries.size > 1) {
    const each = [...bySeries].map(([uid, s]) => `${uid}${s[0].seriesDescription ? ` "${s[0].seriesDescription}"` : ""} (${s.length} files)`);
    throw new FormatError(`mixed series: the files hold ${bySeries.size} series (SeriesInstanceUID): ${each.join("; ")}; read one at a time (option series, CLI --series UID)`);
  }
  return slices;
}

function checkModality(slices: SliceInfo[], warnings: string[]): void {
  const other = slices.find((s) => s.modality !== null && s.modality !== "CT");
  if (other) {
    throw new FormatError(`${other.file}: (0008,0060) Modality: expected CT, got ${other.modality} (the model reads CT in Hounsfield units)`);
  }
  if (slices.some((s) => s.modality === null)) warnings.push("(0008,0060) Modality missing: read as CT");
}

/** Every slice must share rows, columns, pixel spacing, orientation, pixel format and frame of reference. */
function checkSameGrid(slices: SliceInfo[]): void {
  const a = slices[0];
  const fields: [string, (s: SliceInfo) => unknown, (x: unknown, y: unknown) => boolean][] = [
    ["(0028,0010/0011) Rows x Columns", (s) => `${s.rows} x ${s.columns}`, eq],
    ["(0028,0030) PixelSpacing", (s) => s.pixelSpacing, near],
    ["(0020,0037) ImageOrientationPatient", (s) => s.orientation, near],
    ["(0028,0100/0103) BitsAllocated, PixelRepresentation", (s) => `${s.bitsAllocated} bits ${s.signed ? "signed" : "unsigned"}`, eq],
    ["(0020,0052) FrameOfReferenceUID", (s) => s.frameOfReference, eq],
  ];
  for (const [label, get, same] of fields) {
    const b = slices.find((s) => !same(get(s), get(a)));
    if (b) throw new FormatError(`mixed series: ${label} differs within series ${a.seriesUid}: ${a.file} has ${show(get(a))}, ${b.file} has ${show(get(b))}`);
  }
}

interface Geometry {
  order: SliceInfo[]; // sorted along the slice normal
  affine: Mat4; // (column, row, slice, 1) -> RAS+ mm
  spacing: number; // mm between slices along the normal
  tiltDegrees: number; // angle between the slice step and the normal
}

/**
 * Orders the slices by the projection of ImagePositionPatient on the normal n = row x column,
 * checks the gaps (no duplicate, no missing slice, even spacing, positions on one line) and builds
 * the affine: columns (row cosine * column spacing, column cosine * row spacing, slice step,
 * first position), in LPS, then x and y negated to RAS.
 */
function orderSlices(slices: SliceInfo[]): Geometry {
  const o = slices[0].orientation;
  const r = [o[0], o[1], o[2]], c = [o[3], o[4], o[5]];
  const cross = [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]];
  const len = Math.hypot(...cross);
  if (!(len > 0.5)) throw new FormatError(`${slices[0].file}: (0020,0037) ImageOrientationPatient: expected two orthogonal unit vectors, got [${o.join(", ")}]`);
  const n = cross.map((x) => x / len);
  const at = (s: SliceInfo) => s.position[0] * n[0] + s.position[1] * n[1] + s.position[2] * n[2];
  const order = [...slices].sort((a, b) => at(a) - at(b));
  if (order.length < 2) throw new FormatError(`series ${order[0].seriesUid}: 1 slice (${order[0].file}); a CT volume needs at least 2`);
  const gaps = order.slice(1).map((s, k) => at(s) - at(order[k]));
  const spacing = [...gaps].sort((x, y) => x - y)[gaps.length >> 1]; // the median gap
  const tol = Math.max(ABS_TOL, REL_TOL * spacing);
  gaps.forEach((g, k) => checkGap(g, spacing, tol, order[k], order[k + 1], at));
  const N = order.length, p0 = order[0].position, pN = order[N - 1].position;
  const step = [0, 1, 2].map((i) => (pN[i] - p0[i]) / (N - 1));
  order.forEach((s, k) => {
    const off = Math.hypot(...[0, 1, 2].map((i) => s.position[i] - (p0[i] + k * step[i])));
    if (off > tol) throw new FormatError(`uneven spacing: ${s.file} lies ${off.toFixed(3)} mm off the line through the first and last slice positions (tolerance ${tol.toFixed(3)} mm)`);
  });
  const [dr, dc] = order[0].pixelSpacing;
  const lps = [0, 1, 2].map((i) => [r[i] * dc, c[i] * dr, step[i], p0[i]]);
  const affine: Mat4 = [...lps.map((row, i) => (i < 2 ? row.map((x) => 0 - x) : row)), [0, 0, 0, 1]];
  const cosTilt = Math.abs(step[0] * n[0] + step[1] * n[1] + step[2] * n[2]) / Math.hypot(...step);
  return { order, affine, spacing, tiltDegrees: (Math.acos(Math.min(1, cosTilt)) * 180) / Math.PI };
}

function checkGap(g: number, spacing: number, tol: number, a: SliceInfo, b: SliceInfo, at: (s: SliceInfo) => number): void {
  const where = `between ${a.file} (${at(a).toFixed(2)} mm along the normal) and ${b.file} (${at(b).toFixed(2)} mm)`;
  if (g <= tol) throw new FormatError(`mixed series: two slices at the same position ${where}: several acquisitions or echoes in one series?`);
  if (Math.abs(g - spacing) <= tol) return;
  const m = Math.round(g / spacing);
  if (m >= 2 && Math.abs(g - m * spacing) <= tol * m) {
    throw new FormatError(`missing slices: ${m - 1} slice(s) missing ${where}: gap ${g.toFixed(2)} mm, spacing ${spacing.toFixed(2)} mm`);
  }
  throw new FormatError(`uneven spacing: gap ${g.toFixed(2)} mm ${where}, while the spacing is ${spacing.toFixed(2)} mm (tolerance ${tol.toFixed(3)} mm)`);
}

function eq(x: unknown, y: unknown): boolean {
  return x === y;
}
function near(x: unknown, y: unknown): boolean {
  const a = x as number[], b = y as number[];
  return a.every((v, i) => Math.abs(v - b[i]) <= 1e-4 * Math.max(1, Math.abs(b[i])));
}
function show(x: unknown): string {
  return Array.isArray(x) ? `[${x.join(", ")}]` : JSON.stringify(x);
}
function list(names: readonly string[]): string {
  return names.slice(0, 5).join(", ") + (names.length > 5 ? `, ... (${names.length - 5} more)` : "");
}
