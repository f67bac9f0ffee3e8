/**
 * Orientation of NIfTI volumes: the NIfTI-1 quaternion <-> rotation conversions, axis codes, and the
 * reorientation to this library's one canonical frame (LPS+, data [D, H, W] = [z, y, x]) by permuting
 * and flipping axes. Pure geometry on 4x4 matrices and whole-voxel index maps; never resamples.
 *
 * Conventions (docs/INPUT.md, "Orientation"):
 *   affine  4x4 rows, maps a voxel index column (i, j, k, 1) to NIfTI world (x, y, z, 1) in mm, RAS+
 *           (+x toward the patient's Right, +y Anterior, +z Superior). i is the fastest-varying axis.
 *   axcodes one letter per voxel axis i, j, k naming the direction the index increases toward
 *           (nibabel's convention): "RAS" for the identity affine.
 *   canonical  i = w toward Left, j = h toward Posterior, k = d toward Superior: axcodes "LPS",
 *           stored row-major as [D, H, W], so a slice [H, W] shown with row 0 at the top is the
 *           radiological view (anterior up, the patient's right on the viewer's left).
 */

import { ValueError } from "../errors.js";

/** 4x4 matrix as rows: `m[r][c]`. */
export type Mat4 = number[][];

/** The canonical axis codes (letters: direction of increasing index for w, h, d). */
export const CANONICAL_AXCODES = "LPS";
/** Sign along world x, y, z that the canonical w, h, d axes point to (L = -x, P = -y, S = +z). */
const CANONICAL_SIGN = [-1, -1, 1] as const;
const POS = "RAS", NEG = "LPI";

export function identity4(): Mat4 {
  return [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
}

/** a @ b for 4x4 matrices (float64, fixed summation order k = 0..3). */
export function matmul4(a: Mat4, b: Mat4): Mat4 {
  const out = identity4();
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[r][k] * b[k][c];
      out[r][c] = s;
    }
  }
  return out;
}

/** Euclidean norm of column c of the 3x3 part. */
export function columnNorm(m: Mat4, c: number): number {
  return Math.hypot(m[0][c], m[1][c], m[2][c]);
}

/** Determinant of the 3x3 part. */
export function det3(m: Mat4): number {
  return (
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
    m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
    m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
  );
}

/**
 * The qform affine (nifti1.h, method 2, as nifti_quatern_to_mat44 computes it):
 *   a = sqrt(1 - b^2 - c^2 - d^2); if 1 - b^2 - c^2 - d^2 < 1e-7, (b, c, d) is renormalised and a = 0
 *   R = [[a²+b²-c²-d², 2(bc-ad), 2(bd+ac)], [2(bc+ad), a²+c²-b²-d², 2(cd-ab)], [2(bd-ac), 2(cd+ab), a²+d²-b²-c²]]
 *   [x y z]^T = R diag(dx, dy, qfac dz) [i j k]^T + qoffset,   qfac = -1 when pixdim[0] < 0, else 1.
 * `dx, dy, dz` must be the (positive) pixdim[1..3]; checking them is the caller's job.
 */
export function qformAffine(
  quatern: readonly [number, number, number], qoffset: readonly [number, number, number],
  pixdim: readonly [number, number, number], qfac: 1 | -1,
): Mat4 {
  let [b, c, d] = quatern;
  let a = 1 - (b * b + c * c + d * d);
  if (a < 1e-7) {
    const n = 1 / Math.sqrt(b * b + c * c + d * d); // a 180 degree rotation: renormalise (b, c, d)
    b *= n; c *= n; d *= n;
    a = 0;
  } else {
    a = Math.sqrt(a);
  }
  const R = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - b * b - c * c],
  ];
  const scale = [pixdim[0], pixdim[1], qfac * pixdim[2]];
  const m = identity4();
  for (let r = 0; r < 3; r++) {
    for (let col = 0; col < 3; col++) m[r][col] = R[r][col] * scale[col];
    m[r][3] = qoffset[r];
  }
  return m;
}

