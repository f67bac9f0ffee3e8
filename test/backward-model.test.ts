/**
 * The backward of the whole model (src/train/model-backward.ts): every parameter's gradient of the
 * total loss (CE + alpha mean L_bal + beta mean L_task) against finite differences on small random
 * configs (reference backend); wasm gradients against reference ones; freezing (no entry, no wasted
 * backward, the same bits for what still trains); the backward plan; accumulation; determinism.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { Backend } from "../src/backend/backend.js";
import type { Kernels } from "../src/backend/kernels.js";
import { preset, withConfig, type ModelConfig } from "../src/model/config.js";
import { parseSequence } from "../src/model/lm.js";
import { forward, type ForwardInput } from "../src/model/model.js";
import type { Params } from "../src/model/params.js";
import { Tape } from "../src/model/tape.js";
import { stageSpec, trainableBy, type FreezeSpec } from "../src/train/freeze.js";
import { Grads } from "../src/train/grads.js";
import { backwardPlan, lossAndGrads } from "../src/train/model-backward.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { assertClose, shaped, assertSameBits } from "./util/close.js";
import { checkParamGrads } from "./util/fd.js";
import { batch, randomParams, smallConfig } from "./util/model.js";
import { check, dataSeed } from "./util/prop.js";

let ref: Backend, wasm: Backend;
beforeAll(async () => {
  [ref, wasm] = await Promise.all([referenceBackend(), wasmBackend()]);
});

/** A batch with task labels (hard routing follows them; the task loss is on). */
function labelled(cfg: ModelConfig, B: number, slices: number, seed: number): ForwardInput {
  const D = slices * cfg.vision.depthPatch * cfg.projector.depthPool;
  return { ...batch(cfg, B, D, seed), task: Array.from({ length: B }, (_, b) => (b + seed) % cfg.moe.tasks) };
}

function gradsOf(be: Backend, params: Params, cfg: ModelConfig, input: ForwardInput, spec: FreezeSpec = {}): Grads {
  const grads = new Grads(params, trainableBy(spec));
  lossAndGrads(be, params, cfg, input, grads);
  return grads;
}

/** Every top-k choice of a forward (all groups, soft routing included) and the groups. */
function choices(be: Backend, params: Params, cfg: ModelConfig, input: ForwardInput): { loss: number; key: string } {
  const tape = new Tape();
  const out = forward(be, params, cfg, input, { tape });
  const key = tape.entriesOf("route").map((r) => Array.from(r.idx.data).join(",")).join(";") + "|" + out.trace.map((t) => Array.from(t.group.data).join(",")).join(";");
  return { loss: out.losses.total, key };
}

describe("whole-model gradients = finite differences (reference backend)", () => {
  // Tolerance as in test/backward-layers.test.ts (4-point differences, h = 2^-7, of the float64 total
  // loss), with a noise floor of 2e-5: the whole model's loss (~log V) moves ~1e-7 per float32
  // rounding, so tiny gradients are checked by the layer tests instead. |fd - an| <= 3e-3 max|an of
  // the tensor| + 1e-2 |an| + 2e-5; coordinates whose top-k choices change in the stencil are skipped.
  // Measured: 1105 coordinates checked, 3 skipped, the worst at 29% of its tolerance.
  it("every parameter of random small configs (every switch of the spec), with labels and both losses", () => {
    const arb = fc.record({ cfg: smallConfig.filter((c) => c.vision.width >= 4), B: fc.integer({ min: 1, max: 2 }), seed: dataSeed });
    let checked = 0, skipped = 0;
    check(arb, ({ cfg, B, seed }) => {
      const params = randomParams(cfg, seed);
      const input = labelled(cfg, B, 1, seed + 1);
      const grads = gradsOf(ref, params, cfg, input);
      // the embedding table: also a coordinate in the row of a prompt token (the text-guidance path)
      const seq = parseSequence(input.ids, cfg.tokens);
      const promptRow = input.ids.data[seq.promptMask.data.indexOf(1)];
      const n = checkParamGrads(params, grads, () => choices(ref, params, cfg, input), seed, (name) => (name === "lm.embed.weight" ? [promptRow * cfg.lm.width] : []));
      checked += n.checked;
      skipped += n.skipped;
    }, 6);
    expect(skipped, `skipped for a top-k change, of ${checked + skipped}`).toBeLessThan(0.1 * (checked + skipped));
  });
});

