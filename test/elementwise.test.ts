/**
 * Elementwise ops, activations and the AdamW step: wasm kernels against the reference (shapes drawn first),
 * extreme inputs, invariants (limits, bounds, monotonicity), scalar/SIMD bit identity, determinism,
 * and the accuracy of the kernels/lib/math polynomials (exp, sigmoid, tanh) in ulps, and their
 * bits pinned by a hash.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Activation, Backend } from "../src/backend/backend.js";
import type { AdamwScalars } from "../src/backend/kernels.js";
import type { WasmModule } from "../src/backend/wasm/runtime.js";
import type { ProbesKernels } from "./util/dev-bindings.js";
import { Rng } from "../src/rng.js";
import { Tensor, type F32Tensor } from "../src/tensor.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { loadProbes } from "./util/probes.js";
import { assertClose, assertSameBits, shaped as withShape, type Tol } from "./util/close.js";
import { check, data, dataSeed, dim } from "./util/prop.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  [wasm, ref] = await Promise.all([wasmBackend(), referenceBackend()]);
});

const FLT_MAX = 3.4028234663852886e38;
const t = (shape: number[], v: Float32Array): F32Tensor => new Tensor("f32", shape, v);
/** [rows, cols] with 1, 3, 5, 17 and non-multiples of 4 in the mix, then a data seed and a range. */
const shaped = fc.record({ rows: dim(9), cols: dim(70), seed: dataSeed, range: fc.constantFrom(1, 4, 20, 100) });

/**
 * Same bits, except that a NaN only has to be a NaN: wasm leaves the sign and payload of a NaN result
 * to the engine, so they may differ between a scalar and a SIMD instruction.
 */
function assertSameBitsOrNaN(op: string, a: Float32Array, b: Float32Array): void {
  const nan = (v: Float32Array) => Array.from(v, Number.isNaN);
  expect(nan(a), `${op}: NaN positions`).toEqual(nan(b));
  assertSameBits(op, a.map((v) => (Number.isNaN(v) ? 0 : v)), b.map((v) => (Number.isNaN(v) ? 0 : v)));
}

/** Size of one float32 ulp at |v| (denormal spacing below FLT_MIN). */
function ulp(v: number): number {
  const a = Math.fround(Math.abs(v));
  if (a < 2 ** -126) return 2 ** -149;
  const bits = new Uint32Array(new Float32Array([a]).buffer)[0];
  return 2 ** (((bits >>> 23) & 0xff) - 127 - 23);
}

describe("add, mul, scale, addBias", () => {
  // Tolerance: none. A float32 op on float32 operands equals its float64 result rounded once, so
  // the kernels must give the reference's bits.
  it("equal the reference bit for bit", () => {
    check(shaped, ({ rows, cols, seed, range }) => {
      const n = rows * cols;
      const a = t([rows, cols], data(seed, n, -range, range)), b = t([rows, cols], data(seed + 1, n, -range, range));
      const bias = t([cols], data(seed + 2, cols, -range, range));
      const s = 1 / 3 + seed; // not a float32: both sides must round it the same way
      assertSameBits("add", wasm.add(a, b).data, ref.add(a, b).data);
      assertSameBits("mul", wasm.mul(a, b).data, ref.mul(a, b).data);
      assertSameBits("scale", wasm.scale(a, s).data, ref.scale(a, s).data);
      assertSameBits("addBias", wasm.addBias(a, bias).data, ref.addBias(a, bias).data);
    });
  });

  it("broadcast the bias over every row and leave the inputs untouched", () => {
    const x = t([3, 5], Float32Array.from({ length: 15 }, (_, i) => i));
    const before = x.data.slice();
    const y = wasm.addBias(x, t([5], Float32Array.from([10, 20, 30, 40, 50])));
    expect(Array.from(y.data.subarray(10))).toEqual([20, 31, 42, 53, 64]);
    expect(x.data).toEqual(before);
  });
});

interface ActCase {
  name: Activation;
  /** Smallest value of the function (bound checked with 1e-6 slack). */
  min: number;
}
const ACTS: ActCase[] = [
  { name: "gelu_tanh", min: -0.17004 },
  { name: "quick_gelu", min: -0.16361 },
  { name: "silu", min: -0.27847 },
];
// Tolerance for every activation: |wasm - ref| <= 1e-7 + 4e-6 |ref|. Measured: about 2 ulp where
// |x| < 20; in the far negative tail the float32 evaluation of the exp argument (|arg| up to 88)
// costs up to ~200 ulp of values below 1e-16, which the 1e-7 floor absorbs.
const ACT_TOL: Tol = { atol: 1e-7, rtol: 4e-6 };

