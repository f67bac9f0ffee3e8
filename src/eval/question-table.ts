/**
 * The per-question-type table of the evaluation: for each question template and form (closed A-D,
 * open), the model's accuracy beside the two blind baselines (./blind.ts) and the image-swap test
 * (the share of answers that change when the volume is replaced by another study's whose truth
 * differs, and the share that then match the other study's truth). Aggregation only.
 */
import type { Question } from "../data/index.js";
import { QUESTION_TYPES, questionRow } from "./blind.js";

/** One answered question: the model's answer and whether each predictor was right. */
export interface AnswerRecord {
  study: string;
  question: Question;
  prediction: string;
  right: boolean;
  majorityRight: boolean;
  textOnlyRight: boolean;
  /** The same prompt on another study's volume whose truth differs (absent when no study qualifies). */
  swap?: { partner: string; prediction: string; changed: boolean; right: boolean };
  /** A closed question answered by choice among its options (src/generate/choose.ts), beside the generated answer. */
  chosen?: { prediction: string; right: boolean };
}

export interface QuestionTypeRow {
  row: string; // "<template> (<form>)"
  finding: string;
  aspect: string;
  form: "closed" | "open";
  n: number;
  model: number; // accuracy (closed: letter and text agree; open: exact match)
  chosen: number | null; // closed: accuracy of the answer chosen among the options by likelihood (null: open, or not run)
  majority: number;
  textOnly: number;
  swapN: number; // questions with a swap partner
  swapChanged: number | null; // share of those whose answer changed (null when swapN = 0)
  swapRight: number | null; // share of those answered right for the partner's truth
}

/** Accuracy of every predictor per question type, in the order finding, aspect, form. */
export function questionTable(records: readonly AnswerRecord[]): QuestionTypeRow[] {
  const groups = new Map<string, AnswerRecord[]>();
  for (const r of records) {
    const key = questionRow(r.question);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(r);
  }
  const rows = [...groups.entries()].map(([row, rs]) => {
    const type = QUESTION_TYPES[rs[0].question.template] ?? { finding: "other", aspect: rs[0].question.template };
    return { row, ...type, form: rs[0].question.kind, n: rs.length, ...scores(rs) };
  });
  return rows.sort((a, b) => cmp(a.finding, b.finding) || cmp(a.aspect, b.aspect) || cmp(a.form, b.form));
}

/** The same scores over a set of records (a whole form, or everything). */
export function scores(rs: readonly AnswerRecord[]): Pick<QuestionTypeRow, "model" | "chosen" | "majority" | "textOnly" | "swapN" | "swapChanged" | "swapRight"> {
  const share = (f: (r: AnswerRecord) => boolean, of: readonly AnswerRecord[]) => (of.length === 0 ? null : of.filter(f).length / of.length);
  const swapped = rs.filter((r) => r.swap !== undefined);
  return {
    model: share((r) => r.right, rs) ?? 0, chosen: share((r) => r.chosen!.right, rs.filter((r) => r.chosen !== undefined)),
    majority: share((r) => r.majorityRight, rs) ?? 0, textOnly: share((r) => r.textOnlyRight, rs) ?? 0,
    swapN: swapped.length, swapChanged: share((r) => r.swap!.changed, swapped), swapRight: share((r) => r.swap!.right, swapped),
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
