/**
 * Backward primitives (src/backend/grad.ts over the Kernels contract): each against central finite
 * differences of its forward on the reference backend (loss = a random linear functional, summed in
 * float64), wasm kernels against the float64 reference over drawn shapes with odd sizes, invariants
 * (zero row sums, adjoint identities), extreme values, and determinism.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Activation, Backend } from "../src/backend/backend.js";
import { Rng } from "../src/rng.js";
import * as G from "../src/backend/grad.js";
import { Tensor, type F32Tensor } from "../src/tensor.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { assertClose, shaped, assertSameBits, type Tol } from "./util/close.js";
import { centralDiff4, dotLoss } from "./util/fd.js";
import { check, data, dataSeed, dim } from "./util/prop.js";
import { loadProbes } from "./util/probes.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  [wasm, ref] = await Promise.all([wasmBackend(), referenceBackend()]);
});

const t = (shape: number[], v: Float32Array): F32Tensor => new Tensor("f32", shape, v);
const rand = (shape: number[], seed: number, lo = -1, hi = 1): F32Tensor => t(shape, data(seed, shape.reduce((a, b) => a * b, 1), lo, hi));
const ACTS: Activation[] = ["gelu_tanh", "quick_gelu", "silu"];

/**
 * Checks analytic gradients of L = sum r * forward() against 4-point differences (h = 2^-7) of every
 * element of every input. One op's output is O(1), so L's float32 noise is ~1e-7 and the differences
 * are good to ~1e-5; tolerance |fd - an| <= 1e-4 max|an| + 1e-3 |an| (measured: at most 25% of it,
 * LayerNorm dx and attention dk; a wrong term is off by far more).
 */
function fdCheck(op: string, forward: () => F32Tensor, r: Float32Array, inputs: [string, F32Tensor][], grads: F32Tensor[]): void {
  const loss = () => ({ loss: dotLoss(forward().data, r) });
  inputs.forEach(([name, x], k) => {
    const an = grads[k].data;
    const scale = an.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const fd = Array.from(x.data, (_, i) => centralDiff4(loss, x.data, i, 2 ** -7)!);
    assertClose(`${op} d${name} vs finite differences`, shaped(x.shape, an), shaped(x.shape, fd), { atol: 1e-4 * scale + 1e-7, rtol: 1e-3 });
  });
}

