/**
 * The evaluation runner: greedy decoding with the KV cache (src/generate.ts) on the studies of one
 * split, scored with src/eval/ (docs/EVAL.md): reports (BLEU-1/4, ROUGE-L, METEOR, finding-level
 * P/R/F1 through extractFindings), closed questions (accuracy), open questions (exact match, token
 * F1), and the routing per task (top-1 expert shares per MoE layer, task-gate accuracy).
 * Not the metrics themselves, not the CLI (src/cli/eval.ts).
 * Legend: B batch · M = D*S tokens per sample · E experts · T tasks · k top-k.
 */
import { countMatches, extractFindings, formatQuestion, prf, type SplitName } from "../data/index.js";
import { generate, taskName, type GenerateModel } from "../generate.js";
import { closedAccuracy, openQaScores, reportMetrics, type ClosedItem, type OpenItem } from "../eval/metrics.js";
import type { MoeTrace } from "../model/moe.js";
import type { PreprocessPreset } from "../preprocess/index.js";
import { REPORT_PROMPTS, TASK, loadPool } from "./data.js";

export interface EvalOptions {
  split: SplitName;
  count: number; // studies
  dataSeed: number;
  maxReportTokens: number;
  maxAnswerTokens: number;
  onProgress?: (done: number, total: number) => void;
}
export const EVAL_DEFAULTS = { split: "test" as SplitName, count: 20, dataSeed: 2026, maxReportTokens: 200, maxAnswerTokens: 24 };

/** Per MoE layer and true task: the share of tokens whose top-1 expert is `g<group>.e<e>`, and how often the task gate chose the task's group. */
export interface LayerRouting {
  layer: number;
  top1: Record<string, Record<string, number>>; // task name -> expert -> share
  gateAccuracy: Record<string, number> | null; // task name -> share of samples routed to its own group (null: no task level)
}

export interface EvalResult {
  metrics: Record<string, number>;
  counts: { studies: number; reports: number; closed: number; open: number };
  routing: LayerRouting[];
  examples: { id: string; prompt: string; output: string; reference: string }[]; // the first study's items
}

/** Runs every item of `count` studies of the split through the model and scores them. */
export async function evaluate(model: GenerateModel, pre: PreprocessPreset, o: EvalOptions): Promise<EvalResult> {
  const pool = loadPool(o.dataSeed, o.split, o.count, pre);
  const routing = new RoutingCounter();
  const hyps: string[] = [], refs: string[] = [], closed: ClosedItem[] = [], open: OpenItem[] = [];
  const found = { tp: 0, fp: 0, fn: 0 }, lenient = { tp: 0, fp: 0, fn: 0 };
  const examples: EvalResult["examples"] = [];
  const total = pool.reduce((n, p) => n + 1 + p.study.questions.length, 0);
  let done = 0;
  for (const { study, volume } of pool) {
    const v = volume.reshape([1, ...volume.shape]);
    const ask = async (prompt: string, task: number, max: number) => {
      const r = await generate(model, { volume: v, prompt, maxNewTokens: max });
      routing.add(r.routing, task);
      o.onProgress?.(++done, total);
      return r.text;
    };
    const report = await ask(REPORT_PROMPTS[0], TASK.report, o.maxReportTokens);
    hyps.push(report);
    refs.push(study.report);
    const extracted = extractFindings(report);
    for (const [acc, mode] of [[found, "strict"], [lenient, "lenient"]] as const) {
      const c = countMatches(study.findings, extracted, mode);
      acc.tp += c.tp, acc.fp += c.fp, acc.fn += c.fn;
    }
    if (examples.length === 0) examples.push({ id: study.id, prompt: REPORT_PROMPTS[0], output: report, reference: study.report });
    for (const q of study.questions) {
      const prompt = formatQuestion(q);
      const answer = await ask(prompt, TASK.vqa, o.maxAnswerTokens);
      if (q.kind === "closed") closed.push({ prediction: answer, options: q.options!, answer: q.answer });
      else open.push({ prediction: answer, answer: q.answer });
      if (examples.length < 4) examples.push({ id: study.id, prompt, output: answer, reference: q.kind === "closed" ? `${q.answer}. ${q.answerText}` : q.answer });
    }
  }
  const strict = prf(found), loose = prf(lenient), oq = openQaScores(open);
  const metrics: Record<string, number> = {
    ...reportMetrics(hyps, refs),
    findingsPrecision: strict.precision, findingsRecall: strict.recall, findingsF1: strict.f1, findingsF1Lenient: loose.f1,
    closedAccuracy: closedAccuracy(closed).accuracy, openExactMatch: oq.exactMatch, openF1: oq.f1,
  };
  return { metrics, counts: { studies: pool.length, reports: hyps.length, closed: closed.length, open: open.length }, routing: routing.result(), examples };
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
