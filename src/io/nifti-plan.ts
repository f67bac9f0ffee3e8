/**
 * The checks of a NIfTI header's fields against each other, before any voxel is read: dims, datatype
 * and size limit (planRead), scaling, and the orientation with the canonical plan (planGeometry).
 * Field decoding lives in ./nifti-header.ts, the voxel decoding in ./nifti-decode.ts.
 */
import { FormatError, ValueError } from "../errors.js";
import { datatypeByCode, type DatatypeInfo, type NiftiHeader } from "./nifti-header.js";
import { columnNorm, det3, identity4, planCanonical, qformAffine, type Mat4, type Reorientation } from "./orient.js";

export type OrientationSource = "sform" | "qform" | "pixdim";

export interface ReadPlan {
  header: NiftiHeader;
  dt: DatatypeInfo;
  dims: [number, number, number];
  nvox: number;
  skip: number; // bytes of the volumes before the one read (4D files): the data starts at vox_offset + skip
  warnings: string[];
}

export interface Geometry {
  affine: Mat4;
  source: OrientationSource;
  canon: Reorientation;
  spacing: [number, number, number];
  scaling: { slope: number; inter: number } | null;
  warnings: string[];
}

/** Scaling, the file's affine and the plan to the canonical frame, with the voxel spacing. */
export function planGeometry(l: ReadPlan, file: string): Geometry {
  const h = l.header, warnings = [...l.warnings];
  const scaling = scalingOf(h, file);
  const { affine, source } = headerAffine(h, file, warnings);
  const canon = planCanonical(affine, l.dims);
  const spacing = (source === "sform"
    ? [2, 1, 0].map((t) => columnNorm(canon.affine, t))
    : [2, 1, 0].map((t) => Math.abs(h.pixdim[1 + canon.src[t]]) * unitScale(h.xyztUnits))) as [number, number, number];
  return { affine, source, canon, spacing, scaling, warnings };
}

/** Checks dims, datatype, vox_offset and the size limit. */
export function planRead(h: NiftiHeader, file: string, maxVoxels: number, volumes: "refuse" | "first" | number): ReadPlan {
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
  return { header: h, dt, dims, nvox, skip: (index === "refuse" ? 0 : index) * nvox * dt.bytes, warnings };
}

/** scl_slope / scl_inter: applied only when the slope is finite and non-zero (the standard's rule). */
function scalingOf(h: NiftiHeader, file: string): { slope: number; inter: number } | null {
  if (!Number.isFinite(h.sclSlope) || h.sclSlope === 0) return null;
  if (!Number.isFinite(h.sclInter)) {
    throw new FormatError(`${file}: scl_inter: expected a finite intercept with scl_slope ${h.sclSlope}, got ${h.sclInter}`);
  }
  return { slope: h.sclSlope, inter: h.sclInter };
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
  // tiny or huge fields can still underflow to a zero axis or overflow to infinity in float64
  const axesOk = [0, 1, 2].every((c) => columnNorm(affine, c) > 0 && Number.isFinite(columnNorm(affine, c)));
  if (!axesOk || !affine.every((row) => row.every(Number.isFinite))) {
    const fields = { sform: "srow_x/srow_y/srow_z", qform: "pixdim[1..3]/quatern_b/c/d/qoffset_x/y/z", pixdim: "pixdim[1..3]" }[source];
    throw new FormatError(`${file}: ${fields}: the ${source} affine in mm has a zero or non-finite voxel axis or offset: ${JSON.stringify(affine.slice(0, 3))}`);
  }
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
