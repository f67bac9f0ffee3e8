// Rotary embedding: wasm kernel vs the float64 reference, the invariants of a rotation (norms,
// relative position, identity at 0, sections), extreme positions and values, determinism, and the
// f64 transcendentals of kernels/lib/trig.ts against JS Math.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import type { WasmModule } from "../src/backend/wasm/runtime.js";
import { Tensor, type F32Tensor, type I32Tensor } from "../src/tensor.js";
import { assertClose, assertSameBits, shaped } from "./util/close.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { check, data, dataSeed, dim, ints } from "./util/prop.js";
import type { ProbesKernels } from "./util/dev-bindings.js";
import { loadProbes } from "./util/probes.js";

// Tolerance, kernel vs reference: outputs of |x| <= 1 where the kernel rounds cos and sin to f32
// once and rotates in f32 (2 products, 1 sum): a few ulp of 1.
const TOL = { atol: 1e-6, rtol: 1e-6 };

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  wasm = await wasmBackend();
  ref = await referenceBackend();
});

/** A random split of `half` pairs into `axes` sections (zeros allowed). */
function sections(seed: number, half: number, axes: number): number[] {
  const cuts = Array.from(ints(seed, axes - 1, 0, half + 1)).sort((a, b) => a - b);
  const bounds = [0, ...cuts, half];
  return Array.from({ length: axes }, (_, a) => bounds[a + 1] - bounds[a]);
}

const shape = fc.record({
  tokens: dim(17),
  heads: dim(4),
  half: dim(64), // dh = 2..128
  axes: fc.integer({ min: 1, max: 3 }),
  maxPos: fc.constantFrom(1, 7, 1000, 100_000),
  base: fc.constantFrom(10000, 500, 1e6),
  seed: dataSeed,
});

type Shape = typeof shape extends fc.Arbitrary<infer S> ? S : never;
interface Case { x: F32Tensor; pos: I32Tensor; o: { heads: number; base: number; sections: number[] } }
function makeCase(s: Shape, lo = -1, hi = 1): Case {
  const dh = 2 * s.half;
  const x = new Tensor("f32", [s.tokens, s.heads * dh], data(s.seed, s.tokens * s.heads * dh, lo, hi));
  const pos = new Tensor("i32", [s.tokens, s.axes], ints(s.seed + 1, s.tokens * s.axes, -s.maxPos, s.maxPos + 1));
  return { x, pos, o: { heads: s.heads, base: s.base, sections: sections(s.seed + 2, s.half, s.axes) } };
}

describe("rope: kernel vs reference", () => {
  it("agrees on random shapes, sections and positions up to 1e5", () => {
    check(shape, (s) => {
      const { x, pos, o } = makeCase(s);
      assertClose("rope", wasm.rope(x, pos, o), ref.rope(x, pos, o), TOL);
    });
  });

  it("agrees for every int32 position magnitude (trig reduction up to 2^31)", () => {
    const T = 6, dh = 16;
    const x = new Tensor("f32", [T, dh], data(5, T * dh));
    const pos = new Tensor("i32", [T], Int32Array.from([2 ** 31 - 1, -(2 ** 31), 123456789, -987654321, 65537, 3]));
    // the angle itself is an f64 product of up to 2^31: frequencies that differ in the last ulp
    // move it by up to ~2.4e-7, hence the looser absolute tolerance here
    assertClose("rope int32", wasm.rope(x, pos, { heads: 1 }), ref.rope(x, pos, { heads: 1 }), { atol: 2e-6, rtol: 0 });
  });

  it("repeated positions (the per-token table reuse) give the bits of tokens run one by one", () => {
    check(shape, (s) => {
      const { x, pos, o } = makeCase({ ...s, maxPos: 1 }); // positions in {-1, 0, 1}: many repeats
      const all = wasm.rope(x, pos, o);
      const width = x.dim(1);
      for (let t = 0; t < s.tokens; t++) {
        const xt = new Tensor("f32", [1, width], x.data.slice(t * width, (t + 1) * width));
        const pt = new Tensor("i32", [1, s.axes], pos.data.slice(t * s.axes, (t + 1) * s.axes));
        assertSameBits("rope token", wasm.rope(xt, pt, o).data, all.data.subarray(t * width, (t + 1) * width));
      }
    }, 20);
  });

  it("handles leading batch axes (x [B, tokens, width] with pos [tokens])", () => {
    const x = new Tensor("f32", [3, 5, 2 * 6], data(9, 3 * 5 * 12));
    const pos = new Tensor("i32", [5], Int32Array.from([0, 4, 9, 16, 25]));
    const o = { heads: 2 };
    const got = wasm.rope(x, pos, o);
    assertClose("rope batched", got, ref.rope(x, pos, o), TOL);
    const one = wasm.rope(new Tensor("f32", [5, 12], x.data.slice(60, 120)), pos, o);
    assertSameBits("rope batch entry", got.data.subarray(60, 120), one.data);
  });
});

