/**
 * The training recipe (src/recipe/) end to end on the tiny preset, in seconds: stage 0 -> transfer ->
 * stage 1 -> upcycle -> stage 2; the loss falls, frozen parameters keep their bits per stage, stage 2
 * starts at the dense function, a run resumed mid-stage or at a stage boundary equals an
 * uninterrupted one (and a repeated run gives the same bits), the variants' plans, and evaluation
 * of a tiny checkpoint (every metric in [0, 1], routing shares summing to 1). CLI in recipe-cli.test.ts.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { loadModel, makeCheckpoint } from "../src/api.js";
import type { Backend } from "../src/backend/backend.js";
import { forward } from "../src/model/model.js";
import { initParams, type Params } from "../src/model/params.js";
import { evaluate } from "../src/recipe/evaluate.js";
import { parseChoice } from "../src/eval/metrics.js";
import { answerTarget, FOCUS_TEMPLATES, focusExamples, mixedExamples, mirrorText, mirrorVolume, sliceExamples, taskExamples, trainingSequence } from "../src/recipe/data.js";
import { formatAnswer, formatQuestion, OPEN } from "../src/data/index.js";
import { imageTokens } from "../src/model/projector.js";
import { checkRecipe } from "../src/recipe/check.js";
import { canonicalRecipe, defaultRecipe, phaseExamples, phaseSettings, phaseTrainer, prepareData, runRecipe, type RecipeData, type RecipeOptions } from "../src/recipe/recipe.js";
import { advance, phaseConfig, phaseFreeze, phaseWarmFreeze, phasesOf, type PhaseName } from "../src/recipe/stages.js";
import { checkpointBytes, parseCheckpoint, trainerState, type CheckpointState } from "../src/train/checkpoint.js";
import { trainableBy } from "../src/train/freeze.js";
import { collate } from "../src/train/trainer.js";
import { wasmBackend } from "./util/backends.js";
import { assertSameBits, assertClose } from "./util/close.js";

let be: Backend, d: RecipeData;
const base: RecipeOptions = {
  ...defaultRecipe("tiny", 7), studies: 3, sliceQuestions: false, // the caption-only stage 0 these loss checks were sized for
  stages: { stage0: { steps: 12, batch: 6, peak: 3e-3 }, stage1: { steps: 6, batch: 3, peak: 2e-3 }, stage2: { steps: 5, batch: 3, peak: 2e-3 } },
};
/** Two updates per stage: for the tests that check plans and shapes, not learning. */
const quick: RecipeOptions = {
  ...base, stages: { stage0: { ...base.stages.stage0, steps: 2 }, stage1: { ...base.stages.stage1, steps: 2 }, stage2: { ...base.stages.stage2, steps: 2 } },
};
beforeAll(async () => {
  be = await wasmBackend();
  d = prepareData(base);
});

const clone = (p: Params): Params => new Map([...p].map(([k, t]) => [k, t.clone()]));
function sameParams(what: string, a: Params, b: Params, names: Iterable<string>): void {
  for (const n of names) assertSameBits(`${what}: ${n}`, a.get(n)!.data, b.get(n)!.data);
}

/** A run that keeps each phase's final parameters (copies) and every step's loss. */
async function recorded(o: RecipeOptions, resume?: CheckpointState) {
  const ends = new Map<PhaseName, Params>(), losses = new Map<PhaseName, number[]>();
  const out = await runRecipe(be, d, o, {
    onStep: (phase, r) => losses.set(phase, [...(losses.get(phase) ?? []), r.ce!]),
    onPhaseEnd: (phase, t) => void ends.set(phase, clone(t.params)),
  }, resume);
  return { out: out!, ends, losses };
}

