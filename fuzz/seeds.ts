/**
 * The fuzzer's valid inputs, built in code (the same bytes every run), and the header fields of each
 * format that mutations set to boundary values. Formats: NIfTI-1 (.nii), gzipped NIfTI (.nii.gz),
 * NIfTI-2, safetensors, model checkpoints and PNG. Not the mutations (./mutate.ts).
 */
import { gzipSync } from "fflate";
import { gzipSync as zlibGzip } from "node:zlib";
import { makeCheckpoint } from "../src/api.js";
import { writeSafetensors } from "../src/io/safetensors.js";
import { specialsAtEnd, type ModelConfig } from "../src/model/config.js";
import { initParams } from "../src/model/params.js";
import { preprocessPreset } from "../src/preprocess/index.js";
import { Rng } from "../src/rng.js";
import { Tensor } from "../src/tensor.js";
import { trainBpe } from "../src/tokenizer/train.js";
import { encodePng } from "../src/viz/png.js";
import { buildNifti, type FixtureFields } from "../test/nifti-fixtures.js";

export const FORMATS = ["nii", "niigz", "nifti2", "safetensors", "checkpoint", "png"] as const;
export type Format = (typeof FORMATS)[number];
export const EXTENSION: Record<Format, string> = {
  nii: "nii", niigz: "nii.gz", nifti2: "nii", safetensors: "safetensors", checkpoint: "safetensors", png: "png",
};

/** A header field: byte offset, type (be = big-endian regardless of the file) and a name for reports. */
export interface Field {
  name: string;
  at: number;
  type: "u8" | "i16" | "i32" | "i64" | "f32" | "f64" | "u32be" | "u64";
}

function niftiSeed(f: Partial<FixtureFields> & { n?: number }, seed: number): Uint8Array {
  const dims = f.dims ?? [5, 4, 3];
  const n = dims[0] * dims[1] * dims[2];
  const rng = new Rng(seed);
  const values = Array.from({ length: n }, () => Math.round(rng.uniform() * 2000 - 1000));
  return buildNifti({ dims, values, ...f });
}

/** Valid NIfTI files of one version: datatypes, byte orders, orientations, scaling, an extension, 4D. */
function niftiSeeds(version: 1 | 2): Uint8Array[] {
  const hdr = version === 1 ? 348 : 540;
  const lps = [[-0.75, 0, 0, 10], [0, -1.25, 0, -20], [0, 0, 2.5, 30]];
  return [
    niftiSeed({ version, datatype: 16, dims: [6, 5, 4] }, 1), // float32, pixdim only (RAS)
    niftiSeed({ version, datatype: 4, sformCode: 1, srow: lps, sclSlope: 1, sclInter: -1024 }, 2), // int16, scaled
    niftiSeed({ version, datatype: 2, littleEndian: false, qformCode: 1, quatern: [0, 0, 1], pixdim: [-1, 1, 1.5, 2, 1, 1, 1, 1] }, 3),
    niftiSeed({ version, datatype: 64, dims: [3, 3, 3], dim: [4, 3, 3, 3, 1, 1, 1, 1] }, 4), // float64, 4D with one volume
    niftiSeed({ version, datatype: 512, voxOffset: hdr + 4 + 32 }, 5), // uint16 after a 32-byte extension block
    niftiSeed({ version, datatype: 8, littleEndian: false, sformCode: 2, srow: [[0, 0, 2, 0], [0, 1, 0, 0], [1, 0, 0, 0]], dims: [2, 7, 3] }, 6),
  ];
}

