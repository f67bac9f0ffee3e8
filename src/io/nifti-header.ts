/**
 * The NIfTI-1 / NIfTI-2 header: version and byte order detection, field decoding (through
 * nifti-reader-js, plus the srow_* rows we read ourselves), and the datatype table. Checks of field
 * values against each other (dims, vox_offset, scaling, orientation) live in ./nifti.ts.
 *
 *   NIfTI-1: 348-byte header, magic "n+1\0" at byte 344, vox_offset (float32) >= 352
 *   NIfTI-2: 540-byte header, magic "n+2\0\r\n\x1a\n" at byte 4, vox_offset (int64) >= 544
 *   byte order: sizeof_hdr (int32 at byte 0) reads 348 / 540 in the file's order, never in the other
 */
import { NIFTI1, NIFTI2 } from "nifti-reader-js";
import { FormatError } from "../errors.js";

/** Voxel types read (and, for float32/int16, written) by this library. */
export type NiftiDatatype = "uint8" | "int8" | "int16" | "uint16" | "int32" | "uint32" | "float32" | "float64";

type ArrayCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayLike<number>;
export interface DatatypeInfo {
  name: NiftiDatatype;
  code: number; // the header's datatype field
  bytes: number; // bitpix / 8
  array: ArrayCtor;
}
export const DATATYPES: readonly DatatypeInfo[] = [
  { name: "uint8", code: 2, bytes: 1, array: Uint8Array },
  { name: "int16", code: 4, bytes: 2, array: Int16Array },
  { name: "int32", code: 8, bytes: 4, array: Int32Array },
  { name: "float32", code: 16, bytes: 4, array: Float32Array },
  { name: "float64", code: 64, bytes: 8, array: Float64Array },
  { name: "int8", code: 256, bytes: 1, array: Int8Array },
  { name: "uint16", code: 512, bytes: 2, array: Uint16Array },
  { name: "uint32", code: 768, bytes: 4, array: Uint32Array },
];
/** Standard codes that are valid NIfTI but not a scalar volume this library converts. */
const REFUSED: ReadonlyMap<number, string> = new Map([
  [1, "binary (1 bit)"], [32, "complex64"], [128, "RGB24"], [1024, "int64"], [1280, "uint64"],
  [1536, "float128"], [1792, "complex128"], [2048, "complex256"], [2304, "RGBA32"],
]);

export function datatypeByCode(code: number, file: string): DatatypeInfo {
  const dt = DATATYPES.find((d) => d.code === code);
  if (dt) return dt;
  const known = REFUSED.get(code);
  const supported = DATATYPES.map((d) => `${d.name} (${d.code})`).join(", ");
  if (known) {
    throw new FormatError(
      `${file}: datatype: ${known} (${code}) is not supported; convert the image to one of ${supported}`,
    );
  }
  throw new FormatError(`${file}: datatype: unknown code ${code}; expected one of ${supported}`);
}

export function datatypeByName(name: NiftiDatatype): DatatypeInfo {
  const dt = DATATYPES.find((d) => d.name === name);
  if (!dt) throw new FormatError(`datatype: unknown name ${String(name)}`);
  return dt;
}

/** The fields this library uses, decoded from either version (numbers are float64 / exact ints). */
export interface NiftiHeader {
  version: 1 | 2;
  littleEndian: boolean;
  headerBytes: 348 | 540;
  dim: number[]; // dim[0..7]
  datatype: number;
  bitpix: number;
  pixdim: number[]; // pixdim[0..7]; pixdim[0] is qfac
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  xyztUnits: number;
  qformCode: number;
  sformCode: number;
  quatern: [number, number, number]; // quatern_b, _c, _d
  qoffset: [number, number, number];
  srow: number[][]; // srow_x, srow_y, srow_z: 3 rows of 4
  description: string;
}

const MAGIC1 = [0x6e, 0x2b, 0x31, 0x00]; // "n+1\0"
const PAIR1 = [0x6e, 0x69, 0x31, 0x00]; // "ni1\0": a .hdr/.img pair
const MAGIC2 = [0x6e, 0x2b, 0x32, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]; // "n+2\0\r\n\x1a\n"
const PAIR2 = [0x6e, 0x69, 0x32, 0x00, 0x0d, 0x0a, 0x1a, 0x0a];

