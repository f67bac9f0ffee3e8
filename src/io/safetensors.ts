/**
 * safetensors read/write on Uint8Array (Node and browsers; file helpers live in ./node.ts).
 * Reading validates the whole header first, then copies each tensor into its own aligned typed array
 * (never a view into the file). Writing is deterministic: same tensors and metadata -> same bytes.
 * Conventions for porters: docs/FORMATS.md.
 *
 *   const bytes = writeSafetensors(new Map([["w", t]]), { metadata: { spec: "tgh-moe/1" } });
 *   const { tensors, metadata } = readSafetensors(bytes);
 */
import { DTypeError, FormatError, MemoryError, ValueError, fmtShape } from "../errors.js";
import { Tensor, checkShape, type DType } from "../tensor.js";
import {
  copyFromLittleEndian, decodeBf16, decodeF16, encodeBf16, encodeF16, HOST_LITTLE_ENDIAN, swapBytes, toLittleEndianBytes,
} from "./dtype.js";
import {
  headerBytes, headerEnd, ITEMSIZE, METADATA_KEY, parseHeader, parseHeaderText,
  type EntryToWrite, type HeaderLimits, type SafetensorsHeader, type StDType, type TensorInfo,
} from "./safetensors-header.js";
import { readAt, type ByteSource } from "./source.js";

export {
  DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_TENSORS, ITEMSIZE, MAX_HEADER_BYTES, parseHeader,
  type HeaderLimits, type SafetensorsHeader, type StDType, type TensorInfo,
} from "./safetensors-header.js";

export interface ReadOptions extends HeaderLimits {
  /** Label for error messages, e.g. the file name. Default "safetensors". */
  file?: string;
}
export interface SafetensorsContents {
  /** Every tensor, in file order: F32/F16/BF16 as f32, I32/I64 as i32. */
  tensors: Map<string, Tensor>;
  /** The dtype each tensor had in the file. */
  dtypes: Map<string, StDType>;
  metadata: Map<string, string>;
}

/** Reads a whole safetensors file. Throws FormatError on any malformed field. */
export function readSafetensors(bytes: Uint8Array, opts: ReadOptions = {}): SafetensorsContents {
  const file = opts.file ?? "safetensors";
  const header = parseHeader(bytes, file, opts);
  const tensors = new Map<string, Tensor>();
  const dtypes = new Map<string, StDType>();
  for (const info of header.tensors) {
    tensors.set(info.name, decodeTensor(tensorBytes(bytes, header, info), false, info, file));
    dtypes.set(info.name, info.dtype);
  }
  return { tensors, dtypes, metadata: header.metadata };
}

/**
 * readSafetensors from a ByteSource (a file): the header is read and checked first, then each
 * tensor is read straight into its own buffer, so memory is the tensors plus the header.
 */
export async function readSafetensorsSource(src: ByteSource, opts: ReadOptions = {}): Promise<SafetensorsContents> {
  const file = opts.file ?? src.name;
  const header = await readHeaderSource(src, { ...opts, file });
  const tensors = new Map<string, Tensor>();
  const dtypes = new Map<string, StDType>();
  for (const info of header.tensors) {
    tensors.set(info.name, await readTensorSource(src, header, info, file));
    dtypes.set(info.name, info.dtype);
  }
  return { tensors, dtypes, metadata: header.metadata };
}

/** The checked header of a ByteSource: 8 bytes, then N bytes once N is within its bound. */
export async function readHeaderSource(src: ByteSource, opts: ReadOptions = {}): Promise<SafetensorsHeader> {
  const file = opts.file ?? src.name;
  const first = new Uint8Array(Math.min(8, src.size));
  await src.read(0, first);
  const dataStart = headerEnd(first, src.size, file, opts);
  return parseHeaderText(await readAt(src, 8, dataStart - 8, "header"), src.size, file, opts);
}

/** One tensor of a ByteSource whose header is `header`, decoded as decodeTensor does. */
export async function readTensorSource(src: ByteSource, header: SafetensorsHeader, info: TensorInfo, file: string): Promise<Tensor> {
  checkShape(`${file}: ${JSON.stringify(info.name)}`, "shape", info.shape);
  const raw = await readAt(src, header.dataStart + info.begin, info.end - info.begin, JSON.stringify(info.name));
  return decodeTensor(raw, true, info, file);
}

function tensorBytes(bytes: Uint8Array, header: SafetensorsHeader, info: TensorInfo): Uint8Array {
  return bytes.subarray(header.dataStart + info.begin, header.dataStart + info.end);
}

/** What loadChecked expects of a tensor: a shape (-1 = any extent) and a dtype, either a file
 *  dtype ("F16": exactly that) or a tensor dtype ("f32": any of F32/F16/BF16; "i32": I32/I64). */
export interface Expected {
  shape: readonly number[];
  dtype: DType | StDType;
}
export interface CheckedOptions extends ReadOptions {
  /** Skip (and do not decode) tensors that are not expected instead of failing. Default false. */
  allowUnknown?: boolean;
}

