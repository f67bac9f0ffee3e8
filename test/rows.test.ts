/**
 * Row ops (softmax with mask and causal rule, layerNorm, rmsNorm, sum/mean/max): wasm kernels
 * against the float64 reference with shapes drawn first, invariants (rows sum to 1, shift and scale
 * invariance bit for bit, constant rows), extreme scores, 100k-long rows, the documented summation
 * order, and determinism.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/backend.js";
import { Rng } from "../src/rng.js";
import { Tensor, type F32Tensor } from "../src/tensor.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { assertClose, shaped, assertSameBits, type Tol } from "./util/close.js";
import { check, data, dataSeed, dim } from "./util/prop.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  [wasm, ref] = await Promise.all([wasmBackend(), referenceBackend()]);
});

const t = (shape: number[], v: Float32Array): F32Tensor => new Tensor("f32", shape, v);
const ones = (n: number): F32Tensor => t([n], new Float32Array(n).fill(1));
const zeros = (n: number): F32Tensor => t([n], new Float32Array(n));
const rowOf = (x: Float32Array, r: number, cols: number): Float32Array => x.subarray(r * cols, (r + 1) * cols);

/** Mask values: -inf with probability 1/4, else 0 or a value in [-2, 2). */
function maskData(seed: number, n: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => {
    const u = r.uniform();
    return u < 0.25 ? -Infinity : u < 0.5 ? 0 : 4 * r.uniform() - 2;
  });
}

// ---------------------------------------------------------------- softmax
const softCase = fc.record({
  blocks: dim(4), qLen: dim(9), cols: dim(40), causal: fc.boolean(),
  mask: fc.constantFrom("none", "row", "block"), seed: dataSeed, range: fc.constantFrom(1, 5, 30),
});
type SoftCase = { blocks: number; qLen: number; cols: number; causal: boolean; mask: string; seed: number; range: number };
function softInputs(c: SoftCase): { x: F32Tensor; mask?: F32Tensor; cols: number } {
  const cols = c.causal ? Math.max(c.cols, c.qLen) : c.cols;
  const x = t([c.blocks, c.qLen, cols], data(c.seed, c.blocks * c.qLen * cols, -c.range, c.range));
  const mr = c.mask === "row" ? 1 : c.qLen;
  const mask = c.mask === "none" ? undefined : t([mr, cols], maskData(c.seed + 1, mr * cols));
  return { x, mask, cols };
}
// Tolerance: |wasm - ref| <= 1e-8 + 1e-5 |ref|. exp is within 1 ulp, the row sum within a few ulp
// (4 x 4 accumulators), one division; the float32 rounding of x - max (|x - max| up to 60 here)
// dominates: measured max relative error 2.2e-6 over 300 random shapes.
const SOFT_TOL: Tol = { atol: 1e-8, rtol: 1e-5 };