describe("rope: invariants (both backends)", () => {
  const backends = (): Backend[] => [wasm, ref];

  it("keeps the norm of every pair (x_j, x_j+dh/2)", () => {
    check(shape, (s) => {
      const { x, pos, o } = makeCase(s);
      const half = s.half, dh = 2 * half;
      for (const be of backends()) {
        const y = be.rope(x, pos, o).data;
        const pairs = s.tokens * s.heads * half, before = new Float64Array(pairs), after = new Float64Array(pairs);
        for (let row = 0; row < s.tokens * s.heads; row++) {
          for (let j = 0; j < half; j++) {
            const a = row * dh + j, b = a + half;
            before[row * half + j] = x.data[a] ** 2 + x.data[b] ** 2;
            after[row * half + j] = y[a] ** 2 + y[b] ** 2;
          }
        }
        // 1e-6 (absolute and relative): f32 rotation of a pair of size <= sqrt 2
        assertClose(`${be.name} squared norm of every pair`, shaped([s.tokens, s.heads, half], after), shaped([s.tokens, s.heads, half], before), { atol: 1e-6, rtol: 1e-6 });
      }
    });
  });

  it("q.k depends only on the position difference (shift every axis by its own s)", () => {
    check(fc.tuple(shape, fc.integer({ min: -500, max: 500 })), ([s, shift]) => {
      const { x: q, pos, o } = makeCase({ ...s, maxPos: 1000 });
      const k = new Tensor("f32", q.shape, data(s.seed + 7, q.size));
      const moved = new Tensor("i32", pos.shape, pos.data.map((p, i) => p + shift * ((i % s.axes) + 1)));
      const dh = 2 * s.half;
      for (const be of backends()) {
        const [q1, k1, q2, k2] = [be.rope(q, pos, o), be.rope(k, pos, o), be.rope(q, moved, o), be.rope(k, moved, o)];
        // every pair of tokens (m, n) and head: <q_m, k_n> before and after the shift
        const logits = [new Float64Array(s.tokens * s.tokens * s.heads), new Float64Array(s.tokens * s.tokens * s.heads)];
        for (let m = 0; m < s.tokens; m++) {
          for (let n = 0; n < s.tokens; n++) {
            for (let h = 0; h < s.heads; h++) {
              let d1 = 0, d2 = 0;
              for (let j = 0; j < dh; j++) {
                const a = (m * s.heads + h) * dh + j, b = (n * s.heads + h) * dh + j;
                d1 += q1.data[a] * k1.data[b];
                d2 += q2.data[a] * k2.data[b];
              }
              logits[0][(m * s.tokens + n) * s.heads + h] = d1;
              logits[1][(m * s.tokens + n) * s.heads + h] = d2;
            }
          }
        }
        // 1e-6 per term: each rotated component carries a few f32 ulp
        const qk = [s.tokens, s.tokens, s.heads];
        assertClose(`${be.name} q.k after a shift`, shaped(qk, logits[1]), shaped(qk, logits[0]), { atol: 1e-6 * dh, rtol: 0 });
      }
    }, 25);
  });

  it("position 0 is the identity (same bits)", () => {
    check(shape, (s) => {
      const { x, o } = makeCase(s);
      const zero = new Tensor("i32", [s.tokens, s.axes]);
      for (const be of backends()) assertSameBits(`${be.name} rope pos 0`, be.rope(x, zero, o).data, x.data);
    });
  });

  it("sections with equal positions on every axis equal the one-axis form (same bits)", () => {
    check(shape, (s) => {
      const { x, pos, o } = makeCase({ ...s, axes: 1 });
      const axes = 3;
      const pos3 = new Tensor("i32", [s.tokens, axes], Int32Array.from({ length: s.tokens * axes }, (_, i) => pos.data[Math.floor(i / axes)]));
      const sec = sections(s.seed + 3, s.half, axes);
      for (const be of backends()) {
        assertSameBits(`${be.name} rope sections`, be.rope(x, pos3, { ...o, sections: sec }).data, be.rope(x, pos, { heads: o.heads, base: o.base }).data);
      }
    });
  });

  it("a section reads its own axis: changing another axis leaves its pairs unchanged", () => {
    const T = 3, dh = 12, sec = [2, 3, 1]; // pairs 0-1 depth, 2-4 row, 5 col
    const x = new Tensor("f32", [T, dh], data(11, T * dh));
    const p1 = new Tensor("i32", [T, 3], Int32Array.from([5, 1, 2, 6, 3, 4, 7, 5, 6]));
    const p2 = new Tensor("i32", [T, 3], Int32Array.from([5, 9, 2, 6, 8, 4, 7, 7, 6])); // row axis only
    for (const be of backends()) {
      const a = be.rope(x, p1, { heads: 1, sections: sec }).data, b = be.rope(x, p2, { heads: 1, sections: sec }).data;
      for (let t = 0; t < T; t++) {
        for (const j of [0, 1, 5]) {
          expect(a[t * dh + j]).toBe(b[t * dh + j]);
          expect(a[t * dh + j + 6]).toBe(b[t * dh + j + 6]);
        }
        expect(a[t * dh + 3]).not.toBe(b[t * dh + 3]);
      }
    }
  });
});