describe("the tgh recipe on the tiny preset", () => {
  let run: Awaited<ReturnType<typeof recorded>>;
  beforeAll(async () => {
    run = await recorded(base);
  });

  it("the tokenizer fits the config; the loss falls in every stage (mean of the last 3 updates below the first 3)", () => {
    expect(d.cfg.lm.vocab).toBe(d.tok.vocabSize);
    expect(d.tok.specialId("<eos>")).toBe(d.cfg.tokens.eos);
    for (const phase of ["stage0", "stage1"] as const) {
      const l = run.losses.get(phase)!, mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
      expect(mean(l.slice(-3)), `${phase}: ${l.map((x) => x.toFixed(3)).join(" ")}`).toBeLessThan(mean(l.slice(0, 3)));
    }
    expect(run.losses.get("stage2")!.length).toBe(5);
    expect(run.out.cfg.vision.moeLayers).toEqual([2, 3]);
  });

  it("frozen parameters keep their bits: stage 1 (slice blocks, patch embedding), stage 2 (shared experts and the rest of the encoder)", () => {
    const s0 = run.ends.get("stage0")!, s1 = run.ends.get("stage1")!, s2 = run.ends.get("stage2")!;
    const frozen1 = [...s1.keys()].filter((n) => !trainableBy(phaseFreeze(phaseConfig(d.cfg, "stage1", "tgh"), "stage1"))(n));
    expect(frozen1).toContain("vision.patch_embed.weight");
    expect(frozen1).toContain("vision.blocks.0.attn.qkv.weight");
    sameParams("stage 1 frozen", s1, s0, frozen1);
    const cfg2 = phaseConfig(d.cfg, "stage2", "tgh"), trains2 = trainableBy(phaseFreeze(cfg2, "stage2"));
    const frozen2 = [...s2.keys()].filter((n) => !trains2(n));
    const start2 = advance(s1, d.cfg, "stage1", "stage2", "tgh", base.seed);
    sameParams("stage 2 frozen", s2, start2, frozen2);
    // the shared experts are the stage 1 MLPs, still
    assertSameBits("shared expert", s2.get("vision.blocks.3.moe.shared.0.fc1.weight")!.data, s1.get("vision.blocks.3.mlp.fc1.weight")!.data);
    // and what trains did move
    expect(Array.from(s2.get("vision.blocks.3.moe.router.0.weight")!.data)).not.toEqual(Array.from(start2.get("vision.blocks.3.moe.router.0.weight")!.data));
    expect(Array.from(s1.get("vision.blocks.3.attn.qkv.weight")!.data)).not.toEqual(Array.from(s0.get("vision.blocks.3.attn.qkv.weight")!.data));
  });

  it("stage 2 starts at the dense function: on the same batch its first CE equals stage 1's last (upcycling invariant)", () => {
    // 0.5 F(u) + 0.5 (w1 F(u) + w2 F(u)) with w1 + w2 = 1 in float32: equal within a few ulps per
    // block, so the CE (~3) agrees to 1e-5 relative; the total adds 0.01 mean L_bal + 0.1 mean L_task.
    const s1 = run.ends.get("stage1")!, start2 = advance(s1, d.cfg, "stage1", "stage2", "tgh", base.seed);
    const batch = collate(phaseExamples(d, base, "stage1").slice(0, 4), d.cfg.tokens.pad);
    const dense = forward(be, s1, phaseConfig(d.cfg, "stage1", "tgh"), batch).losses;
    const moe = forward(be, start2, phaseConfig(d.cfg, "stage2", "tgh"), batch).losses;
    assertClose("upcycled CE = dense CE", moe.ce, dense.ce!, { atol: 0, rtol: 1e-5 });
    expect(moe.task.length).toBe(2);
    expect(moe.total).toBeGreaterThan(moe.ce!);
  });

  it("the same options give the same bits (a second run)", async () => {
    const again = await recorded(base);
    sameParams("run to run", again.out.params, run.out.params, run.out.params.keys());
  });

  it("resumed mid-stage (stage 1, update 3) and at a stage boundary (end of stage 0) = uninterrupted, bit for bit", async () => {
    let saved: Uint8Array | null = null;
    const stopped = await runRecipe(be, d, base, {
      periodic: { every: 3, run: (phase, t) => void (phase === "stage1" && (saved = checkpointBytes(trainerState(t, d.tok.serialize())))) },
      stopAt: { phase: "stage1", step: 4 },
    });
    expect(stopped).toBeNull();
    const mid = await recorded(base, parseCheckpoint(saved!));
    sameParams("resumed mid stage 1", mid.out.params, run.out.params, run.out.params.keys());
    let boundary: Uint8Array | null = null;
    await runRecipe(be, d, base, { onPhaseEnd: (phase, t) => void (phase === "stage0" && (boundary = checkpointBytes(trainerState(t, null)))), stopAt: { phase: "stage1", step: 0 } });
    const fromBoundary = await recorded(base, parseCheckpoint(boundary!));
    sameParams("resumed at the stage 0 checkpoint", fromBoundary.out.params, run.out.params, run.out.params.keys());
  });
});

