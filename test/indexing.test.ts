// Top-k (order rule, ties, NaN, a sort-based oracle), row gather and scatter-add (order of i,
// weights, reconstruction of sums), on both backends; wasm against exact oracles where it can be.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { Tensor } from "../src/tensor.js";
import { assertClose, shaped, assertSameBits } from "./util/close.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { check, data, dataSeed, dim, ints } from "./util/prop.js";
import { Rng } from "../src/rng.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  wasm = await wasmBackend();
  ref = await referenceBackend();
});

/** Rows drawn from a small pool (many duplicates, -0 and +0, +-inf, NaN) or uniform. */
function rowData(seed: number, n: number, pool: boolean): Float32Array {
  if (!pool) return data(seed, n);
  const vals = [0, -0, 1, -1, 2, 0.5, Infinity, -Infinity, NaN];
  const pick = ints(seed, n, 0, vals.length);
  return Float32Array.from(pick, (i) => vals[i]);
}

const topkCase = fc.record({ rows: dim(9), cols: dim(70), kfrac: fc.double({ min: 0, max: 1, noNaN: true }), pool: fc.boolean(), seed: dataSeed });

/** The oracle: sort (index) by value descending, NaN last, ties by index; take the first k. */
function sortTopk(row: Float32Array, k: number): number[] {
  const rank = (v: number) => (Number.isNaN(v) ? -Infinity : v);
  const nan = (v: number) => (Number.isNaN(v) ? 1 : 0);
  return [...row.keys()]
    .sort((a, b) => nan(row[a]) - nan(row[b]) || (rank(row[b]) > rank(row[a]) ? 1 : rank(row[b]) < rank(row[a]) ? -1 : 0) || a - b)
    .slice(0, k);
}