describe("rope: extreme values and determinism", () => {
  it("propagates NaN and infinities like the reference", () => {
    const x = new Tensor("f32", [4, 8], Float32Array.from({ length: 32 }, (_, i) => [NaN, Infinity, -Infinity, 0.5][i % 4] * (i % 5 === 0 ? 1 : 0.25)));
    const pos = new Tensor("i32", [4], Int32Array.from([0, 1, 2, 1000]));
    assertClose("rope nonfinite", wasm.rope(x, pos, { heads: 2 }), ref.rope(x, pos, { heads: 2 }), TOL);
  });

  it("large inputs (|x| up to 1e30) stay within a few ulp of their pair's magnitude", () => {
    // A rotated pair's error scales with the pair, not with the output (x1 cos - x2 sin may cancel to
    // ~0): each output is divided by m = |x_j| + |x_(j+half)| of its pair, then held to the same
    // atol as inputs of |x| <= 1 (TOL); rtol 0, so a small output gets no more room than a large one.
    const perPair = (y: F32Tensor, x: F32Tensor, dh: number) => {
      const half = dh / 2, out = new Float64Array(y.size);
      for (let i = 0; i < y.size; i++) {
        const j = i % dh, first = i - j + (j % half);
        const m = Math.abs(x.data[first]) + Math.abs(x.data[first + half]);
        out[i] = m > 0 ? y.data[i] / m : y.data[i];
      }
      return shaped(y.shape, out);
    };
    check(shape, (s) => {
      const { x, pos, o } = makeCase(s, -1e30, 1e30);
      const dh = 2 * s.half;
      assertClose("rope large / pair magnitude", perPair(wasm.rope(x, pos, o), x, dh), perPair(ref.rope(x, pos, o), x, dh), { atol: TOL.atol, rtol: 0 });
    }, 20);
  });

  it("same input gives the same bits (twice, and from a freshly loaded module)", async () => {
    const { x, pos, o } = makeCase({ tokens: 17, heads: 3, half: 21, axes: 3, maxPos: 100_000, base: 10000, seed: 42 });
    const a = wasm.rope(x, pos, o), b = wasm.rope(x, pos, o);
    assertSameBits("rope determinism", a.data, b.data);
    const { createBackend } = await import("../src/backend/index.js");
    const fresh = await createBackend("wasm", { base: new URL("../build/", import.meta.url) });
    assertSameBits("rope fresh module", fresh.rope(x, pos, o).data, a.data);
  });
});