describe("warm-up freezes (stage 0: the encoder; stage 1: the volume blocks)", () => {
  it("stage 0: the language model alone trains for visionWarmup updates; 0 turns it off", () => {
    const w = phaseWarmFreeze("stage0", { visionWarmup: 150, volumeWarmup: 70 })!;
    expect(w.steps).toBe(150);
    const trains = trainableBy(w.freeze);
    expect(["lm.embed.weight", "lm.blocks.0.attn.q.weight"].every(trains)).toBe(true);
    expect(["vision.patch_embed.weight", "vision.blocks.0.mlp.fc1.weight", "projector.fc1.weight"].some(trains)).toBe(false);
    expect(phaseWarmFreeze("stage2", { visionWarmup: 150, volumeWarmup: 150 })).toBeNull();
    expect(phaseWarmFreeze("stage0", { visionWarmup: 0, volumeWarmup: 150 })).toBeNull();
    expect(phaseWarmFreeze("stage0", { visionWarmup: 300, visionRamp: 200 })!.ramp).toBe(200);
  });
  it("stage 1 and stage 1+2: the language model alone trains for volumeWarmup updates, then the rest joins over volumeRamp", () => {
    for (const phase of ["stage1", "stage12"] as const) {
      const w = phaseWarmFreeze(phase, { visionWarmup: 300, visionRamp: 200, volumeWarmup: 100, volumeRamp: 50 })!;
      expect([w.steps, w.ramp]).toEqual([100, 50]);
      const trains = trainableBy(w.freeze);
      expect(["lm.embed.weight", "lm.blocks.3.mlp.down.weight"].every(trains)).toBe(true);
      expect(["vision.blocks.5.attn.qkv.weight", "projector.fc1.weight", "projector.fc2.bias"].some(trains)).toBe(false);
      expect(phaseWarmFreeze(phase, { visionWarmup: 300 })).toBeNull();
    }
  });
  it("stage 1 and stage 1+2 with alignWarmup: the language model is held and the volume blocks and projector train, then it joins over alignRamp", () => {
    for (const phase of ["stage1", "stage12"] as const) {
      const w = phaseWarmFreeze(phase, { visionWarmup: 300, alignWarmup: 80, alignRamp: 40 })!;
      expect([w.steps, w.ramp]).toEqual([80, 40]);
      const trains = trainableBy(w.freeze);
      expect(["lm.embed.weight", "lm.blocks.3.mlp.down.weight", "lm.norm.weight"].some(trains)).toBe(false);
      expect(["vision.blocks.5.attn.qkv.weight", "projector.fc1.weight", "projector.fc2.bias"].every(trains)).toBe(true);
    }
    expect(phaseWarmFreeze("stage0", { visionWarmup: 0, alignWarmup: 80 })).toBeNull();
    expect(phaseWarmFreeze("stage2", { alignWarmup: 80 })).toBeNull();
    expect(() => checkRecipe({ ...defaultRecipe("tiny", 0), volumeWarmup: 10, alignWarmup: 10 })).toThrow(/at most one of the two stage 1 warm-ups/);
  });

  it("canonicalRecipe leaves the switches that are off out (a run made before them stores the same bytes) and keeps the key order", () => {
    const before = ["preset", "seed", "dataSeed", "studies", "variant", "stages", "reportRepeat", "answerCap", "findingSliceRepeat", "warmup", "vocab"];
    expect(Object.keys(canonicalRecipe({ ...defaultRecipe("small", 0), visionWarmup: 0, mirror: false, sliceQuestions: false }))).toEqual(before);
    const on = defaultRecipe("small", 0);
    expect(on.visionWarmup).toBe(300);
    expect(on.mirror).toBe(true);
    expect(JSON.stringify(canonicalRecipe(on))).toBe(JSON.stringify(on));
    expect(on.sliceQuestions).toBe(true);
    expect(Object.keys(canonicalRecipe(on))).toEqual([...before.slice(0, 9), "visionWarmup", "visionRamp", "mirror", "sliceQuestions", ...before.slice(9)]);
    expect(Object.keys(canonicalRecipe({ ...on, visionWarmup: 0 }))).not.toContain("visionRamp"); // no ramp without a warm-up
  });
});

describe("stage settings: lmScale and accum", () => {
  it("stage 2 with lmScale 0 keeps the language model and projector while the experts, routers and task gates learn; canonicalRecipe leaves 1 out", () => {
    const o: RecipeOptions = { ...quick, stages: { ...quick.stages, stage2: { ...quick.stages.stage2, lmScale: 0 } } };
    const params = advance(initParams(phaseConfig(d.cfg, "stage1", "tgh"), 3), d.cfg, "stage1", "stage2", "tgh", 3);
    const before = clone(params);
    const t = phaseTrainer(be, d, o, "stage2", params);
    const data = phaseExamples(d, o, "stage2");
    for (let k = 0; k < 2; k++) t.trainStep(data);
    const names = [...params.keys()];
    sameParams("lmScale 0", params, before, names.filter((n) => n.startsWith("lm.") || n.startsWith("projector.")));
    const moved = names.filter((n) => /moe\.(experts|router|task_gate)|text_proj/.test(n) && params.get(n)!.data.some((x, i) => x !== before.get(n)!.data[i]));
    expect(moved.length).toBeGreaterThan(0);
    expect(canonicalRecipe({ ...o, stages: { ...o.stages, stage2: { ...o.stages.stage2, lmScale: 1, accum: 1 } } }).stages.stage2).toEqual(quick.stages.stage2);
  });
  it("checkRecipe: accum must divide the batch, perVolume the micro-batch, lmScale in [0, 1]", () => {
    const s1 = quick.stages.stage1;
    expect(() => checkRecipe({ ...quick, stages: { ...quick.stages, stage1: { ...s1, batch: 4, accum: 3 } } })).toThrow("stage1: accum: expected an integer >= 1 dividing the batch 4, got 3");
    expect(() => checkRecipe({ ...quick, stages: { ...quick.stages, stage1: { ...s1, batch: 8, accum: 2, perVolume: 8 } } })).toThrow("perVolume: expected an integer >= 1 dividing the micro-batch");
    expect(() => checkRecipe({ ...quick, stages: { ...quick.stages, stage2: { ...quick.stages.stage2, lmScale: 1.5 } } })).toThrow("stage2: lmScale: expected a number in [0, 1], got 1.5");
    expect(() => checkRecipe({ ...quick, stages: { ...quick.stages, stage1: { ...s1, batch: 8, accum: 2, perVolume: 4 } } })).not.toThrow();
  });
});

