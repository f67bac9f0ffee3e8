/**
 * Questions about a study, from its structured truth: closed multiple choice (options A-D, exactly
 * one correct, seeded option order) and open questions with short answers. The question texts are
 * pinned here and in docs/DATA.md; answers are derived from the truth alone.
 */
import { ValueError } from "../errors.js";
import type { Rng } from "../rng.js";
import { pick, shuffled } from "./draw.js";
import { GRADES, NODULE_TYPES, SIDES, ZONES, type Finding, type Nodule, type Side, type Zone } from "./findings.js";

export interface Question {
  kind: "closed" | "open";
  /** Template id (docs/DATA.md "Questions"). */
  template: string;
  /** The finding the question is about, when it names one. */
  slots: { side?: Side; zone?: Zone };
  question: string;
  /** Closed: the four options in order A, B, C, D. */
  options?: string[];
  /** Closed: the letter of the correct option; open: the short answer. */
  answer: string;
  /** The correct option's text (closed) or the answer (open). */
  answerText: string;
}

export const LETTERS = ["A", "B", "C", "D"] as const;

/** Closed question texts. */
export const CLOSED = {
  present: "Which of the following findings is present in this CT?",
  effusionSide: "On which side is there a pleural effusion?",
  noduleSide: "In which lung is there a pulmonary nodule?",
  effusionGrade: (side: Side) => `How large is the ${side} pleural effusion?`,
  noduleCount: "How many pulmonary nodules are there?",
  noduleType: (side: Side, zone: Zone) => `What is the attenuation of the nodule in the ${side} ${zone} zone?`,
  noduleSize: (side: Side, zone: Zone) => `How large is the nodule in the ${side} ${zone} zone?`,
  noduleZone: (side: Side) => `In which zone of the ${side} lung is the nodule?`,
  cystSide: "Where is the hepatic cyst?",
} as const;

/** Open question texts. */
export const OPEN = {
  effusionPresent: "Is there a pleural effusion?",
  effusionSide: "Which side is the pleural effusion on?",
  noduleSide: "Which lung has a nodule?",
  effusionGrade: (side: Side) => `How large is the ${side} pleural effusion?`,
  nodulePresent: "Are there any pulmonary nodules?",
  noduleAt: (side: Side, zone: Zone) => `Is there a nodule in the ${side} ${zone} zone?`,
  noduleCount: "How many pulmonary nodules are present?",
  noduleType: (side: Side, zone: Zone) => `What type of nodule is in the ${side} ${zone} zone?`,
  noduleSize: (side: Side, zone: Zone) => `How large is the nodule in the ${side} ${zone} zone?`,
  cystPresent: "Is there a cyst in the liver?",
  cystSize: (side: Side) => `How large is the hepatic cyst in the ${side} lobe?`,
  contrast: "Was the scan performed with intravenous contrast?",
} as const;

/** Option text of a finding slot, for the "present" question. */
export function presentOption(f: { kind: Finding["kind"]; side: Side; zone?: Zone }): string {
  if (f.kind === "nodule") return `nodule in the ${f.side} ${f.zone} zone`;
  return f.kind === "effusion" ? `${f.side} pleural effusion` : `cyst in the ${f.side} hepatic lobe`;
}
export const NO_ABNORMALITY = "no abnormality";
const COUNT_WORDS = ["none", "one", "two", "three"];

