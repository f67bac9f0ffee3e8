/**
 * f16 / bf16 conversion (src/io/dtype.ts) against the IEEE 754 definitions computed here in float64:
 * exhaustive over all 65536 codes of each format, and seeded random float32 bit patterns including
 * exact ties. Conversions are exact (bit patterns compared), so there is no tolerance.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeBf16, decodeF16, encodeBf16, encodeF16, f16BitsToF32Bits, f32BitsToBf16Bits, f32BitsToF16Bits, swapBytes,
} from "../src/io/dtype.js";
import { check } from "./util/prop.js";

// ---- the IEEE definitions, in float64 (independent of src/io/dtype.ts) ----
const f16Value = (h: number): number => {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  return e === 0 ? s * m * 2 ** -24 : s * 2 ** (e - 15) * (1 + m / 1024);
};
const bf16Value = (b: number): number => {
  const s = b & 0x8000 ? -1 : 1, e = (b >> 7) & 255, m = b & 127;
  if (e === 255) return m ? NaN : s * Infinity;
  return e === 0 ? s * m * 2 ** -133 : s * 2 ** (e - 127) * (1 + m / 128);
};
/** Rounds |x| to the nearer of codes lo, lo+1 by value, ties to the even code. For overflow, `value`
 *  gives the infinity code the value where the next binade would start (as IEEE rounding does). */
function nearest(ax: number, lo: number, value: (c: number) => number): number {
  const a = value(lo), b = value(lo + 1);
  if (ax - a < b - ax) return lo;
  if (ax - a > b - ax) return lo + 1;
  return lo % 2 === 0 ? lo : lo + 1;
}
const f32OfBits = (u: number): number => new Float32Array(new Uint32Array([u]).buffer)[0];
/** The binary16 code IEEE roundTiesToEven gives for the float32 with bits `u` (NaN -> -1). */
function f16ByDefinition(u: number): number {
  const x = f32OfBits(u);
  if (Number.isNaN(x)) return -1;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0, ax = Math.abs(x);
  const val = (c: number) => (c === 0x7c00 ? 65536 : f16Value(c)); // 2^16: the next binade start
  if (ax >= 65536) return sign | 0x7c00;
  let lo = 0, hi = 0x7c00; // binary search: val(lo) <= ax < val(hi)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (val(mid) <= ax) lo = mid;
    else hi = mid;
  }
  return sign | nearest(ax, lo, val);
}
function bf16ByDefinition(u: number): number {
  const x = f32OfBits(u);
  if (Number.isNaN(x)) return -1;
  const sign = (u >>> 16) & 0x8000, t = (u >>> 16) & 0x7fff; // truncation is the code below |x|
  if (t === 0x7f80) return sign | 0x7f80;
  return sign | nearest(Math.abs(x), t, (c) => (c === 0x7f80 ? 2 ** 128 : bf16Value(c)));
}
const isF16NaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isBf16NaN = (b: number) => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
const f32Bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];
/** Random float32 bit patterns, biased towards the binary16 range, its edges and exact ties. */
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const f32BitPatterns = fc.oneof(
  u32,
  fc.integer({ min: 0x33000000 - 4, max: 0x477ff000 + 4 }).chain((a) => fc.constantFrom(a, (a | 0x80000000) >>> 0)),
  u32.map((u) => ((u & ~0x1fff) | 0x1000) >>> 0), // halfway between two binary16 normals
  u32.map((u) => ((u & ~0xffff) | 0x8000) >>> 0), // halfway between two bfloat16 values
  fc.tuple(fc.integer({ min: 0, max: 1023 }), fc.boolean()).map(([k, neg]) => f32Bits((neg ? -1 : 1) * (2 * k + 1) * 2 ** -25)), // binary16 subnormal ties
  fc.constantFrom(0x33000000, 0x33000001, 0x38800000, 0x387fffff, 0x477fefff, 0x477ff000, 0x7f7fffff, 0x7f7f8000, 0x00008000, 0x00018000),
);

