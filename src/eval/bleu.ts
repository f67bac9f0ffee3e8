/**
 * BLEU (Papineni et al. 2002) over metric tokens: corpus BLEU (no smoothing by default) and sentence
 * BLEU (optionally Chen & Cherry 2014 method 1). Scores in [0, 1], not x100. Not a tokenizer.
 *
 * For a corpus of hypotheses h_s, each with references R_s (several allowed):
 *   m_n = sum_s sum_{g in n-grams(h_s)} min(count_{h_s}(g), max_{r in R_s} count_r(g))   clipped matches
 *   t_n = sum_s (number of n-grams of h_s)  = sum_s max(0, |h_s| - n + 1)
 *   p_n = m_n / t_n                          (0 when t_n = 0)
 *   c   = sum_s |h_s|,  r = sum_s |closest reference of s|  (closest length; a tie takes the shorter)
 *   BP  = 1 if c > r;  0 if c = 0;  exp(1 - r/c) otherwise
 *   BLEU-N = BP * exp( sum_{n=1..N} (1/N) log p_n ),  and 0 when any p_n = 0 (no smoothing).
 * Chen & Cherry method 1 (as nltk's SmoothingFunction().method1, epsilon 0.1): an order with m_n = 0
 * uses p_n = epsilon / max(1, t_n) instead. Either way the score is 0 when m_1 = 0 (as nltk).
 * exp/log come from src/detmath.ts, so a score has the same bits in every JS engine.
 */
import { exp, log } from "../detmath.js";
import { assertInt, ValueError } from "../errors.js";
import { asList, checkCorpus, checkTokens, tokenize as defaultTokenize, type Tokenizer } from "./tokenize.js";

/** One reference text, or several alternatives for the same hypothesis. */
export type References = string | readonly string[];

export interface BleuOptions {
  /** Highest n-gram order N, weights uniform 1/N. BLEU-4: 4 (default); BLEU-1: 1. */
  maxOrder?: number;
  /** "none" (default; Papineni) or "chen-cherry-1" (method 1: epsilon / t_n for orders with no match). */
  smoothing?: "none" | "chen-cherry-1";
  /** Method-1 epsilon (default 0.1, as nltk). */
  epsilon?: number;
  /** Text -> tokens (default: the pinned `tokenize` of ./tokenize.ts). */
  tokenize?: Tokenizer;
}

export interface BleuResult {
  /** BLEU-N in [0, 1]. */
  score: number;
  /** p_n for n = 1..N as used in the mean (after smoothing, if any). */
  precisions: number[];
  /** Clipped matches m_n and hypothesis n-gram totals t_n, n = 1..N. */
  matches: number[];
  totals: number[];
  brevityPenalty: number;
  /** c and r of the brevity penalty. */
  hypLength: number;
  refLength: number;
}

/** The sufficient statistics of BLEU: per-sentence values add up to the corpus values. */
export interface BleuStats {
  matches: number[];
  totals: number[];
  hypLength: number;
  refLength: number;
}

const SEP = "\u0000"; // joins the tokens of an n-gram into a map key

/** n-gram -> count. */
function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join(SEP);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Closest reference length to `hypLen`; a tie takes the shorter (nltk and sacrebleu). */
export function closestRefLength(refLens: readonly number[], hypLen: number): number {
  let best = refLens[0];
  for (const len of refLens) {
    const d = Math.abs(len - hypLen), dBest = Math.abs(best - hypLen);
    if (d < dBest || (d === dBest && len < best)) best = len;
  }
  return best;
}

/** BLEU statistics of one tokenized hypothesis against its tokenized references. */
export function bleuStats(hyp: readonly string[], refs: readonly (readonly string[])[], maxOrder = 4): BleuStats {
  const matches: number[] = [], totals: number[] = [];
  for (let n = 1; n <= maxOrder; n++) {
    // clip each hypothesis n-gram count by its largest count in any one reference
    const maxRef = new Map<string, number>();
    for (const ref of refs) {
      for (const [g, k] of ngramCounts(ref, n)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, k));
    }
    let m = 0, t = 0;
    for (const [g, k] of ngramCounts(hyp, n)) {
      m += Math.min(k, maxRef.get(g) ?? 0);
      t += k;
    }
    matches.push(m);
    totals.push(t);
  }
  const refLength = closestRefLength(refs.map((r) => r.length), hyp.length);
  return { matches, totals, hypLength: hyp.length, refLength };
}

/** BLEU-N from (corpus-summed) statistics; N = stats.matches.length. */
export function bleuFromStats(stats: BleuStats, opts: BleuOptions = {}): BleuResult {
  const smoothing = opts.smoothing ?? "none";
  const epsilon = opts.epsilon ?? 0.1;
  if (smoothing !== "none" && smoothing !== "chen-cherry-1") {
    throw new ValueError(`bleu: smoothing: expected "none" or "chen-cherry-1", got ${String(smoothing)}`);
  }
  if (!(epsilon > 0 && Number.isFinite(epsilon))) {
    throw new ValueError(`bleu: epsilon: expected a finite number > 0, got ${String(epsilon)}`);
  }
  const { matches, totals, hypLength: c, refLength: r } = stats;
  const order = matches.length;
  const brevityPenalty = c > r ? 1 : c === 0 ? 0 : exp(1 - r / c);
  const precisions = matches.map((m, i) => {
    if (m > 0) return m / totals[i];
    return smoothing === "chen-cherry-1" ? epsilon / Math.max(1, totals[i]) : 0;
  });
  const base = { precisions, matches: [...matches], totals: [...totals], brevityPenalty, hypLength: c, refLength: r };
  if (matches[0] === 0 || precisions.some((p) => p === 0)) return { score: 0, ...base };
  const w = 1 / order; // uniform weights, multiplied as nltk does: sum_n w * log p_n
  let logSum = 0;
  for (const p of precisions) logSum += w * log(p);
  return { score: brevityPenalty * exp(logSum), ...base };
}

function addStats(acc: BleuStats, s: BleuStats): void {
  for (let i = 0; i < acc.matches.length; i++) {
    acc.matches[i] += s.matches[i];
    acc.totals[i] += s.totals[i];
  }
  acc.hypLength += s.hypLength;
  acc.refLength += s.refLength;
}

function orderOf(opts: BleuOptions): number {
  const n = opts.maxOrder ?? 4;
  assertInt("bleu", "maxOrder", n, 1, 16);
  return n;
}

/** Corpus BLEU-N: statistics summed over all sentences before the precisions are taken. */
export function corpusBleu(hyps: readonly string[], refs: readonly References[], opts: BleuOptions = {}): BleuResult {
  checkCorpus("corpusBleu", hyps, refs);
  const n = orderOf(opts);
  const tok = opts.tokenize ?? defaultTokenize;
  const acc: BleuStats = { matches: new Array(n).fill(0), totals: new Array(n).fill(0), hypLength: 0, refLength: 0 };
  hyps.forEach((hyp, s) => {
    const h = checkTokens("corpusBleu", `hyps[${s}]`, tok(hyp));
    const rs = asList("corpusBleu", `refs[${s}]`, refs[s]).map((x) => checkTokens("corpusBleu", `refs[${s}]`, tok(x)));
    addStats(acc, bleuStats(h, rs, n));
  });
  return bleuFromStats(acc, opts);
}

/** Sentence BLEU-N of one hypothesis (the corpus formula on a corpus of one). */
export function sentenceBleu(hyp: string, refs: References, opts: BleuOptions = {}): BleuResult {
  return corpusBleu([hyp], [refs], opts);
}
