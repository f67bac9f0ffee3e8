/**
 * The blind baselines (majority answer, text-only) and the per-question-type table of the
 * evaluation, on hand-made questions whose right answers are known.
 */
import { describe, expect, it } from "vitest";
import type { Question } from "../src/data/index.js";
import { answeredRight, BlindBaselines } from "../src/eval/blind.js";
import { questionTable, type AnswerRecord } from "../src/eval/question-table.js";
import { assertClose } from "./util/close.js";

const SIDES4 = ["right", "left", "both sides", "neither side"];
const open = (template: string, question: string, answer: string): Question => ({ kind: "open", template, slots: {}, question, answer, answerText: answer });
const closed = (template: string, question: string, options: string[], answerText: string): Question => ({
  kind: "closed", template, slots: {}, question, options, answer: "ABCD"[options.indexOf(answerText)], answerText,
});
const Q = "On which side is there a pleural effusion?";

describe("blind baselines", () => {
  // training: "no" 3x, "yes" 1x; side question: "neither side" most often, but one exact prompt says "left"
  const train = [
    open("effusion-present", "Is there a pleural effusion?", "no"),
    open("effusion-present", "Is there a pleural effusion?", "no"),
    open("effusion-present", "Is there a pleural effusion?", "no"),
    open("effusion-present", "Is there a pleural effusion?", "yes"),
    closed("effusion-side", Q, SIDES4, "neither side"),
    closed("effusion-side", Q, SIDES4, "neither side"),
    closed("effusion-side", Q, ["left", "right", "both sides", "neither side"], "left"),
  ];
  const blind = new BlindBaselines(train);

  it("majority: the most frequent answer of the question type, written as the model would", () => {
    expect(blind.majority(open("effusion-present", "Is there a pleural effusion?", "yes"))).toBe("no");
    expect(blind.majority(closed("effusion-side", Q, ["both sides", "neither side", "left", "right"], "left"))).toBe("B. neither side");
  });

  it("closed majority falls back to the offered option most often right when the majority text is not offered", () => {
    const q = closed("effusion-side", Q, ["left", "right", "both sides", "x"], "right");
    expect(blind.majority(q)).toBe("A. left"); // left was right once, right and both sides never
  });

  it("text-only: the answer most often right for the exact prompt, else the majority", () => {
    const seen = closed("effusion-side", Q, ["left", "right", "both sides", "neither side"], "right");
    expect(blind.textOnly(seen)).toBe("A. left");
    const unseen = closed("effusion-side", Q, ["neither side", "both sides", "right", "left"], "left");
    expect(blind.textOnly(unseen)).toBe("A. neither side");
    expect(blind.textOnly(open("nodule-present", "Are there any pulmonary nodules?", "yes"))).toBe(""); // never seen: no answer
  });

  it("a closed answer is right only when its letter and text agree", () => {
    const q = closed("effusion-side", Q, SIDES4, "left");
    expect(answeredRight(q, "B. left")).toBe(true);
    expect(answeredRight(q, "B")).toBe(true);
    expect(answeredRight(q, "A. left")).toBe(false);
    expect(answeredRight(q, "B. right")).toBe(false);
    expect(answeredRight(open("effusion-present", "Is there a pleural effusion?", "yes"), "Yes.")).toBe(true);
  });
});

describe("per-question-type table", () => {
  const q1 = open("effusion-present", "Is there a pleural effusion?", "yes");
  const q2 = closed("effusion-side", Q, SIDES4, "left");
  const rec = (question: Question, right: boolean, swap?: AnswerRecord["swap"]): AnswerRecord => ({
    study: "s", question, prediction: "", right, majorityRight: !right, textOnlyRight: false, swap,
  });
  const records = [
    rec(q1, true, { partner: "t", prediction: "no", changed: true, right: true }),
    rec(q1, true, { partner: "t", prediction: "yes", changed: false, right: false }),
    rec(q1, false),
    rec(q2, true),
  ];

  it("groups by template and form, with each predictor's accuracy and the swap shares", () => {
    const rows = questionTable(records);
    expect(rows.map((r) => r.row)).toEqual(["effusion-present (open)", "effusion-side (closed)"]); // presence before side
    const [present, side] = rows;
    expect(present).toMatchObject({ finding: "effusion", aspect: "presence", form: "open", n: 3, swapN: 2, swapChanged: 0.5, swapRight: 0.5 });
    assertClose("present.model", present.model, 2 / 3, { atol: 5e-13, rtol: 0 });
    assertClose("present.majority", present.majority, 1 / 3, { atol: 5e-13, rtol: 0 });
    expect(present.textOnly).toBe(0);
    expect(side).toMatchObject({ n: 1, model: 1, majority: 0, swapN: 0, swapChanged: null, swapRight: null });
  });
});