// ---------------------------------------------------------------- finite differences (reference)
describe("backward primitives against finite differences (reference backend)", () => {
  it("softmax", () => {
    check(fc.record({ rows: dim(4), cols: dim(9), seed: dataSeed }), ({ rows, cols, seed }) => {
      const x = rand([rows, cols], seed, -3, 3), r = data(seed + 1, rows * cols);
      const y = ref.softmax(x);
      fdCheck("softmax", () => ref.softmax(x), r, [["x", x]], [G.softmaxBackward(ref, y, t(x.shape as number[], r))]);
    }, 20);
  });

  it("layerNorm and rmsNorm (dx, dgamma, dbeta)", () => {
    // cols >= 3: with 2 columns LayerNorm maps every row to +-1 and its dx is pure eps effect (~1e-7)
    check(fc.record({ rows: dim(4), cols: dim(9).filter((c) => c >= 3), seed: dataSeed }), ({ rows, cols, seed }) => {
      const x = rand([rows, cols], seed, -2, 2), g = rand([cols], seed + 1, 0.5, 1.5), b = rand([cols], seed + 2);
      const r = data(seed + 3, rows * cols), dy = t([rows, cols], r);
      const ln = G.layerNormBackward(ref, dy, x, g, 1e-5);
      fdCheck("layerNorm", () => ref.layerNorm(x, g, b), r, [["x", x], ["gamma", g], ["beta", b]], [ln.dx, ln.dgamma, ln.dbeta]);
      const rms = G.rmsNormBackward(ref, dy, x, g, 1e-6);
      fdCheck("rmsNorm", () => ref.rmsNorm(x, g), r, [["x", x], ["gamma", g]], [rms.dx, rms.dgamma]);
    }, 20);
  });

  it("activations and swiglu", () => {
    check(fc.record({ n: dim(40), seed: dataSeed }), ({ n, seed }) => {
      const x = rand([n], seed, -6, 6), up = rand([n], seed + 1), r = data(seed + 2, n), dy = t([n], r);
      for (const a of ACTS) fdCheck(a, () => ref.act(a, x), r, [["x", x]], [G.actBackward(ref, a, x, dy)]);
      const sw = G.swigluBackward(ref, x, up, dy);
      fdCheck("swiglu", () => ref.swiglu(x, up), r, [["gate", x], ["up", up]], [sw.dgate, sw.dup]);
    }, 15);
  });

  it("attention: GQA, causal (KV-cache offset) and additive masks", () => {
    const arb = fc.record({
      B: dim(2), kv: fc.integer({ min: 1, max: 2 }), group: fc.integer({ min: 1, max: 2 }), dh: dim(5), nq: dim(5), extra: fc.integer({ min: 0, max: 3 }),
      causal: fc.boolean(), masked: fc.boolean(), seed: dataSeed,
    });
    check(arb, ({ B, kv, group, dh, nq, extra, causal, masked, seed }) => {
      const nk = nq + extra, heads = kv * group;
      const q = rand([B, nq, heads * dh], seed, -1.5, 1.5), k = rand([B, nk, kv * dh], seed + 1, -1.5, 1.5), v = rand([B, nk, kv * dh], seed + 2);
      const mask = masked ? t([nq, nk], data(seed + 3, nq * nk, -1, 1).map((m, i) => (i % 5 === 2 ? -Infinity : m))) : undefined;
      const o = { heads, kvHeads: kv, causal, mask };
      const r = data(seed + 4, B * nq * heads * dh);
      const out = ref.attention(q, k, v, o);
      const g = G.attentionBackward(ref, t(out.shape as number[], r), q, k, v, out, o);
      fdCheck("attention", () => ref.attention(q, k, v, o), r, [["q", q], ["k", k], ["v", v]], [g.dq, g.dk, g.dv]);
    }, 20);
  });

  it("patch embedding weight (cv = cin and the replicated channel, depth patches)", () => {
    const arb = fc.record({ B: dim(2), cin: fc.constantFrom(1, 3), rep: fc.boolean(), t: fc.constantFrom(1, 2), p: fc.constantFrom(1, 2, 3), n: dim(2), C: dim(3), seed: dataSeed });
    check(arb, ({ B, cin, rep, t: tt, p, n, C, seed }) => {
      const cv = rep ? 1 : cin;
      const vol = rand([B, cv, 2 * tt, n * p, n * p], seed, 0, 1), w = rand([C, cin, tt, p, p], seed + 1);
      const r = data(seed + 2, B * 2 * n * n * C);
      const dw = G.patchEmbedBackward(ref, t([B, 2, n * n, C], r), vol, w.shape);
      fdCheck("patchEmbed", () => ref.patchEmbed(vol, w), r, [["weight", w]], [dw]);
    }, 15);
  });
});

/**
 * Norm backward rows: |wasm - ref| <= 1e-6 (1 + |mean|/std) r max_j |dy_j gamma_j| + 1e-4 |ref| per row,
 * r = rstd (LayerNorm) or 1/rms (RMSNorm) from float64 statistics.
 */
function rowsClose(op: string, actual: Float32Array, expected: Float32Array, x: F32Tensor, dy: F32Tensor, g: F32Tensor, eps: number, rms: boolean): void {
  const cols = x.dim(-1), rows = x.size / cols;
  for (let r = 0; r < rows; r++) {
    const xr = x.data.subarray(r * cols, (r + 1) * cols);
    const mean = xr.reduce((s, v) => s + v, 0) / cols;
    const variance = xr.reduce((s, v) => s + (rms ? v * v : (v - mean) ** 2), 0) / cols;
    const std = Math.sqrt(xr.reduce((s, v) => s + (v - mean) ** 2, 0) / cols + eps);
    let big = 0;
    for (let j = 0; j < cols; j++) big = Math.max(big, Math.abs(dy.data[r * cols + j] * g.data[j]));
    const scale = big / Math.sqrt(variance + eps);
    assertClose(`${op} row ${r}`, shaped([cols], actual.subarray(r * cols, (r + 1) * cols)), shaped([cols], expected.subarray(r * cols, (r + 1) * cols)), { atol: 1e-6 * (1 + Math.abs(mean) / std) * scale, rtol: 1e-4 });
  }
}

