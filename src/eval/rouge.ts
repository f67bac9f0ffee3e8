/**
 * ROUGE-L (Lin 2004), sentence level, averaged over the corpus, with beta = 1.2 by default as in the
 * COCO caption evaluation (pycocoevalcap `Rouge`) used by report-generation papers. Not ROUGE-Lsum
 * (no sentence splitting, no union LCS) and no stemming.
 *
 * For a hypothesis h (n tokens) and references r (m_r tokens each), LCS = longest common subsequence:
 *   P = max_r LCS(h, r) / n     R = max_r LCS(h, r) / m_r     (each maximised on its own, as pycocoevalcap)
 *   F = (1 + beta^2) P R / (R + beta^2 P);   P = R = F = 0 when no token is shared (or a text is empty)
 * Corpus: the mean over sentences of P, of R and of F (F is not recomputed from the mean P and R).
 * beta = 1 gives the harmonic mean, the F1 of Google's rouge-score package.
 */
import { ValueError } from "../errors.js";
import { asList, checkCorpus, checkTokens, tokenize as defaultTokenize, type Tokenizer } from "./tokenize.js";
import type { References } from "./bleu.js";

export interface RougeOptions {
  /** Recall weight beta (default 1.2); 1 = F1. */
  beta?: number;
  /** Text -> tokens (default: the pinned `tokenize`). */
  tokenize?: Tokenizer;
}

export interface RougeScore {
  precision: number;
  recall: number;
  f: number;
}

/** Length of the longest common subsequence of two token lists, O(|a| |b|) time, O(|b|) memory. */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  // row[j] = LCS(a[0..i), b[0..j)) for the current i
  let prev = new Array<number>(b.length + 1).fill(0);
  let row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      row[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], row[j - 1]);
    }
    [prev, row] = [row, prev];
  }
  return prev[b.length];
}

/** F_beta from P and R; 0 when either is 0. */
export function fBeta(precision: number, recall: number, beta: number): number {
  if (precision === 0 || recall === 0) return 0;
  const b2 = beta * beta;
  return ((1 + b2) * precision * recall) / (recall + b2 * precision);
}

function betaOf(opts: RougeOptions): number {
  const beta = opts.beta ?? 1.2;
  if (!(beta > 0 && Number.isFinite(beta))) {
    throw new ValueError(`rougeL: beta: expected a finite number > 0, got ${String(beta)}`);
  }
  return beta;
}

/** ROUGE-L of tokenized texts (see the file header). */
export function rougeLTokens(hyp: readonly string[], refs: readonly (readonly string[])[], beta = 1.2): RougeScore {
  let precision = 0, recall = 0;
  for (const ref of refs) {
    const lcs = lcsLength(hyp, ref);
    if (hyp.length > 0) precision = Math.max(precision, lcs / hyp.length);
    if (ref.length > 0) recall = Math.max(recall, lcs / ref.length);
  }
  // P > 0 exactly when some LCS > 0, and then R > 0 too: both are 0 or neither is
  return { precision, recall, f: fBeta(precision, recall, beta) };
}

/** Sentence ROUGE-L of one hypothesis against one or several references. */
export function rougeL(hyp: string, refs: References, opts: RougeOptions = {}): RougeScore {
  const tok = opts.tokenize ?? defaultTokenize;
  const h = checkTokens("rougeL", "hyp", tok(hyp));
  const rs = asList("rougeL", "refs", refs).map((r) => checkTokens("rougeL", "refs", tok(r)));
  return rougeLTokens(h, rs, betaOf(opts));
}

/** Corpus ROUGE-L: the mean of the sentence P, R and F; `perSample` keeps the sentence scores. */
export function corpusRougeL(
  hyps: readonly string[],
  refs: readonly References[],
  opts: RougeOptions = {},
): RougeScore & { perSample: RougeScore[] } {
  checkCorpus("corpusRougeL", hyps, refs);
  betaOf(opts);
  const perSample = hyps.map((h, s) => rougeL(h, refs[s], opts));
  const mean = (k: keyof RougeScore) => perSample.reduce((acc, x) => acc + x[k], 0) / perSample.length;
  return { precision: mean("precision"), recall: mean("recall"), f: mean("f"), perSample };
}