describe("activations", () => {
  it("match the float64 reference (gelu_tanh, quick_gelu, silu, swiglu)", () => {
    check(shaped, ({ rows, cols, seed, range }) => {
      const x = t([rows, cols], data(seed, rows * cols, -range, range));
      for (const { name } of ACTS) assertClose(name, wasm.act(name, x), ref.act(name, x), ACT_TOL);
      const up = t([rows, cols], data(seed + 7, rows * cols, -2, 2));
      assertClose("swiglu", wasm.swiglu(x, up), ref.swiglu(x, up), ACT_TOL);
    });
  });

  it("swiglu is silu(gate) * up, bit for bit", () => {
    check(shaped, ({ rows, cols, seed, range }) => {
      const g = t([rows, cols], data(seed, rows * cols, -range, range)), u = t([rows, cols], data(seed + 1, rows * cols));
      assertSameBits("swiglu", wasm.swiglu(g, u).data, wasm.mul(wasm.act("silu", g), u).data);
    });
  });

  const EXTREMES = [80, -80, 1e30, -1e30, FLT_MAX, -FLT_MAX, Infinity, -Infinity, 1e-40, -1e-40, 1.4e-45, -1.4e-45, 0, -0, 88.5, -88.5, 1e-20, -1e-20, 7, -7, -10, -30, 13.5];
  it("give the reference's values at +-80, +-1e30, +-inf and denormals, and never NaN there", () => {
    const x = t([EXTREMES.length], Float32Array.from(EXTREMES));
    for (const { name } of ACTS) {
      const y = wasm.act(name, x).data;
      // Tolerance: 1e-7 + 4e-6 |ref| as above, with the floor lowered to 2e-45 (about one denormal step).
      assertClose(`${name} extremes`, withShape(x.shape, y), ref.act(name, x), { atol: 2e-45, rtol: 4e-6 });
      expect(y.some(Number.isNaN), name).toBe(false);
    }
  });

  it("have the limits: act(x) = x for x >= 20, act(x) = 0 for x <= -200, act(-inf) = 0, act(+inf) = inf, NaN stays NaN", () => {
    const big = [20, 33.3, 100, 1e6, 1e30, FLT_MAX, Infinity], low = [-200, -1e4, -1e30, -FLT_MAX, -Infinity];
    for (const { name } of ACTS) {
      expect(Array.from(wasm.act(name, t([big.length], Float32Array.from(big))).data), name).toEqual(big.map(Math.fround));
      for (const y of wasm.act(name, t([low.length], Float32Array.from(low))).data) expect(y, name).toBe(-0);
      expect(Number.isNaN(wasm.act(name, t([5], Float32Array.from([1, NaN, 2, 3, 4]))).data[1]), name).toBe(true);
    }
  });

  it("respect their bounds: 0 <= act(x) <= x for x >= 0, max(x, min) <= act(x) <= 0 for x <= 0", () => {
    check(fc.record({ n: dim(300), seed: dataSeed, range: fc.constantFrom(1, 5, 50) }), ({ n, seed, range }) => {
      const x = t([n], data(seed, n, -range, range));
      for (const { name, min } of ACTS) {
        const y = wasm.act(name, x).data;
        for (let i = 0; i < n; i++) {
          const v = x.data[i];
          const ok = v >= 0 ? y[i] >= 0 && y[i] <= v : y[i] <= 0 && y[i] >= Math.max(v, min - 1e-6);
          if (!ok) throw new Error(`${name}(${v}) = ${y[i]} out of bounds`);
        }
      }
    });
  });

  it("increase monotonically on [0, 60] (to within one ulp of rounding)", () => {
    const x = t([6001], Float32Array.from({ length: 6001 }, (_, i) => i / 100));
    for (const { name } of ACTS) {
      const y = wasm.act(name, x).data;
      for (let i = 1; i < y.length; i++) {
        if (y[i] < y[i - 1] - ulp(y[i - 1])) throw new Error(`${name} decreases at x=${x.data[i]}: ${y[i - 1]} -> ${y[i]}`);
      }
    }
  });
});