describe("wasm gradients against the reference", () => {
  /** Per tensor: |wasm - ref| <= 2e-4 max|ref of the tensor| + 1e-4 |ref| + 1e-9. */
  function assertGradsClose(a: Grads, b: Grads): void {
    expect(a.names()).toEqual(b.names());
    for (const name of b.names()) {
      const r = b.get(name)!.data;
      const scale = r.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assertClose(`d${name}`, a.get(name)!, shaped(b.get(name)!.shape, r), { atol: 2e-4 * scale + 1e-9, rtol: 1e-4 });
    }
  }

  // Float32 sums (wasm) against float64 ones (reference) through the whole backward; a gradient is
  // a sum over every token, so its error is relative to the tensor's largest entry. Measured worst:
  // 4.4e-6 of max|ref| (tiny), 1.6e-5 over the random configs: >10x margin.
  it("tiny preset (GQA, MoE in both volume blocks, tied head): every gradient", () => {
    const cfg = preset("tiny");
    const params = randomParams(cfg, 3, 0.05);
    const input = labelled(cfg, 2, 1, 4);
    assertGradsClose(gradsOf(wasm, params, cfg, input), gradsOf(ref, params, cfg, input));
  });

  it("random small configs: every gradient", () => {
    check(fc.record({ cfg: smallConfig, B: fc.integer({ min: 1, max: 2 }), seed: dataSeed }), ({ cfg, B, seed }) => {
      const params = randomParams(cfg, seed, 0.05);
      const input = labelled(cfg, B, 1, seed + 1);
      if (choices(wasm, params, cfg, input).key !== choices(ref, params, cfg, input).key) return; // a near-tie routed differently
      assertGradsClose(gradsOf(wasm, params, cfg, input), gradsOf(ref, params, cfg, input));
    }, 15);
  });

  it("the same inputs give the same gradient bits on every run (wasm)", () => {
    const cfg = preset("tiny");
    const params = randomParams(cfg, 5, 0.05);
    const input = labelled(cfg, 2, 1, 6);
    const a = gradsOf(wasm, params, cfg, input), b = gradsOf(wasm, params, cfg, input);
    for (const name of a.names()) assertSameBits(`d${name}`, a.get(name)!.data, b.get(name)!.data);
  });
});

/** A Backend whose kernels count their calls. */
function countingBackend(base: Backend): { be: Backend; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const k = base.kernels as unknown as Record<string, unknown>;
  const wrapped: Record<string, unknown> = { name: base.kernels.name };
  for (const [name, fn] of Object.entries(k)) {
    if (typeof fn !== "function") continue;
    wrapped[name] = (...args: unknown[]) => {
      calls.set(name, (calls.get(name) ?? 0) + 1);
      return (fn as (...a: unknown[]) => unknown)(...args);
    };
  }
  return { be: new Backend(wrapped as unknown as Kernels), calls };
}