/** The qform fields of an affine whose 3x3 part has orthogonal columns. */
export interface Quatern {
  quatern: [number, number, number]; // b, c, d
  qfac: 1 | -1;
  pixdim: [number, number, number]; // column norms dx, dy, dz
}

/**
 * Inverse of qformAffine (nifti_mat44_to_quatern without its polar decomposition): the columns are
 * divided by their norms; if the result is not orthonormal within `tol` (max |R^T R - I|), there
 * is no qform and the result is null. qfac = -1 (third column negated) when det < 0, so R is a
 * proper rotation; its quaternion is taken with a >= 0.
 */
export function affineToQuatern(m: Mat4, tol = 1e-4): Quatern | null {
  const pixdim: [number, number, number] = [columnNorm(m, 0), columnNorm(m, 1), columnNorm(m, 2)];
  if (!pixdim.every((s) => s > 0 && Number.isFinite(s))) return null;
  const qfac = det3(m) < 0 ? -1 : 1;
  const R = [0, 1, 2].map((r) => [0, 1, 2].map((c) => (m[r][c] / pixdim[c]) * (c === 2 ? qfac : 1)));
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      const dot = R[0][i] * R[0][j] + R[1][i] * R[1][j] + R[2][i] * R[2][j];
      if (Math.abs(dot - (i === j ? 1 : 0)) > tol) return null;
    }
  }
  let a: number, b: number, c: number, d: number;
  const trace = R[0][0] + R[1][1] + R[2][2] + 1;
  if (trace > 0.5) {
    a = 0.5 * Math.sqrt(trace);
    b = (0.25 * (R[2][1] - R[1][2])) / a;
    c = (0.25 * (R[0][2] - R[2][0])) / a;
    d = (0.25 * (R[1][0] - R[0][1])) / a;
  } else {
    const xd = 1 + R[0][0] - (R[1][1] + R[2][2]);
    const yd = 1 + R[1][1] - (R[0][0] + R[2][2]);
    const zd = 1 + R[2][2] - (R[0][0] + R[1][1]);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd);
      c = (0.25 * (R[0][1] + R[1][0])) / b;
      d = (0.25 * (R[0][2] + R[2][0])) / b;
      a = (0.25 * (R[2][1] - R[1][2])) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd);
      b = (0.25 * (R[0][1] + R[1][0])) / c;
      d = (0.25 * (R[1][2] + R[2][1])) / c;
      a = (0.25 * (R[0][2] - R[2][0])) / c;
    } else {
      d = 0.5 * Math.sqrt(zd);
      b = (0.25 * (R[0][2] + R[2][0])) / d;
      c = (0.25 * (R[1][2] + R[2][1])) / d;
      a = (0.25 * (R[1][0] - R[0][1])) / d;
    }
    if (a < 0) { b = -b; c = -c; d = -d; }
  }
  return { quatern: [b, c, d], qfac, pixdim };
}

/**
 * For each voxel axis (i, j, k): the world axis (0 = x, 1 = y, 2 = z) it is closest to and the sign
 * of its direction there. Columns are normalised, then pairs are taken greedily by the largest
 * remaining |entry| (scanned row-major over world rows and voxel columns; the first wins a tie), so
 * every world axis is used once. Oblique scans snap to the nearest axis; nothing is resampled.
 */
