/**
 * Mutations of valid inputs, drawn by seeded fast-check: a plan (seed file, 1-3 steps, maybe a bomb)
 * is an fc value, and applying it is a pure function, so case i of a run is rebuilt from (format,
 * seed, i) alone. Steps: a header field set to a boundary value, bit flips, truncation, splices, and
 * for safetensors/checkpoints a JSON value of the header (or of the config, preset or tokenizer it
 * stores) replaced. Bombs live in ./bomb-cases.ts.
 */
import fc from "fast-check";
import { crc32 } from "../src/viz/png.js";
import { bombCase, type Bomb } from "./bomb-cases.js";
import { gzipVariant, type Field, type Format, type FormatSeeds } from "./seeds.js";

export type Step =
  | { kind: "field"; field: number; value: number; otherOrder: boolean; fixCrc: boolean }
  | { kind: "flip"; at: number[]; bit: number[]; fixCrc: boolean }
  | { kind: "truncate"; at: number; nearStart: boolean }
  | { kind: "splice"; op: number; a: number; b: number; len: number; other: number }
  | { kind: "json"; target: number; path: number; value: number };

export interface Plan {
  seed: number;
  steps: Step[];
  /** .nii.gz only: the gzip encoder, then steps on the compressed bytes. */
  gzip: number;
  outer: Step[];
  bomb: Bomb | null;
}

/** Integer boundary values: type limits, header sizes and offsets, powers of two and beyond. */
export const INTS = [
  0, 1, -1, 2, 3, 4, 5, 7, 8, 16, 255, 256, 348, 352, 540, 544, 1000, 4096, 32767, -32768, 32768, 65535, 65536,
  2 ** 24, 2 ** 24 + 1, 2 ** 27, 2 ** 30, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 2 ** 60, 1e10, 1e20,
];
/** Float boundary values: signed zero, subnormal, rounding points, the float32 limit, infinities, NaN. */
export const FLOATS = [0, -0, 1, -1, 0.5, 1.5, 1e-45, 1e-38, 352.5, 2 ** 24 + 1, 2 ** 31, 1e10, 1e20, 3.4028235e38, 1e300, Infinity, -Infinity, NaN];

const frac = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("field" as const), field: fc.nat(), value: fc.nat(), otherOrder: fc.boolean(), fixCrc: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("flip" as const), at: fc.array(frac, { minLength: 1, maxLength: 8 }), bit: fc.array(fc.nat(7), { minLength: 8, maxLength: 8 }), fixCrc: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: frac, nearStart: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("splice" as const), op: fc.nat(4), a: frac, b: frac, len: fc.nat(600), other: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("json" as const), target: fc.nat(3), path: fc.nat(), value: fc.nat() }) },
);

/** The plan arbitrary of a format (json steps only where a JSON header exists; bombs in about 1 case of 25). */
export function planArbitrary(format: Format): fc.Arbitrary<Plan> {
  const json = format === "safetensors" || format === "checkpoint";
  const steps = fc.array(json ? step : step.filter((s) => s.kind !== "json"), { minLength: 1, maxLength: 3 });
  return fc.record({
    seed: fc.nat(),
    steps,
    gzip: fc.nat(2),
    outer: format === "niigz"
      ? fc.oneof({ weight: 4, arbitrary: fc.constant<Step[]>([]) }, { weight: 1, arbitrary: fc.array(step.filter((s) => s.kind !== "json" && s.kind !== "field"), { maxLength: 2 }) })
      : fc.constant<Step[]>([]),
    bomb: fc.oneof({ weight: 24, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.record({ size: fc.nat(3), variant: fc.nat(3) }) }),
  });
}

/** The plan of case `index` of a run, drawn from the run's seed and the index alone. */
export function planOf(format: Format, seed: number, index: number): Plan {
  return fc.sample(planArbitrary(format), { seed: (seed * 1_000_003 + index * 7919 + 17) | 0, numRuns: 1 })[0];
}

