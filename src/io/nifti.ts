/**
 * readNifti: a .nii or .nii.gz file (NIfTI-1 or NIfTI-2, either byte order) as one float32 volume
 * [D, H, W] in the canonical LPS+ frame, with voxel spacing in mm and the canonical affine.
 * Works on bytes (Node and browsers); no file system access, no resampling. Conventions and every
 * check: docs/INPUT.md.
 *
 *   const vol = readNifti(await fs.readFile("ct.nii.gz"));   // or the bytes of a fetch / File
 *   vol.shape     // [D, H, W]: d toward Superior, h toward Posterior, w toward the patient's Left
 *   vol.spacing   // mm along d, h, w
 *   vol.affine    // 4x4: (w, h, d, 1) -> NIfTI world (RAS+, mm)
 */
import { Gunzip } from "fflate";
import { FormatError, ValueError } from "../errors.js";
import { MAX_ELEMENTS } from "../tensor.js";
import { HOST_LITTLE_ENDIAN, swapBytes } from "./dtype.js";
import { datatypeByCode, parseNiftiHeader, type DatatypeInfo, type NiftiDatatype, type NiftiHeader } from "./nifti-header.js";
import { axcodes, columnNorm, det3, identity4, planCanonical, qformAffine, reorient, type Mat4 } from "./orient.js";

export { parseNiftiHeader, type NiftiDatatype, type NiftiHeader } from "./nifti-header.js";
export type { Mat4 } from "./orient.js";

/** Default bound on the voxels of one 3D volume: 512^3 (512 MiB as float32). */
export const DEFAULT_MAX_VOXELS = 512 ** 3;

export interface ReadNiftiOptions {
  /** Label for error messages, e.g. the file name. Default "nifti". */
  file?: string;
  /** Largest dim[1]*dim[2]*dim[3] accepted (default 512^3); a bigger image is a FormatError. */
  maxVoxels?: number;
  /** A 4D file with dim[4] > 1: "refuse" (default, FormatError), "first" (read volume 0) or an index (read that one); a warning says which. */
  volumes?: "refuse" | "first" | number;
}

export type OrientationSource = "sform" | "qform" | "pixdim";

export interface NiftiMeta {
  version: 1 | 2;
  littleEndian: boolean;
  gzip: boolean;
  datatype: NiftiDatatype;
  /** Where the affine came from: sform_code > 0, else qform_code > 0, else pixdim (method 0). */
  orientationSource: OrientationSource;
  /** Axis codes of the file's own voxel axes i, j, k (e.g. "RAS", "LPS", "LIP"). */
  sourceAxcodes: string;
  /** The file's dim[1], dim[2], dim[3]. */
  sourceDims: [number, number, number];
  /** scl_slope / scl_inter when applied (slope finite and non-zero), else null. */
  scaling: { slope: number; inter: number } | null;
  /** dim[4] (1 for a 3D file). */
  volumes: number;
  /** Things accepted but worth knowing (first of several volumes taken, bitpix mismatch, units). */
  warnings: string[];
  header: NiftiHeader;
}

export interface NiftiVolume {
  /** [D, H, W] row-major, canonical LPS+ (w fastest), values after scl_slope / scl_inter. */
  data: Float32Array;
  shape: [number, number, number];
  /** Voxel size in mm along d, h, w. */
  spacing: [number, number, number];
  /** 4x4 rows: canonical index (w, h, d, 1) -> NIfTI world (RAS+, mm). */
  affine: Mat4;
  meta: NiftiMeta;
}

