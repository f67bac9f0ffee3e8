// The whole forward pass: reference and wasm backends agree on every section 8 activation (top-k
// indices and groups identical), determinism, batch independence, labels and losses, input errors.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { ShapeError, ValueError } from "../src/errors.js";
import { preset, type ModelConfig } from "../src/model/config.js";
import { encodePrefix } from "../src/generate/prefix.js";
import { checkVolume, forward, type ForwardOutput } from "../src/model/model.js";
import { Tensor } from "../src/tensor.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { assertClose, assertSameBits } from "./util/close.js";
import { batch, randomParams, smallConfig } from "./util/model.js";
import { check, dataSeed } from "./util/prop.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  wasm = await wasmBackend();
  ref = await referenceBackend();
});

// Tolerance, wasm vs reference over the whole model: float32 accumulation (wasm) against float64
// (reference) through up to 4 vision blocks, the projector and 2 LM blocks, with random weights of
// std 0.15 and activations of order 1-10. Measured max |diff|: 5.7e-6 on tiny (act.projector,
// values up to ~10), 1e-6 over 30 random small configs: ~20x margin.
const ACT_TOL = { atol: 1e-4, rtol: 1e-4 };

/** Every act: float tensors within ACT_TOL, integer ones (group, topk_idx) identical. */
function assertSameActs(a: ForwardOutput, b: ForwardOutput): void {
  expect([...a.acts!.keys()]).toEqual([...b.acts!.keys()]);
  for (const [name, t] of a.acts!) {
    const u = b.acts!.get(name)!;
    expect(u.shape, name).toEqual(t.shape);
    if (t.dtype === "i32") expect(Array.from(u.data), name).toEqual(Array.from(t.data));
    else assertClose(name, u, t, ACT_TOL);
  }
}

describe("forward: wasm vs reference", () => {
  it("tiny preset: every act.* agrees, top-k indices and groups identical", () => {
    const cfg = preset("tiny");
    const params = randomParams(cfg, 7);
    const input = batch(cfg, 2, 4, 11);
    const r = forward(ref, params, cfg, input, { acts: true });
    const w = forward(wasm, params, cfg, input, { acts: true });
    const names = [...r.acts!.keys()];
    expect(names).toContain("act.embed");
    expect(names).toContain("act.text_guide");
    expect(names).toContain("act.blocks.3.moe.topk_idx");
    expect(names).toContain("act.projector");
    expect(names).toContain("act.lm.logits");
    assertSameActs(r, w);
    assertClose("w.losses.ce", w.losses.ce, r.losses.ce!, { atol: 5e-5, rtol: 0 });
  });

  it("random small configs (every switch of the spec): every act.* agrees", () => {
    const arb = fc.record({ cfg: smallConfig, B: fc.integer({ min: 1, max: 2 }), slices: fc.integer({ min: 1, max: 2 }), seed: dataSeed });
    check(arb, ({ cfg, B, slices, seed }) => {
      const D = slices * cfg.vision.depthPatch * cfg.projector.depthPool;
      const params = randomParams(cfg, seed);
      const input = batch(cfg, B, D, seed + 1);
      assertSameActs(forward(ref, params, cfg, input, { acts: true }), forward(wasm, params, cfg, input, { acts: true }));
    }, 25);
  });

  it("large input values (unwindowed HU) stay finite and agree", () => {
    const cfg = preset("tiny");
    const params = randomParams(cfg, 3);
    const input = batch(cfg, 1, 4, 5);
    input.volume.data.forEach((v, i) => (input.volume.data[i] = (v - 0.5) * 6000));
    const r = forward(ref, params, cfg, input, { acts: true });
    expect(r.logits.data.every(Number.isFinite)).toBe(true);
    assertSameActs(r, forward(wasm, params, cfg, input, { acts: true }));
  });
});