function bytesEqual(raw: Uint8Array, at: number, want: readonly number[]): boolean {
  return want.every((b, i) => raw[at + i] === b);
}
function show(raw: Uint8Array, at: number, n: number): string {
  return JSON.stringify(String.fromCharCode(...raw.subarray(at, at + n)));
}

/** Version and byte order from sizeof_hdr, then the magic. Throws FormatError naming the field. */
export function detectNifti(raw: Uint8Array, file: string): { version: 1 | 2; littleEndian: boolean; headerBytes: 348 | 540 } {
  if (raw.length < 4) throw new FormatError(`${file}: header: truncated: ${raw.length} bytes, not even sizeof_hdr`);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const le = dv.getInt32(0, true), be = dv.getInt32(0, false);
  let version: 1 | 2, littleEndian: boolean;
  if (le === 348 || be === 348) [version, littleEndian] = [1, le === 348];
  else if (le === 540 || be === 540) [version, littleEndian] = [2, le === 540];
  else {
    throw new FormatError(
      `${file}: sizeof_hdr: expected 348 (NIfTI-1) or 540 (NIfTI-2) in either byte order, got ${le} (little-endian) / ${be} (big-endian): not a NIfTI file`,
    );
  }
  const headerBytes = version === 1 ? 348 : 540;
  if (raw.length < headerBytes) {
    throw new FormatError(`${file}: header: truncated: NIfTI-${version} needs ${headerBytes} bytes, got ${raw.length}`);
  }
  const [at, magic, pair] = version === 1 ? [344, MAGIC1, PAIR1] : [4, MAGIC2, PAIR2];
  if (bytesEqual(raw, at, pair)) {
    throw new FormatError(
      `${file}: magic: ${show(raw, at, 3)} marks a .hdr/.img pair; only single-file .nii / .nii.gz is read (convert the pair first)`,
    );
  }
  if (!bytesEqual(raw, at, magic)) {
    throw new FormatError(`${file}: magic: expected ${show(Uint8Array.from(magic), 0, magic.length)}, got ${show(raw, at, magic.length)}`);
  }
  return { version, littleEndian, headerBytes };
}

/** Decodes the header of `raw` (at least the header bytes; extensions and data are not read). */
export function parseNiftiHeader(raw: Uint8Array, file = "nifti"): NiftiHeader {
  const { version, littleEndian, headerBytes } = detectNifti(raw, file);
  // a copy of exactly the header, so nifti-reader-js never looks at extensions or data
  const copy = new Uint8Array(headerBytes);
  copy.set(raw.subarray(0, headerBytes));
  const h = version === 1 ? new NIFTI1() : new NIFTI2();
  h.readHeader(copy.buffer);
  // nifti-reader-js's `affine` is its own choice between qform and sform; we read the srow_* rows
  const dv = new DataView(copy.buffer);
  const srow = [0, 1, 2].map((r) =>
    [0, 1, 2, 3].map((c) =>
      version === 1 ? dv.getFloat32(280 + 4 * (4 * r + c), littleEndian) : dv.getFloat64(400 + 8 * (4 * r + c), littleEndian),
    ),
  );
  return {
    version, littleEndian, headerBytes,
    dim: h.dims.slice(0, 8),
    datatype: h.datatypeCode,
    bitpix: h.numBitsPerVoxel,
    pixdim: h.pixDims.slice(0, 8),
    voxOffset: h.vox_offset,
    sclSlope: h.scl_slope,
    sclInter: h.scl_inter,
    xyztUnits: h.xyzt_units,
    qformCode: h.qform_code,
    sformCode: h.sform_code,
    quatern: [h.quatern_b, h.quatern_c, h.quatern_d],
    qoffset: [h.qoffset_x, h.qoffset_y, h.qoffset_z],
    srow,
    description: h.description,
  };
}