export function readNifti(bytes: Uint8Array | ArrayBuffer, opts: ReadNiftiOptions = {}): NiftiVolume {
  const file = opts.file ?? "nifti";
  const maxVoxels = opts.maxVoxels ?? DEFAULT_MAX_VOXELS;
  if (!Number.isInteger(maxVoxels) || maxVoxels < 1 || maxVoxels > MAX_ELEMENTS) {
    throw new ValueError(`readNifti: maxVoxels: expected an integer in [1, ${MAX_ELEMENTS}], got ${String(maxVoxels)}`);
  }
  const volumes = opts.volumes ?? "refuse";
  if (volumes !== "refuse" && volumes !== "first" && !(Number.isInteger(volumes) && (volumes as number) >= 0)) {
    throw new ValueError(`readNifti: volumes: expected "refuse", "first" or a volume index >= 0, got ${String(volumes)}`);
  }
  const input = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
  const gzip = input.length >= 2 && input[0] === 0x1f && input[1] === 0x8b;
  const plan = (head: Uint8Array) => planRead(parseNiftiHeader(head, file), file, maxVoxels, volumes);
  const raw = gzip ? gunzipPrefix(input, file, (head) => plan(head).needed) : input;
  const layout = plan(raw);
  const { header: h, dt, dims } = layout;
  if (raw.length < layout.needed) {
    throw new FormatError(
      `${file}: data: truncated: vox_offset ${h.voxOffset} + ${layout.nvox} voxels x ${dt.bytes} bytes needs ${layout.needed} bytes, got ${raw.length}`,
    );
  }
  const warnings = [...layout.warnings];
  const scaling = scalingOf(h, file);
  const values = decodeVoxels(raw, h.voxOffset + layout.skip, layout.nvox, dt, h.littleEndian, scaling, dims, file);
  const { affine, source } = headerAffine(h, file, warnings);
  const canon = planCanonical(affine, dims);
  const spacing = source === "sform"
    ? [2, 1, 0].map((t) => columnNorm(canon.affine, t))
    : [2, 1, 0].map((t) => Math.abs(h.pixdim[1 + canon.src[t]]) * unitScale(h.xyztUnits));
  return {
    data: reorient(values, dims, canon),
    shape: canon.shape,
    spacing: spacing as [number, number, number],
    affine: canon.affine,
    meta: {
      version: h.version, littleEndian: h.littleEndian, gzip, datatype: dt.name,
      orientationSource: source, sourceAxcodes: axcodes(affine), sourceDims: dims, scaling,
      volumes: h.dim[0] === 4 ? h.dim[4] : 1, warnings, header: h,
    },
  };
}

interface ReadPlan {
  header: NiftiHeader;
  dt: DatatypeInfo;
  dims: [number, number, number];
  nvox: number;
  needed: number; // bytes of the file that hold the header and the voxels read
  skip: number; // bytes of the volumes before the one read (4D files)
  warnings: string[];
}

/** Checks dims, datatype, vox_offset and the size limit; says how many bytes the read needs. */
function planRead(h: NiftiHeader, file: string, maxVoxels: number, volumes: "refuse" | "first" | number): ReadPlan {
  const warnings: string[] = [];
  const n = h.dim[0];
  if (n !== 3 && n !== 4) {
    throw new FormatError(`${file}: dim[0]: expected 3 (a volume) or 4 (volumes over time), got ${n}`);
  }
  for (let i = 1; i <= n; i++) {
    if (!Number.isInteger(h.dim[i]) || h.dim[i] < 1) {
      throw new FormatError(`${file}: dim[${i}]: expected a positive extent, got ${h.dim[i]}`);
    }
  }
  const index = n === 4 && h.dim[4] > 1 ? (volumes === "first" ? 0 : volumes) : 0;
  if (n === 4 && h.dim[4] > 1) {
    if (index === "refuse") {
      throw new FormatError(`${file}: dim[4]: ${h.dim[4]} volumes; one 3D volume is read: pick one (option volumes: "first" or an index; CLI --volumes first|N)`);
    }
    if (index >= h.dim[4]) throw new ValueError(`readNifti: volumes: expected a volume index in [0, ${h.dim[4] - 1}] (dim[4] = ${h.dim[4]}), got ${index}`);
    warnings.push(`dim[4] = ${h.dim[4]} volumes: only volume ${index} was read`);
  }
  const dt = datatypeByCode(h.datatype, file);
  if (h.bitpix !== dt.bytes * 8) warnings.push(`bitpix ${h.bitpix} disagrees with datatype ${dt.name}; datatype used`);
  const dims: [number, number, number] = [h.dim[1], h.dim[2], h.dim[3]];
  const nvox = dims[0] * dims[1] * dims[2];
  if (nvox > maxVoxels) {
    throw new FormatError(`${file}: dim[1..3]: ${dims.join(" x ")} = ${nvox} voxels, more than the limit ${maxVoxels} (option maxVoxels)`);
  }
  const minOffset = h.headerBytes + 4; // the 4 extension-flag bytes
  if (!Number.isInteger(h.voxOffset) || h.voxOffset < minOffset) {
    throw new FormatError(`${file}: vox_offset: expected an integer >= ${minOffset} for a single-file NIfTI-${h.version}, got ${h.voxOffset}`);
  }
  const skip = (index === "refuse" ? 0 : index) * nvox * dt.bytes;
  return { header: h, dt, dims, nvox, needed: h.voxOffset + skip + nvox * dt.bytes, skip, warnings };
}