describe("topk", () => {
  it("agrees with a sort-based oracle (values and indices, exact), both backends", () => {
    check(topkCase, (s) => {
      const k = Math.max(1, Math.ceil(s.kfrac * s.cols));
      const x = new Tensor("f32", [s.rows, s.cols], rowData(s.seed, s.rows * s.cols, s.pool));
      for (const be of [wasm, ref]) {
        const { values, indices } = be.topk(x, k);
        expect(values.shape).toEqual([s.rows, k]);
        for (let r = 0; r < s.rows; r++) {
          const row = x.data.subarray(r * s.cols, (r + 1) * s.cols);
          const want = sortTopk(row, k);
          expect(Array.from(indices.data.subarray(r * k, (r + 1) * k))).toEqual(want);
          assertSameBits(`${be.name} topk values`, values.data.subarray(r * k, (r + 1) * k), Float32Array.from(want, (i) => row[i]));
        }
      }
    }, 80);
  });

  it("indices are distinct, values descending, equal values by ascending index, NaN last", () => {
    check(topkCase, (s) => {
      const k = Math.max(1, Math.ceil(s.kfrac * s.cols));
      const x = new Tensor("f32", [s.rows, s.cols], rowData(s.seed, s.rows * s.cols, true));
      const { values, indices } = wasm.topk(x, k);
      for (let r = 0; r < s.rows; r++) {
        const idx = indices.data.subarray(r * k, (r + 1) * k), val = values.data.subarray(r * k, (r + 1) * k);
        expect(new Set(idx).size).toBe(k);
        let nanCount = 0;
        for (let c = 0; c < s.cols; c++) if (Number.isNaN(x.data[r * s.cols + c])) nanCount++;
        for (let j = 0; j < k; j++) {
          expect(idx[j]).toBeGreaterThanOrEqual(0);
          expect(idx[j]).toBeLessThan(s.cols);
          if (j === 0) continue;
          if (Number.isNaN(val[j - 1])) { // once NaN, only NaN follows, in index order
            expect(val[j]).toBeNaN();
            expect(idx[j]).toBeGreaterThan(idx[j - 1]);
          } else if (!Number.isNaN(val[j])) {
            expect(val[j]).toBeLessThanOrEqual(val[j - 1]);
            if (val[j] === val[j - 1]) expect(idx[j]).toBeGreaterThan(idx[j - 1]);
          } else {
            expect(k - j).toBeLessThanOrEqual(nanCount); // NaN only when the numbers ran out
            expect(s.cols - nanCount).toBe(j);
          }
        }
      }
    }, 80);
  });

  it("the routing case: 2 of E experts, with exact ties and -0 == +0", () => {
    for (const E of [4, 5, 8, 17, 64]) {
      const x = new Tensor("f32", [3, E], new Float32Array(3 * E).fill(0.25));
      x.data[E + E - 1] = 1; // row 1: the last expert wins, then the first of the tied rest
      x.data.fill(-1, 2 * E); // row 2: -0 at 0 ties +0 at E-1: lower index first
      x.data[2 * E] = -0;
      x.data[3 * E - 1] = 0;
      for (const be of [wasm, ref]) {
        const { values, indices } = be.topk(x, 2);
        expect(Array.from(indices.data)).toEqual([0, 1, E - 1, 0, 0, E - 1]);
        expect(Object.is(values.data[4], -0)).toBe(true); // the input's own bits
      }
    }
  });

  it("long rows with k on both sides of the kernel's sorted-list / heap switch (k = 16 | 17)", () => {
    const cols = 3001;
    const rows = [
      Float32Array.from({ length: cols }, (_, i) => i), // ascending: every entry displaces one
      Float32Array.from({ length: cols }, (_, i) => -i),
      new Float32Array(cols).fill(7), // all tied: the first k indices
      rowData(3, cols, true), // few distinct values, NaN, +-0, +-inf
    ];
    const x = new Tensor("f32", [rows.length, cols]);
    rows.forEach((r, i) => x.data.set(r, i * cols));
    for (const k of [1, 16, 17, 100, cols]) {
      const { values, indices } = wasm.topk(x, k);
      rows.forEach((row, r) => {
        const want = sortTopk(row, k);
        expect(Array.from(indices.data.subarray(r * k, (r + 1) * k))).toEqual(want);
        assertSameBits(`topk k=${k} row ${r}`, values.data.subarray(r * k, (r + 1) * k), Float32Array.from(want, (i) => row[i]));
      });
    }
  });

  it("same input gives the same bits", () => {
    const x = new Tensor("f32", [64, 33], rowData(5, 64 * 33, true));
    const a = wasm.topk(x, 7), b = wasm.topk(x, 7);
    assertSameBits("topk values", a.values.data, b.values.data);
    assertSameBits("topk indices", a.indices.data, b.indices.data);
  });
});

// ---------------------------------------------------------------- gather / scatter-add

const rowsCase = fc.record({ R: dim(40), cols: dim(37), count: dim(60), weighted: fc.boolean(), seed: dataSeed });

/** out[idx[i]] += w[i] * src[i] in order of i, every operation rounded to f32 like the kernel. */
function scatterF32(out: Float32Array, src: Float32Array, idx: Int32Array, w: Float32Array | null, cols: number): void {
  for (let i = 0; i < idx.length; i++) {
    for (let c = 0; c < cols; c++) {
      const p = w ? Math.fround(w[i] * src[i * cols + c]) : src[i * cols + c];
      out[idx[i] * cols + c] = Math.fround(out[idx[i] * cols + c] + p);
    }
  }
}

