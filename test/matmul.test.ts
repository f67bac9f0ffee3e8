/**
 * Matmul: the wasm GEMM (kernels/matmul.ts) against the float64 reference over random shapes,
 * transposes, accumulate and batch broadcast; exactness and invariants that need no tolerance
 * (dyadic data, (AB)^T = B^T A^T, identity, row and batch independence); extreme values; bits.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/backend.js";
import type { Kernels, MatmulDims } from "../src/backend/kernels.js";
import { Rng } from "../src/rng.js";
import { Tensor } from "../src/tensor.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { assertClose, shaped, assertSameBits } from "./util/close.js";
import { check, data, dataSeed, dim } from "./util/prop.js";

let wasm: Kernels, ref: Kernels, wb: Backend, rb: Backend;
beforeAll(async () => {
  wb = await wasmBackend();
  rb = await referenceBackend();
  wasm = wb.kernels;
  ref = rb.kernels;
});

const FLAGS = { transA: false, transB: false, accumulate: false, broadcastA: false, broadcastB: false };
const dims = (batch: number, m: number, n: number, k: number, o: Partial<MatmulDims> = {}): MatmulDims => ({ batch, m, n, k, ...FLAGS, ...o });
const sizes = (d: MatmulDims) => ({
  a: (d.broadcastA ? 1 : d.batch) * d.m * d.k,
  b: (d.broadcastB ? 1 : d.batch) * d.k * d.n,
  out: d.batch * d.m * d.n,
});

/** Runs one kernel on fresh copies of out0 (the accumulate start) and returns the result. */
function run(kern: Kernels, a: Float32Array, b: Float32Array, d: MatmulDims, out0?: Float32Array): Float32Array {
  const out = out0 ? out0.slice() : new Float32Array(sizes(d).out);
  kern.matmul(out, a, b, d);
  return out;
}

/**
 * Tolerance, f32 GEMM vs the float64 oracle, data in [-1, 1]: each element is a k-term f32 sum,
 * whose rounding error behaves like a random walk, ~ u * sqrt(k) * |partial sums| with
 * u = 2^-24 and |partial sums| ~ sqrt(k/9), so ~ 2e-8 * k (1e-5 at k = 600); the deterministic
 * worst case k^2 u is far looser and never approached. atol = 1e-5 * sqrt(k) * scale^2 is 10-50x
 * the typical error for k <= 1000, while a wrong index or layout errs by O(scale^2).
 */
const tol = (k: number, scale = 1) => ({ atol: 1e-5 * Math.sqrt(Math.max(k, 1)) * scale * scale, rtol: 1e-6 });

/**
 * Extents around this kernel's blocks (kernels/matmul.ts): MR = 4, NR = 8, KC = 512, MC = 128.
 * m = 1, m <= 2, m <= MR and m <= MC take the kernel's panel paths (B read in place, 16 or 8
 * columns at a time, or packed per panel), m > MC the blocked path: m is drawn on both sides.
 */
const edge = (max: number) => fc.oneof(dim(max), fc.constantFrom(4, 7, 8, 9, 12, 16, 31, 33).filter((x) => x <= max));
const mExtent = fc.oneof(edge(37), fc.constantFrom(1, 2, 3, 127, 128, 129, 133));
const kExtent = fc.oneof(dim(40), fc.constantFrom(255, 256, 257, 511, 512, 513, 1025));

const shapeArb = fc.record({
  batch: fc.integer({ min: 1, max: 3 }),
  m: mExtent,
  n: edge(37),
  k: kExtent,
  transA: fc.boolean(),
  transB: fc.boolean(),
  accumulate: fc.boolean(),
  broadcast: fc.constantFrom("none", "A", "B"),
  seed: dataSeed,
});