describe("f16 / bf16 conversion", () => {
  it("matches known bit patterns (IEEE 754)", () => {
    const f16: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [2 ** -14, 0x0400], [2 ** -24, 0x0001], [1023 * 2 ** -24, 0x03ff],
      [0, 0x0000], [-0, 0x8000], [Infinity, 0x7c00], [-Infinity, 0xfc00], [0.5, 0x3800], [1 / 3, 0x3555],
    ];
    for (const [x, h] of f16) {
      expect(f32BitsToF16Bits(f32Bits(x)), `f16(${x})`).toBe(h);
      expect(Object.is(f32OfBits(f16BitsToF32Bits(h)), x === 1 / 3 ? f16Value(0x3555) : x), `f32(0x${h.toString(16)})`).toBe(true);
    }
    const bf16: [number, number][] = [[1, 0x3f80], [-2, 0xc000], [Infinity, 0x7f80], [-0, 0x8000], [2 ** -133, 0x0001], [3.3895313892515355e38, 0x7f7f]];
    for (const [x, b] of bf16) expect(encodeBf16(Float32Array.of(x))[0], `bf16(${x})`).toBe(b);
    expect(encodeF16(Float32Array.of(65519.99))[0]).toBe(0x7bff); // below the halfway point 65520
    expect(encodeF16(Float32Array.of(65520))[0]).toBe(0x7c00); // halfway, ties to even -> inf
    expect(encodeF16(Float32Array.of(2 ** -25))[0]).toBe(0); // halfway 0 .. 2^-24, ties to even -> 0
    expect(encodeF16(Float32Array.of(3 * 2 ** -25))[0]).toBe(2); // halfway 2^-24 .. 2^-23 -> even code 2
    expect(encodeF16(Float32Array.of(5 * 2 ** -25))[0]).toBe(2); // halfway codes 2 .. 3 -> even code 2
    expect(encodeF16(Float32Array.of(1 + 2 ** -11))[0]).toBe(0x3c00); // halfway 1 .. 1+2^-10 -> even 1.0
    expect(encodeF16(Float32Array.of(1 + 3 * 2 ** -11))[0]).toBe(0x3c02);
    expect(encodeBf16(Float32Array.of(1 + 2 ** -8))[0]).toBe(0x3f80); // halfway 1 .. 1+2^-7 -> even 1.0
    expect(encodeBf16(Float32Array.of(1 + 3 * 2 ** -8))[0]).toBe(0x3f82);
    expect(isF16NaN(encodeF16(Float32Array.of(NaN))[0])).toBe(true);
    expect(isBf16NaN(encodeBf16(Float32Array.of(NaN))[0])).toBe(true);
    expect(isBf16NaN(f32BitsToBf16Bits(0x7f800001))).toBe(true); // signalling NaN with low payload stays NaN
    expect(isF16NaN(f32BitsToF16Bits(0xff800001)) && (f32BitsToF16Bits(0xff800001) & 0x8000) !== 0).toBe(true);
  });

  it("widens every 16-bit code exactly and narrows it back to itself", () => {
    const codes = Uint16Array.from({ length: 65536 }, (_, i) => i);
    for (const [decode, encode, value, isNaN16] of [
      [decodeF16, encodeF16, f16Value, isF16NaN],
      [decodeBf16, encodeBf16, bf16Value, isBf16NaN],
    ] as const) {
      const wide = decode(codes);
      const back = encode(wide);
      for (let c = 0; c < 65536; c++) {
        if (isNaN16(c)) {
          if (!Number.isNaN(wide[c]) || !isNaN16(back[c])) throw new Error(`NaN code 0x${c.toString(16)} not kept`);
          continue;
        }
        if (!Object.is(wide[c], value(c)) || back[c] !== c) throw new Error(`code 0x${c.toString(16)}: ${wide[c]} vs ${value(c)}, back 0x${back[c].toString(16)}`);
      }
    }
  });

  it("narrows random float32 values by round-to-nearest-even (vs the definition)", () => {
    check(fc.array(f32BitPatterns, { minLength: 1, maxLength: 64 }), (us) => {
      const src = new Float32Array(Uint32Array.from(us).buffer);
      const h = encodeF16(src), b = encodeBf16(src);
      us.forEach((u, i) => {
        const wantH = f16ByDefinition(u), wantB = bf16ByDefinition(u);
        if (wantH < 0 ? !isF16NaN(h[i]) : h[i] !== wantH) throw new Error(`f16(0x${u.toString(16)}) = 0x${h[i].toString(16)}, want 0x${wantH.toString(16)}`);
        if (wantB < 0 ? !isBf16NaN(b[i]) : b[i] !== wantB) throw new Error(`bf16(0x${u.toString(16)}) = 0x${b[i].toString(16)}, want 0x${wantB.toString(16)}`);
      });
    }, 200);
  });

  it("swaps byte order per element", () => {
    const b = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    swapBytes(b, 4);
    expect([...b]).toEqual([4, 3, 2, 1, 8, 7, 6, 5]);
  });
});
