/**
 * The evaluation runner: greedy decoding with the KV cache (src/generate.ts) on the studies of one
 * split, scored with src/eval/ (docs/EVAL.md): reports (BLEU-1/4, ROUGE-L, METEOR, finding-level
 * P/R/F1 through extractFindings), closed questions (accuracy), open questions (exact match, token
 * F1), each question type beside two blind baselines (majority, text-only), the image-swap test,
 * and the routing per task (top-1 expert shares per MoE layer, task-gate accuracy).
 * Not the metrics themselves, not the CLI (src/cli/eval.ts).
 * Legend: B batch · M = D*S tokens per sample · E experts · T tasks · k top-k.
 */
import { countMatches, extractFindings, formatQuestion, LETTERS, prf, splitOf, studyTexts, type Question, type SplitName } from "../data/index.js";
import { generate, taskName, type GenerateModel } from "../generate.js";
import { choose } from "../generate/choose.js";
import { answeredRight, BlindBaselines } from "../eval/blind.js";
import { closedAccuracy, openQaScores, reportMetrics, type ClosedItem, type OpenItem } from "../eval/metrics.js";
import { questionTable, scores, type AnswerRecord, type QuestionTypeRow } from "../eval/question-table.js";
import type { MoeTrace } from "../model/moe.js";
import type { PreprocessPreset } from "../preprocess/index.js";
import type { F32Tensor } from "../tensor.js";
import { REPORT_PROMPTS, TASK, loadPool, type PoolStudy } from "./data.js";

export interface EvalOptions {
  split: SplitName;
  count: number; // studies
  dataSeed: number;
  maxReportTokens: number;
  maxAnswerTokens: number;
  swap: boolean; // the image-swap test (one more answer per question that has a partner)
  choose: boolean; // closed questions also answered by choice among their options (chooseOption)
  baselineStudies: number; // training studies the blind baselines count answers over
  onProgress?: (done: number, total: number) => void;
}
export const EVAL_DEFAULTS = { split: "test" as SplitName, count: 50, dataSeed: 2026, maxReportTokens: 200, maxAnswerTokens: 24, swap: true, choose: true, baselineStudies: 2000 };

/** Per MoE layer and true task: the share of tokens whose top-1 expert is `g<group>.e<e>`, and how often the task gate chose the task's group. */
export interface LayerRouting {
  layer: number;
  top1: Record<string, Record<string, number>>; // task name -> expert -> share
  gateAccuracy: Record<string, number> | null; // task name -> share of samples routed to its own group (null: no task level)
}

/** Per study, for paired comparisons between models: finding counts of its report and questions answered right. */
export interface StudyScore {
  id: string;
  tp: number;
  fp: number;
  fn: number;
  right: number;
  asked: number;
}

export interface EvalResult {
  metrics: Record<string, number | null>; // null: undefined (e.g. precision when no finding was named)
  counts: { studies: number; reports: number; closed: number; open: number; swapped: number };
  questions: QuestionTypeRow[];
  routing: LayerRouting[];
  studies: StudyScore[];
  examples: { id: string; prompt: string; output: string; reference: string }[]; // the first study's items
}

