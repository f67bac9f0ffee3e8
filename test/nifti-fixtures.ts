/**
 * Test-only NIfTI file builder, written from the standard's field table independently of
 * src/io/nifti-write.ts: any version, byte order, datatype, header field and raw voxel values, so
 * the reader can be tested on files the library's writer would never produce. Not a test file.
 */

export interface FixtureFields {
  version?: 1 | 2;
  littleEndian?: boolean;
  datatype?: number; // code; default 16 (float32)
  bitpix?: number; // default from the datatype
  dim?: number[]; // dim[0..7]; default [3, nx, ny, nz, 1, 1, 1, 1] from `dims`
  dims?: [number, number, number];
  pixdim?: number[]; // pixdim[0..7]; default [1, 1, 1, 1, 1, 1, 1, 1]
  voxOffset?: number; // default 352 / 544
  sclSlope?: number;
  sclInter?: number;
  xyztUnits?: number; // default 2 (mm)
  qformCode?: number;
  sformCode?: number;
  quatern?: [number, number, number];
  qoffset?: [number, number, number];
  srow?: number[][];
  magic?: number[]; // overrides the magic bytes
  values: ArrayLike<number>; // stored (raw) voxel values in file order, i fastest
}

/** Bytes per voxel of the codes the fixtures can store. */
export const ITEM: Record<number, number> = { 2: 1, 4: 2, 8: 4, 16: 4, 64: 8, 256: 1, 512: 2, 768: 4, 128: 3, 32: 8, 1024: 8 };

function setValue(dv: DataView, at: number, code: number, v: number, le: boolean): void {
  switch (code) {
    case 2: dv.setUint8(at, v); break;
    case 256: dv.setInt8(at, v); break;
    case 4: dv.setInt16(at, v, le); break;
    case 512: dv.setUint16(at, v, le); break;
    case 8: dv.setInt32(at, v, le); break;
    case 768: dv.setUint32(at, v, le); break;
    case 16: dv.setFloat32(at, v, le); break;
    case 64: dv.setFloat64(at, v, le); break;
    default: break; // other codes: bytes stay zero (the reader must refuse them anyway)
  }
}

export function buildNifti(f: FixtureFields): Uint8Array {
  const version = f.version ?? 1, le = f.littleEndian ?? true;
  const code = f.datatype ?? 16, item = ITEM[code] ?? 4;
  const dims = f.dims ?? [f.values.length, 1, 1];
  const dim = f.dim ?? [3, dims[0], dims[1], dims[2], 1, 1, 1, 1];
  const pixdim = f.pixdim ?? [1, 1, 1, 1, 1, 1, 1, 1];
  const hdr = version === 1 ? 348 : 540;
  const voxOffset = f.voxOffset ?? hdr + 4;
  const dataStart = Math.max(Math.ceil(voxOffset), hdr);
  const out = new Uint8Array(dataStart + f.values.length * item);
  const dv = new DataView(out.buffer);
  const srow = f.srow ?? [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]];
  const q = f.quatern ?? [0, 0, 0], qo = f.qoffset ?? [0, 0, 0];
  dv.setInt32(0, hdr, le);
  if (version === 1) {
    dim.forEach((d, i) => dv.setInt16(40 + 2 * i, d, le));
    dv.setInt16(70, code, le);
    dv.setInt16(72, f.bitpix ?? item * 8, le);
    pixdim.forEach((p, i) => dv.setFloat32(76 + 4 * i, p, le));
    dv.setFloat32(108, voxOffset, le);
    dv.setFloat32(112, f.sclSlope ?? 0, le);
    dv.setFloat32(116, f.sclInter ?? 0, le);
    dv.setUint8(123, f.xyztUnits ?? 2);
    dv.setInt16(252, f.qformCode ?? 0, le);
    dv.setInt16(254, f.sformCode ?? 0, le);
    q.forEach((v, i) => dv.setFloat32(256 + 4 * i, v, le));
    qo.forEach((v, i) => dv.setFloat32(268 + 4 * i, v, le));
    srow.forEach((row, r) => row.forEach((v, c) => dv.setFloat32(280 + 16 * r + 4 * c, v, le)));
    (f.magic ?? [0x6e, 0x2b, 0x31, 0]).forEach((b, i) => dv.setUint8(344 + i, b));
  } else {
    (f.magic ?? [0x6e, 0x2b, 0x32, 0, 0x0d, 0x0a, 0x1a, 0x0a]).forEach((b, i) => dv.setUint8(4 + i, b));
    dv.setInt16(12, code, le);
    dv.setInt16(14, f.bitpix ?? item * 8, le);
    dim.forEach((d, i) => dv.setBigInt64(16 + 8 * i, BigInt(d), le));
    pixdim.forEach((p, i) => dv.setFloat64(104 + 8 * i, p, le));
    dv.setBigInt64(168, BigInt(voxOffset), le);
    dv.setFloat64(176, f.sclSlope ?? 0, le);
    dv.setFloat64(184, f.sclInter ?? 0, le);
    dv.setInt32(344, f.qformCode ?? 0, le);
    dv.setInt32(348, f.sformCode ?? 0, le);
    q.forEach((v, i) => dv.setFloat64(352 + 8 * i, v, le));
    qo.forEach((v, i) => dv.setFloat64(376 + 8 * i, v, le));
    srow.forEach((row, r) => row.forEach((v, c) => dv.setFloat64(400 + 32 * r + 8 * c, v, le)));
    dv.setInt32(500, f.xyztUnits ?? 2, le);
  }
  for (let i = 0; i < f.values.length; i++) setValue(dv, dataStart + i * item, code, f.values[i], le);
  return out;
}