describe("matmul: wasm vs float64 reference", () => {
  it("random m, n, k (1, odd, tile and block edges), all transposes, accumulate, batch broadcast", () => {
    check(shapeArb, (s) => {
      const d = dims(s.batch, s.m, s.n, s.k, {
        transA: s.transA, transB: s.transB, accumulate: s.accumulate, broadcastA: s.broadcast === "A", broadcastB: s.broadcast === "B",
      });
      const z = sizes(d);
      const a = data(s.seed, z.a), b = data(s.seed + 1, z.b), out0 = data(s.seed + 2, z.out);
      const start = d.accumulate ? out0 : undefined;
      assertClose("matmul", shaped([d.batch, d.m, d.n], run(wasm, a, b, d, start)), shaped([d.batch, d.m, d.n], run(ref, a, b, d, start)), tol(d.k));
    }, 120);
  });

  it("every kernel path on a grid: m across 2 / MR / MC, n with and without partial panels, k with leftovers", () => {
    for (const m of [1, 2, 3, 4, 5, 128, 129]) {
      for (const n of [8, 13, 24, 37]) {
        for (const k of [3, 4, 7, 514]) {
          for (let f = 0; f < 8; f++) {
            const d = dims(1, m, n, k, { transA: !!(f & 1), transB: !!(f & 2), accumulate: !!(f & 4) });
            const z = sizes(d);
            const a = data(m * 131 + f, z.a), b = data(n * 7 + k, z.b), out0 = data(f, z.out);
            const start = d.accumulate ? out0 : undefined;
            assertClose(`matmul f=${f} k=${k}`, shaped([m, n], run(wasm, a, b, d, start)), shaped([m, n], run(ref, a, b, d, start)), tol(k));
          }
        }
      }
    }
  });

  it("shapes beyond one block: m > 2 MC, k > 2 KC, n > NC = 4096", () => {
    const cases: [number, number, number, Partial<MatmulDims>][] = [
      [515, 9, 257, {}],
      [515, 9, 600, { transA: true, transB: true, accumulate: true }],
      [3, 4101, 5, { transB: true }],
      [5, 17, 1100, { transA: true }],
      [6, 4099, 1030, { transB: true, accumulate: true }],
    ];
    for (const [m, n, k, o] of cases) {
      const d = dims(1, m, n, k, o);
      const z = sizes(d);
      const a = data(m, z.a), b = data(n, z.b), out0 = data(k, z.out);
      const start = d.accumulate ? out0 : undefined;
      assertClose("matmul", shaped([m, n], run(wasm, a, b, d, start)), shaped([m, n], run(ref, a, b, d, start)), tol(k));
    }
  });

  it("large and tiny magnitudes (data scaled by 1e15 or 1e-15; products stay normal) within the scaled tolerance", () => {
    const arb = fc.record({ m: mExtent, n: edge(37), k: kExtent, scale: fc.constantFrom(1e15, 1e-15), transB: fc.boolean(), seed: dataSeed });
    check(arb, ({ m, n, k, scale, transB, seed }) => {
      const d = dims(1, m, n, k, { transB });
      const a = data(seed, m * k, -scale, scale), b = data(seed + 1, k * n, -1, 1).map((v) => v * scale);
      assertClose("matmul scaled", shaped([m, n], run(wasm, a, b, d)), shaped([m, n], run(ref, a, b, d)), tol(k, scale));
    }, 30);
  });

  it("k = 0: out is zero, or unchanged when accumulating", () => {
    const out0 = data(3, 6);
    expect(Array.from(run(wasm, new Float32Array(0), new Float32Array(0), dims(1, 2, 3, 0)))).toEqual([0, 0, 0, 0, 0, 0]);
    assertSameBits("k=0 accumulate", run(wasm, new Float32Array(0), new Float32Array(0), dims(1, 2, 3, 0, { accumulate: true }), out0), out0);
  });

  it("Backend.matmul: batched operands, a shared weight (batch folded into rows) and a shared A", () => {
    const x = new Tensor("f32", [3, 5, 7], data(1, 105)), w = new Tensor("f32", [9, 7], data(2, 63));
    const y = new Tensor("f32", [3, 7, 9], data(3, 189)), a2 = new Tensor("f32", [5, 7], data(4, 35));
    const cases: [Tensor<"f32">, Tensor<"f32">, { transA?: boolean; transB?: boolean }][] = [
      [x, w, { transB: true }], // [3,5,7] @ [9,7]^T: broadcastB, folded into one [15,7] product
      [new Tensor("f32", [3, 7, 5], data(5, 105)), w, { transA: true, transB: true }], // broadcastB, transA: not folded
      [a2, y, {}], // [5,7] @ [3,7,9]: broadcastA
      [x, y, {}], // batched both
    ];
    for (const [a, b, o] of cases) {
      const got = wb.matmul(a, b, o), want = rb.matmul(a, b, o);
      expect(got.shape).toEqual(want.shape);
      assertClose("Backend.matmul", got, want, tol(7));
    }
  });
});

