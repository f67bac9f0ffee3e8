/**
 * Fused attention: the wasm flash kernel against the float64 reference over drawn shapes (grouped
 * heads, causal with KV-cache offset, masks, dh not a multiple of 4, several key tiles), and
 * invariants: the unfused composition of our own ops, key/value permutation, one key, all keys
 * masked, query and batch independence, grouped = repeated heads, extreme scores, determinism;
 * few queries (KV-cache decode, nq 1..3) against the reference and bit for bit against a prefill.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/backend.js";
import type { AttentionDims } from "../src/backend/kernels.js";
import { Rng } from "../src/rng.js";
import { Tensor, permute, type F32Tensor } from "../src/tensor.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { loadProbes } from "./util/probes.js";
import { assertClose, shaped, assertSameBits, type Tol } from "./util/close.js";
import { check, data, dataSeed, dim } from "./util/prop.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  [wasm, ref] = await Promise.all([wasmBackend(), referenceBackend()]);
});

const t = (shape: number[], v: Float32Array): F32Tensor => new Tensor("f32", shape, v);

/** Mask values: -inf with probability `pInf`, else 0 or a value in [-2, 2). */
function maskData(seed: number, n: number, pInf = 0.25): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => {
    const u = r.uniform();
    return u < pInf ? -Infinity : u < 0.5 ? 0 : 4 * r.uniform() - 2;
  });
}

// ---------------------------------------------------------------- drawn cases
// nk up to 300 crosses the 128-key tiles (full and partial); nq up to 90 crosses the 64-query
// blocks; dh 1..40 (odd, not multiples of 4) plus the hot 32 and 64.
const caseArb = fc.record({
  batch: dim(3), nq: dim(90), nk: dim(300), kvHeads: dim(3), group: fc.constantFrom(1, 2, 3),
  dh: fc.oneof(dim(40), fc.constantFrom(32, 64)), causal: fc.boolean(),
  mask: fc.constantFrom("none", "shared", "batch"), range: fc.constantFrom(1, 3), seed: dataSeed,
});
type Case = { batch: number; nq: number; nk: number; kvHeads: number; group: number; dh: number; causal: boolean; mask: string; range: number; seed: number };
interface Inputs { q: F32Tensor; k: F32Tensor; v: F32Tensor; mask?: F32Tensor; heads: number; kvHeads: number; causal: boolean }

function inputs(c: Case): Inputs {
  const heads = c.kvHeads * c.group;
  const nk = c.causal ? Math.max(c.nk, c.nq) : c.nk; // causal needs nk >= nq
  const q = t([c.batch, c.nq, heads * c.dh], data(c.seed, c.batch * c.nq * heads * c.dh, -c.range, c.range));
  const k = t([c.batch, nk, c.kvHeads * c.dh], data(c.seed + 1, c.batch * nk * c.kvHeads * c.dh, -c.range, c.range));
  const v = t([c.batch, nk, c.kvHeads * c.dh], data(c.seed + 2, c.batch * nk * c.kvHeads * c.dh));
  const mb = c.mask === "batch" ? c.batch : 1;
  const mask = c.mask === "none" ? undefined : t(c.mask === "batch" ? [mb, c.nq, nk] : [c.nq, nk], maskData(c.seed + 3, mb * c.nq * nk));
  return { q, k, v, mask, heads, kvHeads: c.kvHeads, causal: c.causal };
}
const run = (b: Backend, x: Inputs, scale?: number) =>
  b.attention(x.q, x.k, x.v, { heads: x.heads, kvHeads: x.kvHeads, causal: x.causal, mask: x.mask, scale });

// Tolerance vs the float64 reference: |wasm - ref| <= 1e-5 + 1e-5 |ref|. Outputs are convex
// combinations of v in [-1, 1]; their error is about the f32 error of the logits, which grows
// like sqrt(dh) * eps * |q||k| * scale: at range 3 and dh 64 the dot products reach ~50 and the
// logits err by ~2e-6. Measured max |diff| 2.8e-6 over 300 drawn cases; a layout or masking
// bug errs by ~0.1.
const TOL: Tol = { atol: 1e-5, rtol: 1e-5 };

