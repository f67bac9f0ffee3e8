/**
 * One DICOM file (Part 10) as one CT slice: the header fields a volume needs, parsed with
 * dicom-parser, and its pixels decoded to Hounsfield units. Not the series (./dicom.ts assembles,
 * orders and checks the slices); no file system access. Conventions: docs/INPUT.md, "DICOM".
 *
 *   const s = parseSlice({ name: "IM0001.dcm", bytes });   // null when the bytes are not DICOM
 *   s.position, s.orientation, s.rows, s.columns;  decodeSlice(s) -> Float32Array [rows, columns] in HU
 */
import dicomParser from "dicom-parser";
import { inflateSync } from "fflate";
import { FormatError } from "../errors.js";

/** One input file: a name for messages (the path or File name) and its bytes. */
export interface VolumeFile {
  name: string;
  bytes: Uint8Array;
}

/** Transfer syntaxes whose pixel data is stored uncompressed (deflate is undone by fflate). */
export const READABLE_TRANSFER_SYNTAXES: Readonly<Record<string, string>> = {
  "1.2.840.10008.1.2": "Implicit VR Little Endian",
  "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
  "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
  "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
};

/** Names of compressed transfer syntaxes, for the error that refuses them. */
const COMPRESSED: Readonly<Record<string, string>> = {
  "1.2.840.10008.1.2.4.50": "JPEG Baseline", "1.2.840.10008.1.2.4.51": "JPEG Extended",
  "1.2.840.10008.1.2.4.57": "JPEG Lossless", "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
  "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless", "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
  "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless", "1.2.840.10008.1.2.4.91": "JPEG 2000",
  "1.2.840.10008.1.2.4.201": "HTJ2K Lossless", "1.2.840.10008.1.2.4.202": "HTJ2K Lossless RPCL",
  "1.2.840.10008.1.2.4.203": "HTJ2K", "1.2.840.10008.1.2.5": "RLE Lossless",
};

/** The DICOMDIR media directory: a Part 10 file that holds no image. */
const DICOMDIR_CLASS = "1.2.840.10008.1.3.10";

/** What one slice file says (DICOM tags in brackets). */
export interface SliceInfo {
  file: string;
  bytes: Uint8Array; // the dataset's bytes (inflated for deflate); pixelOffset points into it
  transferSyntax: string; // (0002,0010) UID
  modality: string | null; // (0008,0060)
  seriesUid: string; // (0020,000E)
  seriesDescription: string; // (0008,103E), "" when absent
  frameOfReference: string; // (0020,0052), "" when absent
  position: [number, number, number]; // (0020,0032) ImagePositionPatient, mm, LPS
  orientation: [number, number, number, number, number, number]; // (0020,0037) row then column direction cosines
  pixelSpacing: [number, number]; // (0028,0030) between rows, between columns (mm)
  rows: number; // (0028,0010)
  columns: number; // (0028,0011)
  bitsAllocated: number; // (0028,0100)
  bitsStored: number; // (0028,0101)
  signed: boolean; // (0028,0103) PixelRepresentation = 1
  slope: number; // (0028,1053), default 1
  intercept: number; // (0028,1052), default 0
  rescaleType: string; // (0028,1054), "" when absent
  littleEndian: boolean;
  pixelOffset: number;
  pixelLength: number;
}