/** 4x4 rows from a 3x4 srow. */
export function srowAffine(srow: number[][]): number[][] {
  return [...srow.map((r) => [...r]), [0, 0, 0, 1]];
}

/**
 * The 48 signed axis permutations: file axis c shows canonical axis perm[c], reversed when flip[c].
 * `fileFromCanonical` re-stores a canonical [D, H, W] array (w fastest) in that file order and
 * returns the file dims and the file affine A_f = A_c Q (Q: file index -> canonical index).
 */
export function signedPermutation(k: number): { perm: number[]; flip: boolean[] } {
  const perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  const perm = perms[Math.floor(k / 8) % 6];
  return { perm, flip: [0, 1, 2].map((b) => ((k >> b) & 1) === 1) };
}

export function fileFromCanonical(
  canon: Float32Array, shape: readonly number[], affine: number[][], perm: number[], flip: boolean[],
): { values: Float32Array; dims: [number, number, number]; affine: number[][] } {
  const n = [shape[2], shape[1], shape[0]]; // canonical extents along w, h, d
  const dims = [n[perm[0]], n[perm[1]], n[perm[2]]] as [number, number, number];
  const values = new Float32Array(canon.length);
  const v = [0, 0, 0];
  let o = 0;
  for (let k = 0; k < dims[2]; k++) {
    for (let j = 0; j < dims[1]; j++) {
      for (let i = 0; i < dims[0]; i++) {
        [i, j, k].forEach((x, c) => (v[perm[c]] = flip[c] ? n[perm[c]] - 1 - x : x));
        values[o++] = canon[(v[2] * n[1] + v[1]) * n[0] + v[0]];
      }
    }
  }
  // Q: canonical_t = flip ? n_t - 1 - file_c : file_c, with t = perm[c]
  const Q = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]];
  for (let c = 0; c < 3; c++) {
    const t = perm[c];
    Q[t][c] = flip[c] ? -1 : 1;
    Q[t][3] = flip[c] ? n[t] - 1 : 0;
  }
  const A = [0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((c) => [0, 1, 2, 3].reduce((s, m) => s + affine[r][m] * Q[m][c], 0)));
  return { values, dims, affine: A };
}