/**
 * Loads exactly the expected tensors, or throws one FormatError listing every problem (missing name,
 * unexpected name, wrong shape, wrong dtype). Never a partial result.
 */
export function loadChecked(
  bytes: Uint8Array,
  expected: ReadonlyMap<string, Expected>,
  opts: CheckedOptions = {},
): Map<string, Tensor> {
  const file = opts.file ?? "safetensors";
  const header = parseHeader(bytes, file, opts);
  checkExpected(header, expected, file, opts.allowUnknown ?? false);
  const out = new Map<string, Tensor>();
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  for (const name of expected.keys()) out.set(name, decodeTensor(tensorBytes(bytes, header, byName.get(name)!), false, byName.get(name)!, file));
  return out;
}

/** loadChecked on a ByteSource whose header is `header` (from readHeaderSource): reads only the expected tensors. */
export async function loadCheckedSource(
  src: ByteSource, header: SafetensorsHeader, expected: ReadonlyMap<string, Expected>, opts: CheckedOptions = {},
): Promise<Map<string, Tensor>> {
  const file = opts.file ?? src.name;
  checkExpected(header, expected, file, opts.allowUnknown ?? false);
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const out = new Map<string, Tensor>();
  for (const name of expected.keys()) out.set(name, await readTensorSource(src, header, byName.get(name)!, file));
  return out;
}

/** Every problem (missing, unexpected, wrong shape or dtype) in one FormatError, before any data is read. */
function checkExpected(header: SafetensorsHeader, expected: ReadonlyMap<string, Expected>, file: string, allowUnknown: boolean): void {
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const problems: string[] = [];
  for (const [name, want] of expected) {
    const got = byName.get(name);
    const at = JSON.stringify(name);
    if (!got) {
      problems.push(`${at}: missing`);
      continue;
    }
    if (!shapeMatches(got.shape, want.shape)) problems.push(`${at}: expected shape ${fmtShape(want.shape)}, got ${fmtShape(got.shape)}`);
    if (!dtypeMatches(got.dtype, want.dtype)) problems.push(`${at}: expected dtype ${want.dtype}, got ${got.dtype}`);
  }
  if (!allowUnknown) {
    for (const t of header.tensors) if (!expected.has(t.name)) problems.push(`${JSON.stringify(t.name)}: not expected`);
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 20).join("; ") + (problems.length > 20 ? `; ... (${problems.length - 20} more)` : "");
    throw new FormatError(`${file}: tensors: ${problems.length} problem(s): ${shown}`);
  }
}

function shapeMatches(got: readonly number[], want: readonly number[]): boolean {
  return got.length === want.length && got.every((d, i) => want[i] === -1 || want[i] === d);
}
function dtypeMatches(got: StDType, want: DType | StDType): boolean {
  if (want === "f32") return got === "F32" || got === "F16" || got === "BF16";
  if (want === "i32") return got === "I32" || got === "I64";
  return got === want;
}

/**
 * One tensor from its raw bytes, converted to f32 / i32. `owned`: `raw` is a fresh buffer of exactly
 * these bytes (read from a source), so F32/I32 on a little-endian host use it without a copy;
 * otherwise the bytes are copied (a tensor never views the caller's file buffer).
 */
function decodeTensor(raw: Uint8Array, owned: boolean, info: TensorInfo, file: string): Tensor {
  checkShape(`${file}: ${JSON.stringify(info.name)}`, "shape", info.shape);
  const own = owned && raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && HOST_LITTLE_ENDIAN;
  const words = (itemsize: number): ArrayBuffer => (own ? (raw.buffer as ArrayBuffer) : copyFromLittleEndian(raw, 0, raw.length, itemsize));
  switch (info.dtype) {
    case "F32":
      return new Tensor("f32", info.shape, new Float32Array(words(4)));
    case "I32":
      return new Tensor("i32", info.shape, new Int32Array(words(4)));
    case "F16":
      return new Tensor("f32", info.shape, decodeF16(new Uint16Array(words(2))));
    case "BF16":
      return new Tensor("f32", info.shape, decodeBf16(new Uint16Array(words(2))));
    case "I64":
      return new Tensor("i32", info.shape, narrowI64(raw, info.name, file));
  }
}

/** I64 -> int32, refusing (not wrapping) values outside [-2^31, 2^31). */
function narrowI64(raw: Uint8Array, name: string, file: string): Int32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Int32Array(raw.byteLength / 8);
  for (let i = 0; i < out.length; i++) {
    const lo = view.getUint32(8 * i, true), hi = view.getInt32(8 * i + 4, true);
    if (!((hi === 0 && lo < 0x80000000) || (hi === -1 && lo >= 0x80000000))) {
      const v = (BigInt(hi) << 32n) | BigInt(lo);
      throw new FormatError(`${file}: ${JSON.stringify(name)}: I64 value ${v} at index ${i} is outside the int32 range`);
    }
    out[i] = lo | 0;
  }
  return out;
}

