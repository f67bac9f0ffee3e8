/**
 * Bomb cases: inputs small on disk that ask for a lot. .nii.gz: padding before the voxels (vox_offset
 * 1 MiB .. 2 GiB of inflated zeros) or a large volume of inflated zeros (legal, truncated, or over the
 * limit); .nii / NIfTI-2: a header asking for a huge volume or offset; PNG: an IDAT inflating to 16-64
 * MiB or far more than IHDR says; safetensors / checkpoints: headers near and past the bounds on
 * header size and tensor count (16 MiB, 16384).
 */
import { gzipSync } from "fflate";
import { crc32, PNG_SIGNATURE } from "../src/viz/png.js";
import { concat, gzipZeros, zlibZeros } from "./bombs.js";
import type { Format } from "./seeds.js";

export interface Bomb {
  size: number; // which size, 0..3
  variant: number; // which kind, 0..3
}

const MIB = 1 << 20;

const built = new Map<string, Uint8Array>();

/** The bomb's bytes (built once per process and kept: every one is deterministic). */
export function bombCase(format: Format, seed: Uint8Array, b: Bomb, seedIndex: number): Uint8Array {
  const key = `${format}:${seedIndex}:${b.size}:${b.variant}`;
  let out = built.get(key);
  if (!out) {
    out = build(format, seed, b);
    built.set(key, out);
  }
  return out;
}

function build(format: Format, seed: Uint8Array, b: Bomb): Uint8Array {
  switch (format) {
    case "niigz": return niftiGzBomb(b);
    case "nii":
    case "nifti2": return niftiHeaderBomb(seed, b);
    case "png": return pngBomb(b);
    default: return headerBomb(b);
  }
}

/** A NIfTI-1 header (348 bytes + 4 extension bytes) for nx*ny*nz float32 voxels at vox_offset. */
function nifti1Header(dims: [number, number, number], voxOffset: number): Uint8Array {
  const h = new Uint8Array(352);
  const v = new DataView(h.buffer);
  v.setInt32(0, 348, true);
  [3, ...dims, 1, 1, 1, 1].forEach((d, i) => v.setInt16(40 + 2 * i, d, true));
  v.setInt16(70, 16, true);
  v.setInt16(72, 32, true);
  for (let i = 0; i < 8; i++) v.setFloat32(76 + 4 * i, 1, true);
  v.setFloat32(108, voxOffset, true);
  v.setUint8(123, 2);
  h.set([0x6e, 0x2b, 0x31, 0], 344);
  return h;
}

const PADS = [MIB, 16 * MIB - 4096, 32 * MIB, 2 ** 31];
const VOLUME_DIMS: [number, number, number][] = [[256, 128, 128], [256, 128, 128], [256, 256, 256], [128, 128, 64]];
const VOLUME_BYTES = [2 ** 22 * 4, MIB, 2 ** 24 * 4, 128 * 128 * 64 * 4];
const PNG_SIDES = [1024, 2048, 4096, 64];

/** The zero streams a bomb case is built from (./bombs.ts builds them before the cases run). */
export function bombNeeds(format: Format, b: Bomb): { gzip: number[]; zlib: number[] } {
  if (format === "niigz") return { gzip: [b.variant < 2 ? PADS[b.size] : VOLUME_BYTES[b.size]], zlib: [] };
  if (format === "png") return { gzip: [], zlib: [pngIdatBytes(b)] };
  return { gzip: [], zlib: [] };
}

function pngSide(b: Bomb): number {
  return b.variant === 2 ? 4 : PNG_SIDES[b.size];
}
function pngIdatBytes(b: Bomb): number {
  const side = pngSide(b), exact = side * (1 + side * 4);
  return b.variant === 2 ? 64 * MIB : b.variant === 3 ? Math.min(exact, MIB) : b.size === 3 ? exact * 4 : exact;
}

function niftiGzBomb(b: Bomb): Uint8Array {
  const pads = PADS;
  if (b.variant < 2) {
    // zero padding between the header and the voxels: vox_offset = 352 + pad
    const pad = pads[b.size], data = new Uint8Array(8 * 8 * 8 * 4).fill(0x3f);
    return concat([gzipSync(nifti1Header([8, 8, 8], 352 + pad)), gzipZeros(pad), gzipSync(data)]);
  }
  // a large volume of inflated zeros: 2^22 voxels (the fuzzer's limit, 16 MiB), truncated, or over the limit
  return concat([gzipSync(nifti1Header(VOLUME_DIMS[b.size], 352)), gzipZeros(VOLUME_BYTES[b.size])]);
}

/** Uncompressed: the seed's header asking for 2^24..2^31 voxels or a 2^31 offset, with its small data. */
function niftiHeaderBomb(seed: Uint8Array, b: Bomb): Uint8Array {
  const out = seed.slice();
  const v = new DataView(out.buffer);
  const le = v.getInt32(0, true) === 348 || v.getInt32(0, true) === 540;
  const v1 = v.getInt32(0, le) === 348;
  const extent = [256, 1024, 32767, 2048][b.size];
  if (b.variant % 2 === 0) {
    for (let i = 1; i <= 3; i++) {
      if (v1) v.setInt16(40 + 2 * i, extent, le);
      else v.setBigInt64(16 + 8 * i, BigInt(extent), le);
    }
  } else if (v1) v.setFloat32(108, [2 ** 24, 2 ** 31, 1e10, 3e38][b.size], le);
  else v.setBigInt64(168, [2n ** 24n, 2n ** 31n, 2n ** 60n, 2n ** 63n - 1n][b.size], le);
  return out;
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/** IDAT of inflated zeros (filter 0, black pixels): legal for 1024^2 / 2048^2 RGBA, over the limit at 4096^2, or far more or less than IHDR says. */
function pngBomb(b: Bomb): Uint8Array {
  const side = pngSide(b);
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, side);
  v.setUint32(4, side);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return concat([PNG_SIGNATURE, pngChunk("IHDR", ihdr), pngChunk("IDAT", zlibZeros(pngIdatBytes(b))), pngChunk("IEND", new Uint8Array(0))]);
}

/** safetensors headers near and past the bounds: a 15 MiB / 17 MiB metadata string, 15000 / 17000 tensors. */
function headerBomb(b: Bomb): Uint8Array {
  let json: string;
  if (b.variant % 2 === 0) {
    const len = [15 * MIB, 17 * MIB, 4 * MIB, 32 * MIB][b.size];
    json = `{"__metadata__":{"x":"${"a".repeat(len)}"}}`;
  } else {
    const count = [15_000, 17_000, 16_384, 200_000][b.size];
    const parts: string[] = [];
    for (let i = 0; i < count; i++) parts.push(`"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
    json = `{${parts.join(",")}}`;
  }
  const text = new TextEncoder().encode(json);
  const padded = Math.ceil(text.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + text.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(text, 8);
  return out;
}