describe("attention: kernel against the reference", () => {
  it("matches over drawn shapes, grouped heads, causal offsets and masks", () => {
    check(caseArb, (c) => {
      const x = inputs(c);
      assertClose("attention", run(wasm, x), run(ref, x), TOL);
    }, 40);
  });

  it("matches at 1024 tokens, 2 heads of 64 (64 query rows checked)", () => {
    const n = 1024, heads = 2, dh = 64, w = heads * dh;
    const q = t([1, n, w], data(11, n * w)), k = t([1, n, w], data(12, n * w)), v = t([1, n, w], data(13, n * w));
    const out = wasm.attention(q, k, v, { heads }).data;
    const rows = Array.from({ length: 64 }, (_, i) => (i * 977) % n); // spread over every query block
    const qs = t([1, rows.length, w], new Float32Array(rows.length * w));
    rows.forEach((r, i) => qs.data.set(q.data.subarray(r * w, (r + 1) * w), i * w));
    const want = ref.attention(qs, k, v, { heads }).data; // rows are independent (non-causal)
    const got = new Float32Array(rows.length * w);
    rows.forEach((r, i) => got.set(out.subarray(r * w, (r + 1) * w), i * w));
    assertClose("attention 1024", shaped([rows.length, w], got), shaped([rows.length, w], want), TOL);
  });
});

// ---------------------------------------------------------------- few queries (decode)
// KV-cache generation calls attention with nq = 1 (or a few) and nk up to a few hundred. The kernel
// then puts the query heads that share a kv head into one block (rows (g, i)) and runs the rows
// past the last multiple of 4 through 1-row micro-kernels: these draws reach both.
const decodeArb = fc.record({
  batch: dim(2), nq: fc.constantFrom(1, 2, 3), nk: dim(300), kvHeads: dim(3), group: fc.constantFrom(1, 2, 3, 4),
  dh: fc.oneof(dim(40), fc.constantFrom(16, 32, 64)), causal: fc.boolean(),
  mask: fc.constantFrom("none", "shared", "batch"), range: fc.constantFrom(1, 3), seed: dataSeed,
});

/** x restricted to its last `n` queries (q and mask rows), keys and values unchanged. */
function lastQueries(x: Inputs, n: number): Inputs {
  const [batch, nq, w] = x.q.shape, nk = x.k.dim(1);
  const q = new Float32Array(batch * n * w);
  for (let b = 0; b < batch; b++) q.set(x.q.data.subarray((b * nq + nq - n) * w, (b * nq + nq) * w), b * n * w);
  let mask: F32Tensor | undefined;
  if (x.mask) {
    const mb = x.mask.rank === 3 ? x.mask.dim(0) : 1, m = new Float32Array(mb * n * nk);
    for (let b = 0; b < mb; b++) m.set(x.mask.data.subarray((b * nq + nq - n) * nk, (b * nq + nq) * nk), b * n * nk);
    mask = t(x.mask.rank === 3 ? [mb, n, nk] : [n, nk], m);
  }
  return { ...x, q: t([batch, n, w], q), mask };
}