export interface WriteOptions {
  /** `__metadata__`: string -> string. Written with keys sorted; omitted when empty. */
  metadata?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** Storage dtype per tensor name: f32 tensors as F32 (default), F16 or BF16 (round to nearest
   *  even); i32 tensors as I32 (default) or I64. */
  dtypes?: ReadonlyMap<string, StDType> | Readonly<Record<string, StDType>>;
}

/**
 * Serializes tensors to safetensors bytes. Layout (the reference implementation's): tensors sorted
 * by storage dtype, widest first (I64, F32, I32, BF16, F16), then by name in code-point (= UTF-8
 * byte) order; data packed in that order with no padding, so each tensor is aligned to its item size.
 */
export function writeSafetensors(
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  opts: WriteOptions = {},
): Uint8Array {
  const entries = toMap(tensors);
  const storage = toMap(opts.dtypes ?? {});
  for (const name of storage.keys()) {
    if (!entries.has(name)) throw new ValueError(`writeSafetensors: dtypes: ${JSON.stringify(name)} is not a tensor being written`);
  }
  const metadata = new Map([...toMap(opts.metadata ?? {})].sort((a, b) => compareCodePoints(a[0], b[0])));
  for (const [k, v] of metadata) {
    checkText("metadata key", k);
    if (typeof v !== "string") throw new ValueError(`writeSafetensors: metadata[${JSON.stringify(k)}]: expected a string, got ${typeof v}`);
    checkText(`metadata[${JSON.stringify(k)}]`, v);
  }
  const list: (EntryToWrite & { tensor: Tensor })[] = [];
  for (const [name, tensor] of entries) {
    checkText("tensor name", name);
    if (name === METADATA_KEY) throw new ValueError(`writeSafetensors: tensor name: ${METADATA_KEY} is reserved`);
    if (!(tensor instanceof Tensor)) throw new ValueError(`writeSafetensors: ${JSON.stringify(name)}: expected a Tensor`);
    const dtype = storage.get(name) ?? (tensor.dtype === "f32" ? "F32" : "I32");
    const ok = tensor.dtype === "f32" ? ["F32", "F16", "BF16"].includes(dtype) : ["I32", "I64"].includes(dtype);
    if (!ok) throw new DTypeError(`writeSafetensors: dtypes[${JSON.stringify(name)}]: cannot store a ${tensor.dtype} tensor as ${dtype}`);
    list.push({ name, dtype, shape: tensor.shape, nbytes: tensor.size * ITEMSIZE[dtype], tensor });
  }
  list.sort((a, b) => WIDTH_RANK[b.dtype] - WIDTH_RANK[a.dtype] || compareCodePoints(a.name, b.name));

  const header = headerBytes(list, metadata);
  const total = 8 + header.length + list.reduce((s, e) => s + e.nbytes, 0);
  if (!Number.isSafeInteger(total) || total > 2 ** 32) throw new MemoryError(`writeSafetensors: ${total} bytes is too large for one buffer`);
  const out = new Uint8Array(total);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  let at = 8 + header.length;
  for (const e of list) {
    out.set(encodeData(e.tensor, e.dtype), at);
    at += e.nbytes;
  }
  return out;
}

/** The reference implementation's dtype enum order (ascending); it writes the largest first. */
const WIDTH_RANK: Readonly<Record<StDType, number>> = { F16: 0, BF16: 1, I32: 2, F32: 3, I64: 4 };

function encodeData(t: Tensor, dtype: StDType): Uint8Array {
  if (dtype === "F32" || dtype === "I32") return toLittleEndianBytes(t.data);
  if (dtype === "F16") return toLittleEndianBytes(encodeF16(t.data as Float32Array));
  if (dtype === "BF16") return toLittleEndianBytes(encodeBf16(t.data as Float32Array));
  // I64: sign-extend each int32 to two little-endian words
  const src = t.data as Int32Array;
  const out = new Int32Array(2 * src.length);
  for (let i = 0; i < src.length; i++) {
    out[2 * i] = src[i];
    out[2 * i + 1] = src[i] < 0 ? -1 : 0;
  }
  const bytes = new Uint8Array(out.buffer);
  if (!HOST_LITTLE_ENDIAN) swapBytes(bytes, 4); // each word to little-endian; words already low-then-high
  return bytes;
}

function toMap<V>(m: ReadonlyMap<string, V> | Readonly<Record<string, V>>): Map<string, V> {
  return m instanceof Map ? new Map(m) : new Map(Object.entries(m as Record<string, V>));
}

/** Names and metadata must be well-formed Unicode (no lone surrogate) to be UTF-8 encodable. */
function checkText(what: string, s: string): void {
  if (typeof s !== "string") throw new ValueError(`writeSafetensors: ${what}: expected a string, got ${typeof s}`);
  if (/\p{Cs}/u.test(s)) throw new ValueError(`writeSafetensors: ${what}: ${JSON.stringify(s)} has an unpaired surrogate`);
}

/** Orders strings by Unicode code point, which is the byte order of their UTF-8 encodings. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!, y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}
