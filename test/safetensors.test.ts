/**
 * safetensors I/O: byte-exact writer output (the reference implementation's bytes), round trips over
 * random names/shapes/dtypes, and one constructed bad file per FormatError. Round trips are exact
 * (bit patterns compared; F16/BF16 against their own narrowing, tested in dtype16.test.ts).
 */
import fc from "fast-check";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DTypeError, FormatError, ValueError } from "../src/errors.js";
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from "../src/io/dtype.js";
import { readSafetensorsFile, writeSafetensorsFile } from "../src/io/node.js";
import { ITEMSIZE, loadChecked, readSafetensors, writeSafetensors, type StDType } from "../src/io/safetensors.js";
import { Tensor, fromArray, fromInts } from "../src/tensor.js";
import { assertSameBits } from "./util/close.js";
import { check, data, dataSeed, ints } from "./util/prop.js";

// ---- constructing files by hand ----
const enc = new TextEncoder();
function rawFile(header: string | Uint8Array, dataBytes: number | Uint8Array = 0, n?: bigint): Uint8Array {
  const h = typeof header === "string" ? enc.encode(header) : header;
  const d = typeof dataBytes === "number" ? new Uint8Array(dataBytes) : dataBytes;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, n ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}
const entry = (dtype: string, shape: number[], b: number, e: number) => ({ dtype, shape, data_offsets: [b, e] });
const headerText = (bytes: Uint8Array) => new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true))));

describe("safetensors writer", () => {
  it("writes the bytes the reference implementation writes", () => {
    // header texts and lengths as in huggingface/safetensors' serialization tests
    const one = writeSafetensors({ "attn.0": fromArray([1, 2, 3], [0, 1, 2, 3, 4, 5]) });
    const h = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(h.length).toBe(64);
    expect(one).toEqual(rawFile(h, new Uint8Array(Float32Array.of(0, 1, 2, 3, 4, 5).buffer)));
    expect(writeSafetensors({})).toEqual(rawFile("{}      "));
    expect(writeSafetensors({}, { metadata: { framework: "pt" } })).toEqual(rawFile('{"__metadata__":{"framework":"pt"}}     '));
    const padded = writeSafetensors({ attn0: fromArray([1, 1, 2, 3], [0, 1, 2, 3, 4, 5]) });
    expect(headerText(padded)).toBe('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ');
  });

  it("orders tensors by storage width then code point, and metadata keys by code point", () => {
    const t = (n: number): Tensor => fromArray([n], new Array(n).fill(1));
    const bytes = writeSafetensors(
      new Map<string, Tensor>([["b", t(1)], ["a", t(3)], ["\u{1F600}", t(1)], ["\uFFFD", t(1)], ["ids", fromInts([2], [1, 2])], ["h", t(1)], ["w", fromInts([1], [7])]]),
      { metadata: new Map([["z", "1"], ["a", "2"]]), dtypes: { h: "F16", w: "I64" } },
    );
    const json = JSON.parse(headerText(bytes)) as Record<string, { dtype: StDType; data_offsets: [number, number] }>;
    // U+FFFD sorts before U+1F600 by code point (and by UTF-8 bytes), though not by UTF-16 units
    expect(Object.keys(json)).toEqual(["__metadata__", "w", "a", "b", "\uFFFD", "\u{1F600}", "ids", "h"]);
    expect(Object.keys(json.__metadata__)).toEqual(["a", "z"]);
    const start = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true)); // bytes, not UTF-16 units
    expect(start % 8).toBe(0);
    for (const [name, e] of Object.entries(json)) {
      if (name !== "__metadata__") expect((start + e.data_offsets[0]) % ITEMSIZE[e.dtype], name).toBe(0);
    }
  });

  it("is deterministic: same tensors in any insertion order -> same bytes", () => {
    check(fc.tuple(dataSeed, fc.integer({ min: 1, max: 6 })), ([seed, n]) => {
      const items = Array.from({ length: n }, (_, i) => [`t${(i * 7) % n}.${i}`, fromArray([i + 1], data(seed + i, i + 1))] as const);
      const a = writeSafetensors(new Map(items), { metadata: { x: "1", b: "2" } });
      const b = writeSafetensors(new Map([...items].reverse()), { metadata: { b: "2", x: "1" } });
      expect(b).toEqual(a);
      expect(writeSafetensors(readSafetensors(a).tensors, { metadata: readSafetensors(a).metadata })).toEqual(a);
    }, 20);
  });

  it("refuses what it cannot write faithfully", () => {
    const t = fromArray([1], [1]);
    expect(() => writeSafetensors({ __metadata__: t })).toThrow(ValueError);
    expect(() => writeSafetensors({ ["bad\uD800"]: t })).toThrow(/unpaired surrogate/);
    expect(() => writeSafetensors({ a: t }, { metadata: { k: "\uDC00" } })).toThrow(ValueError);
    expect(() => writeSafetensors({ a: fromInts([1], [1]) }, { dtypes: { a: "F16" } })).toThrow(DTypeError);
    expect(() => writeSafetensors({ a: t }, { dtypes: { a: "I32" } })).toThrow(DTypeError);
    expect(() => writeSafetensors({ a: t }, { dtypes: { b: "F16" } })).toThrow(/not a tensor being written/);
  });
});

