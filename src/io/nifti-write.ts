/**
 * writeNifti: one [D, H, W] volume as a single-file NIfTI-1 (.nii, or .nii.gz with gzip), little-endian,
 * deterministic (same volume -> same bytes, gzip included). Not a general NIfTI writer: 3D only,
 * float32 or int16 voxels, no extensions. readNifti(writeNifti(v)) gives v back exactly when the
 * affine is canonical (LPS+) and its entries are float32 values.
 *
 *   const bytes = writeNifti({ data, shape: [D, H, W], affine }, { gzip: true });
 */
import { gzipSync } from "fflate";
import { ShapeError, ValueError, fmtShape } from "../errors.js";
import { affineToQuatern, det3, type Mat4 } from "./orient.js";
import { HOST_LITTLE_ENDIAN, swapBytes } from "./dtype.js";
import { datatypeByName } from "./nifti-header.js";

export interface NiftiWriteVolume {
  /** [D, H, W] row-major (w fastest): NIfTI's i = w, j = h, k = d. */
  data: Float32Array | Int16Array;
  shape: readonly number[];
  /** 4x4 rows: (w, h, d, 1) -> NIfTI world (RAS+, mm); last row [0, 0, 0, 1]. */
  affine: readonly (readonly number[])[];
  /** Stored voxel type; default from the array (Float32Array -> float32, Int16Array -> int16). */
  datatype?: "float32" | "int16";
}

export interface WriteNiftiOptions {
  /** gzip the file (.nii.gz), with fflate: level 6, mtime 0, no file name. Default false. */
  gzip?: boolean;
  /** The 80-byte descrip field (ASCII). Default "tgh-moe". */
  description?: string;
}

const HEADER = 348, VOX_OFFSET = 352;
const XFORM_SCANNER_ANAT = 1, UNITS_MM = 2;

export function writeNifti(vol: NiftiWriteVolume, opts: WriteNiftiOptions = {}): Uint8Array {
  const { dims, affine, datatype } = checkVolume(vol);
  const dt = datatypeByName(datatype);
  const n = dims[0] * dims[1] * dims[2];
  const out = new Uint8Array(VOX_OFFSET + n * dt.bytes);
  const dv = new DataView(out.buffer);
  writeHeader(dv, dims, affine, dt.code, dt.bytes * 8, opts.description ?? "tgh-moe");
  // voxels little-endian; values are exact in the stored type (checked above)
  const voxels = datatype === "float32" ? new Float32Array(out.buffer, VOX_OFFSET, n) : new Int16Array(out.buffer, VOX_OFFSET, n);
  voxels.set(vol.data);
  if (!HOST_LITTLE_ENDIAN) swapBytes(out.subarray(VOX_OFFSET), dt.bytes);
  return opts.gzip ? gzipSync(out, { level: 6, mtime: 0 }) : out;
}