function niftiFields(version: 1 | 2): Field[] {
  const f: Field[] = [{ name: "sizeof_hdr", at: 0, type: "i32" }];
  if (version === 1) {
    for (let i = 0; i < 8; i++) f.push({ name: `dim[${i}]`, at: 40 + 2 * i, type: "i16" });
    f.push({ name: "datatype", at: 70, type: "i16" }, { name: "bitpix", at: 72, type: "i16" });
    for (let i = 0; i < 8; i++) f.push({ name: `pixdim[${i}]`, at: 76 + 4 * i, type: "f32" });
    f.push({ name: "vox_offset", at: 108, type: "f32" }, { name: "scl_slope", at: 112, type: "f32" }, { name: "scl_inter", at: 116, type: "f32" });
    f.push({ name: "xyzt_units", at: 123, type: "u8" }, { name: "qform_code", at: 252, type: "i16" }, { name: "sform_code", at: 254, type: "i16" });
    for (let i = 0; i < 6; i++) f.push({ name: `quatern/qoffset[${i}]`, at: 256 + 4 * i, type: "f32" });
    for (let i = 0; i < 12; i++) f.push({ name: `srow[${i}]`, at: 280 + 4 * i, type: "f32" });
    for (let i = 0; i < 4; i++) f.push({ name: `magic[${i}]`, at: 344 + i, type: "u8" });
  } else {
    for (let i = 0; i < 8; i++) f.push({ name: `magic[${i}]`, at: 4 + i, type: "u8" });
    f.push({ name: "datatype", at: 12, type: "i16" }, { name: "bitpix", at: 14, type: "i16" });
    for (let i = 0; i < 8; i++) f.push({ name: `dim[${i}]`, at: 16 + 8 * i, type: "i64" });
    for (let i = 0; i < 8; i++) f.push({ name: `pixdim[${i}]`, at: 104 + 8 * i, type: "f64" });
    f.push({ name: "vox_offset", at: 168, type: "i64" }, { name: "scl_slope", at: 176, type: "f64" }, { name: "scl_inter", at: 184, type: "f64" });
    f.push({ name: "qform_code", at: 344, type: "i32" }, { name: "sform_code", at: 348, type: "i32" });
    for (let i = 0; i < 6; i++) f.push({ name: `quatern/qoffset[${i}]`, at: 352 + 8 * i, type: "f64" });
    for (let i = 0; i < 12; i++) f.push({ name: `srow[${i}]`, at: 400 + 8 * i, type: "f64" });
    f.push({ name: "xyzt_units", at: 500, type: "i32" });
  }
  return f;
}

function safetensorsSeeds(): Uint8Array[] {
  const rng = new Rng(7);
  const f32 = (shape: number[]) => new Tensor("f32", shape, rng.fill(shape.reduce((a, b) => a * b, 1), -2, 2));
  const i32 = (shape: number[]) => new Tensor("i32", shape, Int32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i * 7 - 20));
  return [
    writeSafetensors({ a: f32([2, 3]), b: i32([4]) }, { metadata: { format: "pt", note: "seed" } }),
    writeSafetensors({ h: f32([3, 5]), bf: f32([4]), big: i32([2, 2]) }, { dtypes: { h: "F16", bf: "BF16", big: "I64" } }),
    writeSafetensors({ empty: f32([0, 5]), scalar: f32([]), v: f32([17]) }),
    writeSafetensors({ only: f32([1, 1, 3]) }, { metadata: { x: "" } }),
  ];
}

/** A checkpoint small enough to parse in a few ms: image 16, patch 4, one MoE block, a 1-block LM. */
export function microConfig(vocab: number): ModelConfig {
  return {
    vision: {
      image: 16, patch: 4, cIn: 3, width: 16, heads: 2, layers: 2, volumeLayers: 1, mlpRatio: 2, act: "gelu_tanh",
      normEps: 1e-5, depthPatch: 1, rope: "depth", ropeBase: 10000, ropeSections: [2, 1, 1], moeLayers: [1],
    },
    moe: { tasks: 2, experts: 2, topK: 1, sharedExperts: 1, aShared: 0.5, aRouted: 0.5, taskRouting: "hard", renormalize: true, expertInit: "upcycle" },
    projector: { depthPool: 2, act: "gelu_tanh" },
    lm: { vocab, width: 16, heads: 2, kvHeads: 1, layers: 1, mlpHidden: 24, normEps: 1e-6, ropeBase: 10000, tieEmbeddings: true },
    tokens: specialsAtEnd(vocab),
  };
}