/** Multiples of 1/64 in [-1, 1]: products are multiples of 2^-12 and every sum of < 2^11 of them is exact in f32. */
function dyadic(seed: number, n: number, scale = 1): Float32Array {
  const r = new Rng(seed), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((r.int(129) - 64) / 64) * scale;
  return out;
}

describe("matmul: exact results (no tolerance)", () => {
  it("dyadic data: bit-identical to the reference, in any order of summation", () => {
    check(shapeArb, (s) => {
      const d = dims(s.batch, s.m, s.n, s.k, { transA: s.transA, transB: s.transB, broadcastB: s.broadcast === "B" });
      const z = sizes(d);
      const a = dyadic(s.seed, z.a), b = dyadic(s.seed + 1, z.b);
      assertSameBits("matmul dyadic", run(wasm, a, b, d), run(ref, a, b, d));
    }, 40);
  });

  it("extreme magnitudes: A * 2^s and B * 2^t give exactly AB * 2^(s+t) for |s|, |t| <= 100, |s+t| <= 110", () => {
    const arb = fc.record({ m: dim(19), n: dim(19), k: kExtent, s: fc.integer({ min: -100, max: 100 }), t: fc.integer({ min: -100, max: 100 }), seed: dataSeed })
      .filter((v) => Math.abs(v.s + v.t) <= 110);
    check(arb, ({ m, n, k, s, t, seed }) => {
      const d = dims(1, m, n, k);
      const a = dyadic(seed, m * k), b = dyadic(seed + 1, k * n);
      const base = run(wasm, a, b, d);
      const scaled = run(wasm, a.map((v) => v * 2 ** s), b.map((v) => v * 2 ** t), d);
      assertSameBits("matmul scaled", scaled, base.map((v) => v * 2 ** (s + t)));
      assertSameBits("matmul scaled vs reference", scaled, run(ref, a.map((v) => v * 2 ** s), b.map((v) => v * 2 ** t), d));
    }, 40);
  });

  it("linearity on dyadic data: A (B1 + B2) = A B1 + A B2 exactly", () => {
    check(fc.record({ m: dim(21), n: dim(21), k: kExtent, seed: dataSeed }), ({ m, n, k, seed }) => {
      const d = dims(1, m, n, k);
      const a = dyadic(seed, m * k), b1 = dyadic(seed + 1, k * n), b2 = dyadic(seed + 2, k * n);
      const sum = run(wasm, a, b1.map((v, i) => v + b2[i]), d);
      const parts = run(wasm, a, b2, { ...d, accumulate: true }, run(wasm, a, b1, d));
      assertSameBits("matmul linearity", sum, parts);
    }, 30);
  });
});

function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = x[r * cols + c];
  return t;
}