/** Validates shape, data, affine and datatype; returns the NIfTI dims (nx, ny, nz) = (W, H, D). */
function checkVolume(vol: NiftiWriteVolume): { dims: [number, number, number]; affine: Mat4; datatype: "float32" | "int16" } {
  const shape = vol.shape;
  if (shape.length !== 3 || !shape.every((s) => Number.isInteger(s) && s >= 1 && s <= 32767)) {
    throw new ShapeError(`writeNifti: shape: expected [D, H, W] with extents in [1, 32767], got ${fmtShape(shape)}`);
  }
  const n = shape[0] * shape[1] * shape[2];
  if (!(vol.data instanceof Float32Array || vol.data instanceof Int16Array) || vol.data.length !== n) {
    throw new ShapeError(`writeNifti: data: expected a Float32Array or Int16Array of ${n} elements for ${fmtShape(shape)}, got ${describe(vol.data)}`);
  }
  const datatype = vol.datatype ?? (vol.data instanceof Int16Array ? "int16" : "float32");
  if (datatype !== "float32" && datatype !== "int16") {
    throw new ValueError(`writeNifti: datatype: expected "float32" or "int16", got ${String(datatype)}`);
  }
  for (let i = 0; i < n; i++) {
    const v = vol.data[i];
    if (!Number.isFinite(v)) throw new ValueError(`writeNifti: data[${i}]: expected a finite value, got ${v}`);
    if (datatype === "int16" && !(Number.isInteger(v) && v >= -32768 && v <= 32767)) {
      throw new ValueError(`writeNifti: data[${i}]: datatype int16 needs integers in [-32768, 32767], got ${v}`);
    }
  }
  const a = vol.affine;
  const ok = a.length === 4 && a.every((row) => row.length === 4 && row.every(Number.isFinite)) &&
    a[3][0] === 0 && a[3][1] === 0 && a[3][2] === 0 && a[3][3] === 1;
  if (!ok) throw new ValueError(`writeNifti: affine: expected 4x4 finite rows ending in [0, 0, 0, 1], got ${JSON.stringify(a)}`);
  const affine = a.map((row) => [...row]);
  if (!(Math.abs(det3(affine)) > 0)) throw new ValueError(`writeNifti: affine: the 3x3 part is singular: ${JSON.stringify(a)}`);
  return { dims: [shape[2], shape[1], shape[0]], affine, datatype };
}

function describe(x: unknown): string {
  return ArrayBuffer.isView(x) ? `${x.constructor.name}(${(x as Float32Array).length})` : String(x);
}

/**
 * The 348-byte NIfTI-1 header (little-endian) and the 4 zero extension bytes. sform = the affine
 * (rounded to float32); qform from the same affine when its columns are orthogonal (then
 * qform_code = sform_code = 1, scanner anatomical), else qform_code 0. pixdim[1..3] = column norms.
 */
function writeHeader(dv: DataView, dims: [number, number, number], affine: Mat4, code: number, bitpix: number, descrip: string): void {
  const i16 = (at: number, v: number) => dv.setInt16(at, v, true);
  const f32 = (at: number, v: number) => dv.setFloat32(at, v, true);
  dv.setInt32(0, HEADER, true); // sizeof_hdr
  dv.setUint8(38, 0x72); // regular = 'r' (Analyze 7.5 compatibility)
  [3, dims[0], dims[1], dims[2], 1, 1, 1, 1].forEach((d, i) => i16(40 + 2 * i, d)); // dim
  i16(70, code); // datatype
  i16(72, bitpix);
  const q = affineToQuatern(affine);
  const norms = [0, 1, 2].map((c) => Math.hypot(affine[0][c], affine[1][c], affine[2][c]));
  const qfac = det3(affine) < 0 ? -1 : 1;
  [qfac, norms[0], norms[1], norms[2], 1, 1, 1, 1].forEach((p, i) => f32(76 + 4 * i, p)); // pixdim
  f32(108, VOX_OFFSET); // vox_offset
  // scl_slope, scl_inter (bytes 112..119) stay 0: "no scaling" in the standard, so -0 survives
  dv.setUint8(123, UNITS_MM); // xyzt_units: mm, no time unit
  const text = descrip.slice(0, 79);
  for (let i = 0; i < text.length; i++) dv.setUint8(148 + i, text.charCodeAt(i) & 0x7f); // descrip
  i16(252, q ? XFORM_SCANNER_ANAT : 0); // qform_code
  i16(254, XFORM_SCANNER_ANAT); // sform_code
  if (q) {
    q.quatern.forEach((v, i) => f32(256 + 4 * i, v)); // quatern_b, _c, _d
  }
  for (let r = 0; r < 3; r++) f32(268 + 4 * r, affine[r][3]); // qoffset_x, _y, _z
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) f32(280 + 16 * r + 4 * c, affine[r][c]); // srow_x, _y, _z
  [0x6e, 0x2b, 0x31, 0x00].forEach((b, i) => dv.setUint8(344 + i, b)); // magic "n+1\0"
  // bytes 348..351: extension flag, all zero (no extensions); data at vox_offset 352
}