describe("trig (kernels/lib/trig.ts, through the test probes kernels/probes.ts)", () => {
  let mod: WasmModule<ProbesKernels>;
  beforeAll(async () => {
    mod = await loadProbes();
  });
  const f = (name: "trig_sin" | "trig_cos" | "trig_exp" | "trig_log", x: number): number => mod.k[name](x);
  const f32lane = (x0: number, x1: number, lane: number): number => mod.k.trig_sincos2(x0, x1, lane);

  it("sin and cos within 1e-15 of JS Math for |x| < 3.3e9", () => {
    check(fc.tuple(fc.double({ min: -3.3e9, max: 3.3e9, noNaN: true }), fc.double({ min: -10, max: 10, noNaN: true })), ([big, small]) => {
      for (const x of [big, small]) {
        // 1e-15 absolute: ~4 ulp of 1; the reduction keeps |r| exact to ~1e-16 over this range
        assertClose(`sin, cos of ${x}`, [f("trig_sin", x), f("trig_cos", x)], [Math.sin(x), Math.cos(x)], { atol: 1e-15, rtol: 0 });
      }
    }, 500);
    expect(f("trig_sin", 0)).toBe(0);
    expect(f("trig_cos", 0)).toBe(1);
    for (const bad of [Infinity, -Infinity, NaN, 2 ** 52, -1e300]) expect(f("trig_sin", bad)).toBeNaN();
  });

  it("the two-lane sincos (the table's SIMD body) has the bits of scalar sin and cos", () => {
    const special = fc.constantFrom(0, -0, Math.PI / 4, -Math.PI / 2, 1e-300, 2 ** 52, -(2 ** 53), Infinity, NaN, 3.3e9);
    const angle = fc.oneof(fc.double({ min: -3.3e9, max: 3.3e9, noNaN: true }), fc.double({ min: -7, max: 7, noNaN: true }), special);
    check(fc.tuple(angle, angle), ([x0, x1]) => {
      const lanes = [0, 1, 2, 3].map((l) => f32lane(x0, x1, l));
      expect(lanes).toEqual([x0, x1].map((x) => Math.fround(f("trig_sin", x))).concat([x0, x1].map((x) => Math.fround(f("trig_cos", x)))));
    }, 500);
  });

  it("exp and log within 4 ulp of JS Math", () => {
    // 4 ulp = relative 4 * 2^-52 (atol: the smallest subnormal, for results near 0)
    const ULP4 = { atol: Number.MIN_VALUE, rtol: 4 * 2 ** -52 };
    check(fc.tuple(fc.double({ min: -700, max: 700, noNaN: true }), fc.double({ min: 1e-300, max: 1e300, noNaN: true })), ([y, x]) => {
      assertClose(`exp ${y}`, f("trig_exp", y), Math.exp(y), ULP4);
      assertClose(`log ${x}`, f("trig_log", x), Math.log(x), ULP4);
    }, 500);
    expect(f("trig_exp", 0)).toBe(1);
    expect(f("trig_log", 1)).toBe(0);
    expect(f("trig_exp", 1000)).toBe(Infinity);
    expect(f("trig_exp", -1000)).toBe(0);
    expect(f("trig_log", 0)).toBe(-Infinity);
    expect(f("trig_log", -1)).toBeNaN();
    assertClose("log of a subnormal", f("trig_log", 5e-324), Math.log(5e-324), { atol: 1e-12, rtol: 0 });
  });
});