// ---------------------------------------------------------------- wasm vs reference
// Shapes first (odd sizes), then data. Tolerances per op, beside each assertion; "scale" tolerances
// are relative to the op's natural magnitude because its output cancels (dy - <y, dy>, g - mean(g) - ...).
describe("wasm backward kernels against the reference", () => {
  it("softmaxBackward", () => {
    check(fc.record({ rows: dim(9), cols: dim(70), seed: dataSeed, range: fc.constantFrom(1, 5, 30) }), ({ rows, cols, seed, range }) => {
      const y = ref.softmax(rand([rows, cols], seed, -range, range)), dy = rand([rows, cols], seed + 1);
      // dx = y (dy - <y, dy>): float32 dot of <= 70 terms, outputs <= 2 in size; measured max |diff| 4.8e-8
      assertClose("softmaxBackward", G.softmaxBackward(wasm, y, dy), G.softmaxBackward(ref, y, dy), { atol: 1e-6, rtol: 1e-5 });
    });
  });

  it("layerNormBackward and rmsNormBackward", () => {
    const arb = fc.record({ rows: dim(9), cols: dim(90), seed: dataSeed, offset: fc.constantFrom(0, 3, 50), spread: fc.constantFrom(0.1, 1, 10) });
    check(arb, ({ rows, cols, seed, offset, spread }) => {
      const x = rand([rows, cols], seed, offset - spread, offset + spread), g = rand([cols], seed + 1, 0.5, 1.5), dy = rand([rows, cols], seed + 2);
      const a = G.layerNormBackward(wasm, dy, x, g, 1e-5), b = G.layerNormBackward(ref, dy, x, g, 1e-5);
      // dx cancels (fully for cols <= 2: g - mean(g) - xh mean(g xh)), so per row the tolerance is
      // relative to the row's scale rstd max|dy gamma|, times 1 + |mean|/std for the float32
      // statistics of an offset row: 1e-6 of that. Measured: at most 13% of it.
      rowsClose("layerNormBackward dx", a.dx.data, b.dx.data, x, dy, g, 1e-5, false);
      // sums over rows of O(1) products, xh carrying the same (1 + |mean|/std) factor: measured at most 22% of it
      assertClose("layerNormBackward dgamma", a.dgamma, b.dgamma, { atol: 1e-6 * rows * (1 + offset / spread), rtol: 1e-5 });
      assertClose("layerNormBackward dbeta", a.dbeta, b.dbeta, { atol: 1e-6 * rows, rtol: 1e-5 });
      const c = G.rmsNormBackward(wasm, dy, x, g, 1e-6), d = G.rmsNormBackward(ref, dy, x, g, 1e-6);
      // rms: dx = r g - x r^3 mean(g x) cancels the same way for a constant-ish row; same per-row rule (measured: 5% of it)
      rowsClose("rmsNormBackward dx", c.dx.data, d.dx.data, x, dy, g, 1e-6, true);
      assertClose("rmsNormBackward dgamma", c.dgamma, d.dgamma, { atol: 1e-6 * rows, rtol: 1e-5 });
    });
  });

  it("activation backwards and swigluBackward", () => {
    check(fc.record({ n: dim(300), seed: dataSeed, range: fc.constantFrom(1, 8, 30, 120) }), ({ n, seed, range }) => {
      const x = rand([n], seed, -range, range), up = rand([n], seed + 1), dy = rand([n], seed + 2);
      // act'(x) = s + x s(1-s) z': expf (1 ulp) and a few float32 products; measured: at most 19% of it (gelu_tanh)
      const tol: Tol = { atol: 1e-7, rtol: 1e-5 };
      for (const a of ACTS) assertClose(`${a}Backward`, G.actBackward(wasm, a, x, dy), G.actBackward(ref, a, x, dy), tol);
      const w = G.swigluBackward(wasm, x, up, dy), r = G.swigluBackward(ref, x, up, dy);
      assertClose("swigluBackward dgate", w.dgate, r.dgate, tol);
      assertClose("swigluBackward dup", w.dup, r.dup, { atol: 1e-6, rtol: 1e-5 });
    });
  });

  it("attentionBackward: GQA, causal, masks, odd head sizes", () => {
    const arb = fc.record({
      B: dim(3), kv: fc.integer({ min: 1, max: 3 }), group: fc.integer({ min: 1, max: 3 }), dh: dim(17), nq: dim(40), extra: fc.integer({ min: 0, max: 9 }),
      causal: fc.boolean(), mask: fc.constantFrom("none", "shared", "batch"), seed: dataSeed,
    });
    check(arb, ({ B, kv, group, dh, nq, extra, causal, mask, seed }) => {
      const nk = nq + extra, heads = kv * group;
      const q = rand([B, nq, heads * dh], seed, -2, 2), k = rand([B, nk, kv * dh], seed + 1, -2, 2), v = rand([B, nk, kv * dh], seed + 2);
      const mb = mask === "batch" ? B : 1;
      const m = mask === "none" ? undefined : t(mask === "batch" ? [B, nq, nk] : [nq, nk], data(seed + 3, mb * nq * nk, -2, 2).map((x, i) => (i % 7 === 3 ? -Infinity : x)));
      const o = { heads, kvHeads: kv, causal, mask: m };
      const out = ref.attention(q, k, v, o), dout = rand(out.shape as number[], seed + 4);
      const a = G.attentionBackward(wasm, dout, q, k, v, out, o), b = G.attentionBackward(ref, dout, q, k, v, out, o);
      // float32 scores, exp and sums over <= 49 keys and 3 heads against float64; gradients are O(1):
      // measured max |diff| 2.4e-7 (dq), 4.2e-7 (dk), 7.2e-7 (dv)
      const tol: Tol = { atol: 2e-6, rtol: 1e-5 };
      assertClose("attentionBackward dq", a.dq, b.dq, tol);
      assertClose("attentionBackward dk", a.dk, b.dk, tol);
      assertClose("attentionBackward dv", a.dv, b.dv, tol);
    }, 40);
  });

  it("patchEmbedBackward: cv = cin and replicated, depth patches, patch sizes not multiples of 4", () => {
    const arb = fc.record({ B: dim(2), cin: fc.constantFrom(1, 3), rep: fc.boolean(), t: fc.constantFrom(1, 2, 3), p: fc.constantFrom(1, 2, 3, 5, 7), n: dim(4), nz: dim(2), C: dim(17), seed: dataSeed });
    check(arb, ({ B, cin, rep, t: tt, p, n, nz, C, seed }) => {
      const cv = rep ? 1 : cin;
      const vol = rand([B, cv, nz * tt, n * p, n * p], seed, 0, 1), dout = rand([B, nz, n * n, C], seed + 1);
      const shape = [C, cin, tt, p, p];
      // a float32 sum over B*nz*n^2 <= 32 patches of products in [-1, 1]: measured max |diff| 1.7e-6
      assertClose("patchEmbedBackward", G.patchEmbedBackward(wasm, dout, vol, shape), G.patchEmbedBackward(ref, dout, vol, shape), { atol: 2e-6, rtol: 1e-5 });
    });
  });
});