export function applyPlan(format: Format, seeds: FormatSeeds, plan: Plan): Uint8Array {
  const seed = seeds.seeds[plan.seed % seeds.seeds.length];
  if (plan.bomb) return bombCase(format, seed, plan.bomb, plan.seed % seeds.seeds.length);
  let bytes: Uint8Array = seed.slice();
  for (const s of plan.steps) bytes = applyStep(format, seeds, bytes, s);
  if (format !== "niigz") return bytes;
  let gz: Uint8Array = gzipVariant(bytes, plan.gzip);
  for (const s of plan.outer) gz = applyStep(format, seeds, gz, s);
  return gz;
}

function applyStep(format: Format, seeds: FormatSeeds, bytes: Uint8Array, s: Step): Uint8Array {
  const at = (f: number) => Math.min(bytes.length - 1, Math.floor(f * bytes.length));
  switch (s.kind) {
    case "field": {
      const fields = seeds.fields(bytes);
      const f = fields[s.field % fields.length];
      if (f.at + width(f) > bytes.length) return bytes;
      const out = bytes.slice();
      const ints = f.type !== "f32" && f.type !== "f64";
      const values = ints ? INTS : [...FLOATS, ...INTS];
      writeField(out, f, values[s.value % values.length], littleEndian(format, out) !== s.otherOrder);
      return format === "png" && s.fixCrc ? fixPngCrcs(out) : out;
    }
    case "flip": {
      if (bytes.length === 0) return bytes;
      const out = bytes.slice();
      s.at.forEach((p, i) => (out[at(p)] ^= 1 << s.bit[i % s.bit.length]));
      return format === "png" && s.fixCrc ? fixPngCrcs(out) : out;
    }
    case "truncate": {
      const cut = s.nearStart ? Math.floor(s.at * Math.min(bytes.length, 600)) : Math.floor(s.at * bytes.length);
      return bytes.slice(0, cut);
    }
    case "splice":
      return splice(bytes, s, seeds.seeds[s.other % seeds.seeds.length]);
    case "json":
      return mutateJson(bytes, s, format === "checkpoint");
  }
}

function width(f: Field): number {
  return { u8: 1, i16: 2, i32: 4, i64: 8, f32: 4, f64: 8, u32be: 4, u64: 8 }[f.type];
}

/** NIfTI: the order sizeof_hdr reads 348 / 540 in; other formats are little-endian (PNG fields say be). */
function littleEndian(format: Format, b: Uint8Array): boolean {
  if (format === "safetensors" || format === "checkpoint" || format === "png" || b.length < 4) return true;
  const le = new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
  return le === 348 || le === 540;
}

export function writeField(b: Uint8Array, f: Field, x: number, le: boolean): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const big = (bits: number) => (Number.isFinite(x) ? BigInt.asIntN(bits, BigInt(Math.trunc(Math.max(-(2 ** 63), Math.min(2 ** 63 - 1, x))))) : 0n);
  switch (f.type) {
    case "u8": v.setUint8(f.at, x); break;
    case "i16": v.setInt16(f.at, x, le); break;
    case "i32": v.setInt32(f.at, x, le); break;
    case "i64": v.setBigInt64(f.at, big(64), le); break;
    case "f32": v.setFloat32(f.at, x, le); break;
    case "f64": v.setFloat64(f.at, x, le); break;
    case "u32be": v.setUint32(f.at, x, false); break;
    case "u64": v.setBigUint64(f.at, BigInt.asUintN(64, big(64)), true); break;
  }
}

/** Recomputes the CRC of every whole chunk, so a mutation reaches past the CRC check. */
export function fixPngCrcs(b: Uint8Array): Uint8Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let o = 8; o + 12 <= b.length; ) {
    const len = v.getUint32(o);
    if (o + 12 + len > b.length) break;
    v.setUint32(o + 8 + len, crc32(b, o + 4, o + 8 + len));
    o += 12 + len;
  }
  return b;
}