/** Runs every item of `count` studies of the split through the model and scores them. */
export async function evaluate(model: GenerateModel, pre: PreprocessPreset, o: EvalOptions): Promise<EvalResult> {
  const pool = loadPool(o.dataSeed, o.split, o.count, pre);
  const blind = new BlindBaselines(trainingQuestions(o.dataSeed, o.baselineStudies, pre.grid));
  const routing = new RoutingCounter();
  const hyps: string[] = [], refs: string[] = [], records: AnswerRecord[] = [], studies: StudyScore[] = [];
  const found = { tp: 0, fp: 0, fn: 0 }, lenient = { tp: 0, fp: 0, fn: 0 };
  const examples: EvalResult["examples"] = [];
  const swaps = pool.map((_, a) => pool[a].study.questions.map((q) => (o.swap ? swapPartner(pool, a, q) : null)));
  const chosen = (q: Question) => o.choose && q.kind === "closed";
  const total = pool.reduce((n, p, a) => n + 1 + p.study.questions.length + swaps[a].filter((x) => x !== null).length + p.study.questions.filter(chosen).length, 0);
  let done = 0;
  const ask = async (volume: F32Tensor, prompt: string, task: number, max: number, traced = true) => {
    const r = await generate(model, { volume: volume.reshape([1, ...volume.shape]), prompt, maxNewTokens: max });
    if (traced) routing.add(r.routing, task);
    o.onProgress?.(++done, total);
    return r.text;
  };
  for (const [a, { study, volume }] of pool.entries()) {
    const report = await ask(volume, REPORT_PROMPTS[0], TASK.report, o.maxReportTokens);
    hyps.push(report);
    refs.push(study.report);
    const extracted = extractFindings(report);
    const strict = countMatches(study.findings, extracted, "strict");
    for (const [acc, c] of [[found, strict], [lenient, countMatches(study.findings, extracted, "lenient")]] as const) {
      acc.tp += c.tp, acc.fp += c.fp, acc.fn += c.fn;
    }
    if (examples.length === 0) examples.push({ id: study.id, prompt: REPORT_PROMPTS[0], output: report, reference: study.report });
    let right = 0;
    for (const [i, q] of study.questions.entries()) {
      const prompt = formatQuestion(q);
      const prediction = await ask(volume, prompt, TASK.vqa, o.maxAnswerTokens);
      const rec: AnswerRecord = {
        study: study.id, question: q, prediction, right: answeredRight(q, prediction),
        majorityRight: answeredRight(q, blind.majority(q)), textOnlyRight: answeredRight(q, blind.textOnly(q)),
      };
      const partner = swaps[a][i];
      if (partner) {
        const other = await ask(partner.volume, prompt, TASK.vqa, o.maxAnswerTokens, false);
        rec.swap = { partner: partner.id, prediction: other, changed: other.trim() !== prediction.trim(), right: answeredRight(partner.truth, other) };
      }
      if (chosen(q)) {
        const pick = chooseOption(model, volume.reshape([1, ...volume.shape]), q);
        rec.chosen = { prediction: pick, right: answeredRight(q, pick) };
        o.onProgress?.(++done, total);
      }
      records.push(rec);
      right += rec.right ? 1 : 0;
      if (examples.length < 4) examples.push({ id: study.id, prompt, output: prediction, reference: q.kind === "closed" ? `${q.answer}. ${q.answerText}` : q.answer });
    }
    studies.push({ id: study.id, ...strict, right, asked: study.questions.length });
  }
  return {
    metrics: summaryMetrics(hyps, refs, found, lenient, records),
    counts: { studies: pool.length, reports: hyps.length, ...countForms(records), swapped: records.filter((r) => r.swap).length },
    questions: questionTable(records), routing: routing.result(), studies, examples,
  };
}

function countForms(records: readonly AnswerRecord[]): { closed: number; open: number } {
  const closed = records.filter((r) => r.question.kind === "closed").length;
  return { closed, open: records.length - closed };
}

/** The headline numbers: report metrics, findings P/R/F1, QA of the model and of the blind baselines, the swap test. */
function summaryMetrics(hyps: string[], refs: string[], found: { tp: number; fp: number; fn: number }, lenient: typeof found, records: readonly AnswerRecord[]): Record<string, number | null> {
  const strict = prf(found), loose = prf(lenient);
  const closed = records.filter((r) => r.question.kind === "closed"), open = records.filter((r) => r.question.kind === "open");
  const closedItems: ClosedItem[] = closed.map((r) => ({ prediction: r.prediction, options: r.question.options!, answer: r.question.answer }));
  const openItems: OpenItem[] = open.map((r) => ({ prediction: r.prediction, answer: r.question.answer }));
  const c = scores(closed), op = scores(open), all = scores(records);
  return {
    ...reportMetrics(hyps, refs),
    findingsPrecision: strict.precision, findingsRecall: strict.recall, findingsF1: strict.f1, findingsF1Lenient: loose.f1,
    closedAccuracy: closedItems.length ? closedAccuracy(closedItems).accuracy : null, closedChosen: c.chosen,
    openExactMatch: openItems.length ? openQaScores(openItems).exactMatch : null, openF1: openItems.length ? openQaScores(openItems).f1 : null,
    closedMajority: c.majority, closedTextOnly: c.textOnly, openMajority: op.majority, openTextOnly: op.textOnly,
    imageSwapChanged: all.swapChanged, imageSwapRight: all.swapRight,
  };
}