describe("softmax", () => {
  it("matches the reference with masks (none, [cols], [qLen, cols]) and the causal rule", () => {
    check(softCase, (c) => {
      const { x, mask } = softInputs(c);
      const o = { mask, causal: c.causal };
      assertClose("softmax", wasm.softmax(x, o), ref.softmax(x, o), SOFT_TOL);
    });
  });

  it("rows are non-negative and sum to 1; -inf and causally cut entries are exactly 0; all-masked rows are 0", () => {
    check(softCase, (c) => {
      const { x, mask, cols } = softInputs(c);
      const y = wasm.softmax(x, { mask, causal: c.causal }).data;
      const rows = c.blocks * c.qLen, mr = mask ? mask.dim(0) : 1;
      for (let r = 0; r < rows; r++) {
        const q = r % c.qLen;
        let sum = 0, live = 0;
        for (let j = 0; j < cols; j++) {
          const v = y[r * cols + j];
          const cut = (c.causal && j > q + cols - c.qLen) || (mask && mask.data[(r % mr) * cols + j] === -Infinity);
          if (cut ? v !== 0 : !(v >= 0 && v <= 1)) throw new Error(`row ${r} col ${j}: ${v} (cut: ${!!cut})`);
          sum += v;
          if (!cut) live++;
        }
        assertClose(`row ${r} sum (${live} live)`, sum, live === 0 ? 0 : 1, { atol: live === 0 ? 0 : 1e-5, rtol: 0 });
      }
    });
  });

  it("is unchanged, bit for bit, by adding a constant to a row (exact in float32 here)", () => {
    check(fc.record({ rows: dim(6), cols: dim(50), seed: dataSeed, c: fc.integer({ min: -1000, max: 1000 }) }), ({ rows, cols, seed, c }) => {
      // scores on a 2^-10 grid in [-8, 8]: x + c is exact, and so is every difference to the row max
      const x = data(seed, rows * cols, -8, 8).map((v) => Math.round(v * 1024) / 1024);
      const y0 = wasm.softmax(t([rows, cols], x)).data, y1 = wasm.softmax(t([rows, cols], x.map((v) => v + c))).data;
      assertSameBits("softmax shift", y1, y0);
    });
  });

  it("handles scores of magnitude 1e4 with -inf masks, and rows of 100k entries", () => {
    const rows = 7, cols = 37;
    const x = t([rows, cols], data(3, rows * cols, -1e4, 1e4));
    const mask = t([1, cols], Float32Array.from({ length: cols }, (_, j) => (j % 3 === 1 ? -Infinity : 0)));
    const y = wasm.softmax(x, { mask });
    assertClose("softmax 1e4", y, ref.softmax(x, { mask }), SOFT_TOL);
    expect(y.data.some(Number.isNaN)).toBe(false);
    const n = 100_003; // a non-multiple of 4 and of 16
    const long = t([1, n], data(4, n, -20, 20));
    const yl = wasm.softmax(long).data;
    assertClose("softmax 100k", shaped([1, n], yl), ref.softmax(long), SOFT_TOL);
    assertClose("softmax 100k sum", yl.reduce((s, v) => s + v, 0), 1, { atol: 1e-5, rtol: 0 });
  });

  it("gives zeros for rows whose scores are all -inf, and NaN only in rows holding NaN or +inf", () => {
    const x = t([4, 6], Float32Array.from([
      ...new Array(6).fill(-Infinity), 1, 2, NaN, 3, 4, 5, 1, Infinity, 2, 3, 4, 5, 0.5, 1, 1.5, -Infinity, 0, 0,
    ]));
    for (const b of [wasm, ref]) {
      const y = b.softmax(x).data;
      expect(Array.from(y.subarray(0, 6)), b.name).toEqual([0, 0, 0, 0, 0, 0]);
      expect(Array.from(y.subarray(6, 18)).every(Number.isNaN), b.name).toBe(true);
      expect(y.subarray(18).some(Number.isNaN), b.name).toBe(false);
      expect(y[21], b.name).toBe(0);
    }
  });

  it("applies the causal rule aligned bottom-right (KV-cache): row q keeps columns j <= q + cols - qLen", () => {
    const x = t([2, 5], new Float32Array(10));
    expect(Array.from(wasm.softmax(x, { causal: true }).data)).toEqual([0.25, 0.25, 0.25, 0.25, 0, ...new Array(5).fill(Math.fround(0.2))]);
    const step = t([1, 4], new Float32Array(4)); // qLen = 1: one new query sees every key
    expect(Array.from(wasm.softmax(step, { causal: true }).data)).toEqual([0.25, 0.25, 0.25, 0.25]);
  });
});

// ---------------------------------------------------------------- norms
const normCase = fc.record({
  rows: dim(6), cols: dim(80), seed: dataSeed, offset: fc.constantFrom(0, 3, 100, 1000), spread: fc.constantFrom(0.1, 1, 10),
});
// Tolerance: |wasm - ref| <= 2e-6 + 2e-6 |ref|. Outputs are O(1) (up to sqrt(cols)); the statistics are
// float32 sums and the corrected two-pass mean (offsets up to 1000 x the spread cost nothing):
// measured max error 4.8e-7 (layerNorm, absolute) and 2.7e-7 (rmsNorm, relative) over 300 shapes.
const NORM_TOL: Tol = { atol: 2e-6, rtol: 2e-6 };