const dtypeArb = fc.constantFrom<StDType>("F32", "F16", "BF16", "I32", "I64");
const shapeArb = fc.array(fc.oneof(fc.constantFrom(0, 1, 3, 5), fc.integer({ min: 1, max: 7 })), { maxLength: 4 });
const nameArb = fc.oneof(fc.string({ unit: "binary", minLength: 1, maxLength: 8 }), fc.constantFrom("vision.blocks.0.attn.qkv.weight", "a", "é", "\u{1F600}"));

describe("safetensors round trip", () => {
  it("reads back what it wrote (names, shapes incl. 0-size and scalars, dtypes, metadata)", () => {
    const arb = fc.tuple(
      fc.uniqueArray(fc.tuple(nameArb, shapeArb, dtypeArb, dataSeed), { selector: (x) => x[0], maxLength: 6 }).filter((xs) => xs.every((x) => x[0] !== "__metadata__")),
      fc.dictionary(fc.string({ unit: "binary", maxLength: 6 }), fc.string({ unit: "binary", maxLength: 12 }), { maxKeys: 3 }),
    );
    check(arb, ([specs, meta]) => {
      const tensors = new Map<string, Tensor>(), dtypes = new Map<string, StDType>();
      for (const [name, shape, dtype, seed] of specs) {
        const n = shape.reduce((p, d) => p * d, 1);
        const t = dtype === "I32" || dtype === "I64" ? fromInts(shape, ints(seed, n, -(2 ** 31), 2 ** 31)) : fromArray(shape, data(seed, n, -70000, 70000));
        tensors.set(name, t);
        dtypes.set(name, dtype);
      }
      const bytes = writeSafetensors(tensors, { metadata: meta, dtypes });
      const back = readSafetensors(bytes, { file: "roundtrip" });
      expect([...back.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
      expect(Object.fromEntries(back.metadata)).toEqual({ ...meta });
      for (const [name, t] of tensors) {
        const got = back.tensors.get(name)!, dtype = dtypes.get(name)!;
        expect(back.dtypes.get(name)).toBe(dtype);
        expect(got.shape).toEqual(t.shape);
        const want = dtype === "F16" ? decodeF16(encodeF16(t.data as Float32Array)) : dtype === "BF16" ? decodeBf16(encodeBf16(t.data as Float32Array)) : t.data;
        assertSameBits(`roundtrip ${dtype}`, got.data, want);
      }
    }, 80);
  });

  it("keeps float32 bits exactly (NaN payloads, -0, infinities, subnormals) and int32 extremes", () => {
    const bits = Uint32Array.of(0x7fc00001, 0xff800001, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x807fffff, 0x7f7fffff);
    const f = new Tensor("f32", [8], new Float32Array(bits.buffer));
    const i = fromInts([4], [-(2 ** 31), 2 ** 31 - 1, -1, 0]);
    const back = readSafetensors(writeSafetensors({ f, i, i64: i }, { dtypes: { i64: "I64" } })).tensors;
    assertSameBits("f32 bits", back.get("f")!.data, f.data);
    assertSameBits("i32", back.get("i")!.data, i.data);
    assertSameBits("i64 -> i32", back.get("i64")!.data, i.data);
  });

  it("copies out of misaligned input and owns its data", () => {
    const bytes = writeSafetensors({ a: fromArray([3], [1, 2, 3]), b: fromInts([2], [4, 5]) });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const view = shifted.subarray(3); // byteOffset 3: no Float32Array view could alias it
    const t = readSafetensors(view).tensors;
    expect([...t.get("a")!.data]).toEqual([1, 2, 3]);
    shifted.fill(0);
    expect([...t.get("a")!.data, ...t.get("b")!.data]).toEqual([1, 2, 3, 4, 5]);
    const pooled = Buffer.from(bytes); // a Node Buffer: a view into a shared pool, slice() aliases
    expect([...readSafetensors(pooled).tensors.get("a")!.data]).toEqual([1, 2, 3]);
  });

  it("reads and writes files in Node", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tgh-st-"));
    try {
      const path = join(dir, "x.safetensors");
      await writeSafetensorsFile(path, { w: fromArray([2], [1, 2]) }, { metadata: { spec: "tgh-moe/1" } });
      const got = await readSafetensorsFile(path);
      expect([...got.tensors.get("w")!.data]).toEqual([1, 2]);
      expect(got.metadata.get("spec")).toBe("tgh-moe/1");
      expect(new Uint8Array(await readFile(path))).toEqual(writeSafetensors({ w: fromArray([2], [1, 2]) }, { metadata: { spec: "tgh-moe/1" } }));
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe("safetensors reader: every malformed field is a FormatError naming it", () => {
  const ok = (h: object, d: number) => rawFile(JSON.stringify(h), d);
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty file", new Uint8Array(0), /header length: file has 0 bytes/],
    ["7 bytes", new Uint8Array(7), /header length: file has 7 bytes/],
    ["N beyond the file", rawFile("{}", 0, 3n), /header length: 3 bytes goes beyond/],
    ["N above the bound", rawFile("{}", 0, 100_000_001n), /header length: 100000001 bytes is above the bound/],
    ["N = 2^64 - 1", rawFile("{}", 0, 2n ** 64n - 1n), /above the bound/],
    ["invalid UTF-8", rawFile(Uint8Array.of(0x7b, 0xff, 0x7d)), /header: not valid UTF-8/],
    ["BOM", rawFile("\uFEFF{}"), /header: invalid JSON/],
    ["trailing comma", rawFile('{"a":1,}'), /header: invalid JSON/],
    ["truncated JSON", rawFile('{"a":'), /invalid JSON.*end of text/],
    ["not an object", rawFile("[1, 2]"), /header: expected a JSON object, got an array/],
    ["entry not an object", rawFile('{"w": [0, 4]}'), /header\["w"\]: expected an object/],
    ["missing dtype", ok({ w: { shape: [1], data_offsets: [0, 4] } }, 4), /header\["w"\]\.dtype: missing/],
    ["missing shape", ok({ w: { dtype: "F32", data_offsets: [0, 4] } }, 4), /header\["w"\]\.shape: missing/],
    ["missing data_offsets", ok({ w: { dtype: "F32", shape: [1] } }, 4), /header\["w"\]\.data_offsets: missing/],
    ["unknown field", ok({ w: { ...entry("F32", [1], 0, 4), offsets: 1 } }, 4), /header\["w"\]\.offsets: unknown field/],
    ["dtype not a string", ok({ w: { ...entry("F32", [1], 0, 4), dtype: 32 } }, 4), /\.dtype: expected a string, got the number 32/],
    ["unknown dtype", ok({ w: entry("F31", [1], 0, 4) }, 4), /\.dtype: unknown dtype "F31"/],
    ["unconverted dtype", ok({ w: entry("F64", [1], 0, 8) }, 8), /\.dtype: F64 is a safetensors dtype this library does not convert/],
    ["shape not an array", ok({ w: { ...entry("F32", [1], 0, 4), shape: "1" } }, 4), /\.shape: expected an array/],
    ["negative extent", ok({ w: entry("F32", [-1], 0, 4) }, 4), /\.shape: shape extents must be non-negative integers, got -1/],
    ["fractional extent", rawFile('{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}', 4), /got 1\.5/],
    ["extent written 1.0", rawFile('{"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}', 4), /got 1\.0/],
    ["offsets of length 3", ok({ w: { ...entry("F32", [1], 0, 4), data_offsets: [0, 4, 8] } }, 4), /\.data_offsets: expected \[begin, end\]/],
    ["offset as string", ok({ w: { ...entry("F32", [1], 0, 4), data_offsets: ["0", 4] } }, 4), /\.data_offsets: offsets must be non-negative integers/],
    ["end before begin", ok({ w: entry("F32", [0], 4, 0) }, 4), /\.data_offsets: end 0 is before begin 4/],
    ["byte length vs shape", ok({ w: entry("F32", [2], 0, 4) }, 4), /header\["w"\]\.data_offsets: \[0, 4\] holds 4 bytes; shape \[2\] of F32 needs 8/],
    ["beyond the buffer", ok({ w: entry("F32", [2], 0, 8) }, 4), /header\["w"\]\.data_offsets: \[0, 8\] goes beyond the data buffer \(4 bytes\)/],
    ["overlap", ok({ a: entry("F32", [2], 0, 8), b: entry("F32", [1], 4, 8) }, 8), /header\["b"\]\.data_offsets: \[4, 8\] overlaps "a"/],
    ["gap", ok({ a: entry("F32", [1], 0, 4), b: entry("F32", [1], 8, 12) }, 12), /header\["b"\]\.data_offsets: bytes \[4, 8\) before it belong to no tensor/],
    ["uncovered tail", ok({ a: entry("F32", [1], 0, 4) }, 6), /data buffer: bytes \[4, 6\) belong to no tensor/],
    ["duplicate name", rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4), /duplicate key "w"/],
    ["metadata not an object", ok({ __metadata__: ["x"] }, 0), /__metadata__: expected an object of strings/],
    ["metadata value not a string", ok({ __metadata__: { atol: 1e-5 } }, 0), /__metadata__\["atol"\]: expected a string value, got the number 0\.00001/],
    ["lone surrogate escape", rawFile('{"__metadata__":{"k":"\\ud800"}}'), /unpaired surrogate/],
  ];
  it.each(cases)("%s", (_, bytes, message) => {
    expect(() => readSafetensors(bytes, { file: "bad.safetensors" })).toThrow(FormatError);
    expect(() => readSafetensors(bytes, { file: "bad.safetensors" })).toThrow(message);
    expect(() => readSafetensors(bytes, { file: "bad.safetensors" })).toThrow(/^bad\.safetensors: /);
  });

  it("accepts a zero-size tensor anywhere and surrounding JSON whitespace", () => {
    const bytes = rawFile(' \n{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},"s":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}\t ', Uint8Array.of(7, 0, 0, 0));
    const t = readSafetensors(bytes).tensors;
    expect(t.get("e")!.shape).toEqual([0, 3]);
    expect(t.get("s")!.shape).toEqual([]);
    expect([...t.get("s")!.data]).toEqual([7]);
  });

  it("refuses I64 values outside int32, naming the tensor and index", () => {
    const d = new Uint8Array(16);
    new DataView(d.buffer).setBigInt64(8, 2n ** 31n, true);
    const header = JSON.stringify({ "input.ids": entry("I64", [2], 0, 16) });
    expect(() => readSafetensors(rawFile(header, d))).toThrow(/"input\.ids": I64 value 2147483648 at index 1 is outside the int32 range/);
    new DataView(d.buffer).setBigInt64(8, -(2n ** 31n) - 1n, true);
    expect(() => readSafetensors(rawFile(header, d))).toThrow(/I64 value -2147483649/);
    new DataView(d.buffer).setBigInt64(8, -(2n ** 31n), true);
    expect([...readSafetensors(rawFile(header, d)).tensors.get("input.ids")!.data]).toEqual([0, -(2 ** 31)]);
  });
});

describe("loadChecked", () => {
  const bytes = writeSafetensors({ w: fromArray([2, 3], [1, 2, 3, 4, 5, 6]), ids: fromInts([2], [1, 2]), h: fromArray([1], [0.5]) }, { dtypes: { h: "F16" } });
  const want = (entries: [string, { shape: number[]; dtype: string }][]) => new Map(entries) as Map<string, { shape: number[]; dtype: StDType }>;

  it("returns exactly the expected tensors; -1 matches any extent; f32 accepts F16", () => {
    const got = loadChecked(bytes, want([["w", { shape: [2, -1], dtype: "F32" }], ["ids", { shape: [2], dtype: "i32" }], ["h", { shape: [1], dtype: "f32" }]]));
    expect([...got.keys()]).toEqual(["w", "ids", "h"]);
    expect([...got.get("h")!.data]).toEqual([0.5]);
  });

  it("lists every problem in one error and returns nothing", () => {
    const expected = want([["w", { shape: [3, 2], dtype: "I32" }], ["missing", { shape: [1], dtype: "f32" }], ["h", { shape: [1], dtype: "F32" }]]);
    let err: unknown;
    try {
      loadChecked(bytes, expected, { file: "ckpt" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^ckpt: tensors: 5 problem\(s\)/);
    for (const part of ['"w": expected shape [3, 2], got [2, 3]', '"w": expected dtype I32, got F32', '"missing": missing', '"h": expected dtype F32, got F16', '"ids": not expected']) {
      expect(msg).toContain(part);
    }
  });

  it("skips unexpected tensors only when allowed", () => {
    const only = want([["w", { shape: [2, 3], dtype: "f32" }]]);
    expect(() => loadChecked(bytes, only)).toThrow(/"ids": not expected/);
    expect([...loadChecked(bytes, only, { allowUnknown: true }).keys()]).toEqual(["w"]);
  });
});