describe("forward: invariants", () => {
  it("is deterministic: the same input gives the same bits (both backends)", () => {
    const cfg = preset("tiny");
    const params = randomParams(cfg, 1);
    const input = batch(cfg, 2, 4, 2);
    for (const be of [ref, wasm]) {
      const a = forward(be, params, cfg, input), b = forward(be, params, cfg, input);
      assertSameBits(`${be.name} logits`, a.logits.data, b.logits.data);
      a.trace.forEach((t, i) => assertSameBits(`${be.name} topk_w`, t.topkW.data, b.trace[i].topkW.data));
    }
  });

  it("a sample's outputs do not depend on the other samples of the batch", () => {
    const cfg = preset("tiny");
    const params = randomParams(cfg, 4);
    const two = batch(cfg, 2, 4, 8);
    const L = two.ids.dim(1), V = cfg.lm.vocab, vol = 4 * 32 * 32;
    const one = { volume: new Tensor("f32", [1, 1, 4, 32, 32], two.volume.data.slice(vol, 2 * vol)), ids: new Tensor("i32", [1, L], two.ids.data.slice(L, 2 * L)) };
    for (const be of [ref, wasm]) {
      const a = forward(be, params, cfg, two), b = forward(be, params, cfg, one);
      // Bits on both backends: batch-invariant kernels (a sample's rows never mix with another's)
      assertSameBits(`${be.name} logits of sample 1`, a.logits.data.subarray(L * V), b.logits.data);
      a.trace.forEach((t, i) => {
        expect(t.group.data[1]).toBe(b.trace[i].group.data[0]);
        expect(Array.from(t.topkIdx.data.subarray(t.topkIdx.size / 2))).toEqual(Array.from(b.trace[i].topkIdx.data));
      });
    }
  });

  it("task labels route hard routing, L_task = mean -log pi[label], total = ce + 0.01 mean L_bal + 0.1 mean L_task", () => {
    const cfg = preset("tiny");
    const params = randomParams(cfg, 9);
    const input = batch(cfg, 2, 4, 10);
    const labels = [1, 0];
    const out = forward(ref, params, cfg, { ...input, task: labels });
    expect(out.losses.task.map((t) => t.layer)).toEqual([2, 3]);
    for (const [i, t] of out.trace.entries()) {
      expect(Array.from(t.group.data)).toEqual(labels);
      const want = -(Math.log(t.pi.data[0 * 2 + 1]) + Math.log(t.pi.data[1 * 2 + 0])) / 2;
      assertClose("out.losses.task[i].value", out.losses.task[i].value, want, { atol: 5e-13, rtol: 0 });
    }
    const mean = (xs: { value: number }[]) => xs.reduce((s, x) => s + x.value, 0) / xs.length;
    assertClose("out.losses.total", out.losses.total, out.losses.ce! + 0.01 * mean(out.losses.balance) + 0.1 * mean(out.losses.task), { atol: 5e-13, rtol: 0 });
    // both groups received a sample: one balance term per layer and group
    expect(out.losses.balance.map((b) => `${b.layer}.${b.group}`)).toEqual(["2.0", "2.1", "3.0", "3.1"]);
  });

  it("rejects malformed inputs with typed errors", () => {
    const cfg: ModelConfig = preset("tiny");
    const params = randomParams(cfg, 1);
    const { volume, ids } = batch(cfg, 1, 4, 1);
    expect(() => forward(ref, params, cfg, { volume: volume.reshape([1, 1, 4, 16, 64]), ids })).toThrow(ShapeError);
    expect(() => forward(ref, params, cfg, { volume: new Tensor("f32", [1, 1, 3, 32, 32]), ids })).toThrow(ShapeError); // D % depth_pool
    const fewer = ids.clone();
    fewer.data[2] = 5; // one image token fewer than m
    expect(() => forward(ref, params, cfg, { volume, ids: fewer })).toThrow(ShapeError);
    const noEnd = ids.clone();
    noEnd.data[2 + 8] = 5; // </img> replaced by text
    expect(() => forward(ref, params, cfg, { volume, ids: noEnd })).toThrow(ValueError);
    expect(() => forward(ref, params, cfg, { volume, ids, task: [2] })).toThrow(ValueError);
    expect(() => forward(ref, new Map(), cfg, { volume, ids })).toThrow(/vision\.patch_embed\.weight: missing/);
  });

  it("one volume rule: forward, the generation prefix and generate refuse the same volumes with the same message, naming their op", () => {
    const cfg: ModelConfig = preset("tiny");
    const params = randomParams(cfg, 1);
    const { ids } = batch(cfg, 1, 4, 1);
    const message = (f: () => unknown) => { try { f(); } catch (e) { return (e as Error).message; } return "no error"; };
    for (const bad of [new Tensor("f32", [1, 1, 3, 32, 32]), new Tensor("f32", [1, 2, 4, 32, 32]), new Tensor("i32", [1, 1, 4, 32, 32]) as never, "volume" as never]) {
      const want = message(() => forward(ref, params, cfg, { volume: bad, ids }));
      expect(want).toMatch(/^forward: volume: expected (a Tensor<f32> \[B, 1, D, H, W\], got|\[B, 1, D, 32, 32\] with D a multiple)/);
      expect(message(() => encodePrefix(ref, params, cfg, bad, ids))).toBe(want.replace(/^forward/, "encodePrefix"));
      expect(message(() => checkVolume(cfg, bad, "generate"))).toBe(want.replace(/^forward/, "generate"));
    }
    expect(checkVolume(cfg, new Tensor("f32", [2, 1, 4, 32, 32]), "generate")).toBe(8); // m image tokens
  });
});
