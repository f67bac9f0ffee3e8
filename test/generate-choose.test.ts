// Choosing among candidate answers (src/generate/choose.ts) and the evaluation's closed questions
// answered by choice (chooseOption): each score is the candidate's log-likelihood under the full
// forward (checked in float64 against an independent log-softmax), ties go to the lower index,
// bad input is refused with the argument named.
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import type { Question } from "../src/data/index.js";
import { answeredRight } from "../src/eval/blind.js";
import { ValueError } from "../src/errors.js";
import { choose, logProb } from "../src/generate/choose.js";
import { promptSequence } from "../src/generate/prefix.js";
import { forward } from "../src/model/model.js";
import { imageTokens } from "../src/model/projector.js";
import { chooseOption } from "../src/recipe/evaluate.js";
import { TghModel } from "../src/api.js";
import { fromInts, Tensor } from "../src/tensor.js";
import { wasmBackend } from "./util/backends.js";
import { tinyModel, tinyVolume, type TinyModel } from "./util/generate.js";

let be: Backend, model: TinyModel;
beforeAll(async () => {
  be = await wasmBackend();
  model = tinyModel(be);
});
const volume = tinyVolume(1);
const prompt = "Is there a nodule in the left lung?";

/** log p(answer, <eos> | prompt) from one full forward over the whole sequence, log-softmax with Math. */
function fullScore(m: TinyModel, candidate: string): number {
  const { cfg, params, tokenizer } = m;
  const prefix = promptSequence(cfg, imageTokens(cfg, 4), tokenizer.encode(prompt));
  const answer = [...tokenizer.encode(candidate), cfg.tokens.eos];
  const ids = [...prefix, ...answer];
  const logits = forward(be, params, cfg, { volume, ids: fromInts([1, ids.length], ids) }).logits.data;
  const V = cfg.lm.vocab;
  let s = 0;
  answer.forEach((t, i) => {
    const row = Array.from(logits.subarray((prefix.length - 1 + i) * V, (prefix.length + i) * V));
    const zmax = Math.max(...row);
    s += row[t] - zmax - Math.log(row.reduce((acc, z) => acc + Math.exp(z - zmax), 0));
  });
  return s;
}

describe("choose", () => {
  it("scores each candidate by its log-likelihood followed by <eos>, as a full forward gives it", () => {
    const candidates = ["yes", "no", "A 12 mm nodule in the right upper lobe.", ""];
    const r = choose(model, { volume, prompt, candidates });
    candidates.forEach((c, i) => {
      expect(r.scores[i], c).toBeLessThan(0);
      expect(Math.abs(r.scores[i] - fullScore(model, c)), c).toBeLessThan(1e-4 * Math.max(1, Math.abs(r.scores[i])));
    });
    expect(r.index).toBe(r.scores.indexOf(Math.max(...r.scores)));
    // the same bits on a second call, and whatever else is asked beside a candidate
    const again = choose(model, { volume, prompt, candidates: ["no", "yes"] });
    expect([again.scores[1], again.scores[0]]).toEqual([r.scores[0], r.scores[1]]);
  });

  it("equal candidates score the same bits and tie to the lower index", () => {
    const r = choose(model, { volume, prompt, candidates: ["no", "no", "no"] });
    expect(r.index).toBe(0);
    expect(new Set(r.scores).size).toBe(1);
  });

  it("the log-softmax of a row sums to 1 over the ids and stays finite for large logits", () => {
    const z = Float32Array.from([1000, 999, -50, 3]);
    const total = [0, 1, 2, 3].reduce((s, t) => s + Math.exp(logProb(z, 0, 4, t)), 0);
    expect(Math.abs(total - 1)).toBeLessThan(1e-12);
    expect(logProb(z, 0, 4, 0)).toBeLessThan(0);
    expect(logProb(Float32Array.from([0, 7, 1, 2, 3]), 1, 4, 0)).toBe(logProb(Float32Array.from([7, 1, 2, 3]), 0, 4, 0));
  });

  it("the model object's choose gives the same scores, with the task by name or index", () => {
    const m = new TghModel(model.cfg, model.params, model.tokenizer, null, be);
    const a = m.choose({ volume, prompt, candidates: ["yes", "no"], task: "vqa" }), b = choose(model, { volume, prompt, candidates: ["yes", "no"], task: 1 });
    expect(a.scores).toEqual(b.scores);
    expect(a.warnings).toEqual([]);
    expect(() => m.choose({ volume, prompt, candidates: ["yes"], task: "nope" })).toThrow(/task: expected an index in \[0, 2\) or one of report, vqa/);
  });

  it("refuses no candidates, a non-string candidate and a batch of volumes, naming the argument", () => {
    expect(() => choose(model, { volume, prompt, candidates: [] })).toThrow(ValueError);
    expect(() => choose(model, { volume, prompt, candidates: [] })).toThrow(/candidates: expected a non-empty list of strings/);
    expect(() => choose(model, { volume, prompt, candidates: [3 as unknown as string] })).toThrow(/candidates/);
    const batch = new Tensor("f32", [2, 1, 4, 32, 32]);
    expect(() => choose(model, { volume: batch, prompt, candidates: ["yes"] })).toThrow(/volume: expected one volume/);
  });
});

describe("closed questions answered by choice", () => {
  const q: Question = {
    template: "nodule_side", kind: "closed", question: "Which side is the nodule on?", options: ["left", "right", "both", "none"],
    answer: "B", answerText: "right",
  } as Question;
  it("answers 'L. text' of the option whose likelier form scores best, which the answer parser reads as that option", () => {
    const pick = chooseOption(model, volume, q);
    const forms = q.options!.flatMap((t, i) => [`${"ABCD"[i]}. ${t}`, t]);
    const { scores } = choose(model, { volume, prompt: [q.question, ...q.options!.map((o, i) => `${"ABCD"[i]}. ${o}`)].join("\n"), candidates: forms, task: 1 });
    const per = q.options!.map((_, i) => Math.max(scores[2 * i], scores[2 * i + 1]));
    const best = per.indexOf(Math.max(...per));
    expect(pick).toBe(`${"ABCD"[best]}. ${q.options![best]}`);
    for (let k = 0; k < 4; k++) expect(answeredRight({ ...q, answer: "ABCD"[k], answerText: q.options![k] }, pick)).toBe(k === best);
  });
});
