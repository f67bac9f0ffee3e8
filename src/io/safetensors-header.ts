/**
 * The safetensors header: parsing with every structural check (a FormatError naming the file field),
 * and the writer's byte-exact header text. Tensor data is read and written in ./safetensors.ts.
 *
 *   file = u64 little-endian N | N bytes of UTF-8 JSON (space padded) | data buffer
 *   JSON = {"__metadata__": {string: string}, name: {"dtype", "shape": [..], "data_offsets": [begin, end]}, ...}
 *   offsets are relative to the start of the data buffer; the tensors, sorted by offset, must tile it
 */
import { FormatError } from "../errors.js";
import { JsonNumber, parseStrictJson, type JsonObject, type JsonValue } from "./json.js";

/** The dtypes this library converts: F32/F16/BF16 -> f32 tensors, I32/I64 -> i32 tensors. */
export type StDType = "F32" | "F16" | "BF16" | "I32" | "I64";
export const ITEMSIZE: Readonly<Record<StDType, number>> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 };
/** Dtypes of the format that are valid but not converted here (a clear error, not "unknown"). */
const OTHER_DTYPES = new Set([
  "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "I16", "U16", "U32", "F64", "C64", "U64",
]);
/** The format's own bound on N, the header length (the reference implementation's MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;
/** This reader's default bounds: 16 MiB of header (our largest checkpoints hold well under 1 MiB) and 16384 tensors. */
export const DEFAULT_MAX_HEADER_BYTES = 2 ** 24;
export const DEFAULT_MAX_TENSORS = 2 ** 14;
export const METADATA_KEY = "__metadata__";

/** What a header may make the reader hold: both are checked before the JSON is decoded, or while it is. */
export interface HeaderLimits {
  /** Largest N accepted (default 16 MiB, at most the format's 100 MB). */
  maxHeaderBytes?: number;
  /** Most tensors accepted (default 16384; a phi3v training checkpoint holds 4 x 742: weights, optim.m, optim.v, optim.step). */
  maxTensors?: number;
}

/** One tensor entry. `begin`/`end` are byte offsets into the data buffer (not the file). */
export interface TensorInfo {
  name: string;
  dtype: StDType;
  shape: number[];
  begin: number;
  end: number;
}
export interface SafetensorsHeader {
  /** Entries in data-offset order (the file order of their bytes). */
  tensors: TensorInfo[];
  /** `__metadata__` (empty when absent). */
  metadata: Map<string, string>;
  /** File offset of the data buffer: 8 + N. */
  dataStart: number;
}

/** Parses and validates the header of a whole file held in `bytes`. `file` labels errors. */
export function parseHeader(bytes: Uint8Array, file: string, limits: HeaderLimits = {}): SafetensorsHeader {
  const dataStart = headerEnd(bytes.subarray(0, 8), bytes.length, file, limits);
  return parseHeaderText(bytes.subarray(8, dataStart), bytes.length, file, limits);
}

/**
 * 8 + N from the first 8 bytes of a file of `fileSize` bytes: N is checked against the bound and the
 * file size before anything else is read.
 */