/**
 * A closed question answered by choice: each option in both forms the answer parser reads as it
 * ("B. left" and "left"; src/eval/qa.ts) is scored by the model's likelihood (choose), an option
 * scores its likelier form, and the best option (ties to the lower letter) is answered "B. left".
 * volume [1, 1, D, H, W], preprocessed.
 */
export function chooseOption(model: GenerateModel, volume: F32Tensor, q: Question): string {
  const options = q.options!, forms = options.flatMap((text, i) => [`${LETTERS[i]}. ${text}`, text]);
  const { scores } = choose(model, { volume, prompt: formatQuestion(q), candidates: forms, task: TASK.vqa });
  let best = 0;
  for (let i = 1; i < options.length; i++) if (Math.max(scores[2 * i], scores[2 * i + 1]) > Math.max(scores[2 * best], scores[2 * best + 1])) best = i;
  return forms[2 * best];
}

/** The questions of the first `count` training studies (texts only: nothing is rendered). */
function* trainingQuestions(dataSeed: number, count: number, grid: readonly [number, number, number]): Generator<Question> {
  for (let index = 0, n = 0; n < count; index++) {
    if (splitOf(dataSeed, index) !== "train") continue;
    n++;
    yield* studyTexts(dataSeed, index, [...grid]).questions;
  }
}

/**
 * The image-swap partner of question q of study a: the next study of the pool (cyclically) that
 * was asked the same question (same template and text) with a different true answer that q's
 * options can express. Its volume, id and q re-answered by its truth.
 */
function swapPartner(pool: readonly PoolStudy[], a: number, q: Question): { volume: F32Tensor; id: string; truth: Question } | null {
  for (let step = 1; step < pool.length; step++) {
    const b = pool[(a + step) % pool.length];
    const p = b.study.questions.find((x) => x.template === q.template && x.kind === q.kind && x.question === q.question);
    if (!p || p.answerText === q.answerText) continue;
    if (q.kind === "open") return { volume: b.volume, id: b.study.id, truth: { ...q, answer: p.answer, answerText: p.answerText } };
    const k = q.options!.indexOf(p.answerText);
    if (k >= 0) return { volume: b.volume, id: b.study.id, truth: { ...q, answer: "ABCD"[k], answerText: p.answerText } };
  }
  return null;
}

/** Accumulates top-1 expert counts and task-gate hits per MoE layer and true task. */
class RoutingCounter {
  private readonly layers = new Map<number, { top1: Map<string, Map<string, number>>; tokens: Map<string, number>; gate: Map<string, [number, number]> | null }>();

  add(traces: readonly MoeTrace[], task: number): void {
    const name = taskName(task);
    for (const t of traces) {
      const [B, M, k] = t.topkIdx.shape;
      const guided = t.pi.dim(1) > 1;
      if (!this.layers.has(t.layer)) this.layers.set(t.layer, { top1: new Map(), tokens: new Map(), gate: guided ? new Map() : null });
      const L = this.layers.get(t.layer)!;
      if (!L.top1.has(name)) L.top1.set(name, new Map());
      const counts = L.top1.get(name)!;
      for (let b = 0; b < B; b++) {
        const group = t.group.data[b];
        for (let i = 0; i < M; i++) {
          const key = `g${group}.e${t.topkIdx.data[(b * M + i) * k]}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        L.tokens.set(name, (L.tokens.get(name) ?? 0) + M);
        if (L.gate) {
          const [hit, n] = L.gate.get(name) ?? [0, 0];
          L.gate.set(name, [hit + (group === task ? 1 : 0), n + 1]);
        }
      }
    }
  }

  result(): LayerRouting[] {
    return [...this.layers.entries()].sort((a, b) => a[0] - b[0]).map(([layer, L]) => {
      const top1: Record<string, Record<string, number>> = {};
      for (const [task, counts] of L.top1) {
        const n = L.tokens.get(task)!;
        top1[task] = Object.fromEntries([...counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([e, c]) => [e, c / n]));
      }
      const gateAccuracy = L.gate ? Object.fromEntries([...L.gate.entries()].map(([task, [hit, n]]) => [task, hit / n])) : null;
      return { layer, top1, gateAccuracy };
    });
  }
}

/** The experts of a layer's top-1 table, "g0.e0" .. in order (for printing). */
export function expertKeys(r: LayerRouting): string[] {
  return [...new Set(Object.values(r.top1).flatMap((x) => Object.keys(x)))].sort();
}