describe("attention: few queries (KV-cache decode)", () => {
  it("nq in {1, 2, 3} with grouped heads matches the reference", () => {
    // Tolerance as for the drawn cases above (TOL: 1e-5 + 1e-5 |ref|).
    check(decodeArb, (c) => {
      const x = inputs(c);
      assertClose("attention decode", run(wasm, x), run(ref, x), TOL);
    }, 40);
  });

  it("the last queries alone give the bits they get inside a 67-query prefill (causal offset, masks)", () => {
    // Bit for bit: a row's arithmetic does not depend on the rows sharing its block (4-row or
    // 1-row kernels, folded heads), so incremental decoding reproduces the prefill exactly.
    check(decodeArb, (c) => {
      const big = inputs({ ...c, nq: 67 });
      const [batch, nq, w] = big.q.shape;
      const all = run(wasm, big).data, few = run(wasm, lastQueries(big, c.nq)).data;
      const want = new Float32Array(batch * c.nq * w);
      for (let b = 0; b < batch; b++) want.set(all.subarray((b * nq + nq - c.nq) * w, (b * nq + nq) * w), b * c.nq * w);
      assertSameBits("decode vs prefill", few, want);
    }, 25);
  });

  it("blocks of a few heads each (group split when nq * group > 64 rows) match the reference", () => {
    // nq 30, group 3: blocks of 2 heads + 1 head; nq 17, group 4: 3 heads + 1 head; nq 5, group 16: 12 + 4.
    for (const [nq, group] of [[30, 3], [17, 4], [5, 16]]) {
      const x = inputs({ batch: 2, nq, nk: 150, kvHeads: 2, group, dh: 9, causal: true, mask: "batch", range: 3, seed: nq });
      assertClose(`attention nq ${nq} group ${group}`, run(wasm, x), run(ref, x), TOL);
    }
  });
});

// ---------------------------------------------------------------- invariants
/** softmax(q k^T * scale + mask) v per head from our own Backend ops (matmul, scale, softmax). */
function unfused(b: Backend, x: Inputs, scale: number): Float32Array {
  const [batch, nq, width] = x.q.shape, nk = x.k.dim(1), dh = width / x.heads, group = x.heads / x.kvHeads;
  const heads = (y: F32Tensor, n: number, h: number) => permute(y.reshape([batch, n, h, dh]), [0, 2, 1, 3]); // [B, h, n, dh]
  const qh = heads(x.q, nq, x.heads), kh = heads(x.k, nk, x.kvHeads), vh = heads(x.v, nk, x.kvHeads);
  const out = new Float32Array(batch * nq * width);
  for (let h = 0; h < x.heads; h++) {
    const pick = (y: F32Tensor, hh: number, n: number, hs: number) => {
      const s = new Float32Array(batch * n * dh);
      for (let bb = 0; bb < batch; bb++) s.set(y.data.subarray(((bb * hs + hh) * n) * dh, ((bb * hs + hh) * n + n) * dh), bb * n * dh);
      return t([batch, n, dh], s);
    };
    const kv = Math.floor(h / group);
    const scores = b.scale(b.matmul(pick(qh, h, nq, x.heads), pick(kh, kv, nk, x.kvHeads), { transB: true }), scale);
    const mask = x.mask?.reshape(x.mask.rank === 3 ? [x.mask.dim(0) * nq, nk] : [nq, nk]);
    const p = b.softmax(scores, { mask, causal: x.causal });
    const o = b.matmul(p, pick(vh, kv, nk, x.kvHeads)); // [B, nq, dh]
    for (let bb = 0; bb < batch; bb++) {
      for (let i = 0; i < nq; i++) out.set(o.data.subarray((bb * nq + i) * dh, (bb * nq + i + 1) * dh), (bb * nq + i) * width + h * dh);
    }
  }
  return out;
}