describe("matmul: invariants (bits)", () => {
  it("(AB)^T = B^T A^T bit for bit (same products, same order of summation)", () => {
    check(fc.record({ m: mExtent, n: mExtent, k: kExtent, seed: dataSeed }), ({ m, n, k, seed }) => {
      const a = data(seed, m * k), b = data(seed + 1, k * n);
      const ab = run(wasm, a, b, dims(1, m, n, k));
      // B^T A^T: "A" = b stored [k, n] (transA), "B" = a stored [m, k] (transB) -> [n, m]
      const btat = run(wasm, b, a, dims(1, n, m, k, { transA: true, transB: true }));
      assertSameBits("(AB)^T vs B^T A^T", transpose(ab, m, n), btat);
    }, 40);
  });

  it("identity: A I = A and I A = A exactly", () => {
    check(fc.record({ m: edge(33), k: edge(40), seed: dataSeed }), ({ m, k, seed }) => {
      const a = data(seed, m * k);
      const eye = (s: number) => Float32Array.from({ length: s * s }, (_, i) => (i % (s + 1) === 0 ? 1 : 0));
      assertSameBits("A I", run(wasm, a, eye(k), dims(1, m, k, k)), a);
      assertSameBits("I A", run(wasm, eye(m), a, dims(1, m, k, m)), a);
    }, 30);
  });

  it("row independence: any rows of A give the bits of those rows of AB (a token never depends on the others)", () => {
    check(fc.record({ m: mExtent, n: edge(40), k: kExtent, transB: fc.boolean(), lo: fc.nat(), len: fc.nat(), seed: dataSeed }), (s) => {
      const { m, n, k } = s;
      const lo = s.lo % m, len = 1 + (s.len % (m - lo));
      const a = data(s.seed, m * k), b = data(s.seed + 1, k * n);
      const full = run(wasm, a, b, dims(1, m, n, k, { transB: s.transB }));
      const part = run(wasm, a.subarray(lo * k, (lo + len) * k), b, dims(1, len, n, k, { transB: s.transB }));
      assertSameBits("row slice", part, full.subarray(lo * n, (lo + len) * n));
    }, 40);
  });

  it("batch independence: entry b of a batched product equals the single product", () => {
    check(fc.record({ batch: fc.integer({ min: 2, max: 4 }), m: dim(17), n: dim(17), k: kExtent, transA: fc.boolean(), seed: dataSeed }), (s) => {
      const { batch, m, n, k } = s;
      const a = data(s.seed, batch * m * k), b = data(s.seed + 1, k * n);
      const all = run(wasm, a, b, dims(batch, m, n, k, { transA: s.transA, broadcastB: true }));
      for (let i = 0; i < batch; i++) {
        const one = run(wasm, a.subarray(i * m * k, (i + 1) * m * k), b, dims(1, m, n, k, { transA: s.transA }));
        assertSameBits(`batch ${i}`, all.subarray(i * m * n, (i + 1) * m * n), one);
      }
    }, 30);
  });

  it("determinism: the same call twice, with other work in between, gives the same bits", () => {
    const d = dims(2, 37, 29, 600, { transB: true, accumulate: true });
    const z = sizes(d);
    const a = data(1, z.a), b = data(2, z.b), out0 = data(3, z.out);
    const first = run(wasm, a, b, d, out0);
    run(wasm, data(4, 513 * 9), data(5, 9 * 17), dims(1, 513, 17, 9));
    assertSameBits("matmul determinism", run(wasm, a, b, d, out0), first);
  });
});

describe("matmul: non-finite values", () => {
  it("NaN and infinities propagate like the reference: a NaN in row i of A poisons row i only", () => {
    const m = 6, n = 11, k = 9;
    const a = data(1, m * k), b = data(2, k * n, 0.5, 1); // B > 0
    a[2 * k + 3] = NaN; // row 2
    a[4 * k + 5] = Infinity; // row 4 -> +inf (every B entry positive)
    a[4 * k + 7] = 0.5;
    b[7 * n + 10] = -Infinity; // column 10 -> +-inf; at (4, 10): inf + 0.5 * -inf = NaN
    const got = run(wasm, a, b, dims(1, m, n, k)), want = run(ref, a, b, dims(1, m, n, k));
    assertClose("matmul non-finite", shaped([m, n], got), shaped([m, n], want), tol(k));
    expect(got.filter(Number.isNaN).length).toBe(n + 1); // row 2 and (4, 10)
    expect(Number.isFinite(got[0]) && Number.isFinite(got[5 * n + 9])).toBe(true);
    expect(Math.abs(got[0 * n + 10])).toBe(Infinity);
  });
});
