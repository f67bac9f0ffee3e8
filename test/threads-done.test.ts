/**
 * Pieces reported as they end: `split(..., done)` on 2 and 3 threads calls done once per piece,
 * the ranges tile [0, total), and a piece's output is complete when done sees it; one thread calls
 * done(0, total). The matmul adapter copies row panels out through it: threaded products (row
 * splits with odd sizes, folded batches, column splits, unfolded batches) keep the bits of one thread.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Kernels, MatmulDims } from "../src/backend/kernels.js";
import { matmulResident, matmulWasm, rowPiecesPerThread } from "../src/backend/wasm/matmul.js";
import { loadModules, type KernelModuleSet } from "../src/backend/wasm/runtime.js";
import { loadThreaded } from "../src/backend/wasm/threads.js";
import { assertSameBits } from "./util/close.js";
import { check, data, dataSeed, dim } from "./util/prop.js";

const COUNTS = [2, 3];
let one: KernelModuleSet, oneMatmul: Kernels["matmul"];
const many = new Map<number, { modules: KernelModuleSet; close(): void }>();
beforeAll(async () => {
  one = await loadModules();
  oneMatmul = matmulWasm(one.matmul).matmul;
  for (const t of COUNTS) many.set(t, await loadThreaded({ splitMinNs: 0 }, t));
}, 60_000);
afterAll(() => {
  for (const m of many.values()) m.close();
});

/** Scales x (filled from `seed`) by 3 over [0, total) split as `o` says; returns the done ranges, each checked complete when reported. */
function scaled(mods: KernelModuleSet, total: number, o: { grain: number; perThread: number; guided: boolean }, seed: number): number[][] {
  const mod = mods.elementwise, x = data(seed, total), ranges: number[][] = [];
  mod.scope(() => {
    const px = mod.put(x), po = mod.alloc(total * 4);
    mod.f32(po, total).fill(Number.NaN);
    mod.split("scale", { total, work: 1e9, ...o }, (lo, hi) => [po + lo * 4, px + lo * 4, 3, hi - lo], undefined, (lo, hi) => {
      const got = mod.f32(po, total);
      for (let i = lo; i < hi; i++) if (got[i] !== Math.fround(x[i] * 3)) throw new Error(`piece [${lo}, ${hi}) incomplete at ${i}`);
      ranges.push([lo, hi]);
    });
  });
  return ranges;
}

describe("split with done", () => {
  it("2 and 3 threads: done once per piece, ranges tile [0, total), each piece complete when reported", () => {
    const arb = fc.record({ total: fc.oneof(dim(40), fc.integer({ min: 1, max: 200_000 })), grain: fc.constantFrom(1, 3, 16), perThread: fc.integer({ min: 1, max: 16 }), guided: fc.boolean(), seed: dataSeed });
    check(arb, ({ total, seed, ...o }) => {
      for (const [t, { modules }] of many) {
        const ranges = scaled(modules, total, o, seed);
        const pieces = modules.elementwise.pieces({ total, work: 1e9, ...o });
        if (!o.guided || pieces === 1) expect(ranges.length, `${t} threads`).toBe(pieces);
        const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
        sorted.forEach(([lo, hi], i) => {
          expect(hi).toBeGreaterThan(lo);
          expect(lo).toBe(i === 0 ? 0 : sorted[i - 1][1]);
        });
        expect(sorted[sorted.length - 1][1]).toBe(total);
      }
    }, 40);
  });

  it("one thread: done(0, total) once, after the call", () => {
    expect(scaled(one, 1000, { grain: 16, perThread: 3, guided: false }, 1)).toEqual([[0, 1000]]);
  });

  it("a done that throws: the split throws once every piece has ended, and the pool runs the next split", () => {
    for (const { modules } of many.values()) {
      const mod = modules.elementwise;
      mod.scope(() => {
        const p = mod.zeros(4096);
        expect(() => mod.split("scale", { total: 4096, work: 1e9 }, (lo, hi) => [p + lo * 4, p + lo * 4, 2, hi - lo], undefined, () => {
          throw new Error("done failed");
        })).toThrow("done failed");
      });
      expect(scaled(modules, 5000, { grain: 16, perThread: 3, guided: false }, 2).length).toBeGreaterThan(1);
    }
  });
});

