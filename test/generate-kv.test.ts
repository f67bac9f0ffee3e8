// KV-cache decoding (src/model/decode.ts) against the full forward: the same logits, bit for bit, at
// every position, on both backends; generation runs forward's own prefix and LM (the one forward). Tolerance: none (assertSameBits). Why bits and not a tolerance:
// every op computes a row or a query independently of how many the call holds (matmul sums each
// element in k order whatever m is; causal attention adds exp(-inf) = 0 for unseen keys).
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { encodePrefix, promptSequence } from "../src/generate/prefix.js";
import { KvCache, lmExtend } from "../src/model/decode.js";
import { lmAttention, lmForward } from "../src/model/lm.js";
import { forward, forwardPrefix } from "../src/model/model.js";
import { getParam, scope } from "../src/model/params.js";
import { imageTokens } from "../src/model/projector.js";
import { Tape } from "../src/model/tape.js";
import { Rng } from "../src/rng.js";
import { Tensor, fromInts, type F32Tensor } from "../src/tensor.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { assertSameBits } from "./util/close.js";
import { tinyConfig, tinyVolume } from "./util/generate.js";
import { randomParams, smallConfig } from "./util/model.js";
import { check, data, dataSeed, dim } from "./util/prop.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  wasm = await wasmBackend();
  ref = await referenceBackend();
});

/** Rows [from, to) of every sample of x [B, L, w] as [B, to-from, w]. */
function rows(x: F32Tensor, from: number, to: number): F32Tensor {
  const [B, L, w] = x.shape;
  const out = new Tensor("f32", [B, to - from, w]);
  for (let b = 0; b < B; b++) out.data.set(x.data.subarray((b * L + from) * w, (b * L + to) * w), b * (to - from) * w);
  return out;
}

/** lmExtend over consecutive chunks of x, logits of every position concatenated -> [B, L, V]. */
function chunked(be: Backend, params: Parameters<typeof lmExtend>[1], lm: Parameters<typeof lmExtend>[2], x: F32Tensor, sizes: number[], capacity: number): F32Tensor {
  const [B, L] = x.shape;
  const cache = new KvCache(lm, B, capacity);
  const parts: F32Tensor[] = [];
  for (let p = 0, i = 0; p < L; i++) {
    const n = Math.min(L - p, sizes[i % sizes.length]);
    parts.push(lmExtend(be, params, lm, rows(x, p, p + n), cache, { logits: "all" }));
    p += n;
  }
  expect(cache.length).toBe(L);
  const V = lm.vocab, out = new Tensor("f32", [B, L, V]);
  let p = 0;
  for (const t of parts) {
    const n = t.dim(1);
    for (let b = 0; b < B; b++) out.data.set(t.data.subarray(b * n * V, (b + 1) * n * V), (b * L + p) * V);
    p += n;
  }
  return out;
}