/** True when the bytes carry the Part 10 marker "DICM" after the 128-byte preamble. */
export function isDicom(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

/** Parses one file; null when it is not DICOM or holds no image (DICOMDIR). Malformed DICOM is a FormatError. */
export function parseSlice(f: VolumeFile): SliceInfo | null {
  if (!isDicom(f.bytes)) return null;
  const file = f.name;
  let ds: ReturnType<typeof dicomParser.parseDicom>;
  try {
    ds = dicomParser.parseDicom(f.bytes, { inflater: inflate });
  } catch (e) {
    const why = typeof e === "string" ? e : e instanceof Error ? e.message : String((e as { exception?: unknown }).exception ?? e);
    throw new FormatError(`${file}: not a readable DICOM file (${why.replace(/^dicomParser\.\w+: /, "")})`);
  }
  const str = (tag: string) => ds.string(tag)?.trim() ?? "";
  if (str("x00020002") === DICOMDIR_CLASS) return null;
  const ts = str("x00020010");
  if (!(ts in READABLE_TRANSFER_SYNTAXES)) {
    const name = COMPRESSED[ts] ?? (ts.startsWith("1.2.840.10008.1.2.4.") ? "a JPEG-family compression" : "an unknown transfer syntax");
    throw new FormatError(`${file}: (0002,0010) TransferSyntaxUID: ${name} (${ts}) cannot be decoded here; expected uncompressed pixels (${Object.keys(READABLE_TRANSFER_SYNTAXES).join(", ")}): decompress the series first (e.g. dcmdjpeg, gdcmconv --raw)`);
  }
  const frames = ds.intString("x00280008");
  if (frames !== undefined && frames > 1) {
    throw new FormatError(`${file}: (0028,0008) NumberOfFrames: ${frames}; a multi-frame (enhanced) image is not read here: export the series as one slice per file`);
  }
  const pixel = ds.elements.x7fe00010;
  if (!pixel) throw new FormatError(`${file}: (7FE0,0010) PixelData: missing (expected one CT slice per file)`);
  const need = (tag: string, label: string, n: number): number[] => {
    const v = Array.from({ length: n }, (_, i) => ds.floatString(tag, i));
    if (v.some((x) => x === undefined || !Number.isFinite(x))) {
      throw new FormatError(`${file}: ${label}: expected ${n} numbers, got ${JSON.stringify(ds.string(tag) ?? null)}`);
    }
    return v as number[];
  };
  const uint = (tag: string, label: string): number => {
    const v = ds.uint16(tag);
    if (v === undefined) throw new FormatError(`${file}: ${label}: missing`);
    return v;
  };
  const samples = ds.uint16("x00280002") ?? 1, photometric = str("x00280004");
  if (samples !== 1 || (photometric !== "" && photometric !== "MONOCHROME2")) {
    throw new FormatError(`${file}: (0028,0004) PhotometricInterpretation: expected MONOCHROME2 with 1 sample per pixel (a CT slice), got ${photometric || "none"} with ${samples}`);
  }
  const info: SliceInfo = {
    file, bytes: ds.byteArray as Uint8Array, transferSyntax: ts,
    modality: str("x00080060") || null, seriesUid: str("x0020000e"), seriesDescription: str("x0008103e"),
    frameOfReference: str("x00200052"),
    position: need("x00200032", "(0020,0032) ImagePositionPatient", 3) as SliceInfo["position"],
    orientation: need("x00200037", "(0020,0037) ImageOrientationPatient", 6) as SliceInfo["orientation"],
    pixelSpacing: need("x00280030", "(0028,0030) PixelSpacing", 2) as SliceInfo["pixelSpacing"],
    rows: uint("x00280010", "(0028,0010) Rows"), columns: uint("x00280011", "(0028,0011) Columns"),
    bitsAllocated: uint("x00280100", "(0028,0100) BitsAllocated"),
    bitsStored: ds.uint16("x00280101") ?? uint("x00280100", "(0028,0100) BitsAllocated"),
    signed: ds.uint16("x00280103") === 1,
    slope: ds.floatString("x00281053") ?? 1, intercept: ds.floatString("x00281052") ?? 0, rescaleType: str("x00281054"),
    littleEndian: ts !== "1.2.840.10008.1.2.2",
    pixelOffset: pixel.dataOffset, pixelLength: pixel.length,
  };
  checkSlice(info);
  return info;
}

function checkSlice(s: SliceInfo): void {
  const f = s.file;
  if (!s.seriesUid) throw new FormatError(`${f}: (0020,000E) SeriesInstanceUID: missing`);
  if (s.rows < 1 || s.columns < 1) throw new FormatError(`${f}: (0028,0010/0011) Rows, Columns: expected positive, got ${s.rows} x ${s.columns}`);
  if (![8, 16, 32].includes(s.bitsAllocated) || s.bitsStored < 1 || s.bitsStored > s.bitsAllocated) {
    throw new FormatError(`${f}: (0028,0100/0101) BitsAllocated, BitsStored: expected 8, 16 or 32 bits holding 1..BitsAllocated stored bits, got ${s.bitsAllocated}, ${s.bitsStored}`);
  }
  if (!s.pixelSpacing.every((x) => x > 0)) throw new FormatError(`${f}: (0028,0030) PixelSpacing: expected positive mm, got [${s.pixelSpacing.join(", ")}]`);
  if (!Number.isFinite(s.slope) || s.slope === 0 || !Number.isFinite(s.intercept)) {
    throw new FormatError(`${f}: (0028,1052/1053) RescaleIntercept, RescaleSlope: expected finite numbers and a non-zero slope, got ${s.intercept}, ${s.slope}`);
  }
  const want = s.rows * s.columns * (s.bitsAllocated / 8);
  if (s.pixelLength < want || s.pixelOffset + want > s.bytes.length) {
    throw new FormatError(`${f}: (7FE0,0010) PixelData: expected ${want} bytes (${s.rows} x ${s.columns} x ${s.bitsAllocated} bits), got ${Math.min(s.pixelLength, s.bytes.length - s.pixelOffset)}`);
  }
}

/**
 * The slice's pixels in Hounsfield units, row-major [rows, columns] (column index fastest):
 * the stored value (BitsStored low bits, sign-extended when PixelRepresentation = 1) times
 * RescaleSlope plus RescaleIntercept, in float64, rounded once to float32; written into `out` at `at`.
 */
export function decodeSlice(s: SliceInfo, out: Float32Array, at: number): void {
  const n = s.rows * s.columns, bytes = s.bitsAllocated / 8;
  const view = new DataView(s.bytes.buffer, s.bytes.byteOffset + s.pixelOffset, n * bytes);
  const shift = 32 - s.bitsStored, le = s.littleEndian;
  for (let i = 0; i < n; i++) {
    const raw = bytes === 2 ? view.getUint16(2 * i, le) : bytes === 1 ? view.getUint8(i) : view.getUint32(4 * i, le);
    // keep the low BitsStored bits; sign-extend them when the pixels are signed
    const stored = shift === 0 ? (s.signed ? raw | 0 : raw >>> 0) : s.signed ? (raw << shift) >> shift : ((raw << shift) >>> shift);
    out[at + i] = stored * s.slope + s.intercept;
  }
}

/** dicom-parser's hook for deflated datasets: the bytes before `position`, then the raw-inflated rest. */
function inflate(bytes: Uint8Array, position: number): Uint8Array {
  const body = inflateSync(bytes.subarray(position));
  const out = new Uint8Array(position + body.length);
  out.set(bytes.subarray(0, position));
  out.set(body, position);
  return out;
}