describe("attention: invariants", () => {
  it("equals the unfused composition matmul -> scale -> softmax -> matmul of our wasm ops", () => {
    // Both in f32 with different summation orders: the reference tolerance applies.
    check(caseArb, (c) => {
      const x = inputs(c);
      const scale = 1 / Math.sqrt(x.q.dim(2) / x.heads);
      assertClose("fused vs unfused", run(wasm, x), shaped(x.q.shape, unfused(wasm, x, scale)), TOL);
    }, 25);
  });

  it("permuting keys and values together leaves the output unchanged (non-causal)", () => {
    // Only the order of the f32 sums changes (the scores are the same bits): |diff| <= 1e-6 + 1e-5 |out|.
    check(caseArb, (c) => {
      const x = inputs({ ...c, causal: false, mask: "none" });
      const [batch, nk, w] = x.k.shape;
      const perm = Array.from({ length: nk }, (_, j) => j);
      const r = new Rng(c.seed + 9);
      for (let j = nk - 1; j > 0; j--) { const i = r.int(j + 1); [perm[i], perm[j]] = [perm[j], perm[i]]; }
      const shuffle = (y: F32Tensor) => {
        const s = new Float32Array(y.size);
        for (let b = 0; b < batch; b++) for (let j = 0; j < nk; j++) s.set(y.data.subarray((b * nk + perm[j]) * w, (b * nk + perm[j] + 1) * w), (b * nk + j) * w);
        return t([batch, nk, w], s);
      };
      const y = { ...x, k: shuffle(x.k), v: shuffle(x.v) };
      assertClose("permuted keys", run(wasm, y), run(wasm, x), { atol: 1e-6, rtol: 1e-5 });
    }, 25);
  });

  it("one key returns its value exactly, whatever the scores and mask", () => {
    check(fc.record({ batch: dim(3), nq: dim(20), kvHeads: dim(3), group: fc.constantFrom(1, 2), dh: dim(40), seed: dataSeed }), (c) => {
      const x = inputs({ ...c, nk: 1, causal: false, mask: "batch", range: 3 });
      x.mask!.data.forEach((_, i) => { if (x.mask!.data[i] === -Infinity) x.mask!.data[i] = 5; }); // finite
      const out = run(wasm, x).data, dh = c.dh, heads = x.heads;
      const want = new Float32Array(out.length);
      for (let b = 0; b < c.batch; b++) for (let i = 0; i < c.nq; i++) for (let h = 0; h < heads; h++) {
        const kv = Math.floor(h / c.group);
        want.set(x.v.data.subarray((b * c.kvHeads + kv) * dh, (b * c.kvHeads + kv + 1) * dh), ((b * c.nq + i) * heads + h) * dh);
      }
      assertSameBits("one key", out, want);
    }, 30);
  });

  it("rows whose keys are all masked give zeros, not NaN; the other rows are unaffected", () => {
    check(caseArb, (c) => {
      const x = inputs({ ...c, mask: "batch" });
      const [batch, nq] = x.q.shape, nk = x.k.dim(1), w = x.q.dim(2);
      const dead = (b: number, i: number) => (b * 7 + i * 3 + c.seed) % 4 === 0;
      for (let b = 0; b < batch; b++) for (let i = 0; i < nq; i++) if (dead(b, i)) x.mask!.data.fill(-Infinity, (b * nq + i) * nk, (b * nq + i + 1) * nk);
      const got = run(wasm, x).data;
      for (let b = 0; b < batch; b++) for (let i = 0; i < nq; i++) {
        if (!dead(b, i)) continue;
        for (let e = 0; e < w; e++) if (!Object.is(got[(b * nq + i) * w + e], 0)) throw new Error(`row ${b},${i}: ${got[(b * nq + i) * w + e]} at ${e}`);
      }
      assertClose("partly dead rows", shaped(x.q.shape, got), run(ref, x), TOL);
    }, 25);
  });

  it("causal queries that see no key (nq > nk at the kernel) and nk = 0 give zeros", () => {
    const d: AttentionDims = { batch: 2, nq: 9, nk: 4, heads: 2, kvHeads: 1, dh: 5, scale: 0.5, causal: true, mask: null, maskBatch: 1 };
    const q = data(1, 2 * 9 * 10), k = data(2, 2 * 4 * 5), v = data(3, 2 * 4 * 5);
    const got = new Float32Array(2 * 9 * 10), want = new Float32Array(got.length);
    wasm.kernels.attention(got, q, k, v, d);
    ref.kernels.attention(want, q, k, v, d);
    assertClose("nq > nk causal", shaped([2, 9, 10], got), shaped([2, 9, 10], want), TOL);
    for (let b = 0; b < 2; b++) for (let i = 0; i < 5; i++) for (let e = 0; e < 10; e++) expect(got[(b * 9 + i) * 10 + e]).toBe(0); // position i - 5 < 0
    const empty = new Float32Array(2 * 9 * 10).fill(7);
    wasm.kernels.attention(empty, q, new Float32Array(0), new Float32Array(0), { ...d, nk: 0, causal: false });
    expect(empty.every((e) => Object.is(e, 0))).toBe(true);
  });

  it("a NaN in q, k or the mask (or in v, every key visible) reaches the outputs it reaches in the reference", () => {
    // A NaN in v at a key some row cannot see is left open: 0 * NaN reaches that row only when
    // the key falls inside a tile the row's block processes (see kernels/attention.ts).
    check(caseArb, (c) => {
      const x = inputs({ ...c, mask: c.mask === "none" ? "shared" : c.mask });
      const r = new Rng(c.seed + 7);
      for (const y of [x.q, x.k, x.mask!]) y.data[r.int(y.size)] = NaN;
      assertClose("NaN in q, k, mask", run(wasm, x), run(ref, x), TOL);
      const y = inputs({ ...c, causal: false, mask: "none" });
      y.v.data[r.int(y.v.size)] = NaN;
      assertClose("NaN in v", run(wasm, y), run(ref, y), TOL);
    }, 25);
  });

  it("scratch left by an earlier call (NaN values, more keys) does not leak into the next", () => {
    // The kernel's scratch (packed K, V) is reused: rows past nk in the last key tile must be zeroed.
    const big = inputs({ batch: 1, nq: 3, nk: 256, kvHeads: 2, group: 1, dh: 7, causal: false, mask: "none", range: 1, seed: 5 });
    big.k.data.fill(NaN);
    big.v.data.fill(NaN);
    expect(run(wasm, big).data.every(Number.isNaN)).toBe(true);
    const x = inputs({ batch: 1, nq: 3, nk: 130, kvHeads: 2, group: 1, dh: 7, causal: false, mask: "none", range: 1, seed: 6 });
    assertClose("after NaN scratch", run(wasm, x), run(ref, x), TOL);
  });

  it("a query's output does not depend on the other queries or batch entries (bit for bit)", () => {
    check(caseArb, (c) => {
      const x = inputs({ ...c, causal: false, mask: "none" });
      const [batch, nq, w] = x.q.shape, nk = x.k.dim(1), kw = x.k.dim(2);
      const all = run(wasm, x).data;
      const b = c.seed % batch, i = c.seed % nq;
      const one = run(wasm, {
        ...x,
        q: t([1, 1, w], x.q.data.slice((b * nq + i) * w, (b * nq + i + 1) * w)),
        k: t([1, nk, kw], x.k.data.slice(b * nk * kw, (b + 1) * nk * kw)),
        v: t([1, nk, kw], x.v.data.slice(b * nk * kw, (b + 1) * nk * kw)),
      }).data;
      assertSameBits("one query alone", one, all.subarray((b * nq + i) * w, (b * nq + i + 1) * w));
    }, 25);
  });

  it("grouped-query heads equal the same kv heads repeated (bit for bit)", () => {
    check(caseArb, (c) => {
      const x = inputs(c);
      const [batch, nk] = x.k.shape, dh = x.k.dim(2) / x.kvHeads, group = x.heads / x.kvHeads;
      const repeat = (y: F32Tensor) => {
        const s = new Float32Array(batch * nk * x.heads * dh);
        for (let r = 0; r < batch * nk; r++) for (let h = 0; h < x.heads; h++) {
          const kv = Math.floor(h / group);
          s.set(y.data.subarray((r * x.kvHeads + kv) * dh, (r * x.kvHeads + kv + 1) * dh), (r * x.heads + h) * dh);
        }
        return t([batch, nk, x.heads * dh], s);
      };
      assertSameBits("GQA", run(wasm, x).data, run(wasm, { ...x, k: repeat(x.k), v: repeat(x.v), kvHeads: x.heads }).data);
    }, 20);
  });
});