/** scl_slope / scl_inter: applied only when the slope is finite and non-zero (the standard's rule). */
function scalingOf(h: NiftiHeader, file: string): { slope: number; inter: number } | null {
  if (!Number.isFinite(h.sclSlope) || h.sclSlope === 0) return null;
  if (!Number.isFinite(h.sclInter)) {
    throw new FormatError(`${file}: scl_inter: expected a finite intercept with scl_slope ${h.sclSlope}, got ${h.sclInter}`);
  }
  return { slope: h.sclSlope, inter: h.sclInter };
}

/**
 * Voxels in file order as float32: value = raw * slope + inter in float64, rounded once to float32
 * (without scaling: raw rounded to float32). A non-finite result is a FormatError naming the voxel.
 */
function decodeVoxels(
  raw: Uint8Array, offset: number, n: number, dt: DatatypeInfo, littleEndian: boolean,
  scaling: { slope: number; inter: number } | null, dims: readonly number[], file: string,
): Float32Array {
  let src: ArrayLike<number>;
  const at = raw.byteOffset + offset;
  if (littleEndian === HOST_LITTLE_ENDIAN && at % dt.bytes === 0) {
    src = new dt.array(raw.buffer, at, n); // a view: no copy needed
  } else {
    const copy = new Uint8Array(n * dt.bytes);
    copy.set(raw.subarray(offset, offset + n * dt.bytes));
    if (littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(copy, dt.bytes);
    src = new dt.array(copy.buffer, 0, n);
  }
  const out = new Float32Array(n);
  if (scaling) {
    const { slope, inter } = scaling;
    for (let i = 0; i < n; i++) out[i] = src[i] * slope + inter;
  } else {
    out.set(src);
  }
  const integer = dt.name !== "float32" && dt.name !== "float64";
  if (integer && !scaling) return out; // every stored integer is a finite float32
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(out[i])) {
      const ijk = [i % dims[0], Math.floor(i / dims[0]) % dims[1], Math.floor(i / (dims[0] * dims[1]))];
      const why = Number.isNaN(src[i]) ? "" : scaling ? " after scl_slope / scl_inter and float32 rounding" : " after float32 rounding";
      throw new FormatError(`${file}: data: voxel (i, j, k) = (${ijk.join(", ")}) is ${out[i]}${why} (stored value ${src[i]}); voxels must be finite`);
    }
  }
  return out;
}

/** mm per unit of xyzt_units & 7: 0 unknown (taken as mm), 1 m, 2 mm, 3 micron. */
function unitScale(xyztUnits: number): number {
  return [1, 1000, 1, 0.001][xyztUnits & 7] ?? 1;
}