describe("stage 1's focus warm-up", () => {
  it("focus examples: exactly the open questions of the six templates the 2D model answers, each answer of a template as often as its most frequent one", () => {
    const cfg3d = phaseConfig(d.cfg, "stage1", "tgh"), m = imageTokens(cfg3d, d.pool[0].volume.dim(1));
    const ex = focusExamples(d.pool, cfg3d, d.tok, false);
    const asked = d.pool.flatMap((p) => p.study.questions.filter((q) => q.kind === "open" && FOCUS_TEMPLATES.includes(q.template)).map((q) => ({ q, volume: p.volume })));
    expect(asked.length).toBeGreaterThan(0);
    // every example is one of them (its volume and its sequence), and every one of them appears
    const key = (v: unknown, ids: readonly number[]) => `${d.pool.findIndex((p) => p.volume === v)}|${ids.join(",")}`;
    const want = new Map(asked.map(({ q, volume }) => [key(volume, trainingSequence(cfg3d, d.tok, m, formatQuestion(q), formatAnswer(q))), q]));
    const seen = new Map<string, number>();
    for (const x of ex) {
      const k = key(x.volume, x.ids);
      expect(want.has(k), "an example that is not a focus question").toBe(true);
      expect(x.task).toBe(1);
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    expect(seen.size).toBe(want.size);
    // per template: the answer counts after repetition are each within a factor 1.5 of the largest (round(nmax / n) copies)
    for (const t of FOCUS_TEMPLATES) {
      const counts = new Map<string, number>();
      for (const [k, q] of want) if (q.template === t) counts.set(q.answerText, (counts.get(q.answerText) ?? 0) + seen.get(k)!);
      const c = [...counts.values()];
      if (c.length > 1) expect(Math.max(...c) / Math.min(...c)).toBeLessThanOrEqual(1.5);
    }
    expect(focusExamples(d.pool, cfg3d, d.tok, true).length).toBe(2 * ex.length);
    // sideRepeat: each side question's examples 3 times as many, every other example as before
    const tripled = focusExamples(d.pool, cfg3d, d.tok, false, 3), count = (xs: typeof ex) => {
      const c = new Map<string, number>();
      for (const x of xs) c.set(key(x.volume, x.ids), (c.get(key(x.volume, x.ids)) ?? 0) + 1);
      return c;
    };
    const c1 = count(ex), c3 = count(tripled);
    expect([...c3.keys()].sort()).toEqual([...c1.keys()].sort());
    let sides = 0;
    for (const [k, q] of want) {
      const side = q.template === "effusion-side" || q.template === "nodule-side";
      sides += side ? 1 : 0;
      expect(c3.get(k), `${q.template}: ${k}`).toBe(c1.get(k)! * (side ? 3 : 1));
    }
    expect(sides).toBeGreaterThan(0);
  });

  it("phaseExamples: stage 1 and stage 1+2 draw the focus examples for their first focusWarmup updates, then the task examples; stage 0 and stage 2 never", () => {
    const dd: RecipeData = { ...d, examples: new Map() }, o = { ...quick, focusWarmup: 3 };
    const focus = phaseExamples(dd, o, "stage1", 0), tasks = phaseExamples(dd, o, "stage1", 3);
    expect(focus).not.toBe(tasks);
    expect(phaseExamples(dd, o, "stage1", 2)).toBe(focus);
    expect(phaseExamples(dd, o, "stage12", 0)).toBe(focus);
    expect(phaseExamples(dd, o, "stage2", 0)).toBe(tasks);
    expect(phaseExamples(dd, o, "stage1")).toBe(tasks); // no step: the phase's main examples
    expect(phaseExamples(dd, quick, "stage1", 0)).toBe(tasks);
    expect(focus.every((x) => x.task === 1)).toBe(true);
    const mixed = phaseExamples(dd, { ...o, focusShare: 0.5 }, "stage1", 3);
    expect(phaseExamples(dd, { ...o, focusShare: 0.5 }, "stage2", 0)).toBe(mixed);
    expect(mixed.slice(0, tasks.length)).toEqual(tasks);
    expect(new Set(mixed.slice(tasks.length))).toEqual(new Set(focus));
    // stage 2 with its own share: the task examples (0) or its own mix; stage 1 keeps focusShare
    const own = { ...o, focusShare: 0.5, stage2FocusShare: 0 };
    expect(phaseExamples(dd, own, "stage1", 3)).toBe(mixed);
    expect(phaseExamples(dd, own, "stage2", 0)).toBe(tasks);
    const quarter = phaseExamples(dd, { ...own, stage2FocusShare: 0.25 }, "stage2", 0);
    expect(quarter.length).toBeLessThan(mixed.length);
    expect(quarter.slice(0, tasks.length)).toEqual(tasks);
    expect(canonicalRecipe(own).stage2FocusShare).toBe(0);
    expect(Object.keys(canonicalRecipe({ ...own, stage2FocusShare: 0.5 }))).not.toContain("stage2FocusShare");
    expect(() => checkRecipe({ ...quick, stage2FocusShare: 1 })).toThrow(/stage2FocusShare: expected a number in \[0, 1\), got 1/);
    // stage 2's share over some focus templates: the same task examples, then only those templates' focus examples; stage 1 keeps all
    const some = { ...own, stage2FocusShare: 0.25, stage2Focus: ["nodule-present", "effusion-present"] };
    const narrow = phaseExamples(dd, some, "stage2", 0), cfgFocus = phaseConfig(d.cfg, "stage1", "tgh");
    const only = focusExamples(d.pool, cfgFocus, d.tok, o.mirror ?? false, 1, ["effusion-present", "nodule-present"]);
    expect(only.length).toBeGreaterThan(0);
    expect(only.length).toBeLessThan(focus.length);
    expect(narrow.slice(0, tasks.length)).toEqual(tasks);
    expect(new Set(narrow.slice(tasks.length).map((x) => x.ids.join(",")))).toEqual(new Set(only.map((x) => x.ids.join(","))));
    expect(phaseExamples(dd, some, "stage1", 3)).toBe(mixed);
    expect(phaseExamples(dd, { ...some, stage2Focus: [...FOCUS_TEMPLATES].reverse() }, "stage2", 0)).toBe(quarter); // every template: the plain share
    expect(canonicalRecipe(some).stage2Focus).toEqual(["effusion-present", "nodule-present"]);
    expect(Object.keys(canonicalRecipe({ ...some, stage2Focus: [...FOCUS_TEMPLATES] }))).not.toContain("stage2Focus");
    expect(() => checkRecipe({ ...quick, stage2Focus: [] })).toThrow(/stage2Focus: expected distinct templates/);
    expect(() => checkRecipe({ ...quick, stage2Focus: ["contrast", "contrast"] })).toThrow(/got \["contrast","contrast"\]/);
    // stage 2 with its own answer cap: its own task examples (fewer copies of rare answers), stage 1 unchanged
    const capped = { ...quick, stage2AnswerCap: 1 };
    expect(phaseExamples(dd, capped, "stage1", 3)).toBe(tasks);
    const plain = phaseExamples(dd, capped, "stage2", 0);
    expect(plain.length).toBeLessThan(tasks.length);
    expect(plain).toEqual(taskExamples(d.pool, phaseConfig(d.cfg, "stage1", "tgh"), d.tok, quick.reportRepeat, 1, quick.mirror ?? false));
    expect(canonicalRecipe(capped).stage2AnswerCap).toBe(1);
    expect(Object.keys(canonicalRecipe({ ...capped, stage2AnswerCap: quick.answerCap }))).not.toContain("stage2AnswerCap");
    expect(() => checkRecipe({ ...quick, stage2AnswerCap: 0 })).toThrow(/stage2AnswerCap: expected an integer >= 1, got 0/);
    // stage 2 with the focus questions balanced and the others not: the focus questions' copies as with cap 4, the others' as with cap 1
    const cfg3d = phaseConfig(d.cfg, "stage1", "tgh");
    const split = phaseExamples(dd, { ...capped, stage2FocusCap: quick.answerCap }, "stage2", 0);
    const count = (xs: readonly { ids: readonly number[] }[]) => { const m = new Map<string, number>(); for (const x of xs) m.set(x.ids.join(","), (m.get(x.ids.join(",")) ?? 0) + 1); return m; };
    const c4 = count(tasks), c1 = count(plain), cs = count(split);
    const focusIds = new Set(focusExamples(d.pool, cfg3d, d.tok, quick.mirror ?? false).map((x) => x.ids.join(",")));
    let differs = 0;
    for (const [k, n] of cs) {
      expect(n).toBe(focusIds.has(k) ? c4.get(k) : c1.get(k));
      if (c4.get(k) !== c1.get(k)) differs++;
    }
    expect(differs).toBeGreaterThan(0);
    expect(canonicalRecipe({ ...capped, stage2FocusCap: 1 })).not.toHaveProperty("stage2FocusCap");
    expect(canonicalRecipe(o).focusWarmup).toBe(3);
    expect(Object.keys(canonicalRecipe({ ...o, focusWarmup: 0 }))).not.toContain("focusWarmup");
  });

  it("phaseExamples: with sideWarmup, the updates after the focus warm-up draw the focus examples' side questions alone, then the phase's usual examples", () => {
    const dd: RecipeData = { ...d, examples: new Map() }, o = { ...quick, focusWarmup: 3, sideWarmup: 2, focusSideRepeat: 4 };
    const focus = phaseExamples(dd, o, "stage1", 0), sides = phaseExamples(dd, o, "stage1", 3), tasks = phaseExamples(dd, o, "stage1", 5);
    expect(phaseExamples(dd, o, "stage1", 2)).toBe(focus);
    expect(phaseExamples(dd, o, "stage1", 4)).toBe(sides);
    expect(phaseExamples(dd, o, "stage12", 4)).toBe(sides);
    expect(phaseExamples(dd, o, "stage2", 3)).toBe(tasks);
    expect(phaseExamples(dd, o, "stage1")).toBe(tasks);
    expect(phaseExamples(dd, { ...o, focusWarmup: 0 }, "stage1", 1)).toBe(sides); // without a focus warm-up the side updates come first
    // the side examples: every side question of the focus examples, with the focus examples' answer balancing, once (not focusSideRepeat times)
    const cfg3d = phaseConfig(d.cfg, "stage1", "tgh"), text = (ids: readonly number[]) => d.tok.decode([...ids], { skipSpecials: true });
    const isSide = (ids: readonly number[]) => [OPEN.effusionSide, OPEN.noduleSide].some((q) => text(ids).startsWith(q));
    const want = focusExamples(d.pool, cfg3d, d.tok, quick.mirror ?? false).filter((x) => isSide(x.ids));
    expect(want.length).toBeGreaterThan(0);
    expect(sides).toEqual(want);
    expect(focus.filter((x) => isSide(x.ids)).length).toBe(4 * want.length);
    expect(canonicalRecipe(o).sideWarmup).toBe(2);
    expect(Object.keys(canonicalRecipe({ ...o, sideWarmup: 0 }))).not.toContain("sideWarmup");
    expect(() => checkRecipe({ ...quick, sideWarmup: 1.5 })).toThrow(/sideWarmup: expected an integer >= 0, got 1.5/);
    // sideClosed: the open side questions as above plus every closed side question (its option text with closedText), "neither side" among the answers
    const oc = { ...o, sideClosed: true, closedText: true }, both = phaseExamples(dd, oc, "stage1", 3);
    expect(phaseExamples(dd, oc, "stage1", 0)).toBe(focus);
    const answer = (ids: readonly number[]) => d.tok.decode(ids.slice(ids.indexOf(d.cfg.tokens.sep) + 1, -1));
    const closedAsked = d.pool.flatMap((p) => p.study.questions.filter((q) => q.kind === "closed" && (q.template === "effusion-side" || q.template === "nodule-side")));
    expect(closedAsked.length).toBeGreaterThan(0);
    const closedOnes = both.filter((x) => !isSide(x.ids));
    expect(both.filter((x) => isSide(x.ids))).toEqual(want); // the open ones, unchanged and in order
    expect(new Set(closedOnes.map((x) => text(x.ids).split("?")[0]))).toEqual(new Set(closedAsked.map((q) => q.question.split("?")[0])));
    expect(closedOnes.some((x) => answer(x.ids) === "neither side")).toBe(true);
    expect(closedOnes.every((x) => ["left", "right", "both sides", "neither side"].includes(answer(x.ids)))).toBe(true);
    expect(canonicalRecipe(oc).sideClosed).toBe(true);
    expect(Object.keys(canonicalRecipe({ ...oc, sideWarmup: 0 }))).not.toContain("sideClosed");
    expect(() => checkRecipe({ ...quick, sideClosed: true })).toThrow(/sideClosed: expected a side phase \(sideWarmup > 0\) for the closed side questions, got sideWarmup 0/);
  });
});

describe("closed answers as option text", () => {
  it("closedText: every closed question's target is its option text alone, which the answer parser reads as the right letter (mirrored too); open questions and reports unchanged", () => {
    const cfg3d = phaseConfig(d.cfg, "stage1", "tgh");
    const letters = taskExamples(d.pool, cfg3d, d.tok, 2, 4, true), texts = taskExamples(d.pool, cfg3d, d.tok, 2, 4, true, true);
    expect(texts.length).toBe(letters.length);
    const answer = (ids: readonly number[]) => d.tok.decode(ids.slice(ids.indexOf(d.cfg.tokens.sep) + 1, -1));
    const prompt = (ids: readonly number[]) => d.tok.decode(ids.slice(ids.indexOf(d.cfg.tokens.imgEnd) + 1, ids.indexOf(d.cfg.tokens.sep)));
    let closed = 0;
    letters.forEach((a, i) => {
      const b = texts[i], lines = prompt(a.ids).split("\n");
      expect(prompt(b.ids)).toBe(prompt(a.ids));
      const options = lines.slice(1).map((l) => l.slice(3)); // "A. left" -> "left"
      if (a.task === 1 && options.length === 4) {
        closed++;
        const [letter, text] = [answer(a.ids).slice(0, 1), answer(a.ids).slice(3)];
        expect(answer(b.ids)).toBe(text);
        expect(parseChoice(answer(b.ids), options)).toBe(letter);
      } else expect(b.ids).toEqual(a.ids);
    });
    expect(closed).toBeGreaterThan(0);
    expect(canonicalRecipe({ ...quick, closedText: true }).closedText).toBe(true);
    expect(Object.keys(canonicalRecipe({ ...quick, closedText: false }))).not.toContain("closedText");
  });
  it("answerTarget: 'B. left' by default, the option text with closedText, open answers unchanged", () => {
    const qs = d.pool[0].study.questions, c = qs.find((q) => q.kind === "closed")!, o = qs.find((q) => q.kind === "open")!;
    expect(answerTarget(c)).toBe(`${c.answer}. ${c.answerText}`);
    expect(answerTarget(c, true)).toBe(c.answerText);
    expect(answerTarget(o, true)).toBe(o.answer);
  });
});

describe("mixedExamples", () => {
  const item = (i: number) => ({ volume: d.pool[0].volume, ids: [i], task: 1 });
  it("adds the focus examples, each repeated round(share / (1 - share) * tasks / focus) times (at least once), after the task examples", () => {
    const tasks = Array.from({ length: 90 }, (_, i) => item(i)), focus = Array.from({ length: 7 }, (_, i) => item(100 + i));
    for (const [share, r] of [[0.5, 13], [0.25, 4], [0.01, 1]] as const) {
      const m = mixedExamples(tasks, focus, share);
      expect(m.length).toBe(90 + 7 * r);
      expect(m.slice(0, 90)).toEqual(tasks);
      for (const f of focus) expect(m.filter((x) => x === f).length).toBe(r);
    }
    expect(mixedExamples(tasks, focus, 0)).toEqual(tasks);
    expect(mixedExamples(tasks, [], 0.5)).toEqual(tasks);
  });
  it("a share outside [0, 1) is an error that names it", () => {
    expect(() => mixedExamples([item(0)], [item(1)], 1)).toThrow(/share: expected a number in \[0, 1\), got 1/);
    expect(() => checkRecipe({ ...defaultRecipe("tiny", 0), focusShare: -0.1 })).toThrow(/focusShare: expected a number in \[0, 1\), got -0.1/);
  });
});

describe("mirrored examples", () => {
  it("mirrorText swaps the whole words left and right only; twice is the identity", () => {
    expect(mirrorText("a small left pleural effusion and a 12 mm nodule in the right lung")).toBe("a small right pleural effusion and a 12 mm nodule in the left lung");
    expect(mirrorText("B. left. (right) leftover cleft rightly Left")).toBe("B. right. (left) leftover cleft rightly Left");
    const t = "right hepatic lobe, left lung, both sides";
    expect(mirrorText(mirrorText(t))).toBe(t);
  });

  it("mirrorVolume reverses the last axis of every row (voxel (d, r, c) -> (d, r, W-1-c)); twice is the identity", () => {
    const v = d.pool[0].volume, m = mirrorVolume(v), [, D, H, W] = v.shape;
    expect(m.shape).toEqual(v.shape);
    for (const [k, r, c] of [[0, 0, 0], [D - 1, H - 1, W - 1], [1, 3, 5], [D >> 1, H >> 1, 1]]) {
      expect(m.data[(k * H + r) * W + c]).toBe(v.data[(k * H + r) * W + (W - 1 - c)]);
    }
    assertSameBits("mirror twice", mirrorVolume(m).data, v.data);
  });

  it("with mirror every slice and task example appears twice: the mirrored volume, the texts with sides swapped", () => {
    const cfg2d = phaseConfig(d.cfg, "stage0", "tgh"), cfg3d = phaseConfig(d.cfg, "stage1", "tgh");
    const plain = sliceExamples(d.pool, cfg2d, d.tok, 1, false), both = sliceExamples(d.pool, cfg2d, d.tok, 1, true);
    expect(both.length).toBe(2 * plain.length);
    const tasksPlain = taskExamples(d.pool, cfg3d, d.tok, 2, 4, false), tasksBoth = taskExamples(d.pool, cfg3d, d.tok, 2, 4, true);
    expect(tasksBoth.length).toBe(2 * tasksPlain.length);
    // the first study: its plain examples, then its mirrored ones, in the same order
    const perStudy = tasksPlain.filter((x) => x.volume === d.pool[0].volume).length;
    for (let i = 0; i < perStudy; i++) {
      const a = tasksBoth[i], b = tasksBoth[perStudy + i];
      expect(a.volume).toBe(d.pool[0].volume);
      assertSameBits(`mirrored volume ${i}`, b.volume.data, mirrorVolume(a.volume).data);
      // prompt (between </img> and <sep>) and answer (after <sep>) each with its sides swapped
      const parts = (ids: readonly number[]) => {
        const sep = ids.indexOf(d.cfg.tokens.sep), end = ids.indexOf(d.cfg.tokens.imgEnd);
        return [d.tok.decode(ids.slice(end + 1, sep)), d.tok.decode(ids.slice(sep + 1, -1))];
      };
      expect(parts(b.ids)).toEqual(parts(a.ids).map(mirrorText));
      expect(b.task).toBe(a.task);
    }
  });
});

describe("variants", () => {
  it("plans: dense stops after stage 1, one-stage trains stages 1+2 at once after upcycling, token-moe has no task level", async () => {
    expect(phasesOf("dense")).toEqual(["stage0", "stage1"]);
    expect(phasesOf("one-stage")).toEqual(["stage0", "stage12"]);
    const dense = await runRecipe(be, d, { ...quick, variant: "dense" });
    expect(dense!.cfg.vision.moeLayers).toEqual([]);
    const one = await recorded({ ...quick, variant: "one-stage" });
    expect(one.losses.get("stage12")!.length).toBe(quick.stages.stage1.steps + quick.stages.stage2.steps);
    expect(one.out.cfg.vision.moeLayers).toEqual([2, 3]);
    // stage12 trains the slice-frozen union: volume blocks (shared experts included), routers, text_proj, LM
    const trains = trainableBy(phaseFreeze(one.out.cfg, "stage12"));
    expect(["vision.blocks.3.moe.shared.0.fc1.weight", "moe.text_proj.weight", "lm.norm.weight"].every(trains)).toBe(true);
    expect(trains("vision.blocks.0.attn.qkv.weight")).toBe(false);
    // one volume per sample, as many volumes per update as stage 1 (batch / perVolume) at stage 2's batch
    const opts = { ...quick, stages: { ...quick.stages, stage1: { ...quick.stages.stage1, batch: 32, perVolume: 8, peak: 3e-4 }, stage2: { ...quick.stages.stage2, batch: 4, accum: 2, peak: 1e-4 } } };
    expect(phaseSettings(opts, "stage12")).toEqual({ steps: quick.stages.stage1.steps + quick.stages.stage2.steps, batch: 4, accum: 2, peak: 3e-4 });
    const tok = await runRecipe(be, d, { ...quick, variant: "token-moe" });
    expect(tok!.cfg.moe.guidance).toBe("none");
    expect([...tok!.params.keys()].some((n) => /task_gate|text_proj/.test(n))).toBe(false);
    // its checkpoint round-trips the switch
    const m = await loadModel(makeCheckpoint({ cfg: tok!.cfg, params: tok!.params, tokenizer: d.tok }), { backend: be });
    expect(m.cfg.moe.guidance).toBe("none");
  });
  it("dense-stage2: stage 2 on the dense model starts from stage 1's weights and trains only the MLPs of moe_layers, the projector and the LM", async () => {
    expect(phasesOf("dense-stage2")).toEqual(["stage0", "stage1", "stage2"]);
    const r = await recorded({ ...quick, variant: "dense-stage2" });
    expect(r.out.cfg.vision.moeLayers).toEqual([]);
    expect(r.losses.get("stage2")!.length).toBe(quick.stages.stage2.steps);
    const s1 = r.ends.get("stage1")!, s2 = r.ends.get("stage2")!;
    expect([...s2.keys()]).toEqual([...s1.keys()]);
    const trains = trainableBy(phaseFreeze(d.cfg, "stage2", "dense-stage2"));
    const moved = [...s2.keys()].filter((n) => s2.get(n)!.data.some((x, i) => !Object.is(x, s1.get(n)!.data[i])));
    expect(moved.length).toBeGreaterThan(0);
    for (const n of moved) expect(trains(n), n).toBe(true);
    // the MLPs of moe_layers (2, 3 for tiny) train, the other MLPs and the attention of those blocks do not
    expect(moved).toContain("vision.blocks.3.mlp.fc2.weight");
    expect(moved).toContain("projector.fc1.weight");
    expect(trains("vision.blocks.1.mlp.fc1.weight")).toBe(false);
    expect(trains("vision.blocks.3.attn.qkv.weight")).toBe(false);
  });
});

describe("evaluation", () => {
  it("a tiny checkpoint on 2 test studies: every metric in [0, 1], counts, routing shares sum to 1 per task and layer", async () => {
    const out = await runRecipe(be, d, quick);
    const model = await loadModel(makeCheckpoint({ cfg: out!.cfg, params: out!.params, tokenizer: d.tok, preprocess: d.pre }), { backend: be });
    const r = await evaluate(model, d.pre, { split: "test", count: 2, dataSeed: base.dataSeed, maxReportTokens: 12, maxAnswerTokens: 4, swap: true, choose: true, baselineStudies: 20 });
    expect(r.counts.studies).toBe(2);
    expect(r.counts.closed + r.counts.open).toBeGreaterThan(10);
    for (const k of ["bleu1", "bleu4", "rougeL", "meteor", "findingsRecall", "findingsF1", "closedAccuracy", "openExactMatch", "openF1", "closedMajority", "openTextOnly", "imageSwapChanged", "closedChosen"]) {
      expect(r.metrics[k], k).toBeGreaterThanOrEqual(0);
      expect(r.metrics[k], k).toBeLessThanOrEqual(1);
    }
    // every question is in one row of the per-type table; swaps only where a partner's truth differs
    expect(r.questions.reduce((n, q) => n + q.n, 0)).toBe(r.counts.closed + r.counts.open);
    expect(r.counts.swapped).toBeGreaterThan(0);
    // closed rows are also answered by choice, open ones are not
    for (const q of r.questions) expect(q.chosen === null, q.row).toBe(q.form === "open");
    expect(r.questions.reduce((n, q) => n + q.swapN, 0)).toBe(r.counts.swapped);
    expect(r.studies.map((x) => x.asked).reduce((a, b) => a + b, 0)).toBe(r.counts.closed + r.counts.open);
    expect(r.routing.map((x) => x.layer)).toEqual([2, 3]);
    for (const layer of r.routing) {
      for (const shares of Object.values(layer.top1)) assertClose("Object.values(shares).reduce((s, x) => s + x, 0)", Object.values(shares).reduce((s, x) => s + x, 0), 1, { atol: 5e-13, rtol: 0 });
      for (const acc of Object.values(layer.gateAccuracy!)) expect(acc >= 0 && acc <= 1).toBe(true);
    }
    expect(r.examples[0].reference.length).toBeGreaterThan(20);
  });
});
