/**
 * Evaluation metrics for generated reports (BLEU, ROUGE-L, METEOR, finding P/R/F1) and answers
 * (closed accuracy, open EM and token F1): the entry point, with settings in docs/EVAL.md.
 * Pure text arithmetic on strings; it runs no model and extracts no findings from text.
 *
 *   const m = reportMetrics(generated, references);   // { bleu1, bleu4, rougeL, ..., meteor }
 *   const q = qaMetrics({ closed, open });             // { closedAccuracy, openExactMatch, openF1 }
 *   summarize([m_seed0, m_seed1, m_seed2])            // mean ± sample std, min, max per metric
 */
import { corpusBleu, type References } from "./bleu.js";
import { corpusRougeL } from "./rouge.js";
import { corpusMeteor } from "./meteor.js";
import { closedAccuracy, openQaScores, type ClosedItem, type OpenItem } from "./qa.js";
import type { Tokenizer } from "./tokenize.js";

export { normalizeText, tokenize, type Tokenizer } from "./tokenize.js";
export { corpusBleu, sentenceBleu, bleuStats, bleuFromStats, closestRefLength } from "./bleu.js";
export type { BleuOptions, BleuResult, BleuStats, References } from "./bleu.js";
export { rougeL, corpusRougeL, lcsLength, fBeta, type RougeOptions, type RougeScore } from "./rouge.js";
export { meteor, corpusMeteor, meteorAlign, countChunks, type MeteorOptions, type MeteorScore } from "./meteor.js";
export { porterStem } from "./porter.js";
export { parseChoice, closedAccuracy, exactMatch, tokenF1, answerTokens, openQaScores } from "./qa.js";
export type { ClosedItem, OpenItem } from "./qa.js";
export { matchFindings, findingScores, scoresFromCounts, fromExtracted } from "./findings.js";
export type { Finding, FindingCounts, FindingScores } from "./findings.js";
export { summarize, summarizeValues, formatSummary, markdownTable, resultsTable } from "./summary.js";
export type { Summary, CellFormat, ResultsRow } from "./summary.js";

/** The report-generation metrics of one run, flat so that runs can go straight to `summarize`. */
export interface ReportMetrics {
  /** Corpus BLEU-1 and BLEU-4, no smoothing. */
  bleu1: number;
  bleu4: number;
  /** ROUGE-L (beta 1.2) F, precision and recall, sentence-level means. */
  rougeL: number;
  rougeLPrecision: number;
  rougeLRecall: number;
  /** METEOR (exact + stem, no synonyms), sentence mean. */
  meteor: number;
  [metric: string]: number;
}

/** All text metrics of generated reports `hyps[s]` against references `refs[s]`, defaults of docs/EVAL.md. */
export function reportMetrics(
  hyps: readonly string[],
  refs: readonly References[],
  opts: { tokenize?: Tokenizer } = {},
): ReportMetrics {
  const rouge = corpusRougeL(hyps, refs, opts);
  return {
    bleu1: corpusBleu(hyps, refs, { ...opts, maxOrder: 1 }).score,
    bleu4: corpusBleu(hyps, refs, { ...opts, maxOrder: 4 }).score,
    rougeL: rouge.f,
    rougeLPrecision: rouge.precision,
    rougeLRecall: rouge.recall,
    meteor: corpusMeteor(hyps, refs, opts).score,
  };
}

/** VQA metrics of one run; a kind left out (or empty) is left out of the result. */
export function qaMetrics(items: { closed?: readonly ClosedItem[]; open?: readonly OpenItem[] }): Record<string, number> {
  const out: Record<string, number> = {};
  if (items.closed && items.closed.length > 0) out.closedAccuracy = closedAccuracy(items.closed).accuracy;
  if (items.open && items.open.length > 0) {
    const o = openQaScores(items.open);
    out.openExactMatch = o.exactMatch;
    out.openF1 = o.f1;
  }
  return out;
}
