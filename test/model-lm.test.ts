// The language model and the sequence layout (spec section 6): causality, right padding, GQA
// against explicit multi-head attention, tied head, prompt / image / target positions, CE loss.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { preset, withConfig, type ModelConfig } from "../src/model/config.js";
import { crossEntropy, targetWeights, lmAttention, lmForward, parseSequence, promptMean } from "../src/model/lm.js";
import { forward } from "../src/model/model.js";
import { scope, type Params } from "../src/model/params.js";
import { Tensor, fromInts, permute, type F32Tensor } from "../src/tensor.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { assertClose, assertSameBits, shaped } from "./util/close.js";
import { batch, randomParams, range, smallConfig } from "./util/model.js";
import { check, data, dataSeed, dim } from "./util/prop.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  wasm = await wasmBackend();
  ref = await referenceBackend();
});

const lmCase = fc.record({ cfg: smallConfig, B: fc.integer({ min: 1, max: 2 }), L: dim(17), seed: dataSeed }).map(({ cfg, B, L, seed }) => {
  const params = randomParams(cfg, seed, 0.3);
  const x = new Tensor("f32", [B, L, cfg.lm.width], data(seed + 1, B * L * cfg.lm.width));
  return { cfg, params, x, B, L, seed };
});

describe("language model", () => {
  it("is causal: changing the inputs from position j on leaves the logits before j unchanged", () => {
    check(fc.record({ c: lmCase, jFrac: fc.double({ min: 0, max: 1, noNaN: true }) }), ({ c, jFrac }) => {
      const { cfg, params, x, B, L } = c;
      const j = Math.floor(jFrac * L), d = cfg.lm.width, V = cfg.lm.vocab;
      const y = x.clone();
      for (let b = 0; b < B; b++) y.data.fill(7, (b * L + j) * d, (b + 1) * L * d);
      for (const be of [ref, wasm]) {
        const a = lmForward(be, params, cfg.lm, x), z = lmForward(be, params, cfg.lm, y);
        for (let b = 0; b < B; b++) {
          const before = (t: F32Tensor) => t.data.subarray(b * L * V, (b * L + j) * V);
          assertSameBits(`${be.name} logits before ${j}`, before(z), before(a));
        }
      }
    }, 20);
  });

  it("right padding: appended pad tokens leave every earlier logit unchanged (full model)", () => {
    const cfg = preset("tiny");
    const params = randomParams(cfg, 12);
    const { volume, ids } = batch(cfg, 1, 4, 13);
    const L = ids.dim(1), V = cfg.lm.vocab;
    const padded = new Tensor("i32", [1, L + 3], Int32Array.from([...ids.data, ...new Array(3).fill(cfg.tokens.pad)]));
    for (const be of [ref, wasm]) {
      const a = forward(be, params, cfg, { volume, ids }), z = forward(be, params, cfg, { volume, ids: padded });
      assertSameBits(`${be.name} padded`, z.logits.data.subarray(0, L * V), a.logits.data);
      expect(z.losses.ce).toBe(a.losses.ce);
    }
  });

  it("changing an answer token leaves every earlier logit unchanged (full model)", () => {
    const cfg = preset("tiny");
    const params = randomParams(cfg, 14);
    const { volume, ids } = batch(cfg, 1, 4, 15);
    const seq = parseSequence(ids, cfg.tokens);
    const p = seq.targets[0].pos; // first answer token (or <eos>)
    const other = ids.clone();
    other.data[p] = (ids.data[p] + 1) % 400;
    const V = cfg.lm.vocab;
    const a = forward(ref, params, cfg, { volume, ids }), z = forward(ref, params, cfg, { volume, ids: other });
    assertSameBits("answer causality", z.logits.data.subarray(0, p * V), a.logits.data.subarray(0, p * V));
    expect(Array.from(z.logits.data.subarray(p * V, (p + 1) * V))).not.toEqual(Array.from(a.logits.data.subarray(p * V, (p + 1) * V)));
  });

  it("GQA with kv_heads = heads equals explicit multi-head attention", () => {
    check(lmCase, ({ cfg: drawn, x, L, seed }) => {
      const cfg = withConfig(drawn, { lm: { kvHeads: drawn.lm.heads } });
      const P = scope(randomParams(cfg, seed, 0.3), "lm.blocks.0");
      const NH = cfg.lm.heads, dh = cfg.lm.width / NH, B = x.dim(0);
      const pos = fromInts([L], range(L));
      for (const be of [ref, wasm]) {
        const q = be.rope(be.linear(x, P("attn.q.weight")), pos, { heads: NH });
        const k = be.rope(be.linear(x, P("attn.k.weight")), pos, { heads: NH });
        const v = be.linear(x, P("attn.v.weight"));
        const heads = (t: F32Tensor) => permute(t.reshape([B, L, NH, dh]), [0, 2, 1, 3]); // [B, NH, L, dh]
        const s = be.scale(be.matmul(heads(q), heads(k), { transB: true }), 1 / Math.sqrt(dh)); // [B, NH, L, L]
        const a = permute(be.matmul(be.softmax(s, { causal: true }), heads(v)), [0, 2, 1, 3]).reshape([B, L, NH * dh]);
        const want = be.linear(a, P("attn.o.weight"));
        // Tolerance: a materialised softmax vs the streaming kernel, float32, |out| ~ 1
        assertClose(`${be.name} MHA`, lmAttention(be, P, x, cfg.lm, pos), want, { atol: 1e-5, rtol: 1e-5 });
      }
    }, 20);
  });

  it("GQA: query head h reads kv head floor(h / (heads/kv_heads)), as MHA with repeated k, v weights", () => {
    check(lmCase, ({ cfg: drawn, x, seed }) => {
      const cfg = withConfig(drawn, { lm: { heads: 4, kvHeads: 2, width: 8 } });
      const gqa = randomParams(cfg, seed, 0.3);
      const mha = withConfig(cfg, { lm: { kvHeads: 4 } });
      const rep: Params = new Map(gqa);
      const dh = 2, d = 8;
      for (let l = 0; l < cfg.lm.layers; l++) {
        for (const w of ["k", "v"]) {
          const src = gqa.get(`lm.blocks.${l}.attn.${w}.weight`)!; // [2*dh, d]
          const out = new Tensor("f32", [4 * dh, d]);
          for (let h = 0; h < 4; h++) out.data.set(src.data.subarray(Math.floor(h / 2) * dh * d, (Math.floor(h / 2) + 1) * dh * d), h * dh * d);
          rep.set(`lm.blocks.${l}.attn.${w}.weight`, out);
        }
      }
      const x8 = new Tensor("f32", [x.dim(0), x.dim(1), 8], data(seed + 5, x.dim(0) * x.dim(1) * 8));
      assertClose("GQA = repeated MHA", lmForward(wasm, gqa, cfg.lm, x8), lmForward(wasm, rep, mha.lm, x8), { atol: 1e-5, rtol: 1e-5 });
    }, 10);
  });

  it("the tied head equals an untied head holding a copy of the embedding", () => {
    check(lmCase, ({ cfg, params, x }) => {
      const tied = withConfig(cfg, { lm: { tieEmbeddings: true } }), untied = withConfig(cfg, { lm: { tieEmbeddings: false } });
      const p2: Params = new Map(params);
      p2.set("lm.head.weight", params.get("lm.embed.weight")!.clone());
      assertSameBits("tied head", lmForward(ref, p2, untied.lm, x).data, lmForward(ref, params, tied.lm, x).data);
    }, 10);
  });
});

