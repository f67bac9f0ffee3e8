/**
 * The ablation switch moe.guidance = "none" (token-level MoE, recipe variant (b)): the config round
 * trip (the spec JSON is unchanged by default), its parameters, its forward (one group, labels
 * ignored, upcycling keeps the dense function) and its backward against finite differences.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/backend.js";
import { fromSpecJson, preset, toSpecJson, withConfig, type ModelConfig } from "../src/model/config.js";
import { forward, type ForwardInput } from "../src/model/model.js";
import { paramSpecs, type Params } from "../src/model/params.js";
import { Tape } from "../src/model/tape.js";
import { upcycle } from "../src/model/upcycle.js";
import { trainableBy } from "../src/train/freeze.js";
import { Grads } from "../src/train/grads.js";
import { lossAndGrads } from "../src/train/model-backward.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { assertClose, assertSameBits } from "./util/close.js";
import { checkParamGrads } from "./util/fd.js";
import { batch, randomParams, smallConfig } from "./util/model.js";
import { check, dataSeed } from "./util/prop.js";

let ref: Backend, wasm: Backend;
beforeAll(async () => {
  [ref, wasm] = await Promise.all([referenceBackend(), wasmBackend()]);
});

const none = (cfg: ModelConfig) => withConfig(cfg, { moe: { guidance: "none" } });

function labelled(cfg: ModelConfig, B: number, seed: number, shift = 0): ForwardInput {
  const D = cfg.vision.depthPatch * cfg.projector.depthPool;
  return { ...batch(cfg, B, D, seed), task: Array.from({ length: B }, (_, b) => (b + shift) % cfg.moe.tasks) };
}

function choices(be: Backend, params: Params, cfg: ModelConfig, input: ForwardInput): { loss: number; key: string } {
  const tape = new Tape();
  const out = forward(be, params, cfg, input, { tape });
  return { loss: out.losses.total, key: tape.entriesOf("route").map((r) => Array.from(r.idx.data).join(",")).join(";") };
}

describe("config", () => {
  it("default: the section 9 JSON has no guidance key and reads back equal; none: written and read back", () => {
    const cfg = preset("small");
    expect(Object.keys(toSpecJson(cfg).moe)).not.toContain("guidance");
    expect(toSpecJson(fromSpecJson(JSON.stringify(toSpecJson(cfg))))).toEqual(toSpecJson(cfg));
    expect(toSpecJson(withConfig(cfg, { moe: { guidance: "text" } })).moe.guidance).toBeUndefined();
    const spec = toSpecJson(none(cfg));
    expect(spec.moe.guidance).toBe("none");
    expect(fromSpecJson(JSON.stringify(spec)).moe.guidance).toBe("none");
    expect(() => fromSpecJson({ ...spec, moe: { ...spec.moe, guidance: "maybe" } })).toThrow(/moe\.guidance/);
  });

  it("parameters: no task gate, no text_proj, one router [E, C] and one group of experts per MoE layer", () => {
    const cfg = none(preset("tiny")), specs = paramSpecs(cfg), { width: C } = cfg.vision, E = cfg.moe.experts;
    const names = [...specs.keys()];
    expect(names.filter((n) => /task_gate|text_proj|router\.1|experts\.1\./.test(n))).toEqual([]);
    for (const l of cfg.vision.moeLayers) {
      expect(specs.get(`vision.blocks.${l}.moe.router.0.weight`)).toEqual([E, C]);
      for (let e = 0; e < E; e++) expect(specs.has(`vision.blocks.${l}.moe.experts.0.${e}.fc1.weight`)).toBe(true);
    }
  });
});

describe("forward", () => {
  it("labels are ignored (same logits bits), pi is 1, every sample in group 0, no task loss", () => {
    const cfg = none(preset("tiny")), params = randomParams(cfg, 3);
    const a = forward(wasm, params, cfg, labelled(cfg, 3, 5, 0)), b = forward(wasm, params, cfg, labelled(cfg, 3, 5, 1));
    assertSameBits("logits", b.logits.data, a.logits.data);
    expect(a.losses.task).toEqual([]);
    expect(a.losses.balance.length).toBe(cfg.vision.moeLayers.length);
    for (const t of a.trace) {
      expect(Array.from(t.pi.data)).toEqual([1, 1, 1]);
      expect(Array.from(t.group.data)).toEqual([0, 0, 0]);
    }
  });

  it("upcycled from a dense model it computes the dense function (a_shared + a_routed = 1, renormalised)", () => {
    check(fc.record({ seed: dataSeed }), ({ seed }) => {
      const cfg = none(preset("tiny")), dense = withConfig(cfg, { vision: { moeLayers: [] } });
      const pd = randomParams(dense, seed), pm = upcycle(pd, cfg, seed + 1);
      const input = labelled(cfg, 2, seed);
      const yd = forward(wasm, pd, dense, input).logits, ym = forward(wasm, pm, cfg, input).logits;
      // the MoE output is 0.5 F(u) + 0.5 sum_k w_k F(u) with sum_k w_k = 1 in float32: a few ulps
      assertClose("upcycled logits", ym, yd, { atol: 1e-4, rtol: 1e-4 });
    }, 4);
  });
});

describe("backward", () => {
  // Tolerance and noise floor as test/backward-model.test.ts: |fd - an| <= 3e-3 max|an| + 1e-2 |an| + 2e-5,
  // 4-point differences at h = 2^-7 on the reference backend; coordinates whose top-k changes are skipped.
  it("every parameter of random small configs with guidance none = finite differences", () => {
    const arb = fc.record({ cfg: smallConfig.filter((c) => c.vision.width >= 4 && c.vision.moeLayers.length > 0), B: fc.integer({ min: 1, max: 2 }), seed: dataSeed });
    let checked = 0, skipped = 0;
    check(arb, ({ cfg: c, B, seed }) => {
      const cfg = none(c), params = randomParams(cfg, seed), input = labelled(cfg, B, seed + 1);
      const grads = new Grads(params, trainableBy({}));
      lossAndGrads(ref, params, cfg, input, grads);
      const n = checkParamGrads(params, grads, () => choices(ref, params, cfg, input), seed);
      checked += n.checked;
      skipped += n.skipped;
    }, 4);
    expect(checked).toBeGreaterThan(40);
    expect(skipped).toBeLessThan(0.1 * (checked + skipped));
  });

  it("wasm gradients = reference gradients (tiny preset), and the same bits run to run", () => {
    // wasm (f32x4, f32 accumulation) against the float64-accumulating reference: atol 2e-5 + rtol 2e-3
    const cfg = none(preset("tiny")), params = randomParams(cfg, 11), input = labelled(cfg, 2, 12);
    const run = (be: Backend) => {
      const g = new Grads(params, trainableBy({}));
      lossAndGrads(be, params, cfg, input, g);
      return g;
    };
    const a = run(wasm), b = run(ref), c = run(wasm);
    for (const name of a.names()) {
      assertClose(name, a.get(name)!, b.get(name)!, { atol: 2e-5, rtol: 2e-3 });
      assertSameBits(name, c.get(name)!.data, a.get(name)!.data);
    }
    expect(a.names().some((n) => n.includes("router.0"))).toBe(true);
  });
});
