/**
 * METEOR (exact + stem, no synonyms): METEOR 1.0 (Banerjee & Lavie 2005) with nltk `meteor_score`'s
 * defaults and alignment, with the WordNet synonym stage left out. Not METEOR 1.5 (no paraphrase
 * tables, no function-word weights) and not the Java tool of pycocoevalcap.
 *
 * Alignment, in stages; each stage only sees the tokens that earlier stages left unmatched:
 *   1. exact: equal tokens;   2. stem: equal Porter stems (./porter.ts, the published algorithm).
 * Within a stage the choice is greedy, as nltk's `_match_enums`: hypothesis tokens from the LAST to
 * the first, each taking the LAST still-unmatched reference token that it matches. (This is not the
 * paper's "fewest crossings" choice among maximal alignments; it is what nltk and HF `evaluate` run.)
 * With matches m, hypothesis length n and reference length r:
 *   P = m/n,  R = m/r,  Fmean = P R / (alpha P + (1 - alpha) R)        (alpha 0.9: 10PR / (R + 9P))
 *   chunks = number of runs of matches adjacent in both texts (matches in hypothesis order)
 *   Penalty = gamma (chunks / m)^beta                                    (gamma 0.5, beta 3)
 *   METEOR = Fmean (1 - Penalty),  0 when m = 0.  Several references: the best score.
 * So a perfect n-token match scores 1 - 0.5 / n^3, not 1. Corpus: the mean of the sentence scores.
 */
import { exp, log } from "../detmath.js";
import { ValueError } from "../errors.js";
import { asList, checkCorpus, checkTokens, tokenize as defaultTokenize, type Tokenizer } from "./tokenize.js";
import { porterStem } from "./porter.js";
import type { References } from "./bleu.js";

export interface MeteorOptions {
  /** Precision weight in Fmean (default 0.9). */
  alpha?: number;
  /** Exponent of the fragmentation penalty (default 3). */
  beta?: number;
  /** Weight of the fragmentation penalty (default 0.5). */
  gamma?: number;
  /** Run the stem stage (default true); false = exact matching only. */
  stem?: boolean;
  /** Text -> tokens (default: the pinned `tokenize`). */
  tokenize?: Tokenizer;
}

export interface MeteorScore {
  score: number;
  precision: number;
  recall: number;
  fmean: number;
  penalty: number;
  /** Matched pairs [hypothesis index, reference index], sorted by hypothesis index. */
  alignment: [number, number][];
  chunks: number;
}

type Enum = [index: number, token: string][];

/** One greedy stage (nltk `_match_enums`); removes the matched entries from `hyp` and `ref`. */
function matchStage(hyp: Enum, ref: Enum, key: (t: string) => string, out: [number, number][]): void {
  const refKeys = ref.map(([, t]) => key(t));
  for (let i = hyp.length - 1; i >= 0; i--) {
    const k = key(hyp[i][1]);
    for (let j = ref.length - 1; j >= 0; j--) {
      if (refKeys[j] === k) {
        out.push([hyp[i][0], ref[j][0]]);
        hyp.splice(i, 1);
        ref.splice(j, 1);
        refKeys.splice(j, 1);
        break;
      }
    }
  }
}

/** The METEOR alignment of two token lists: exact stage, then (optionally) stem stage. */
export function meteorAlign(hyp: readonly string[], ref: readonly string[], stem = true): [number, number][] {
  const h: Enum = hyp.map((t, i) => [i, t]);
  const r: Enum = ref.map((t, j) => [j, t]);
  const pairs: [number, number][] = [];
  matchStage(h, r, (t) => t, pairs);
  if (stem) matchStage(h, r, porterStem, pairs);
  return pairs.sort((a, b) => a[0] - b[0]);
}

/** Runs of consecutive matches: (i, j) then (i + 1, j + 1) stay in one chunk. 0 for no match. */
export function countChunks(alignment: readonly (readonly [number, number])[]): number {
  if (alignment.length === 0) return 0;
  let chunks = 1;
  for (let a = 1; a < alignment.length; a++) {
    const [i0, j0] = alignment[a - 1], [i1, j1] = alignment[a];
    if (!(i1 === i0 + 1 && j1 === j0 + 1)) chunks++;
  }
  return chunks;
}

/** x^beta: repeated products for an integer beta (beta 3 -> x*x*x), else exp(beta log x); x in (0, 1]. */
function power(x: number, beta: number): number {
  if (Number.isInteger(beta) && beta >= 0 && beta <= 64) {
    let y = 1;
    for (let i = 0; i < beta; i++) y *= x;
    return y;
  }
  return exp(beta * log(x));
}

function params(opts: MeteorOptions): { alpha: number; beta: number; gamma: number } {
  const alpha = opts.alpha ?? 0.9, beta = opts.beta ?? 3, gamma = opts.gamma ?? 0.5;
  for (const [name, v, lo, hi] of [["alpha", alpha, 0, 1], ["beta", beta, 0, Infinity], ["gamma", gamma, 0, 1]] as const) {
    if (!(v >= lo && v <= hi && Number.isFinite(v))) {
      throw new ValueError(`meteor: ${name}: expected a finite number in [${lo}, ${hi}], got ${String(v)}`);
    }
  }
  return { alpha, beta, gamma };
}

/** METEOR of one tokenized hypothesis against one tokenized reference. */
export function meteorTokens(hyp: readonly string[], ref: readonly string[], opts: MeteorOptions = {}): MeteorScore {
  const { alpha, beta, gamma } = params(opts);
  const alignment = meteorAlign(hyp, ref, opts.stem ?? true);
  const m = alignment.length, chunks = countChunks(alignment);
  if (m === 0) return { score: 0, precision: 0, recall: 0, fmean: 0, penalty: 0, alignment, chunks };
  const precision = m / hyp.length, recall = m / ref.length;
  const fmean = (precision * recall) / (alpha * precision + (1 - alpha) * recall);
  const penalty = gamma * power(chunks / m, beta);
  return { score: (1 - penalty) * fmean, precision, recall, fmean, penalty, alignment, chunks };
}

/** Sentence METEOR: the best score over the references (the first best on ties). */
export function meteor(hyp: string, refs: References, opts: MeteorOptions = {}): MeteorScore {
  const tok = opts.tokenize ?? defaultTokenize;
  const h = checkTokens("meteor", "hyp", tok(hyp));
  let best: MeteorScore | undefined;
  for (const r of asList("meteor", "refs", refs)) {
    const s = meteorTokens(h, checkTokens("meteor", "refs", tok(r)), opts);
    if (best === undefined || s.score > best.score) best = s;
  }
  return best!;
}

/** Corpus METEOR: the mean of the sentence scores (as HF `evaluate`'s meteor). */
export function corpusMeteor(
  hyps: readonly string[],
  refs: readonly References[],
  opts: MeteorOptions = {},
): { score: number; perSample: number[] } {
  checkCorpus("corpusMeteor", hyps, refs);
  const perSample = hyps.map((h, s) => meteor(h, refs[s], opts).score);
  return { score: perSample.reduce((a, b) => a + b, 0) / perSample.length, perSample };
}