// ---------------------------------------------------------------- invariants
describe("backward invariants", () => {
  it("softmax: every row of dx sums to 0 (the probabilities sum to 1)", () => {
    check(fc.record({ rows: dim(9), cols: dim(70), seed: dataSeed }), ({ rows, cols, seed }) => {
      const y = wasm.softmax(rand([rows, cols], seed, -4, 4)), dx = G.softmaxBackward(wasm, y, rand([rows, cols], seed + 1)).data;
      for (let r = 0; r < rows; r++) {
        assertClose(`row ${r} sum`, dx.subarray(r * cols, (r + 1) * cols).reduce((a, v) => a + v, 0), 0, { atol: 1e-6, rtol: 0 });
      }
    });
  });

  it("layerNorm: every row of dx sums to 0 and is orthogonal to the normalised row", () => {
    check(fc.record({ rows: dim(9), cols: dim(70).filter((c) => c >= 3), seed: dataSeed }), ({ rows, cols, seed }) => {
      const x = rand([rows, cols], seed, -3, 3);
      // eps = 0 makes both exact (with eps > 0, sum dx xh = n rstd mean(g xh) eps / (var + eps))
      const dx = G.layerNormBackward(wasm, rand([rows, cols], seed + 1), x, rand([cols], seed + 2, 0.5, 1.5), 0).dx.data;
      const xh = wasm.layerNorm(x, t([cols], new Float32Array(cols).fill(1)), t([cols], new Float32Array(cols)), 0).data;
      for (let r = 0; r < rows; r++) {
        let s = 0, o = 0, scale = 0;
        for (let j = 0; j < cols; j++) {
          s += dx[r * cols + j];
          o += dx[r * cols + j] * xh[r * cols + j];
          scale += Math.abs(dx[r * cols + j]);
        }
        assertClose(`row ${r}: sum of dx`, s, 0, { atol: 1e-5 * scale + 1e-6, rtol: 0 });
        assertClose(`row ${r}: dot with the normalised row`, o, 0, { atol: 1e-4 * scale + 1e-6, rtol: 0 });
      }
    });
  });

  it("attention: sum_j dk_j = 0 and sum_j dv_j = sum_i dout_i per head (rows sum to 1), without masks", () => {
    check(fc.record({ nq: dim(20), extra: fc.integer({ min: 0, max: 5 }), heads: dim(3), dh: dim(9), seed: dataSeed }), ({ nq, extra, heads, dh, seed }) => {
      const nk = nq + extra;
      const q = rand([1, nq, heads * dh], seed), k = rand([1, nk, heads * dh], seed + 1), v = rand([1, nk, heads * dh], seed + 2);
      const out = wasm.attention(q, k, v, { heads }), dout = rand([1, nq, heads * dh], seed + 3);
      const g = G.attentionBackward(wasm, dout, q, k, v, out, { heads });
      for (let c = 0; c < heads * dh; c++) {
        let sk = 0, sv = 0, so = 0;
        for (let j = 0; j < nk; j++) {
          sk += g.dk.data[j * heads * dh + c];
          sv += g.dv.data[j * heads * dh + c];
        }
        for (let i = 0; i < nq; i++) so += dout.data[i * heads * dh + c];
        assertClose(`channel ${c}: sum dk, sum dv`, [sk, sv], [0, so], { atol: 1e-5 * nq, rtol: 0 });
      }
    });
  });

  it("patch embedding: <dout, patchEmbed(vol, W)> = <patchEmbedBackward(dout, vol), W> (it is linear in W)", () => {
    check(fc.record({ cin: fc.constantFrom(1, 3), rep: fc.boolean(), t: fc.constantFrom(1, 2), p: fc.constantFrom(2, 3, 4), n: dim(3), C: dim(9), seed: dataSeed }), ({ cin, rep, t: tt, p, n, C, seed }) => {
      const vol = rand([2, rep ? 1 : cin, tt, n * p, n * p], seed, 0, 1), w = rand([C, cin, tt, p, p], seed + 1), dout = rand([2, 1, n * n, C], seed + 2);
      for (const be of [wasm, ref]) {
        const lhs = dotLoss(be.patchEmbed(vol, w).data, dout.data), rhs = dotLoss(G.patchEmbedBackward(be, dout, vol, w.shape).data, w.data);
        assertClose(`${be.name} <dout, patchEmbed W> = <patchEmbedBackward, W>`, lhs, rhs, { atol: 1e-5, rtol: 1e-5 });
      }
    });
  });

  it("rope: its adjoint is rope with negated positions, <rope(x, pos), y> = <x, rope(y, -pos)>, sections and all", () => {
    const arb = fc.record({ T: dim(9), heads: dim(3), half: dim(5), axes: fc.constantFrom(1, 3), seed: dataSeed });
    check(arb, ({ T, heads, half, axes, seed }) => {
      const dh = 2 * half;
      const sections = axes === 1 ? [half] : [Math.floor(half / 2), half - Math.floor(half / 2), 0];
      const pos = new Tensor("i32", axes === 1 ? [T] : [T, 3], Int32Array.from(data(seed, T * axes, 0, 500), Math.floor));
      const x = rand([T, heads * dh], seed + 1), y = rand([T, heads * dh], seed + 2);
      for (const be of [wasm, ref]) {
        const o = { heads, sections };
        const lhs = dotLoss(be.rope(x, pos, o).data, y.data), rhs = dotLoss(x.data, G.ropeBackward(be, y, pos, o).data);
        assertClose(`${be.name} <rope x, y> = <x, rope' y>`, lhs, rhs, { atol: 1e-5, rtol: 1e-5 });
        assertClose(`${be.name} rope round trip`, G.ropeBackward(be, be.rope(x, pos, o), pos, o), x, { atol: 1e-6, rtol: 1e-6 });
      }
    });
  });
});