describe("adamw (in place)", () => {
  /** n values of every kind: +-0, denormals, tiny, ordinary and large magnitudes up to 1.5e30 (no NaN can arise). */
  function mixed(seed: number, n: number, sign = true): Float32Array {
    const r = new Rng(seed), mags = [0, 1e-45, 1e-40, 1e-30, 1e-8, 1e-3, 1, 1e3, 1e20, 1e30];
    return Float32Array.from({ length: n }, () => mags[r.int(mags.length)] * (0.5 + r.uniform()) * (sign && r.int(2) ? -1 : 1));
  }
  /** The optimizer's scalars (src/train/adamw.ts), rounded to float32 or left as float64 (the kernels round them). */
  const scalars = fc.record({
    lr: fc.constantFrom(0, 1e-5, 3e-4, 1e-2, 0.1), t: fc.integer({ min: 1, max: 10000 }), b1: fc.constantFrom(0, 0.5, 0.9),
    b2: fc.constantFrom(0.95, 0.999), eps: fc.constantFrom(1e-8, 1e-6), wd: fc.constantFrom(0, 0.01), rounded: fc.boolean(),
  }).map(({ lr, t, b1, b2, eps, wd, rounded }): AdamwScalars => {
    const r = rounded ? Math.fround : (x: number) => x;
    return {
      decay: r(1 - lr * wd), b1: r(b1), c1: r(1 - b1), b2: r(b2), c2: r(1 - b2),
      stepSize: r(lr / (1 - b1 ** t)), bc2Sqrt: r(Math.sqrt(1 - b2 ** t)), eps: r(eps),
    };
  });
  /** One step on both backends from the same state; w, m, v must agree bit for bit, g stay untouched. */
  function same(n: number, seed: number, s: AdamwScalars): void {
    const state = [mixed(seed, n), mixed(seed + 1, n), mixed(seed + 2, n, false), mixed(seed + 3, n)]; // w, m, v >= 0, g
    const [ws, wr] = [0, 1].map(() => state.map((a) => t([n], a.slice())));
    wasm.adamw(ws[0], ws[1], ws[2], ws[3], s);
    ref.adamw(wr[0], wr[1], wr[2], wr[3], s);
    ["w", "m", "v"].forEach((name, i) => {
      expect(ws[i].data.some(Number.isNaN), `adamw ${name}: NaN`).toBe(false);
      assertSameBits(`adamw ${name} (n=${n})`, ws[i].data, wr[i].data);
    });
    assertSameBits("adamw g untouched", ws[3].data, state[3]);
  }

  // Tolerance: none. Every operation is one IEEE float32 rounding (f32x4 lanes, scalar tail and the
  // reference's Math.fround alike), so the bits must agree, n % 4 != 0 and n = 0 included.
  it("equals the reference bit for bit (zeros, signs, denormals, large magnitudes; any length)", () => {
    check(fc.record({ n: fc.oneof(fc.constant(0), dim(70)), seed: dataSeed, s: scalars }), ({ n, seed, s }) => same(n, seed, s));
  });
  it("equals the reference bit for bit on a long array (split over the backend's threads, if any)", () => {
    check(scalars, (s) => same(100_003, 11, s), 3);
  });
});

describe("scalar tail and SIMD body", () => {
  it("give the same bits for the same value (a NaN: a NaN), and repeated runs give the same bits", () => {
    const vals = Float32Array.from([...EXTREMES_ALL(), ...data(5, 200, -30, 30)]);
    const k = wasm.kernels;
    for (const [name, run] of [
      ["geluTanh", k.geluTanh], ["quickGelu", k.quickGelu], ["silu", k.silu],
    ] as const) {
      const batch = new Float32Array(vals.length), one = new Float32Array(vals.length), again = new Float32Array(vals.length);
      run(batch, vals, vals.length); // all but the last vals.length % 4 in the SIMD body
      run(again, vals, vals.length);
      for (let i = 0; i < vals.length; i++) run(one.subarray(i, i + 1), vals.subarray(i, i + 1), 1); // scalar tail
      assertSameBitsOrNaN(`${name} SIMD vs scalar`, batch, one);
      assertSameBitsOrNaN(`${name} determinism`, batch, again);
    }
  });
});

function EXTREMES_ALL(): number[] {
  return [0, -0, 1e-45, -1e-45, 1e-38, 0.3, -0.3, 0.625, -0.625, 5, -5, 80, -80, 87, -87, 88.5, -88.5, 89, -89, 1e30, -1e30, Infinity, -Infinity, NaN];
}

