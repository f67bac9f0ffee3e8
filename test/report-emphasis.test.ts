/**
 * Target emphasis (a training option): the weighted per-sequence mean of the cross-entropy
 * (lm.ts targetWeights), its checks in the forward and in collate, and the report emphasis of the
 * recipe (data.ts reportEmphasis: which report sentences count more, read back with the
 * benchmark's own finding extractor). The gradient is checked against finite differences in
 * backward-layers.test.ts, data parallelism in data-parallel.test.ts.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { extractFindings, HEADERS, ROUTINE, studyTexts, TECHNIQUE } from "../src/data/index.js";
import { NEGATIVES } from "../src/data/report.js";
import { ShapeError, ValueError } from "../src/errors.js";
import { crossEntropy, parseSequence, targetWeights } from "../src/model/lm.js";
import { forward } from "../src/model/model.js";
import { imageTokens } from "../src/model/projector.js";
import { mirrorText, reportEmphasis, taskExamples, loadPool, corpus } from "../src/recipe/data.js";
import { recipeConfig } from "../src/recipe/stages.js";
import { preprocessPreset } from "../src/preprocess/index.js";
import { Rng } from "../src/rng.js";
import { Tensor } from "../src/tensor.js";
import { trainBpe } from "../src/tokenizer/train.js";
import { collate, type Sample } from "../src/train/trainer.js";
import { referenceBackend } from "./util/backends.js";
import { assertClose } from "./util/close.js";
import { batch, randomParams, sequence, smallConfig } from "./util/model.js";

let ref: Backend;
beforeAll(async () => {
  ref = await referenceBackend();
});

const cfg = fc.sample(smallConfig, { seed: 11, numRuns: 1 })[0];

/** Two sequences of different answer lengths, right-padded. */
function twoSequences(seed: number): { ids: Tensor<"i32">; L: number } {
  const rng = new Rng(seed), rows = [sequence(cfg, 2, 2, 3, 0, rng), sequence(cfg, 2, 1, 6, 0, rng)];
  const L = Math.max(...rows.map((r) => r.length));
  return { ids: new Tensor("i32", [2, L], Int32Array.from(rows.flatMap((r) => [...r, ...new Array<number>(L - r.length).fill(cfg.tokens.pad)]))), L };
}

describe("targetWeights with an emphasis", () => {
  it("emphasis 1 everywhere gives the bits of no emphasis; any emphasis keeps each sequence's total at 1 / sequences", () => {
    const { ids, L } = twoSequences(3), seq = parseSequence(ids, cfg.tokens);
    expect(Array.from(targetWeights(seq, new Float32Array(2 * L).fill(1)))).toEqual(Array.from(targetWeights(seq)));
    const rng = new Rng(5), e = Float32Array.from({ length: 2 * L }, () => 0.1 + 4 * rng.uniform());
    const w = targetWeights(seq, e), per = [0, 0];
    seq.targets.forEach(({ b }, t) => (per[b] += w[t]));
    assertClose("per-sequence totals", per, [0.5, 0.5], { atol: 1e-15, rtol: 0 });
    // within a sequence the weights are in the ratio of the emphasis
    const t0 = seq.targets.findIndex(({ b }) => b === 1), t1 = seq.targets.length - 1;
    const { pos: p0 } = seq.targets[t0], { pos: p1 } = seq.targets[t1];
    assertClose("ratio", w[t0] / w[t1], e[L + p0] / e[L + p1], { atol: 0, rtol: 1e-12 });
  });

  it("the loss is each sequence's weighted mean of the token losses, averaged over sequences", () => {
    const { ids, L } = twoSequences(7), seq = parseSequence(ids, cfg.tokens), V = cfg.lm.vocab;
    const rng = new Rng(9), logits = new Tensor("f32", [2, L, V], rng.fill(2 * L * V, -4, 4));
    const e = Float32Array.from({ length: 2 * L }, () => (rng.int(3) === 0 ? 5 : 1));
    const per = [0, 1].map((b) => {
      let num = 0, den = 0;
      for (const t of seq.targets.filter((x) => x.b === b)) {
        const r = Array.from(logits.data.subarray((b * L + t.pos - 1) * V, (b * L + t.pos) * V)), m = Math.max(...r);
        num += e[b * L + t.pos] * (m + Math.log(r.reduce((a, z) => a + Math.exp(z - m), 0)) - r[ids.data[b * L + t.pos]]);
        den += e[b * L + t.pos];
      }
      return num / den;
    });
    assertClose("crossEntropy", crossEntropy(logits, ids, seq, e)!, (per[0] + per[1]) / 2, { atol: 1e-12, rtol: 0 });
    expect(crossEntropy(logits, ids, seq, e)).not.toBe(crossEntropy(logits, ids, seq));
  });
});