describe("rope backward = rope at -pos is the exact transpose", () => {
  it("the angle tables are even/odd bit for bit: cos(-a) = cos(a), sin(-a) = -sin(a) (wasm trig and JS Math)", async () => {
    // (-pos) * f = -(pos * f) exactly, so rope(y, -pos) rotates with the same float32 cos and the
    // negated sin: R(a)^T, the forward's own matrix transposed, not an approximation of it.
    const mod = await loadProbes(); // kernels/probes.ts: trig_sin, trig_cos (lib/trig.ts, as rope uses it)
    const rng = new Rng(17);
    for (let i = 0; i < 20000; i++) {
      const a = (2 * rng.uniform() - 1) * 10 ** (8 * rng.uniform() - 4);
      expect(Object.is(mod.k.trig_cos(-a), mod.k.trig_cos(a)) && Object.is(mod.k.trig_sin(-a), -mod.k.trig_sin(a)), `wasm at ${a}`).toBe(true);
      expect(Object.is(Math.cos(-a), Math.cos(a)) && Object.is(Math.sin(-a), -Math.sin(a)), `Math at ${a}`).toBe(true);
    }
  });
});

// ---------------------------------------------------------------- extremes and determinism
describe("backward extremes and determinism", () => {
  it("activation derivatives take their limits: 1 at +inf and x >= 150, 0 at -inf and x <= -150, NaN stays NaN", () => {
    // (at -100 silu' is -3.7e-42, a float32 denormal: the reference keeps it, the kernel's clamp flushes it)
    const x = t([10], Float32Array.from([Infinity, -Infinity, 150, -150, 1e30, -1e30, 3.4e38, -3.4e38, NaN, 0]));
    const dy = t([10], new Float32Array(10).fill(1));
    for (const be of [wasm, ref]) {
      for (const a of ACTS) {
        const d = Array.from(G.actBackward(be, a, x, dy).data, (v) => v + 0); // -0 -> 0
        expect(d.slice(0, 8), `${be.name} ${a}`).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
        expect(Number.isNaN(d[8]), `${be.name} ${a} NaN`).toBe(true);
        expect(d[9], `${be.name} ${a}'(0)`).toBe(0.5);
      }
      const sw = G.swigluBackward(be, x, t([10], new Float32Array(10).fill(2)), dy);
      expect(Array.from(sw.dgate.data.subarray(0, 8), (v) => v + 0), `${be.name} swiglu`).toEqual([2, 0, 2, 0, 2, 0, 2, 0]);
      expect(sw.dup.data[0], `${be.name} silu(inf)`).toBe(Infinity);
      expect(Object.is(sw.dup.data[1], -0) || sw.dup.data[1] === 0, `${be.name} silu(-inf)`).toBe(true);
    }
  });

  it("attention: a fully masked query row passes no gradient; scores of magnitude 1e3 stay finite", () => {
    const nq = 3, nk = 5, dh = 6;
    const q = rand([1, nq, dh], 1, -30, 30), k = rand([1, nk, dh], 2, -30, 30), v = rand([1, nk, dh], 3);
    const mask = t([nq, nk], Float32Array.from({ length: nq * nk }, (_, i) => (i < nk ? -Infinity : i % 2 ? -Infinity : 0)));
    for (const be of [wasm, ref]) {
      const out = be.attention(q, k, v, { heads: 1, mask }), dout = rand([1, nq, dh], 4);
      const g = G.attentionBackward(be, dout, q, k, v, out, { heads: 1, mask });
      expect(Array.from(g.dq.data.subarray(0, dh)), be.name).toEqual(new Array(dh).fill(0));
      for (const x of [g.dq, g.dk, g.dv]) expect(x.data.every(Number.isFinite), be.name).toBe(true);
    }
  });

  it("layerNorm of a constant row (variance 0): finite gradients, dx = 0 when gamma and dy are constant", () => {
    for (const cols of [1, 3, 5, 17, 64]) {
      const x = t([2, cols], new Float32Array(2 * cols).fill(7.25)), g = t([cols], new Float32Array(cols).fill(1.5));
      const dy = t([2, cols], new Float32Array(2 * cols).fill(0.5));
      for (const be of [wasm, ref]) {
        const r = G.layerNormBackward(be, dy, x, g, 1e-5);
        expect(Array.from(r.dx.data), `${be.name} [${cols}]`).toEqual(new Array(2 * cols).fill(0));
        expect(Array.from(r.dbeta.data), be.name).toEqual(new Array(cols).fill(1));
      }
    }
  });

  it("the same inputs give the same bits on every call (wasm)", () => {
    const q = rand([2, 33, 12], 5), k = rand([2, 37, 6], 6), v = rand([2, 37, 6], 7);
    const o = { heads: 4, kvHeads: 2, causal: true }, out = wasm.attention(q, k, v, o), dout = rand([2, 33, 12], 8);
    const a = G.attentionBackward(wasm, dout, q, k, v, out, o), b = G.attentionBackward(wasm, dout, q, k, v, out, o);
    assertSameBits("attentionBackward dq", a.dq.data, b.dq.data);
    assertSameBits("attentionBackward dk", a.dk.data, b.dk.data);
    const x = rand([7, 45], 9), g = rand([45], 10), dy = rand([7, 45], 11);
    assertSameBits("layerNormBackward", G.layerNormBackward(wasm, dy, x, g, 1e-5).dx.data, G.layerNormBackward(wasm, dy, x, g, 1e-5).dx.data);
    const vol = rand([2, 1, 4, 12, 12], 12, 0, 1), d = rand([2, 2, 9, 5], 13);
    assertSameBits("patchEmbedBackward", G.patchEmbedBackward(wasm, d, vol, [5, 3, 2, 4, 4]).data, G.patchEmbedBackward(wasm, d, vol, [5, 3, 2, 4, 4]).data);
  });

  it("rejects mismatched shapes with typed errors naming the argument", () => {
    expect(() => G.softmaxBackward(wasm, rand([2, 3], 1), rand([3, 2], 2))).toThrow(/softmaxBackward: dy/);
    expect(() => G.layerNormBackward(wasm, rand([2, 3], 1), rand([2, 3], 2), rand([4], 3), 1e-5)).toThrow(/layerNormBackward: gamma/);
    expect(() => G.attentionBackward(wasm, rand([1, 2, 4], 1), rand([1, 2, 4], 1), rand([1, 3, 4], 2), rand([1, 3, 4], 3), rand([1, 3, 4], 4), { heads: 2 })).toThrow(/attentionBackward: out/);
    expect(() => G.patchEmbedBackward(wasm, rand([1, 1, 4, 2], 1), rand([1, 1, 1, 4, 4], 2), [2, 1, 1, 3, 3])).toThrow(/patchEmbedBackward: vol/);
  });
});