export function headerEnd(first8: Uint8Array, fileSize: number, file: string, limits: HeaderLimits = {}): number {
  const max = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (first8.length < 8) fail(file, "header length", `file has ${first8.length} bytes, fewer than the 8 of the u64 header length`);
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(max)) {
    fail(file, "header length", `${n} bytes is above the bound of ${max}${max < MAX_HEADER_BYTES ? ` (this reader's; option maxHeaderBytes, the format allows ${MAX_HEADER_BYTES})` : ""}`);
  }
  const dataStart = 8 + Number(n);
  if (dataStart > fileSize) fail(file, "header length", `${n} bytes goes beyond the end of the file (${fileSize} bytes)`);
  return dataStart;
}

/** Parses the N header bytes (file bytes [8, 8 + N)) of a file of `fileSize` bytes. */
export function parseHeaderText(headerBytes: Uint8Array, fileSize: number, file: string, limits: HeaderLimits = {}): SafetensorsHeader {
  const maxTensors = limits.maxTensors ?? DEFAULT_MAX_TENSORS;
  const dataStart = 8 + headerBytes.length;
  let text = "";
  try {
    // fatal: invalid UTF-8 throws; ignoreBOM: a BOM is kept, so the JSON check rejects it
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    fail(file, "header", "not valid UTF-8");
  }
  // one more key than tensors: __metadata__
  const tooMany = `more than ${maxTensors} tensors (this reader's bound; option maxTensors)`;
  const root = parseStrictJson(text, `${file}: header`, { maxRootKeys: maxTensors + 1, tooMany });
  if (!(root instanceof Map)) fail(file, "header", `expected a JSON object, got ${kind(root)}`);
  const obj = root as JsonObject;

  const metadata = new Map<string, string>();
  const tensors: TensorInfo[] = [];
  const bad: Fail = (field, what) => fail(file, field, what);
  for (const [name, v] of obj) {
    if (name === METADATA_KEY) {
      if (!(v instanceof Map)) bad(METADATA_KEY, `expected an object of strings, got ${kind(v)}`);
      for (const [k, s] of v as JsonObject) {
        if (typeof s !== "string") bad(`${METADATA_KEY}[${JSON.stringify(k)}]`, `expected a string value, got ${kind(s)}`);
        metadata.set(k, s as string);
      }
    } else {
      tensors.push(parseEntry(name, v, bad));
    }
  }
  if (tensors.length > maxTensors) bad("header", tooMany);
  checkLayout(tensors, fileSize - dataStart, bad);
  return { tensors, metadata, dataStart };
}

function fail(file: string, field: string, what: string): never {
  throw new FormatError(`${file}: ${field}: ${what}`);
}

type Fail = (field: string, what: string) => never;

function parseEntry(name: string, v: JsonValue, fail: Fail): TensorInfo {
  const at = `header[${JSON.stringify(name)}]`;
  if (!(v instanceof Map)) return fail(at, `expected an object {dtype, shape, data_offsets}, got ${kind(v)}`);
  for (const key of v.keys()) {
    if (key !== "dtype" && key !== "shape" && key !== "data_offsets") fail(`${at}.${key}`, "unknown field");
  }
  for (const key of ["dtype", "shape", "data_offsets"]) if (!v.has(key)) fail(`${at}.${key}`, "missing");

  const dtype = v.get("dtype")!;
  if (typeof dtype !== "string") fail(`${at}.dtype`, `expected a string, got ${kind(dtype)}`);
  if (OTHER_DTYPES.has(dtype as string)) {
    fail(`${at}.dtype`, `${dtype} is a safetensors dtype this library does not convert (F32, F16, BF16, I32, I64)`);
  }
  if (!Object.hasOwn(ITEMSIZE, dtype as string)) fail(`${at}.dtype`, `unknown dtype ${JSON.stringify(dtype)}`);

  const shape = uintArray(v.get("shape")!, `${at}.shape`, "shape extents", fail);
  const offsets = uintArray(v.get("data_offsets")!, `${at}.data_offsets`, "offsets", fail);
  if (offsets.length !== 2) fail(`${at}.data_offsets`, `expected [begin, end], got ${offsets.length} numbers`);
  const [begin, end] = offsets;
  if (end < begin) fail(`${at}.data_offsets`, `end ${end} is before begin ${begin}`);

  let count = 1;
  for (const d of shape) count *= d;
  const nbytes = count * ITEMSIZE[dtype as StDType];
  if (!Number.isSafeInteger(nbytes)) fail(`${at}.shape`, `[${shape.join(", ")}] is too large`);
  if (end - begin !== nbytes) {
    fail(`${at}.data_offsets`, `[${begin}, ${end}] holds ${end - begin} bytes; shape [${shape.join(", ")}] of ${dtype} needs ${nbytes}`);
  }
  return { name, dtype: dtype as StDType, shape, begin, end };
}

/** A JSON array of plain non-negative integers (written without sign, fraction or exponent). */
function uintArray(v: JsonValue, field: string, what: string, fail: Fail): number[] {
  if (!Array.isArray(v)) return fail(field, `expected an array, got ${kind(v)}`);
  return v.map((x) => {
    if (!(x instanceof JsonNumber) || !x.isPlainUint() || !Number.isSafeInteger(x.value)) {
      fail(field, `${what} must be non-negative integers, got ${x instanceof JsonNumber ? x.raw : kind(x)}`);
    }
    return (x as JsonNumber).value;
  });
}

/** Sorted by (begin, end), the entries must tile [0, size) exactly: no gap, no overlap, nothing beyond. */
function checkLayout(tensors: TensorInfo[], size: number, fail: Fail): void {
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0, prev = "";
  for (const t of tensors) {
    const at = `header[${JSON.stringify(t.name)}].data_offsets`;
    if (t.end > size) fail(at, `[${t.begin}, ${t.end}] goes beyond the data buffer (${size} bytes)`);
    if (t.begin < cursor) fail(at, `[${t.begin}, ${t.end}] overlaps ${JSON.stringify(prev)} (which ends at ${cursor})`);
    if (t.begin > cursor) fail(at, `bytes [${cursor}, ${t.begin}) before it belong to no tensor (tensors must tile the buffer)`);
    cursor = t.end;
    prev = t.name;
  }
  if (cursor !== size) fail("data buffer", `bytes [${cursor}, ${size}) belong to no tensor (tensors must tile the buffer)`);
}

function kind(v: JsonValue): string {
  if (v === null) return "null";
  if (v instanceof Map) return "an object";
  if (Array.isArray(v)) return "an array";
  if (v instanceof JsonNumber) return `the number ${v.raw}`;
  return typeof v === "string" ? `the string ${JSON.stringify(v)}` : String(v);
}

/** One entry to write: its name, storage dtype, shape and byte length. */
export interface EntryToWrite {
  name: string;
  dtype: StDType;
  shape: readonly number[];
  nbytes: number;
}

/**
 * The header bytes the writer emits, with the entries laid out in the given order:
 * `{"__metadata__":{...},"name":{"dtype":..,"shape":[..],"data_offsets":[b,e]},...}`, compact,
 * JSON.stringify string escaping, `__metadata__` omitted when empty, padded with spaces to a
 * multiple of 8 bytes (so the data buffer starts 8-aligned in the file).
 */
export function headerBytes(entries: readonly EntryToWrite[], metadata: ReadonlyMap<string, string>): Uint8Array {
  const parts: string[] = [];
  if (metadata.size > 0) {
    const kv = [...metadata].map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${kv.join(",")}}`);
  }
  let offset = 0;
  for (const e of entries) {
    const offs = `[${offset},${offset + e.nbytes}]`;
    parts.push(`${JSON.stringify(e.name)}:{"dtype":"${e.dtype}","shape":[${e.shape.join(",")}],"data_offsets":${offs}}`);
    offset += e.nbytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  return padded;
}
