/**
 * Question-answering metrics: closed (multiple-choice A-D) accuracy with a pinned answer parser, and
 * open-question exact match and token F1 (SQuAD-style). Text rules only; no model, no fuzzy matching.
 *
 * Open answers are compared as `answerTokens(text)`: the pinned metric tokens (./tokenize.ts) without
 * the articles "a", "an", "the" (as the SQuAD evaluation script drops them).
 *   EM = 1 when the token lists are equal.
 *   F1 = 2 P R / (P + R) with common = |bag(pred) ∩ bag(gold)| (multiset), P = common/|pred|,
 *        R = common/|gold|; 1 when both are empty, 0 when only one is (SQuAD v2).
 *   Several gold answers: the maximum over them.
 */
import { ValueError } from "../errors.js";
import { asList, tokenize } from "./tokenize.js";

const ARTICLES = new Set(["a", "an", "the"]);
const LETTERS = "ABCD";

/** Metric tokens of an open answer, articles removed: "The answer: 8 mm." -> answer 8 mm. */
export function answerTokens(text: string): string[] {
  return tokenize(text).filter((t) => !ARTICLES.has(t));
}

/** Exact match (0 or 1) of a prediction against one or several gold answers. */
export function exactMatch(prediction: string, gold: string | readonly string[]): number {
  const p = answerTokens(prediction).join(" ");
  return asList("exactMatch", "gold", gold).some((g) => answerTokens(g).join(" ") === p) ? 1 : 0;
}

/** Bag-of-tokens F1 of two token lists (order ignored, repeats counted). */
export function tokenF1Tokens(pred: readonly string[], gold: readonly string[]): number {
  if (pred.length === 0 || gold.length === 0) return pred.length === gold.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of gold) counts.set(t, (counts.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of pred) {
    const k = counts.get(t) ?? 0;
    if (k > 0) {
      common++;
      counts.set(t, k - 1);
    }
  }
  if (common === 0) return 0;
  const p = common / pred.length, r = common / gold.length;
  return (2 * p * r) / (p + r);
}

/** SQuAD-style token F1 of a prediction against one or several gold answers (the best). */
export function tokenF1(prediction: string, gold: string | readonly string[]): number {
  const p = answerTokens(prediction);
  return Math.max(...asList("tokenF1", "gold", gold).map((g) => tokenF1Tokens(p, answerTokens(g))));
}

export interface OpenItem {
  prediction: string;
  /** The gold answer, or several accepted answers. */
  answer: string | readonly string[];
}

/** Mean EM and mean token F1 over open questions. */
export function openQaScores(items: readonly OpenItem[]): { exactMatch: number; f1: number; n: number } {
  if (items.length === 0) throw new ValueError("openQaScores: items: expected at least one item, got 0");
  let em = 0, f1 = 0;
  for (const it of items) {
    em += exactMatch(it.prediction, it.answer);
    f1 += tokenF1(it.prediction, it.answer);
  }
  return { exactMatch: em / items.length, f1: f1 / items.length, n: items.length };
}

// ---- closed questions ---------------------------------------------------------------------------

const NOT_WORD = String.raw`(?![\p{L}\p{N}])`;

/**
 * The option letter a free-text prediction chooses, or null. `options[i]` is the text of option
 * "ABCD"[i] (1 to 4 options). Rules, tried in this order on the NFKC-normalised, trimmed prediction:
 *   1. the whole text is a letter, optionally wrapped or followed by punctuation:
 *      "B", "b", "B.", "(B)", "B)", "B:", "[B]"
 *   2. the text starts with a letter followed by ")", "." or ":" or in parentheses, then more text:
 *      "B) Left", "B. left lower lobe", "(B) 8 mm"  -> the letter only when the text after it is
 *      that option's text (tokens equal); "D. nodule in the left lower zone" where D is "no
 *      abnormality" names two different answers and gives null (wrong)
 *   3. the text equals exactly one option's text after metric normalisation (tokens equal):
 *      "Left lower lobe." -> the option whose text is "left lower lobe"
 *   4. the first "answer is X", "answer is: X", "answer: X", "answer X" or "option X" (the words in
 *      any case, not inside another word), X an uppercase letter not followed by a letter or digit,
 *      or a letter of any case in parentheses:
 *      "The answer is B because ...", "I would choose option C."
 * A letter beyond the number of options, or no rule applying, gives null (counted as wrong).
 */
export function parseChoice(prediction: string, options: readonly string[]): string | null {
  if (typeof prediction !== "string") {
    throw new ValueError(`parseChoice: prediction: expected a string, got ${typeof prediction}`);
  }
  if (!Array.isArray(options) || options.length < 1 || options.length > 4 || options.some((o) => typeof o !== "string")) {
    throw new ValueError(`parseChoice: options: expected 1 to 4 option texts, got ${String(options)}`);
  }
  const s = prediction.normalize("NFKC").trim();
  const valid = (l: string | undefined): string | null => {
    const up = (l ?? "").toUpperCase();
    return up.length === 1 && LETTERS.indexOf(up) >= 0 && LETTERS.indexOf(up) < options.length ? up : null;
  };
  // 1. a bare letter
  let m = /^[([]?\s*([A-Da-d])\s*[)\]]?\s*[.:)]?$/u.exec(s);
  if (m) return valid(m[1]);
  // 2. a leading letter with its delimiter, then that option's text
  m = /^(?:\(([A-Da-d])\)|([A-Da-d])[.):])\s*(\S[\s\S]*)$/u.exec(s);
  if (m) {
    const letter = valid(m[1] ?? m[2]);
    return letter !== null && tokenize(m[3]).join(" ") === tokenize(options[LETTERS.indexOf(letter)]).join(" ") ? letter : null;
  }
  // 3. the text of exactly one option
  const said = tokenize(s).join(" ");
  const hits = options.flatMap((o, i) => (tokenize(o).join(" ") === said && said !== "" ? [LETTERS[i]] : []));
  if (hits.length === 1) return hits[0];
  // 4. "answer is B" / "option B"
  const phrase = new RegExp(
    String.raw`(?<![\p{L}\p{N}])(?:[Aa][Nn][Ss][Ww][Ee][Rr]\s*(?:[Ii][Ss]\s*:?\s*|:\s*)?|[Oo][Pp][Tt][Ii][Oo][Nn]\s*)` +
      String.raw`(?:\(([A-Da-d])\)|([A-D])${NOT_WORD})`,
    "u",
  );
  m = phrase.exec(s);
  return m ? valid(m[1] ?? m[2]) : null;
}

export interface ClosedItem {
  prediction: string;
  /** Option texts in letter order: options[0] is A. */
  options: readonly string[];
  /** The correct letter, "A" to "D". */
  answer: string;
}

/** Closed-question accuracy; `unparsed` counts predictions that chose no letter or whose letter and text disagree (all wrong). */
export function closedAccuracy(items: readonly ClosedItem[]): { accuracy: number; correct: number; unparsed: number; n: number } {
  if (items.length === 0) throw new ValueError("closedAccuracy: items: expected at least one item, got 0");
  let correct = 0, unparsed = 0;
  items.forEach((it, i) => {
    const k = LETTERS.indexOf(it.answer);
    if (it.answer.length !== 1 || k < 0 || k >= it.options.length) {
      throw new ValueError(`closedAccuracy: items[${i}].answer: expected one of ${LETTERS.slice(0, it.options.length)}, got ${it.answer}`);
    }
    const choice = parseChoice(it.prediction, it.options);
    if (choice === null) unparsed++;
    else if (choice === it.answer) correct++;
  });
  return { accuracy: correct / items.length, correct, unparsed, n: items.length };
}