describe("freezing", () => {
  const cfg = preset("tiny");
  const names = (g: Grads) => g.names();

  it("stage 1 (slice blocks and embedding frozen): no entry for them, the backward stops at the first volume block, the rest bit-identical", () => {
    const params = randomParams(cfg, 7, 0.05);
    const input = labelled(cfg, 2, 1, 8);
    const all = gradsOf(wasm, params, cfg, input);
    const { be, calls } = countingBackend(wasm);
    const s1 = gradsOf(be, params, cfg, input, stageSpec(cfg, 1));
    const frozen = (n: string) => /^vision\.(patch_embed|class_embed|pos_embed|pre_norm|blocks\.[01]\.)/.test(n);
    expect(names(s1)).toEqual(names(all).filter((n) => !frozen(n)));
    for (const n of names(s1)) assertSameBits(`d${n}`, s1.get(n)!.data, all.get(n)!.data);
    // attention backward: 2 LM blocks + 2 volume blocks; no patch embedding gradient at all
    expect(calls.get("attentionBackward")).toBe(cfg.lm.layers + cfg.vision.volumeLayers);
    expect(calls.get("patchEmbedBackward") ?? 0).toBe(0);
  });

  it("stage 2 (routed experts, routers, task gates, text_proj, projector, LM): only those get entries; the backward ends at the lowest MoE block", () => {
    const params = randomParams(cfg, 9, 0.05);
    const input = labelled(cfg, 2, 1, 10);
    const all = gradsOf(wasm, params, cfg, input);
    const { be, calls } = countingBackend(wasm);
    const s2 = gradsOf(be, params, cfg, input, stageSpec(cfg, 2));
    expect(s2.names().length).toBeGreaterThan(0);
    for (const n of s2.names()) {
      expect(n).toMatch(/^(vision\.blocks\.\d+\.moe\.(experts|router|task_gate)\.|moe\.text_proj\.|projector\.|lm\.)/);
      assertSameBits(`d${n}`, s2.get(n)!.data, all.get(n)!.data);
    }
    expect(s2.names()).toContain("moe.text_proj.weight");
    expect(s2.names()).toContain("projector.fc1.weight");
    expect(s2.names()).toContain("lm.blocks.0.attn.q.weight");
    expect(s2.names().some((n) => n.includes(".shared."))).toBe(false);
    // block 3's attention carries dg's path down to block 2's MoE; block 2's attention is not needed
    expect(calls.get("attentionBackward")).toBe(cfg.lm.layers + 1);
    expect(calls.get("patchEmbedBackward") ?? 0).toBe(0);
  });

  it("glob patterns: [0-1] classes, * across dots, ? one character, train lists", () => {
    const t = trainableBy({ freeze: ["vision.blocks.[0-1].*", "*.bias", "lm.blocks.?.norm?.weight"] });
    expect(t("vision.blocks.1.ln1.weight")).toBe(false);
    expect(t("vision.blocks.2.ln1.weight")).toBe(true);
    expect(t("vision.blocks.12.ln1.weight")).toBe(true);
    expect(t("projector.fc1.bias")).toBe(false);
    expect(t("lm.blocks.0.norm2.weight")).toBe(false);
    expect(t("lm.blocks.0.mlp.up.weight")).toBe(true);
    const only = trainableBy({ train: ["moe.*", "*.router.*"], freeze: ["*.router.1.*"] });
    expect(["moe.text_proj.weight", "vision.blocks.2.moe.router.0.weight", "vision.blocks.2.moe.router.1.weight", "lm.norm.weight"].map(only)).toEqual([true, true, false, false]);
    expect(trainableBy({ freeze: ["vision.pos_embed"] })("vision.pos_embedx")).toBe(true);
  });

  it("the plan: which blocks run and which input gradients are formed", () => {
    const v = cfg.vision;
    const plan = (spec: FreezeSpec) => backwardPlan(cfg, new Grads(randomParams(cfg, 1), trainableBy(spec)));
    expect(plan({})).toMatchObject({ embed: true, g: true, runBlock: [true, true, true, true], blockInput: [true, true, true, true], lmInput: true });
    expect(plan(stageSpec(cfg, 1))).toMatchObject({ embed: false, runBlock: [false, false, true, true], blockInput: [false, false, false, true] });
    expect(plan(stageSpec(cfg, 2))).toMatchObject({ g: true, runBlock: [false, false, true, true], blockInput: [false, false, false, true] });
    // the embedding table reaches the loss through the prompt mean -> text_proj -> g -> MoE blocks too
    expect(plan({ freeze: ["vision.*", "moe.*", "projector.*"] })).toMatchObject({ g: true, runBlock: [false, false, true, true], blockInput: [false, false, false, true] });
    expect(plan({ freeze: ["vision.*", "moe.*", "projector.*", "lm.embed.weight"] })).toMatchObject({ g: false, runBlock: [false, false, false, false], projectorInput: false, lmInput: false });
    expect(plan({ train: ["lm.norm.weight"] })).toMatchObject({ lmInput: false, g: false });
    expect(v.layers).toBe(4);
  });
});

describe("accumulation", () => {
  it("two micro-batches at scale 1/2 accumulate to the mean of their gradients", () => {
    const cfg = withConfig(preset("tiny"), { lm: { layers: 1 } });
    const params = randomParams(cfg, 11, 0.05);
    const a = labelled(cfg, 1, 1, 12), b = labelled(cfg, 1, 1, 13);
    const acc = new Grads(params, () => true);
    lossAndGrads(wasm, params, cfg, a, acc, { scale: 0.5 });
    lossAndGrads(wasm, params, cfg, b, acc, { scale: 0.5 });
    const ga = gradsOf(wasm, params, cfg, a), gb = gradsOf(wasm, params, cfg, b);
    for (const name of acc.names()) {
      const x = ga.get(name)?.data, y = gb.get(name)?.data;
      const want = Float64Array.from(acc.get(name)!.data, (_, i) => ((x?.[i] ?? 0) + (y?.[i] ?? 0)) / 2);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      // the same float32 terms added in another order: a few ulp of the largest entry
      assertClose(`d${name}`, acc.get(name)!, shaped(acc.get(name)!.shape, want), { atol: 1e-5 * scale + 1e-12, rtol: 1e-5 });
    }
  });
});
