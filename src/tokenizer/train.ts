/**
 * Deterministic byte-level BPE training. Each step merges the most frequent adjacent pair of ids
 * within pre-tokenizer pieces (weighted by how often each piece occurs), ties broken by the smallest
 * (left id, right id); occurrences are counted overlapping ("aaa" holds the pair (a, a) twice) and
 * merged left to right without overlap. Pair counts are updated incrementally from the words a merge
 * touches (never recounted), and a max-heap with lazy deletion finds the best pair.
 */
import { ValueError } from "../errors.js";
import { BpeTokenizer, MAX_VOCAB, STANDARD_SPECIALS } from "./bpe.js";
import { Heap } from "./heap.js";
import { compilePattern, DEFAULT_PATTERN, splitPieces } from "./pretokenize.js";

export interface TrainOptions {
  /** A pair must occur at least this often (weighted) to be merged; training stops otherwise. Default 2. */
  minFrequency?: number;
  /** Pre-tokenizer pattern. Default DEFAULT_PATTERN. */
  pattern?: string;
}

/**
 * Learns merges until the vocabulary (256 bytes + merges + specials) reaches `vocabSize`, or no pair
 * occurs `minFrequency` times (the vocabulary is then smaller; see `vocabSize` of the result).
 * `specials`: extra special tokens after STANDARD_SPECIALS (standard names given again are ignored).
 */
export function trainBpe(
  texts: Iterable<string>,
  vocabSize: number,
  specials: readonly string[] = [],
  opts: TrainOptions = {},
): BpeTokenizer {
  const allSpecials: string[] = [...STANDARD_SPECIALS];
  for (const s of specials) {
    if ((STANDARD_SPECIALS as readonly string[]).includes(s)) continue;
    if (allSpecials.includes(s)) throw new ValueError(`trainBpe: specials: ${JSON.stringify(s)} given twice`);
    allSpecials.push(s);
  }
  const numMerges = vocabSize - 256 - allSpecials.length;
  if (!Number.isInteger(vocabSize) || numMerges < 0 || vocabSize > MAX_VOCAB) {
    throw new ValueError(`trainBpe: vocabSize: expected an integer in [${256 + allSpecials.length}, ${MAX_VOCAB}] (256 bytes + ${allSpecials.length} specials + merges), got ${vocabSize}`);
  }
  const minFrequency = opts.minFrequency ?? 2;
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new ValueError(`trainBpe: minFrequency: expected an integer >= 1, got ${minFrequency}`);
  const pattern = opts.pattern ?? DEFAULT_PATTERN;

  const { words, freqs } = countPieces(texts, pattern);
  const merges = learnMerges(words, freqs, numMerges, minFrequency);
  return new BpeTokenizer({ merges, specials: allSpecials, pattern });
}

/** Distinct pieces of all texts as byte-id arrays, with their occurrence counts. */
function countPieces(texts: Iterable<string>, pattern: string): { words: number[][]; freqs: number[] } {
  const re = compilePattern(pattern);
  const counts = new Map<string, number>();
  for (const text of texts) {
    if (typeof text !== "string") throw new ValueError(`trainBpe: texts: expected strings, got ${typeof text}`);
    for (const p of splitPieces(text, re)) counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  const enc = new TextEncoder();
  const words: number[][] = [], freqs: number[] = [];
  for (const [piece, f] of counts) {
    words.push(Array.from(enc.encode(piece)));
    freqs.push(f);
  }
  return { words, freqs };
}

const key = (a: number, b: number): number => a * MAX_VOCAB + b; // orders pairs like (a, b)

function learnMerges(words: number[][], freqs: number[], numMerges: number, minFrequency: number): [number, number][] {
  const count = new Map<number, number>(); // pair -> weighted occurrences
  const where = new Map<number, Set<number>>(); // pair -> words that may contain it (superset)
  // best = highest count, then smallest key; entries go stale and are checked on pop
  const heap = new Heap<[number, number]>((x, y) => x[0] > y[0] || (x[0] === y[0] && x[1] < y[1]));
  const add = (k: number, delta: number, w: number): void => {
    const c = (count.get(k) ?? 0) + delta;
    if (c === 0) count.delete(k);
    else count.set(k, c);
    if (delta > 0) {
      heap.push([c, k]);
      let s = where.get(k);
      if (!s) where.set(k, (s = new Set()));
      s.add(w);
    }
  };
  words.forEach((word, w) => {
    for (let i = 0; i + 1 < word.length; i++) add(key(word[i], word[i + 1]), freqs[w], w);
  });

  const merges: [number, number][] = [];
  while (merges.length < numMerges) {
    const top = heap.pop();
    if (top === undefined) break;
    const [c, k] = top;
    const now = count.get(k) ?? 0;
    if (now !== c) {
      if (now > 0 && now < c) heap.push([now, k]); // decreases do not push; re-queue at the current count
      continue;
    }
    if (c < minFrequency) break;
    const a = Math.floor(k / MAX_VOCAB), b = k - a * MAX_VOCAB;
    const id = 256 + merges.length;
    merges.push([a, b]);
    for (const w of where.get(k) ?? []) {
      for (const [pk, delta] of mergeWord(words[w], a, b, id)) add(pk, delta * freqs[w], w);
    }
    where.delete(k);
    count.delete(k);
  }
  return merges;
}

/**
 * Replaces every (a, b) in `word` by `id`, left to right without overlap, in place. Returns the net
 * change of the word's pair counts: for each merge x a b y -> x id y, the pairs (x,a), (a,b), (b,y)
 * go and (x,id), (id,y) come, where x is the already-updated left neighbour.
 */
function mergeWord(word: number[], a: number, b: number, id: number): Map<number, number> {
  const delta = new Map<number, number>();
  const bump = (k: number, d: number): void => {
    const v = (delta.get(k) ?? 0) + d;
    if (v === 0) delta.delete(k);
    else delta.set(k, v);
  };
  let out = 0; // write index: word[0, out) is the merged prefix
  for (let i = 0; i < word.length; ) {
    if (i + 1 < word.length && word[i] === a && word[i + 1] === b) {
      const x = out > 0 ? word[out - 1] : -1;
      const y = i + 2 < word.length ? word[i + 2] : -1;
      bump(key(a, b), -1);
      if (x >= 0) {
        bump(key(x, a), -1);
        bump(key(x, id), +1);
      }
      if (y >= 0) {
        bump(key(b, y), -1);
        bump(key(id, y), +1);
      }
      word[out++] = id;
      i += 2;
    } else {
      word[out++] = word[i++];
    }
  }
  word.length = out;
  return delta;
}