// ---------------------------------------------------------------- extreme values, determinism
describe("attention: extreme scores and determinism", () => {
  it("scale 1e4 on integer q, k (exact scores): finite, nearly one-hot, matches the reference", () => {
    // Scores are integers * 1e4, exact in f32 and f64: the weights are 0 or ties of 1, so the
    // output is a mean of a few v rows: |diff| <= 1e-6 + 1e-6 |ref|.
    check(fc.record({ batch: dim(2), nq: dim(20), nk: dim(150), kvHeads: dim(2), dh: dim(8), causal: fc.boolean(), seed: dataSeed }), (c) => {
      const x = inputs({ ...c, group: 2, mask: "none", range: 1 });
      const r = new Rng(c.seed + 5);
      for (const y of [x.q, x.k]) y.data.forEach((_, i) => { y.data[i] = r.int(7) - 3; });
      const got = run(wasm, x, 1e4).data;
      expect(got.every(Number.isFinite)).toBe(true);
      assertClose("scale 1e4", shaped(x.q.shape, got), run(ref, x, 1e4), { atol: 1e-6, rtol: 1e-6 });
    }, 30);
  });

  it("scale 1e4 on random data: finite and inside the range of the values", () => {
    check(caseArb, (c) => {
      const x = inputs({ ...c, mask: "none" });
      const got = run(wasm, x, 1e4).data;
      let lo = Infinity, hi = -Infinity;
      for (const e of x.v.data) { lo = Math.min(lo, e); hi = Math.max(hi, e); }
      for (const e of got) if (!(e >= lo - 1e-6 && e <= hi + 1e-6)) throw new Error(`output ${e} outside [${lo}, ${hi}]`);
    }, 20);
  });

  it("a finite mask of -1e30 on every key gives the plain mean of v, as the reference does", () => {
    const x = inputs({ batch: 2, nq: 5, nk: 37, kvHeads: 1, group: 3, dh: 7, causal: false, mask: "shared", range: 1, seed: 4 });
    x.mask!.data.fill(-1e30);
    assertClose("mask -1e30", run(wasm, x), run(ref, x), TOL);
  });

  it("is deterministic: the same inputs give the same bits", () => {
    check(caseArb, (c) => {
      const x = inputs(c);
      assertSameBits("attention twice", run(wasm, x).data, run(wasm, x).data);
    }, 10);
  });

  it("its exp has the bits of expf4 (kernels/lib/math.ts) for every x <= 0 sampled", async () => {
    // The softmax's exp restates expf4 for speed (kernels/lib/attn_exp.ts). Samples: every 4099th
    // bit pattern of the negative floats (-0 up to -NaN), plus +0, the edges of the flush to 0
    // near -87 and the rounding ties of x log2(e). (An exhaustive run over all 2^31 patterns, made
    // once by hand, found no difference.)
    const mod = await loadProbes(); // kernels/probes.ts:exp_shifted_check
    const bits: number[] = [0, 0x80000000, 0xff800000, 0xffc00000];
    for (let u = 0x80000000; u <= 0xffffffff; u += 4099) bits.push(u >>> 0);
    const f = new Float32Array(1), u32 = new Uint32Array(f.buffer);
    for (let i = -2000; i <= 2000; i++) { f[0] = -87 + i * 1e-5; bits.push(u32[0]); }
    for (let k = 0; k <= 250; k++) { f[0] = -(k + 0.5) / Math.LOG2E; bits.push(u32[0], u32[0] + 1, u32[0] - 1); }
    while (bits.length % 16) bits.push(0);
    const bad = mod.scope(() => {
      const px = mod.put(bitsToF32(bits)), pt = mod.alloc(bits.length * 4 + 32);
      return mod.k.exp_shifted_check(px, pt, bits.length);
    });
    expect(bad).toBe(0);
  });
});

function bitsToF32(bits: number[]): Float32Array {
  return new Float32Array(Uint32Array.from(bits).buffer);
}