describe("lib/math polynomials (exp, sigmoid, tanh) through the test probes (kernels/probes.ts)", () => {
  let mod: WasmModule<ProbesKernels>;
  type Probe = "exp_f32" | "sigmoid_f32" | "tanh_f32";
  beforeAll(async () => {
    mod = await loadProbes();
  });
  const probe = (fn: Probe, x: Float32Array): Float32Array => {
    const out = new Float32Array(x.length);
    mod.scope(() => {
      const p = mod.put(x);
      mod.k[fn](p, p, x.length);
      mod.read(p, out);
    });
    return out;
  };
  /** Largest error in ulps of the expected value, over values whose expected value is >= floor. */
  const maxUlp = (y: Float32Array, x: Float32Array, f: (v: number) => number, floor = 2 ** -126): number => {
    let worst = 0;
    for (let i = 0; i < x.length; i++) {
      const e = f(x[i]);
      if (Math.abs(e) >= floor && Number.isFinite(e)) worst = Math.max(worst, Math.abs(y[i] - e) / ulp(e));
    }
    return worst;
  };
  const sweep = (lo: number, hi: number, n: number, seed: number): Float32Array => {
    const x = data(seed, n, lo, hi);
    x[0] = lo;
    x[1] = Math.fround(hi);
    return x;
  };

  it("exp: <= 2 ulp on [-87, 88.72] (the top end included), 0 below -87, inf above 88.7228", () => {
    const x = sweep(-87, 88.7228, 40001, 11);
    expect(maxUlp(probe("exp_f32", x), x, Math.exp)).toBeLessThanOrEqual(2);
    const top = probe("exp_f32", Float32Array.from([88.5, 88.72]));
    expect(Number.isFinite(top[0]) && Number.isFinite(top[1])).toBe(true);
    expect(Array.from(probe("exp_f32", Float32Array.from([-87.5, -1e30, -Infinity, 88.73, 1e30, Infinity])))).toEqual([0, 0, 0, Infinity, Infinity, Infinity]);
  });

  it("sigmoid: <= 3 ulp wherever the value is a normal float32; 0 and 1 at -inf and +inf", () => {
    const x = Float32Array.from([...sweep(-87, 30, 40001, 12), ...sweep(-2, 2, 10001, 13)]);
    expect(maxUlp(probe("sigmoid_f32", x), x, (v) => 1 / (1 + Math.exp(-v)))).toBeLessThanOrEqual(3);
    expect(Array.from(probe("sigmoid_f32", Float32Array.from([-Infinity, -1e30, -200, 200, 1e30, Infinity])))).toEqual([0, 0, 0, 1, 1, 1]);
  });

  it("tanh: <= 3 ulp, odd bit for bit, tanh(x) = x for tiny x, exactly +-1 beyond 9.1, NaN stays NaN", () => {
    const x = Float32Array.from([...sweep(-12, 12, 40001, 14), ...sweep(-0.7, 0.7, 20001, 15), ...sweep(-1e-3, 1e-3, 2001, 16)]);
    const y = probe("tanh_f32", x);
    expect(maxUlp(y, x, Math.tanh, 0)).toBeLessThanOrEqual(3);
    assertSameBits("tanh odd", probe("tanh_f32", x.map((v) => -v)), y.map((v) => -v));
    const tiny = Float32Array.from([1e-40, -1e-40, 1.4e-45, 1e-20, -0]);
    assertSameBits("tanh tiny", probe("tanh_f32", tiny), tiny);
    expect(Array.from(probe("tanh_f32", Float32Array.from([9.1, -9.1, 1e30, -Infinity, Infinity])))).toEqual([1, -1, 1, -1, 1]);
    expect(Number.isNaN(probe("tanh_f32", Float32Array.from([NaN]))[0])).toBe(true);
    expect(y.every((v) => Math.abs(v) <= 1)).toBe(true);
  });

  it("scalar and SIMD forms give the same bits (a NaN: a NaN)", () => {
    const x = Float32Array.from([...EXTREMES_ALL(), ...data(17, 403, -100, 100)]);
    for (const fn of ["exp_f32", "sigmoid_f32", "tanh_f32"] as const) {
      const batch = probe(fn, x);
      const one = Float32Array.from(x, (v) => probe(fn, Float32Array.of(v))[0]);
      assertSameBitsOrNaN(fn, batch, one);
    }
  });

  it("pinned bits: every 4099th float32 bit pattern gives the bits of the first implementation", () => {
    // FNV-1a over the output bits (a NaN counted as 0x7fc00000) of 1,047,809 inputs spread over all
    // 2^32 patterns. The hashes are those of the clamp + f32x4.nearest form of exp (commit 16d8c4f);
    // the table-constant, 1.5*2^23-rounding form that replaced it was compared with it on all 2^32
    // inputs (no difference). Any change of a polynomial, a constant or an edge changes a hash.
    const n = Math.floor(2 ** 32 / 4099);
    const x = new Float32Array(Uint32Array.from({ length: n + 1 }, (_, i) => (i * 4099) >>> 0).buffer);
    const want: Record<Probe, number> = { exp_f32: 0xa1bd6ffe, sigmoid_f32: 0xde22b2ba, tanh_f32: 0xe04cd020 };
    for (const fn of Object.keys(want) as Probe[]) {
      const y = probe(fn, x), u = new Uint32Array(y.buffer);
      let h = 0x811c9dc5;
      for (let i = 0; i < u.length; i++) h = Math.imul(h ^ (Number.isNaN(y[i]) ? 0x7fc00000 : u[i]), 16777619) >>> 0;
      expect(h.toString(16), fn).toBe(want[fn].toString(16));
    }
  });
});
