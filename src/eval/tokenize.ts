/**
 * The pinned text normalisation and tokenization that every text metric in src/eval uses.
 * It is for scoring only (never the model's BPE tokenizer in src/tokenizer/), and it never stems.
 *
 *   normalizeText: NFKC, then lowercase (String.prototype.toLowerCase, locale-independent)
 *   tokenize:      the maximal runs of either
 *                    - a number: decimal digits, optionally with a decimal point between digits ("8.5")
 *                    - a word:   a letter followed by letters or combining marks
 *                  in order; everything else (whitespace, punctuation, symbols) separates and is dropped.
 *
 *   "Right upper-lobe nodule, 8mm (8.5 mm)."  ->  right upper lobe nodule 8 mm 8.5 mm
 */
import { ShapeError, ValueError } from "../errors.js";

/** Any text -> token list; metrics take one through their `tokenize` option. */
export type Tokenizer = (text: string) => string[];

// A number (digits, with "." only between digits) or a word (a letter, then letters or marks).
// Digits next to letters split: "8mm" -> "8" "mm", "t2" -> "t" "2".
const TOKEN = /\p{Nd}+(?:\.\p{Nd}+)*|\p{L}[\p{L}\p{M}]*/gu;

/** NFKC then lowercase: "ＣＴ Ⅳ" -> "ct iv". */
export function normalizeText(text: string): string {
  if (typeof text !== "string") {
    throw new ValueError(`normalizeText: text: expected a string, got ${typeof text}`);
  }
  return text.normalize("NFKC").toLowerCase();
}

/** The metric tokens of `text` (see the file header). Empty or punctuation-only text gives []. */
export function tokenize(text: string): string[] {
  return normalizeText(text).match(TOKEN) ?? [];
}

/** Checks a user-supplied token list (what a custom `tokenize` returned). */
export function checkTokens(op: string, name: string, tokens: unknown): readonly string[] {
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== "string")) {
    throw new ValueError(`${op}: ${name}: expected the tokenizer to return string[], got ${String(tokens)}`);
  }
  return tokens as readonly string[];
}

/** One text or several alternatives (e.g. references): always an array, never empty. */
export function asList(op: string, name: string, x: string | readonly string[]): readonly string[] {
  const list = typeof x === "string" ? [x] : x;
  if (!Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== "string")) {
    throw new ValueError(`${op}: ${name}: expected a string or a non-empty string[], got ${String(x)}`);
  }
  return list;
}

/** Checks that a corpus of hypotheses and a corpus of references pair up one to one. */
export function checkCorpus(op: string, hyps: readonly unknown[], refs: readonly unknown[]): void {
  if (!Array.isArray(hyps) || !Array.isArray(refs)) {
    throw new ValueError(`${op}: expected arrays of hypotheses and references`);
  }
  if (hyps.length !== refs.length) {
    throw new ShapeError(`${op}: refs: expected one entry per hypothesis (${hyps.length}), got ${refs.length}`);
  }
  if (hyps.length === 0) throw new ValueError(`${op}: hyps: expected at least one hypothesis, got 0`);
}