describe("layerNorm and rmsNorm", () => {
  it("match the reference", () => {
    check(normCase, ({ rows, cols, seed, offset, spread }) => {
      const x = t([rows, cols], data(seed, rows * cols, offset - spread, offset + spread));
      const g = t([cols], data(seed + 1, cols, 0.5, 1.5)), b = t([cols], data(seed + 2, cols, -1, 1));
      assertClose("layerNorm", wasm.layerNorm(x, g, b), ref.layerNorm(x, g, b), NORM_TOL);
      assertClose("rmsNorm", wasm.rmsNorm(x, g), ref.rmsNorm(x, g), NORM_TOL);
    });
  });

  it("layerNorm with gamma = 1, beta = 0 gives rows of mean 0 and variance var/(var + eps)", () => {
    check(normCase.filter((c) => c.cols >= 2), ({ rows, cols, seed, offset, spread }) => {
      const x = t([rows, cols], data(seed, rows * cols, offset - spread, offset + spread));
      const y = wasm.layerNorm(x, ones(cols), zeros(cols)).data;
      for (let r = 0; r < rows; r++) {
        const xr = rowOf(x.data, r, cols), yr = rowOf(y, r, cols);
        const mx = xr.reduce((s, v) => s + v, 0) / cols, vx = xr.reduce((s, v) => s + (v - mx) ** 2, 0) / cols;
        const my = yr.reduce((s, v) => s + v, 0) / cols, vy = yr.reduce((s, v) => s + (v - my) ** 2, 0) / cols;
        assertClose(`row ${r} mean`, my, 0, { atol: 1e-5, rtol: 0 });
        assertClose(`row ${r} variance`, vy, vx / (vx + 1e-5), { atol: 1e-4, rtol: 0 });
      }
    });
  });

  it("rmsNorm with gamma = 1 gives rows of mean square ms/(ms + eps)", () => {
    check(normCase, ({ rows, cols, seed, offset, spread }) => {
      const x = t([rows, cols], data(seed, rows * cols, offset - spread, offset + spread));
      const y = wasm.rmsNorm(x, ones(cols)).data;
      for (let r = 0; r < rows; r++) {
        const ms = rowOf(x.data, r, cols).reduce((s, v) => s + v * v, 0) / cols;
        const my = rowOf(y, r, cols).reduce((s, v) => s + v * v, 0) / cols;
        assertClose(`row ${r} mean square`, my, ms / (ms + 1e-6), { atol: 1e-5, rtol: 0 });
      }
    });
  });

  it("with eps = 0 are invariant under x -> 2^k x bit for bit (power-of-two scaling is exact)", () => {
    check(fc.record({ rows: dim(5), cols: dim(60).filter((c) => c >= 2), seed: dataSeed, k: fc.integer({ min: -8, max: 8 }) }), ({ rows, cols, seed, k }) => {
      const x = t([rows, cols], data(seed, rows * cols, -3, 5)), xs = t([rows, cols], x.data.map((v) => v * 2 ** k));
      const g = t([cols], data(seed + 1, cols, 0.5, 1.5)), b = t([cols], data(seed + 2, cols, -1, 1));
      assertSameBits("layerNorm scale", wasm.layerNorm(xs, g, b, 0).data, wasm.layerNorm(x, g, b, 0).data);
      assertSameBits("rmsNorm scale", wasm.rmsNorm(xs, g, 0).data, wasm.rmsNorm(x, g, 0).data);
    });
  });

  it("layerNorm of a constant row is beta exactly", () => {
    for (const cols of [1, 3, 5, 17, 64, 768, 1001]) {
      const b = t([cols], data(cols, cols, -1, 1)), g = t([cols], data(cols + 1, cols, 0.5, 1.5));
      for (const c of [0, 0.1, -3.7, 1 / 3, 1e4, -2.5e-3, 12345.678]) {
        const x = t([2, cols], new Float32Array(2 * cols).fill(c));
        const y = wasm.layerNorm(x, g, b).data;
        assertSameBits(`layerNorm constant ${c} [${cols}]`, rowOf(y, 1, cols), b.data);
      }
    }
  });
});

