/**
 * Baselines that cannot look at the volume, for the per-question-type table of the evaluation:
 * - majority: the answer most often right for the question's type in the training studies;
 * - text-only: the answer most often right for the question's exact prompt (question and options in
 *   their order) in the training studies, else the majority answer. This is the best any model that
 *   reads only the text can do on these questions (up to sampling), so it bounds a text-only model.
 * Plus the scoring rule shared with the model (closed: letter and option text must agree; open:
 * exact match) and the question taxonomy (finding kind x aspect) the table is grouped by.
 */
import { formatQuestion, type Question } from "../data/index.js";
import { exactMatch, parseChoice } from "./qa.js";

const LETTERS = "ABCD";

/** What a question template asks: about which finding, and which aspect of it. */
export const QUESTION_TYPES: Record<string, { finding: string; aspect: string }> = {
  present: { finding: "any", aspect: "which is present" },
  contrast: { finding: "technique", aspect: "contrast" },
  "effusion-present": { finding: "effusion", aspect: "presence" },
  "effusion-side": { finding: "effusion", aspect: "side" },
  "effusion-grade": { finding: "effusion", aspect: "size (grade)" },
  "nodule-present": { finding: "nodule", aspect: "presence" },
  "nodule-side": { finding: "nodule", aspect: "side" },
  "nodule-at": { finding: "nodule", aspect: "side + zone" },
  "nodule-zone": { finding: "nodule", aspect: "zone" },
  "nodule-count": { finding: "nodule", aspect: "count" },
  "nodule-type": { finding: "nodule", aspect: "attenuation" },
  "nodule-size": { finding: "nodule", aspect: "size (mm)" },
  "cyst-present": { finding: "cyst", aspect: "presence" },
  "cyst-side": { finding: "cyst", aspect: "side" },
  "cyst-size": { finding: "cyst", aspect: "size (mm)" },
};

/** The table row of a question: `<template> (<closed|open>)`. */
export function questionRow(q: Pick<Question, "template" | "kind">): string {
  return `${q.template} (${q.kind})`;
}

/** Is `prediction` the right answer to `q`? Closed: parseChoice gives the answer letter (letter and text agree); open: exact match. */
export function answeredRight(q: Question, prediction: string): boolean {
  return q.kind === "closed" ? parseChoice(prediction, q.options!) === q.answer : exactMatch(prediction, q.answer) === 1;
}

/** The answer texts of the training questions, counted per type and per exact prompt. */
export class BlindBaselines {
  private readonly byRow = new Map<string, Map<string, number>>();
  private readonly byPrompt = new Map<string, Map<string, number>>();

  constructor(training: Iterable<Question>) {
    const bump = (m: Map<string, Map<string, number>>, key: string, text: string) => {
      if (!m.has(key)) m.set(key, new Map());
      const c = m.get(key)!;
      c.set(text, (c.get(text) ?? 0) + 1);
    };
    for (const q of training) {
      bump(this.byRow, questionRow(q), q.answerText);
      bump(this.byPrompt, formatQuestion(q), q.answerText);
    }
  }

  /** The majority answer of q's type, as the model would write it ("B. left" or "no"). */
  majority(q: Question): string {
    const counts = this.byRow.get(questionRow(q)) ?? new Map<string, number>();
    if (q.kind === "open") return top(counts) ?? "";
    const offered = q.options!;
    const best = top(counts);
    const text = best !== undefined && offered.includes(best) ? best : top(new Map(offered.map((o) => [o, counts.get(o) ?? 0])))!;
    return `${LETTERS[offered.indexOf(text)]}. ${text}`;
  }

  /** The answer most often right for this exact prompt in training, else the majority answer. */
  textOnly(q: Question): string {
    const counts = this.byPrompt.get(formatQuestion(q));
    const best = counts ? top(counts) : undefined;
    if (best === undefined) return this.majority(q);
    return q.kind === "open" ? best : `${LETTERS[q.options!.indexOf(best)]}. ${best}`;
  }
}

/** The most frequent key (ties: the first in code-point order), or undefined when empty. */
function top(counts: ReadonlyMap<string, number>): string | undefined {
  let best: string | undefined, n = -1;
  for (const [k, c] of counts) if (c > n || (c === n && k < best!)) (best = k), (n = c);
  return best;
}