export function nearestAxes(m: Mat4): { world: number[]; sign: number[] } {
  const norms = [0, 1, 2].map((c) => columnNorm(m, c));
  const world = [-1, -1, -1], sign = [0, 0, 0];
  const rowUsed = [false, false, false];
  for (let step = 0; step < 3; step++) {
    let best = -1, br = -1, bc = -1;
    for (let r = 0; r < 3; r++) {
      if (rowUsed[r]) continue;
      for (let c = 0; c < 3; c++) {
        if (world[c] >= 0) continue;
        const v = Math.abs(m[r][c]) / norms[c];
        if (v > best) { best = v; br = r; bc = c; }
      }
    }
    if (bc < 0) throw new ValueError(`nearestAxes: affine: expected non-zero finite columns, got ${JSON.stringify(m)}`);
    world[bc] = br;
    sign[bc] = m[br][bc] < 0 ? -1 : 1;
    rowUsed[br] = true;
  }
  return { world, sign };
}

/** Axis codes of an affine, e.g. "RAS" for the identity, "LPS" for diag(-1, -1, 1). */
export function axcodes(m: Mat4): string {
  const { world, sign } = nearestAxes(m);
  return world.map((w, c) => (sign[c] > 0 ? POS : NEG)[w]).join("");
}

/**
 * How to turn a volume stored with `affine` and extents `dims = [nx, ny, nz]` (file order i, j, k)
 * into the canonical frame: canonical axis t (0 = w, 1 = h, 2 = d) reads source axis `src[t]`,
 * reversed when `flip[t]`. `affine` is the canonical affine and `shape` the canonical [D, H, W].
 */
export interface Reorientation {
  src: [number, number, number];
  flip: [boolean, boolean, boolean];
  shape: [number, number, number];
  affine: Mat4;
  identity: boolean;
}

export function planCanonical(affine: Mat4, dims: readonly [number, number, number]): Reorientation {
  const { world, sign } = nearestAxes(affine);
  const src: [number, number, number] = [0, 0, 0];
  const flip: [boolean, boolean, boolean] = [false, false, false];
  for (let c = 0; c < 3; c++) {
    src[world[c]] = c;
    flip[world[c]] = sign[c] !== CANONICAL_SIGN[world[c]];
  }
  // P maps a canonical index (w, h, d, 1) to the source index (i, j, k, 1):
  //   source_c = flip ? n_c - 1 - canonical_t : canonical_t, with c = src[t]
  const P = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]];
  for (let t = 0; t < 3; t++) {
    const c = src[t];
    P[c][t] = flip[t] ? -1 : 1;
    P[c][3] = flip[t] ? dims[c] - 1 : 0;
  }
  const identity = src[0] === 0 && src[1] === 1 && src[2] === 2 && !flip.some((f) => f);
  return {
    src, flip,
    shape: [dims[src[2]], dims[src[1]], dims[src[0]]],
    affine: identity ? affine.map((row) => [...row]) : matmul4(affine, P),
    identity,
  };
}

/**
 * Copies `data` (file order: i fastest, then j, then k; extents `dims`) into the canonical layout
 * [D, H, W] of `plan`. Returns `data` itself when the plan is the identity. The scalar oracle of
 * the reader's fused decode-and-place (./nifti-decode.ts VoxelWriter), which never holds both copies.
 *   out[(d*H + h)*W + w] = data[i + nx*(j + ny*k)],  (i, j, k) from (w, h, d) by src/flip
 */
export function reorient(data: Float32Array, dims: readonly [number, number, number], plan: Reorientation): Float32Array {
  if (plan.identity) return data;
  const stride = [1, dims[0], dims[0] * dims[1]];
  const step = [0, 0, 0];
  let base = 0;
  for (let t = 0; t < 3; t++) {
    const c = plan.src[t];
    step[t] = plan.flip[t] ? -stride[c] : stride[c];
    if (plan.flip[t]) base += (dims[c] - 1) * stride[c];
  }
  const [D, H, W] = plan.shape;
  const out = new Float32Array(D * H * W);
  let o = 0;
  for (let d = 0; d < D; d++) {
    for (let h = 0; h < H; h++) {
      let s = base + d * step[2] + h * step[1];
      for (let w = 0; w < W; w++, s += step[0]) out[o++] = data[s];
    }
  }
  return out;
}