function checkpointSeeds(): Uint8Array[] {
  const tokenizer = trainBpe(["The liver is normal.", "No pleural effusion is seen.", "Is there a nodule?"], 280, [], { minFrequency: 1 });
  const cfg = microConfig(tokenizer.vocabSize);
  const params = initParams(cfg, 3);
  const preprocess = { ...preprocessPreset("tiny"), name: "micro", grid: [4, 16, 16] as [number, number, number] };
  const spacing = { ...preprocess, resample: { mode: "spacing" as const, spacing: [2, 1, 1] as [number, number, number] } };
  return [
    makeCheckpoint({ cfg, params, tokenizer, preprocess }),
    makeCheckpoint({ cfg, params, tokenizer, preprocess: spacing, dtype: "F16", metadata: { description: "micro" } }),
  ];
}

function pngSeeds(): Uint8Array[] {
  const img = (width: number, height: number, channels: 3 | 4, seed: number) => ({
    width, height, channels, data: Uint8Array.from({ length: width * height * channels }, (_, i) => (i * 37 + seed * 11) & 0xff),
  });
  return [
    encodePng(img(5, 3, 3, 1)),
    encodePng(img(4, 4, 4, 2), { text: { Title: "routing map", Software: "tgh-moe" } }),
    encodePng(img(17, 2, 3, 3), { filter: 4, level: 0 }),
    encodePng(img(1, 1, 4, 4), { filter: 0 }),
  ];
}

/** PNG fields: IHDR width, height and its five bytes, plus every chunk's length (found per file). */
export function pngFields(bytes: Uint8Array): Field[] {
  const f: Field[] = [
    { name: "IHDR.width", at: 16, type: "u32be" }, { name: "IHDR.height", at: 20, type: "u32be" },
    { name: "IHDR.depth", at: 24, type: "u8" }, { name: "IHDR.colour", at: 25, type: "u8" },
    { name: "IHDR.compression", at: 26, type: "u8" }, { name: "IHDR.filter", at: 27, type: "u8" }, { name: "IHDR.interlace", at: 28, type: "u8" },
  ];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let o = 8; o + 12 <= bytes.length; o += 12 + v.getUint32(o)) f.push({ name: `chunk@${o}.length`, at: o, type: "u32be" });
  return f;
}

export interface FormatSeeds {
  seeds: Uint8Array[];
  /** Fields of the uncompressed seed (NIfTI) or of any seed (safetensors: the header length). */
  fields: (bytes: Uint8Array) => Field[];
}

/** Every format's seeds, built once. NIfTI .gz seeds are the .nii seeds; gzip is applied after mutation. */
export function buildSeeds(): Record<Format, FormatSeeds> {
  const nii1 = niftiSeeds(1), nii2 = niftiSeeds(2);
  const stFields = () => [{ name: "header length", at: 0, type: "u64" } as Field];
  return {
    nii: { seeds: nii1, fields: () => niftiFields(1) },
    niigz: { seeds: nii1, fields: () => niftiFields(1) },
    nifti2: { seeds: nii2, fields: () => niftiFields(2) },
    safetensors: { seeds: safetensorsSeeds(), fields: stFields },
    checkpoint: { seeds: checkpointSeeds(), fields: stFields },
    png: { seeds: pngSeeds(), fields: pngFields },
  };
}

/** The gzip encoders a .nii.gz case is written with: fflate, node:zlib, and two members. */
export function gzipVariant(bytes: Uint8Array, variant: number): Uint8Array {
  if (variant % 3 === 0) return gzipSync(bytes);
  if (variant % 3 === 1) return new Uint8Array(zlibGzip(bytes));
  const cut = Math.floor(bytes.length / 3);
  const a = gzipSync(bytes.subarray(0, cut)), b = gzipSync(bytes.subarray(cut));
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