describe("KV cache", () => {
  it("chunked extension equals lmForward bit for bit (random configs, B, chunk sizes, capacities)", () => {
    const arb = fc.record({
      cfg: smallConfig, B: fc.integer({ min: 1, max: 2 }), L: dim(17), seed: dataSeed,
      sizes: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }), capacity: fc.integer({ min: 1, max: 8 }),
    });
    check(arb, ({ cfg, B, L, seed, sizes, capacity }) => {
      const params = randomParams(cfg, seed, 0.3);
      const x = new Tensor("f32", [B, L, cfg.lm.width], data(seed + 1, B * L * cfg.lm.width));
      for (const be of [ref, wasm]) {
        assertSameBits(`${be.name} chunks ${sizes}`, chunked(be, params, cfg.lm, x, sizes, capacity).data, lmForward(be, params, cfg.lm, x).data);
      }
    }, 25);
  });

  it("logits 'last' is the last row of 'all'; the cache holds kv heads only and grows", () => {
    const cfg = tinyConfig(), params = randomParams(cfg, 3, 0.3), V = cfg.lm.vocab;
    const x = new Tensor("f32", [2, 9, cfg.lm.width], data(4, 2 * 9 * cfg.lm.width));
    for (const be of [ref, wasm]) {
      const all = lmExtend(be, params, cfg.lm, x, new KvCache(cfg.lm, 2, 3), { logits: "all" });
      const last = lmExtend(be, params, cfg.lm, x, new KvCache(cfg.lm, 2, 3));
      expect(last.shape).toEqual([2, 1, V]);
      for (let b = 0; b < 2; b++) assertSameBits(`${be.name} last ${b}`, last.data.subarray(b * V, (b + 1) * V), all.data.subarray((b * 9 + 8) * V, (b * 9 + 9) * V));
    }
    const cache = new KvCache(cfg.lm, 1, 1);
    expect(cache.width).toBe(cfg.lm.kvHeads * (cfg.lm.width / cfg.lm.heads)); // GQA: kv heads only
    const before = cache.bytes;
    lmExtend(wasm, params, cfg.lm, new Tensor("f32", [1, 5, cfg.lm.width], x.data.slice(0, 5 * cfg.lm.width)), cache);
    expect(cache.length).toBe(5);
    expect(cache.bytes).toBeGreaterThan(before); // grew from capacity 1
  });

  it("prefill + one token per step equals the full model forward at every position (tiny preset, both backends)", () => {
    const cfg = tinyConfig(), params = randomParams(cfg, 11, 0.2), V = cfg.lm.vocab;
    const volume = tinyVolume(12), rng = new Rng(13);
    const m = imageTokens(cfg, 4);
    const prompt = Array.from({ length: 5 }, () => rng.int(V - 7));
    const answer = [...Array.from({ length: 6 }, () => rng.int(V - 7)), cfg.tokens.eos];
    const prefix = promptSequence(cfg, m, prompt), all = [...prefix, ...answer], P = prefix.length, L = all.length;
    for (const be of [ref, wasm]) {
      const full = forward(be, params, cfg, { volume, ids: fromInts([1, L], all) });
      const vis = encodePrefix(be, params, cfg, volume, fromInts([1, P], prefix));
      vis.routing.forEach((t, i) => {
        assertSameBits(`${be.name} pi ${t.layer}`, t.pi.data, full.trace[i].pi.data);
        assertSameBits(`${be.name} topk ${t.layer}`, t.topkIdx.data, full.trace[i].topkIdx.data);
        assertSameBits(`${be.name} topk_w ${t.layer}`, t.topkW.data, full.trace[i].topkW.data);
      });
      const cache = new KvCache(cfg.lm, 1, 4);
      const pre = lmExtend(be, params, cfg.lm, vis.x, cache, { logits: "all" });
      assertSameBits(`${be.name} prefill`, pre.data, full.logits.data.subarray(0, P * V));
      for (let p = P; p < L; p++) {
        const e = be.embedding(getParam(params, "lm.embed.weight"), fromInts([1, 1], [all[p]]));
        const step = lmExtend(be, params, cfg.lm, e, cache);
        assertSameBits(`${be.name} step at ${p}`, step.data, full.logits.data.subarray(p * V, (p + 1) * V));
      }
    }
  });

  it("one forward: forwardPrefix, then lmForward with a cache (prefill, one token per step) gives forward's logits bit for bit (B=2, task labels, both backends)", () => {
    const cfg = tinyConfig(), params = randomParams(cfg, 21, 0.2), V = cfg.lm.vocab, rng = new Rng(22);
    const m = imageTokens(cfg, 4), B = 2;
    const volume = new Tensor("f32", [B, 1, 4, 32, 32]);
    volume.data.set(tinyVolume(23).data, 0);
    volume.data.set(tinyVolume(24).data, 4 * 32 * 32);
    const text = (n: number) => Array.from({ length: n }, () => rng.int(V - 7));
    const prefixes = [promptSequence(cfg, m, text(4)), promptSequence(cfg, m, text(4))], P = prefixes[0].length;
    const seqs = prefixes.map((p) => [...p, ...text(4), cfg.tokens.eos]), L = seqs[0].length;
    const task = Int32Array.of(1, 0);
    for (const be of [ref, wasm]) {
      const full = forward(be, params, cfg, { volume, ids: fromInts([B, L], seqs.flat()), task }, { acts: true });
      const pre = forwardPrefix(be, params, cfg, volume, fromInts([B, P], prefixes.flat()), { labels: task });
      assertSameBits(`${be.name} z`, pre.z.data, full.acts!.get("act.projector")!.data);
      const cache = new KvCache(cfg.lm, B, 2);
      const logits = lmForward(be, params, cfg.lm, pre.x, undefined, cache); // [B, P, V]
      for (let b = 0; b < B; b++) assertSameBits(`${be.name} prefill ${b}`, logits.data.subarray(b * P * V, (b + 1) * P * V), full.logits.data.subarray(b * L * V, (b * L + P) * V));
      for (let p = P; p < L; p++) {
        const e = be.embedding(getParam(params, "lm.embed.weight"), fromInts([B, 1], seqs.map((s) => s[p])));
        const step = lmForward(be, params, cfg.lm, e, undefined, cache, "last"); // [B, 1, V]
        for (let b = 0; b < B; b++) assertSameBits(`${be.name} step ${b} at ${p}`, step.data.subarray(b * V, (b + 1) * V), full.logits.data.subarray((b * L + p) * V, (b * L + p + 1) * V));
      }
      expect(cache.length).toBe(L);
    }
  });

  it("a tape and a KV cache are refused together, before any op", () => {
    const cfg = tinyConfig(), params = randomParams(cfg, 5), cache = new KvCache(cfg.lm, 1);
    const x = new Tensor("f32", [1, 3, cfg.lm.width]), pos = fromInts([3], [0, 1, 2]);
    expect(() => lmForward(wasm, params, cfg.lm, x, new Tape(), cache)).toThrow(/lmForward: tape: expected no KV cache/);
    expect(() => lmForward(wasm, params, cfg.lm, x, new Tape(), undefined, "last")).toThrow(/lmForward: tape/);
    expect(() => lmAttention(wasm, scope(params, "lm.blocks.0"), x, cfg.lm, pos, new Tape(), cache.layer(0))).toThrow(/lmAttention: expected a tape .* or a KV cache/);
    expect(cache.length).toBe(0);
    expect(() => lmForward(wasm, params, cfg.lm, new Tensor("f32", [2, 3, cfg.lm.width]), undefined, cache)).toThrow(/lmForward: x: expected \[B=1/);
  });

  it("rejects inputs that do not fit the cache", () => {
    const cfg = tinyConfig(), params = randomParams(cfg, 1);
    const cache = new KvCache(cfg.lm, 2);
    expect(() => lmExtend(wasm, params, cfg.lm, new Tensor("f32", [1, 3, cfg.lm.width]), cache)).toThrow(/lmExtend: x: expected \[B=2/);
    expect(() => lmExtend(wasm, params, cfg.lm, new Tensor("f32", [2, 0, cfg.lm.width]), cache)).toThrow(/n >= 1/);
    expect(() => new KvCache(cfg.lm, 0)).toThrow(/batch/);
  });
});