/** 0 insert bytes of another seed, 1 delete, 2 duplicate a range, 3 overwrite with another seed's bytes, 4 copy a range over another. */
function splice(b: Uint8Array, s: Extract<Step, { kind: "splice" }>, other: Uint8Array): Uint8Array {
  const a = Math.floor(s.a * b.length), len = Math.min(s.len, b.length - a);
  const from = Math.floor(s.b * other.length), piece = other.subarray(from, from + s.len);
  const join = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) (out.set(p, o), (o += p.length));
    return out;
  };
  switch (s.op) {
    case 0: return join(b.subarray(0, a), piece, b.subarray(a));
    case 1: return join(b.subarray(0, a), b.subarray(a + len));
    case 2: return join(b.subarray(0, a + len), b.subarray(a, a + len), b.subarray(a + len));
    case 3: {
      const out = b.slice();
      out.set(piece.subarray(0, out.length - a), a);
      return out;
    }
    default: {
      const c = Math.floor(s.b * b.length), n = Math.min(len, b.length - c);
      const out = b.slice();
      out.set(b.subarray(c, c + n), a);
      return out;
    }
  }
}

/** JSON values a mutation writes: boundary numbers (plain, negative, fractional, exponent), wrong types, huge and deep values. */
const JSON_VALUES: ((old: unknown) => unknown)[] = [
  ...INTS.filter((x) => Number.isSafeInteger(x) || x > 0).map((x) => () => x),
  () => -5, () => 1.5, () => 1e21, () => 1e308, () => "", () => "F64", () => "BF16", () => "x".repeat(100_000), () => null,
  () => true, () => [], () => ({}), () => [1e6, 1e6, 1e6], () => [2 ** 20, 2 ** 20], () => new Array(100_000).fill(0),
  () => JSON.parse("[".repeat(100) + "]".repeat(100)), (old) => (Array.isArray(old) ? [...old, ...old] : [old, old]),
  (old) => (typeof old === "number" ? old + 1 : old), (old) => (typeof old === "number" ? old * 1024 : old), () => undefined, // undefined: delete
];

/** Replaces one JSON value of the safetensors header (target 0) or of the config / preprocess / tokenizer it stores. */
function mutateJson(b: Uint8Array, s: Extract<Step, { kind: "json" }>, checkpoint: boolean): Uint8Array {
  if (b.length < 8) return b;
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  if (n > b.length - 8) return b;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n)));
  } catch {
    return b;
  }
  const key = checkpoint ? [null, "config", "preprocess", "tokenizer"][s.target] : null;
  const meta = header !== null && typeof header === "object" && !Array.isArray(header) ? (header as Record<string, unknown>).__metadata__ : undefined;
  let root: unknown = header;
  if (key !== null) {
    const text = meta !== null && typeof meta === "object" ? (meta as Record<string, unknown>)[key] : undefined;
    if (typeof text !== "string") return b; // an earlier step removed it: nothing to mutate
    try {
      root = JSON.parse(text);
    } catch {
      return b;
    }
  }
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    if (paths.length > 5000) return;
    paths.push(path);
    if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, [...path, Array.isArray(v) ? Number(k) : k]);
  };
  walk(root, []);
  const path = paths[s.path % paths.length];
  const make = JSON_VALUES[s.value % JSON_VALUES.length];
  if (path.length === 0) root = make(root);
  else {
    let parent = root as Record<string | number, unknown>;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    const last = path[path.length - 1], next = make(parent[last]);
    if (next === undefined && !Array.isArray(parent)) delete parent[last];
    else parent[last] = next ?? null;
  }
  if (key !== null) (meta as Record<string, string>)[key] = JSON.stringify(root);
  const text = new TextEncoder().encode(JSON.stringify(key === null ? root : header) ?? "null");
  const padded = Math.ceil(text.length / 8) * 8;
  const out = new Uint8Array(8 + padded + (b.length - 8 - n)).fill(0x20, 8 + text.length, 8 + padded);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(text, 8);
  out.set(b.subarray(8 + n), 8 + padded);
  return out;
}