describe("gatherRows / scatterAddRows", () => {
  it("gather copies rows exactly (both backends)", () => {
    check(rowsCase, (s) => {
      const x = new Tensor("f32", [s.R, s.cols], rowData(s.seed, s.R * s.cols, true));
      const idx = new Tensor("i32", [s.count], ints(s.seed + 1, s.count, 0, s.R));
      for (const be of [wasm, ref]) {
        const g = be.gatherRows(x, idx);
        expect(g.shape).toEqual([s.count, s.cols]);
        const want = new Float32Array(s.count * s.cols);
        for (let i = 0; i < s.count; i++) want.set(x.data.subarray(idx.data[i] * s.cols, (idx.data[i] + 1) * s.cols), i * s.cols);
        assertSameBits(`${be.name} gather`, g.data, want);
      }
    });
  });

  it("scatter-add: wasm adds in order of i in f32 (exact), reference within tolerance", () => {
    check(rowsCase, (s) => {
      // R > count and R <= count both occur: the adapter stages touched rows or all of out
      const base = data(s.seed, s.R * s.cols);
      const src = new Tensor("f32", [s.count, s.cols], data(s.seed + 1, s.count * s.cols));
      const idx = new Tensor("i32", [s.count], ints(s.seed + 2, s.count, 0, s.R));
      const w = s.weighted ? new Tensor("f32", [s.count], data(s.seed + 3, s.count, 0, 1)) : undefined;
      const want = base.slice();
      scatterF32(want, src.data, idx.data, w?.data ?? null, s.cols);
      const a = wasm.scatterAddRows(new Tensor("f32", [s.R, s.cols], base.slice()), src, idx, w);
      assertSameBits("scatterAdd wasm", a.data, want);
      // reference accumulates in f64 and rounds once: count adds of |terms| <= 1
      const b = ref.scatterAddRows(new Tensor("f32", [s.R, s.cols], base.slice()), src, idx, w);
      assertClose("scatterAdd reference", b, shaped([s.R, s.cols], want), { atol: 1e-7 * s.count + 1e-7, rtol: 1e-6 });
    });
  });

  it("gather then scatter-add with the same indices gives (sum of weights) * row", () => {
    check(rowsCase, (s) => {
      const x = new Tensor("f32", [s.R, s.cols], data(s.seed, s.R * s.cols));
      const idx = new Tensor("i32", [s.count], ints(s.seed + 1, s.count, 0, s.R));
      const w = s.weighted ? new Tensor("f32", [s.count], data(s.seed + 2, s.count, 0, 1)) : undefined;
      const weight = new Float64Array(s.R);
      idx.data.forEach((r, i) => (weight[r] += w ? w.data[i] : 1));
      const want = Float64Array.from(x.data, (v, e) => v * weight[Math.floor(e / s.cols)]);
      for (const be of [wasm, ref]) {
        const out = be.scatterAddRows(new Tensor("f32", [s.R, s.cols]), be.gatherRows(x, idx), idx, w);
        // f32 sum of up to count terms of size <= 1
        assertClose(`${be.name} gather/scatter`, out, shaped([s.R, s.cols], want), { atol: 2e-7 * s.count, rtol: 1e-6 });
      }
    });
  });

  it("scatter-add propagates NaN and infinities, leaves untouched rows' bits alone", () => {
    const out = new Tensor("f32", [50, 6], data(4, 300));
    const before = out.data.slice();
    const src = new Tensor("f32", [3, 6], Float32Array.from({ length: 18 }, (_, i) => [NaN, Infinity, -Infinity, 1, -0, 2][i % 6]));
    const idx = new Tensor("i32", [3], Int32Array.from([7, 40, 7]));
    const want = before.slice();
    scatterF32(want, src.data, idx.data, null, 6);
    wasm.scatterAddRows(out, src, idx);
    assertSameBits("scatterAdd nonfinite", out.data, want);
    for (let r = 0; r < 50; r++) if (r !== 7 && r !== 40) assertSameBits(`row ${r}`, out.data.subarray(r * 6, r * 6 + 6), before.subarray(r * 6, r * 6 + 6));
  });

  it("same input gives the same bits (many collisions on few rows)", () => {
    const rng = new Rng(9);
    const src = new Tensor("f32", [500, 33], rng.fill(500 * 33));
    const idx = new Tensor("i32", [500], ints(10, 500, 0, 3));
    const w = new Tensor("f32", [500], rng.fill(500));
    const a = wasm.scatterAddRows(new Tensor("f32", [3, 33]), src, idx, w);
    const b = wasm.scatterAddRows(new Tensor("f32", [3, 33]), src, idx, w);
    assertSameBits("scatterAdd determinism", a.data, b.data);
  });
});