const FLAGS = { transA: false, transB: false, accumulate: false, broadcastA: false, broadcastB: false };
const sizes = (d: MatmulDims) => ({ a: (d.broadcastA ? 1 : d.batch) * d.m * d.k, b: (d.broadcastB ? 1 : d.batch) * d.k * d.n, out: d.batch * d.m * d.n });

describe("matmul: row panels copied out as they end", () => {
  it("matmulResident: done tiles the rows of a row split (batch 1 once folded), each final when reported; not called otherwise", () => {
    const cases: [MatmulDims, boolean][] = [ // dims, done expected (on 2 and 3 threads)
      [{ ...FLAGS, batch: 1, m: 203, n: 77, k: 35 }, true],
      [{ ...FLAGS, batch: 3, m: 41, n: 70, k: 9, broadcastB: true }, true], // folded: 123 rows
      [{ ...FLAGS, batch: 1, m: 150, n: 33, k: 600, transA: true, transB: true }, true],
      [{ ...FLAGS, batch: 1, m: 20, n: 300, k: 33 }, false], // column split
      [{ ...FLAGS, batch: 2, m: 130, n: 65, k: 17 }, false], // a batch that does not fold
    ];
    cases.forEach(([d, used], c) => {
      const z = sizes(d), a = data(c, z.a), b = data(c + 1, z.b), want = new Float32Array(z.out);
      oneMatmul(want, a, b, d);
      for (const [t, { modules }] of many) {
        const mod = modules.matmul, rows: number[][] = [];
        mod.scope(() => {
          const pA = mod.put(a), pB = mod.put(b), pOut = mod.alloc(z.out * 4);
          mod.f32(pOut, z.out).fill(Number.NaN);
          const got = () => mod.f32(pOut, z.out);
          const called = matmulResident(mod, pOut, pA, pB, d, undefined, (lo, hi) => {
            assertSameBits(`rows [${lo}, ${hi}) when reported [${t} threads]`, got().subarray(lo * d.n, hi * d.n), want.subarray(lo * d.n, hi * d.n));
            rows.push([lo, hi]);
          });
          expect(called, `case ${c} [${t} threads]`).toBe(used);
          assertSameBits(`case ${c} [${t} threads]`, got().slice(), want);
        });
        if (!used) expect(rows).toEqual([]);
        else {
          rows.sort((x, y) => x[0] - y[0]);
          expect(rows.length).toBeGreaterThan(1);
          rows.forEach(([lo], i) => expect(lo).toBe(i === 0 ? 0 : rows[i - 1][1]));
          expect(rows[rows.length - 1][1]).toBe(d.batch * d.m);
        }
      }
    });
  });

  it("row pieces keep at least 512 rows each (every piece packs B again), from 1 to 3 per thread", () => {
    expect(rowPiecesPerThread(2048, 2)).toBe(2);
    expect(rowPiecesPerThread(1023, 2)).toBe(1);
    expect(rowPiecesPerThread(100, 8)).toBe(1);
    expect(rowPiecesPerThread(1 << 20, 2)).toBe(3);
    expect(rowPiecesPerThread(3072, 2)).toBe(3);
  });
  it("threaded products keep the bits of one thread (odd m, n, k; folded and unfolded batches; transposes; accumulate)", () => {
    const arb = fc.record({
      batch: fc.constantFrom(1, 1, 2, 3), m: fc.oneof(dim(17), fc.integer({ min: 64, max: 260 })), n: fc.oneof(dim(70), fc.integer({ min: 64, max: 200 })),
      k: fc.oneof(dim(40), fc.integer({ min: 500, max: 530 })), transA: fc.boolean(), transB: fc.boolean(), broadcastB: fc.boolean(), accumulate: fc.boolean(), seed: dataSeed,
    });
    check(arb, ({ seed, ...s }) => {
      const d: MatmulDims = { ...FLAGS, ...s }, z = sizes(d);
      const a = data(seed, z.a), b = data(seed + 1, z.b), out0 = data(seed + 2, z.out);
      const want = out0.slice();
      oneMatmul(want, a, b, d);
      for (const [t, { modules }] of many) {
        const got = out0.slice();
        matmulWasm(modules.matmul).matmul(got, a, b, d);
        assertSameBits(`matmul ${JSON.stringify(s)} [${t} threads]`, got, want);
      }
    }, 40);
  });
});