/** The file's affine (i, j, k, 1) -> RAS+ mm: sform if sform_code > 0, else qform if qform_code > 0, else pixdim. */
function headerAffine(h: NiftiHeader, file: string, warnings: string[]): { affine: Mat4; source: OrientationSource } {
  const units = h.xyztUnits & 7;
  if (units > 3) warnings.push(`xyzt_units: spatial code ${units} is not defined; mm assumed`);
  let affine: Mat4, source: OrientationSource;
  if (h.sformCode > 0) {
    source = "sform";
    affine = [...h.srow.map((row) => [...row]), [0, 0, 0, 1]];
    const bad = h.srow.findIndex((row) => !row.every(Number.isFinite));
    if (bad >= 0) throw new FormatError(`${file}: srow_${"xyz"[bad]}: expected finite values, got [${h.srow[bad].join(", ")}]`);
    if (!(Math.abs(det3(affine)) > 0)) {
      throw new FormatError(`${file}: srow_x/srow_y/srow_z: the sform (code ${h.sformCode}) is singular: ${JSON.stringify(h.srow)}`);
    }
  } else {
    const pix = checkedPixdim(h, file);
    if (h.qformCode > 0) {
      source = "qform";
      const fields = { quatern_b: h.quatern[0], quatern_c: h.quatern[1], quatern_d: h.quatern[2], qoffset_x: h.qoffset[0], qoffset_y: h.qoffset[1], qoffset_z: h.qoffset[2] };
      for (const [name, v] of Object.entries(fields)) {
        if (!Number.isFinite(v)) throw new FormatError(`${file}: ${name}: expected a finite value (qform_code ${h.qformCode}), got ${v}`);
      }
      affine = qformAffine(h.quatern, h.qoffset, pix, h.pixdim[0] < 0 ? -1 : 1);
    } else {
      source = "pixdim";
      affine = identity4(); // nifti1.h method 0: x = pixdim[1] i, y = pixdim[2] j, z = pixdim[3] k
      for (let c = 0; c < 3; c++) affine[c][c] = pix[c];
    }
  }
  const s = unitScale(h.xyztUnits);
  if (s !== 1) for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) affine[r][c] *= s;
  return { affine, source };
}

function checkedPixdim(h: NiftiHeader, file: string): [number, number, number] {
  for (let i = 1; i <= 3; i++) {
    const v = h.pixdim[i];
    if (!Number.isFinite(v) || v <= 0) {
      throw new FormatError(`${file}: pixdim[${i}]: expected a positive voxel size (no usable sform), got ${v}`);
    }
  }
  return [h.pixdim[1], h.pixdim[2], h.pixdim[3]];
}

/**
 * Gunzips only as much of `gz` as the read needs: first enough for the header (540 bytes), then
 * `needed(head)` bytes in total (the header check and the size limit run before the big
 * allocation). Returns fewer bytes when the stream ends early; the caller reports the truncation.
 */
function gunzipPrefix(gz: Uint8Array, file: string, needed: (head: Uint8Array) => number): Uint8Array {
  const HEAD = 540, STEP = 1 << 16;
  const chunks: Uint8Array[] = [];
  let got = 0, out: Uint8Array | null = null, want = Infinity;
  const g = new Gunzip((chunk) => {
    if (!out) chunks.push(chunk.slice());
    else if (got < want) out.set(chunk.subarray(0, Math.min(chunk.length, want - got)), got);
    got += chunk.length;
  });
  let pos = 0;
  const pump = (until: number) => {
    while (got < until && pos < gz.length) {
      const end = Math.min(gz.length, pos + STEP);
      try {
        g.push(gz.subarray(pos, end), end === gz.length);
      } catch (e) {
        throw new FormatError(`${file}: gzip: corrupt or truncated compressed stream (${(e as Error).message})`);
      }
      pos = end;
    }
  };
  pump(HEAD);
  const head = concat(chunks, got);
  want = needed(head);
  if (got >= want) return head.subarray(0, want);
  out = new Uint8Array(want);
  out.set(head);
  pump(want);
  return got >= want ? out : out.subarray(0, got);
}

function concat(chunks: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}