/** Every question the truth supports: the general ones always, the finding-specific ones per finding. */
export function makeQuestions(rng: Rng, findings: readonly Finding[], contrast: boolean): Question[] {
  const nodules = findings.filter((f): f is Nodule => f.kind === "nodule");
  const effusionSides = SIDES.filter((s) => findings.some((f) => f.kind === "effusion" && f.side === s));
  const noduleSides = SIDES.filter((s) => nodules.some((f) => f.side === s));
  const cystSides = SIDES.filter((s) => findings.some((f) => f.kind === "cyst" && f.side === s));
  const q: Question[] = [];
  const closed = (template: string, question: string, correct: string, wrong: readonly string[], slots: Question["slots"] = {}) =>
    q.push(closedQuestion(rng, template, question, correct, wrong, slots));
  const open = (template: string, question: string, answer: string, slots: Question["slots"] = {}) =>
    q.push({ kind: "open", template, slots, question, answer, answerText: answer });

  // closed, always asked
  const present = findings.map(presentOption);
  const absent = allSlots().map(presentOption).filter((o) => !present.includes(o));
  const [correct, ...pool] = present.length > 0 ? [pick(rng, present), NO_ABNORMALITY] : [NO_ABNORMALITY];
  closed("present", CLOSED.present, correct, shuffled(rng, [...pool, ...absent]).slice(0, 3));
  const bothOrOne = (sides: Side[], none: string) => (sides.length === 2 ? "both sides" : sides.length === 1 ? sides[0] : none);
  closed("effusion-side", CLOSED.effusionSide, bothOrOne(effusionSides, "neither side"), ["right", "left", "both sides", "neither side"]);
  closed("nodule-side", CLOSED.noduleSide, bothOrOne(noduleSides, "neither side"), ["right", "left", "both sides", "neither side"]);
  closed("nodule-count", CLOSED.noduleCount, COUNT_WORDS[nodules.length], COUNT_WORDS);
  const lobes = ["right hepatic lobe", "left hepatic lobe", "both hepatic lobes", "there is no hepatic cyst"];
  closed("cyst-side", CLOSED.cystSide, cystSides.length === 2 ? lobes[2] : cystSides.length === 1 ? `${cystSides[0]} hepatic lobe` : lobes[3], lobes);
  // open, always asked
  open("effusion-present", OPEN.effusionPresent, effusionSides.length > 0 ? "yes" : "no");
  open("nodule-present", OPEN.nodulePresent, nodules.length > 0 ? "yes" : "no");
  open("nodule-count", OPEN.noduleCount, String(nodules.length));
  open("cyst-present", OPEN.cystPresent, cystSides.length > 0 ? "yes" : "no");
  open("contrast", OPEN.contrast, contrast ? "yes" : "no");
  // "is there a nodule at ...": a present slot or an absent one, half and half when both exist
  const coin = rng.uniform();
  const askPresent = nodules.length > 0 && coin < 0.5;
  const at = askPresent ? pick(rng, nodules) : pick(rng, allNoduleSlots().filter((s) => !nodules.some((n) => n.side === s.side && n.zone === s.zone)));
  open("nodule-at", OPEN.noduleAt(at.side, at.zone), askPresent ? "yes" : "no", { side: at.side, zone: at.zone });

  // finding-specific
  if (effusionSides.length > 0) open("effusion-side", OPEN.effusionSide, effusionSides.length === 2 ? "both" : effusionSides[0]);
  if (noduleSides.length > 0) open("nodule-side", OPEN.noduleSide, noduleSides.length === 2 ? "both" : noduleSides[0]);
  for (const f of findings) {
    const slots = { side: f.side, ...(f.kind === "nodule" ? { zone: f.zone } : {}) };
    if (f.kind === "effusion") {
      closed("effusion-grade", CLOSED.effusionGrade(f.side), f.grade, [...GRADES, `there is no ${f.side} pleural effusion`], slots);
      open("effusion-grade", OPEN.effusionGrade(f.side), f.grade, slots);
    } else if (f.kind === "nodule") {
      closed("nodule-type", CLOSED.noduleType(f.side, f.zone), f.subtype, [...NODULE_TYPES, "fat-containing"], slots);
      closed("nodule-size", CLOSED.noduleSize(f.side, f.zone), `${f.sizeMm} mm`, sizeDistractors(rng, f.sizeMm).map((s) => `${s} mm`), slots);
      open("nodule-type", OPEN.noduleType(f.side, f.zone), f.subtype, slots);
      open("nodule-size", OPEN.noduleSize(f.side, f.zone), `${f.sizeMm} mm`, slots);
      if (nodules.filter((n) => n.side === f.side).length === 1) {
        closed("nodule-zone", CLOSED.noduleZone(f.side), `${f.zone} zone`, [...ZONES.map((z) => `${z} zone`), `there is no nodule in the ${f.side} lung`], { side: f.side });
      }
    } else {
      open("cyst-size", OPEN.cystSize(f.side), `${f.sizeMm} mm`, slots);
    }
  }
  return q;
}

/** Four options: the correct one and three others from `candidates` (the correct one removed), shuffled. */
function closedQuestion(rng: Rng, template: string, question: string, correct: string, candidates: readonly string[], slots: Question["slots"]): Question {
  const wrong = candidates.filter((c) => c !== correct).slice(0, 3);
  if (wrong.length !== 3) throw new ValueError(`closedQuestion: ${template}: expected 3 distractors, got ${wrong.length}`);
  const options = shuffled(rng, [correct, ...wrong]);
  return { kind: "closed", template, slots, question, options, answer: LETTERS[options.indexOf(correct)], answerText: correct };
}

/** Three wrong sizes (mm): each differs from s and from the others by at least max(3, s/4), all in [2, 45]. */
export function sizeDistractors(rng: Rng, s: number): number[] {
  const gap = Math.max(3, Math.round(s / 4));
  const candidates = shuffled(rng, [-3, -2, -1, 1, 2, 3].map((k) => s + k * gap)).filter((x) => x >= 2 && x <= 45);
  const out: number[] = [];
  for (const x of candidates) if (out.every((y) => Math.abs(x - y) >= gap) && out.length < 3) out.push(x);
  return out;
}

/** Every possible finding slot (kind, side, zone), for distractors. */
function allSlots(): { kind: Finding["kind"]; side: Side; zone?: Zone }[] {
  return [...allNoduleSlots(), ...SIDES.map((side) => ({ kind: "effusion" as const, side })), ...SIDES.map((side) => ({ kind: "cyst" as const, side }))];
}

function allNoduleSlots(): { kind: "nodule"; side: Side; zone: Zone }[] {
  return SIDES.flatMap((side) => ZONES.map((zone) => ({ kind: "nodule" as const, side, zone })));
}

/** The prompt text of a question: the question, then "A. ..." lines for closed ones. */
export function formatQuestion(q: Question): string {
  return q.options === undefined ? q.question : [q.question, ...q.options.map((o, i) => `${LETTERS[i]}. ${o}`)].join("\n");
}

/** The target text: "B. left" for closed questions, the short answer for open ones. */
export function formatAnswer(q: Question): string {
  return q.kind === "closed" ? `${q.answer}. ${q.answerText}` : q.answer;
}