describe("sequence layout", () => {
  const cfg: ModelConfig = preset("tiny");
  const t = cfg.tokens;
  // m = 2 image tokens; sample 0 has a special (<bos>) inside its prompt, sample 1 an empty prompt and padding
  const rows = [
    [t.bos, t.imgStart, t.image, t.image, t.imgEnd, 10, t.bos, 11, t.sep, 20, 21, t.eos, t.pad],
    [t.bos, t.imgStart, t.image, t.image, t.imgEnd, t.sep, 30, t.eos, 31, t.pad, t.pad, t.pad, t.pad],
  ];
  const ids = fromInts([2, 13], rows.flat());

  it("finds image positions, the prompt (non-special, between </img> and <sep>) and the targets", () => {
    const s = parseSequence(ids, t);
    expect(s.imagePos).toEqual([[2, 3], [2, 3]]);
    expect(Array.from(s.promptMask.data.subarray(0, 13))).toEqual([0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
    expect(Array.from(s.promptMask.data.subarray(13))).toEqual(new Array(13).fill(0));
    expect(Array.from(s.promptCount.data)).toEqual([2, 1]); // an empty prompt counts 1: s = 0
    expect(s.targets).toEqual([{ b: 0, pos: 9 }, { b: 0, pos: 10 }, { b: 0, pos: 11 }, { b: 1, pos: 6 }, { b: 1, pos: 7 }]);
  });

  it("the prompt mean is the mean of the prompt embeddings (0 for an empty prompt)", () => {
    const e = new Tensor("f32", [2, 13, 3], data(1, 2 * 13 * 3));
    const s = promptMean(ref, e, parseSequence(ids, t));
    const want = [0, 1, 2].map((c) => (e.data[5 * 3 + c] + e.data[7 * 3 + c]) / 2);
    assertClose("prompt mean", shaped([3], s.data.subarray(0, 3)), want, { atol: 1e-7, rtol: 1e-6 });
    expect(Array.from(s.data.subarray(3))).toEqual([0, 0, 0]);
  });

  it("cross-entropy is the mean over sequences of each sequence's mean of -log softmax(logits[pos-1])[ids[pos]]", () => {
    const V = cfg.lm.vocab;
    const logits = new Tensor("f32", [2, 13, V], data(2, 2 * 13 * V, -5, 5));
    const s = parseSequence(ids, t);
    const perSeq = new Map<number, number[]>();
    for (const { b, pos } of s.targets) {
      const r = Array.from(logits.data.subarray((b * 13 + pos - 1) * V, (b * 13 + pos) * V));
      const m = Math.max(...r);
      perSeq.set(b, [...(perSeq.get(b) ?? []), m + Math.log(r.reduce((a, z) => a + Math.exp(z - m), 0)) - r[ids.data[b * 13 + pos]]]);
    }
    const lens = [...perSeq.values()].map((x) => x.length);
    expect(new Set(lens).size, "the two sequences must have different answer lengths for this test to mean anything").toBe(2);
    const want = [...perSeq.values()].reduce((a, xs) => a + xs.reduce((p, q) => p + q, 0) / xs.length, 0) / perSeq.size;
    assertClose("crossEntropy(logits, ids, s)", crossEntropy(logits, ids, s), want, { atol: 5e-13, rtol: 0 });
    const w = targetWeights(s);
    assertClose("w.reduce((a, x) => a + x, 0)", w.reduce((a, x) => a + x, 0), 1, { atol: 5e-15, rtol: 0 });
    expect(crossEntropy(logits, ids, parseSequence(fromInts([1, 5], rows[0].slice(0, 5)), t))).toBeNull();
  });
});