// ---------------------------------------------------------------- sum, mean, max
/** The documented summation order of kernels/rows.ts, in float32 (Math.fround after every add). */
function orderedSum(x: Float32Array): number {
  const f = Math.fround, n = x.length;
  const A = [0, 1, 2, 3].map(() => [0, 0, 0, 0]);
  let j = 0;
  for (; j + 16 <= n; j += 16) for (let q = 0; q < 4; q++) for (let l = 0; l < 4; l++) A[q][l] = f(A[q][l] + x[j + 4 * q + l]);
  for (; j + 4 <= n; j += 4) for (let l = 0; l < 4; l++) A[0][l] = f(A[0][l] + x[j + l]);
  const a = [0, 1, 2, 3].map((l) => f(f(A[0][l] + A[1][l]) + f(A[2][l] + A[3][l])));
  let s = f(f(a[0] + a[1]) + f(a[2] + a[3]));
  for (; j < n; j++) s = f(s + x[j]);
  return s;
}

describe("sum, mean, max", () => {
  const redCase = fc.record({ rows: dim(6), cols: fc.oneof(dim(70), fc.integer({ min: 100, max: 3000 })), seed: dataSeed, range: fc.constantFrom(1, 1000) });

  it("sum follows the documented order exactly; mean is that sum / cols; max equals the reference", () => {
    check(redCase, ({ rows, cols, seed, range }) => {
      const x = t([rows, cols], data(seed, rows * cols, -range, range));
      const s = wasm.sum(x).data, m = wasm.mean(x).data;
      const want = Float32Array.from({ length: rows }, (_, r) => orderedSum(rowOf(x.data, r, cols)));
      assertSameBits("sum order", s, want);
      assertSameBits("mean", m, s.map((v) => v / cols));
      assertSameBits("max", wasm.max(x).data, ref.max(x).data);
    });
  });

  it("sum and mean are within the error bound of their order", () => {
    check(redCase, ({ rows, cols, seed, range }) => {
      const x = t([rows, cols], data(seed, rows * cols, -range, range));
      const s = wasm.sum(x).data, e = ref.sum(x).data, m = wasm.mean(x).data, em = ref.mean(x).data;
      for (let r = 0; r < rows; r++) {
        // Tolerance: a term passes through at most cols/16 + 8 float32 additions, plus the final
        // rounding of the reference: |err| <= (cols/16 + 9) 2^-24 sum|x|.
        const bound = (cols / 16 + 9) * 2 ** -24 * rowOf(x.data, r, cols).reduce((p, v) => p + Math.abs(v), 0);
        assertClose(`row ${r} sum`, s[r], e[r], { atol: bound, rtol: 0 });
        assertClose(`row ${r} mean`, m[r], em[r], { atol: (bound / cols) * 1.5, rtol: 0 });
      }
    });
  });

  it("max propagates NaN and handles -inf rows; reductions are deterministic on a 100k row", () => {
    const x = t([3, 5], Float32Array.from([1, NaN, 3, 4, 5, ...new Array(5).fill(-Infinity), -0, 0, -1, -2, -3]));
    const mx = wasm.max(x).data;
    expect(Number.isNaN(mx[0])).toBe(true);
    expect(mx[1]).toBe(-Infinity);
    expect(mx[2]).toBe(0);
    const long = t([1, 100_001], data(9, 100_001, -1, 1));
    assertSameBits("sum determinism", wasm.sum(long).data, wasm.sum(long).data);
    assertSameBits("sum 100k order", wasm.sum(long).data, Float32Array.of(orderedSum(long.data)));
  });

  it("every row op gives the same bits on repeated runs", () => {
    const x = t([9, 77], data(21, 9 * 77, -4, 4)), g = t([77], data(22, 77)), b = t([77], data(23, 77));
    const mask = t([1, 77], maskData(24, 77));
    const runs = [
      () => wasm.softmax(x, { mask }).data, () => wasm.softmax(t([9, 77], x.data), { causal: true }).data,
      () => wasm.layerNorm(x, g, b).data, () => wasm.rmsNorm(x, g).data, () => wasm.mean(x).data,
    ];
    for (const run of runs) assertSameBits("determinism", run(), run());
  });
});