describe("the forward refuses a bad emphasis", () => {
  it("names the argument, the expected and the actual value", () => {
    const params = randomParams(cfg, 1), input = batch(cfg, 2, cfg.vision.depthPatch * cfg.projector.depthPool, 2);
    const seq = parseSequence(input.ids, cfg.tokens), L = input.ids.dim(1), t = seq.targets[0];
    const run = (emphasis: Float32Array) => forward(ref, params, cfg, { ...input, emphasis });
    expect(() => run(new Float32Array(3))).toThrow(ShapeError);
    expect(() => run(new Float32Array(3))).toThrow(`forward: emphasis: expected a Float32Array of B*L = 2*${L} = ${2 * L} values, got 3`);
    const bad = (v: number) => Object.assign(new Float32Array(2 * L).fill(1), { [t.b * L + t.pos]: v });
    expect(() => run(bad(-1))).toThrow(`forward: emphasis[${t.b}, ${t.pos}]: expected a finite number >= 0, got -1`);
    expect(() => run(bad(NaN))).toThrow(ValueError);
    const zero = new Float32Array(2 * L).fill(1);
    for (const x of seq.targets.filter(({ b }) => b === 0)) zero[x.pos] = 0;
    expect(() => run(zero)).toThrow("forward: emphasis: expected a positive sum over the targets of sequence 0, got 0");
    expect(run(new Float32Array(2 * L).fill(1)).losses.ce).toBe(forward(ref, params, cfg, input).losses.ce);
  });
});

describe("collate", () => {
  it("stacks the samples' emphasis [B, L] with 1 for samples without one and on padding; refuses a wrong length", () => {
    const v = new Tensor("f32", [1, 1, 2, 2]);
    const a: Sample = { volume: v, ids: [1, 2, 3], task: 0, emphasis: Float32Array.of(1, 2, 3) };
    const b: Sample = { volume: v, ids: [4, 5, 6, 7], task: 1 };
    expect(Array.from(collate([a, b], 0).emphasis!)).toEqual([1, 2, 3, 1, 1, 1, 1, 1]);
    expect(collate([b, b], 0).emphasis).toBeUndefined();
    expect(() => collate([{ ...a, emphasis: Float32Array.of(1) }], 0)).toThrow("collate: emphasis: expected one value per token id (3), got 1");
  });
});

describe("reportEmphasis", () => {
  const studies = Array.from({ length: 120 }, (_, i) => studyTexts(2026, i));
  const reports = studies.flatMap((s) => [s.report, mirrorText(s.report)]);
  const tok = trainBpe([...reports, ...studies.flatMap((s) => s.questions.map((q) => q.question))], 500);

  it("weighs exactly the text that names findings or their absence and the impression; headers, technique and routine statements count 1", () => {
    const fixed = [...HEADERS.findings, ...HEADERS.impression, ...TECHNIQUE.contrast, ...TECHNIQUE.plain, ...ROUTINE];
    let withFindings = 0;
    for (const r of reports) {
      const ids = tok.encode(r), e = reportEmphasis(tok, r, 3);
      expect(e.length).toBe(ids.length);
      expect(e.every((x) => x === 1 || x === 3)).toBe(true);
      const heavy = tok.decode(ids.filter((_, i) => e[i] === 3)), light = tok.decode(ids.filter((_, i) => e[i] === 1));
      expect(extractFindings(light), light).toEqual([]);
      expect(extractFindings(heavy)).toEqual(extractFindings(r));
      if (extractFindings(r).length > 0) withFindings++;
      for (const s of Object.values(NEGATIVES).flat()) if (r.includes(s)) expect(heavy).toContain(s);
      for (const s of fixed) if (r.includes(s)) expect(light).toContain(s);
      const impression = r.slice(r.indexOf("\n") + 1).replace(/^\S+ /, "");
      expect(heavy.trim().endsWith(impression)).toBe(true);
    }
    expect(withFindings).toBeGreaterThan(reports.length / 3);
  });

  it("weight 1 counts every token once; a weight <= 0 or not finite is refused", () => {
    expect(Array.from(new Set(reportEmphasis(tok, reports[0], 1)))).toEqual([1]);
    expect(() => reportEmphasis(tok, reports[0], 0)).toThrow("reportEmphasis: weight: expected a finite number > 0, got 0");
    expect(() => reportEmphasis(tok, reports[0], Infinity)).toThrow(ValueError);
  });

  it("the recipe's task examples carry it on the reports only, aligned with their ids (answer tokens and <eos>)", () => {
    const pool = loadPool(2026, "train", 2, preprocessPreset("tiny"));
    const t = trainBpe(corpus(pool), 300), c = recipeConfig("tiny", t), m = imageTokens(c, pool[0].volume.dim(1));
    const ex = taskExamples(pool, c, t, 1, 1, true, false, 1, 4);
    const reportsOf = ex.filter((s) => s.task === 0), questions = ex.filter((s) => s.task === 1);
    expect(reportsOf.length).toBe(4);
    expect(questions.every((s) => s.emphasis === undefined)).toBe(true);
    for (const s of reportsOf) {
      const sep = s.ids.indexOf(c.tokens.sep), n = s.ids.length;
      expect(s.emphasis!.length).toBe(n);
      expect(Array.from(s.emphasis!.subarray(sep + 1, n - 1))).toEqual(Array.from(reportEmphasis(t, t.decode(s.ids.slice(sep + 1, n - 1)), 4)));
      expect(s.emphasis![n - 1]).toBe(1); // <eos>
      expect(Math.max(...s.emphasis!)).toBe(4);
      expect(Array.from(s.emphasis!.subarray(0, sep + 1)).every((x) => x === 1)).toBe(true); // image and prompt
      expect(sep).toBeGreaterThan(m);
    }
    expect(taskExamples(pool, c, t, 1, 1, true).every((s) => s.emphasis === undefined)).toBe(true);
  });
});
