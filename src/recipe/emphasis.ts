/**
 * The report emphasis of the recipe (its option reportEmphasis; the weighted mean is lm.ts
 * targetWeights): which tokens of a report count more within its sequence's loss.
 */
import { HEADERS, ROUTINE, TECHNIQUE } from "../data/index.js";
import { ValueError } from "../errors.js";
import type { BpeTokenizer } from "../tokenizer/bpe.js";

/**
 * How much each token of a report counts in its sequence's loss (Sample.emphasis; over
 * tok.encode(report)): `weight` on the sentences that say what the volume shows (each finding's
 * sentence, each organ's negative sentence, the impression), 1 on the headers, the technique line
 * and the routine normal statements. A report is mostly sentences that are the same whatever the
 * volume; the few that are not decide its findings and otherwise weigh little in its mean.
 * Sentences end with "." or ":" before a space or a line break; the tokens of the sentences encoded
 * one by one are those of the whole report (checked: pre-tokenizer pieces never cross a space that
 * starts a word).
 */
export function reportEmphasis(tok: BpeTokenizer, report: string, weight: number): Float32Array {
  if (!(Number.isFinite(weight) && weight > 0)) throw new ValueError(`reportEmphasis: weight: expected a finite number > 0, got ${weight}`);
  const fixed = new Set<string>([...HEADERS.findings, ...HEADERS.impression, ...TECHNIQUE.contrast, ...TECHNIQUE.plain, ...ROUTINE]);
  const parts = report.split(/(?<=[.:])(?=[ \n])/).map((s) => ({ ids: tok.encode(s), f: fixed.has(s.trim()) ? 1 : weight }));
  const whole = tok.encode(report), out = new Float32Array(whole.length);
  let at = 0;
  for (const { ids, f } of parts) {
    if (ids.some((id, i) => whole[at + i] !== id)) break;
    out.fill(f, at, (at += ids.length));
  }
  if (at !== whole.length) throw new ValueError(`reportEmphasis: report: its sentences encode to other tokens than the whole text (${JSON.stringify(report.slice(0, 60))}...)`);
  return out;
}

/** A training sequence's emphasis [n] from its answer's (the tokens before the answer and the closing <eos> count 1). */
export function sequenceEmphasis(n: number, answer: Float32Array): Float32Array {
  const out = new Float32Array(n).fill(1);
  out.set(answer, n - 1 - answer.length);
  return out;
}
