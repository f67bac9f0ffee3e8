/**
 * Free-text reports from the structured truth: a findings section (one sentence per finding, a
 * negative sentence per clear organ, routine normal statements; in a seeded order) and an
 * impression line. Several templates and synonyms each; every template is listed in docs/DATA.md
 * and read back by extract.ts (tested for all of them).
 */
import type { Rng } from "../rng.js";
import { chance, pick, shuffled } from "./draw.js";
import type { Cyst, Effusion, Finding, Grade, Nodule, NoduleType, Side, Zone } from "./findings.js";

/** Synonyms (all read back by extract.ts). */
export const TYPE_WORDS: Record<NoduleType, readonly string[]> = {
  solid: ["solid", "soft-tissue attenuation"],
  calcified: ["calcified", "densely calcified"],
  "ground-glass": ["ground-glass", "nonsolid ground-glass"],
};
export const ZONE_WORDS: Record<Zone, readonly string[]> = {
  upper: ["upper zone", "upper lung zone"],
  middle: ["middle zone", "mid zone", "mid lung zone"],
  lower: ["lower zone", "lower lung zone"],
};
export const GRADE_WORDS: Record<Grade, readonly string[]> = {
  small: ["small"],
  moderate: ["moderate", "moderate-sized"],
  large: ["large", "large-volume"],
};

/** The words a template is filled with. */
interface Words {
  size: string; type: string; side: Side; zone: string; grade: string; depth: string;
}

export const NODULE_TEMPLATES: readonly ((w: Words) => string)[] = [
  (w) => `There is a ${w.size} ${w.type} nodule in the ${w.side} ${w.zone}.`,
  (w) => `A ${w.type} nodule measuring ${w.size} is seen in the ${w.zone} of the ${w.side} lung.`,
  (w) => `${cap(w.side)} ${w.zone} ${w.type} nodule, ${w.size}.`,
  (w) => `Noted is a ${w.size} ${w.type} pulmonary nodule in the ${w.side} ${w.zone}.`,
  (w) => `The ${w.side} lung contains a ${w.type} nodule of ${w.size} in the ${w.zone}.`,
];
export const EFFUSION_TEMPLATES: readonly ((w: Words) => string)[] = [
  (w) => `There is a ${w.grade} ${w.side} pleural effusion.`,
  (w) => `A ${w.grade} pleural effusion is present on the ${w.side}.`,
  (w) => `${cap(w.grade)} ${w.side}-sided pleural effusion with dependent layering.`,
  (w) => `${cap(w.grade)} layering ${w.side} pleural effusion, measuring up to ${w.depth} in depth.`,
];
/** Used instead of two per-side sentences when both sides have an effusion of the same grade. */
export const BILATERAL_EFFUSION_TEMPLATES: readonly ((grade: string) => string)[] = [
  (g) => `${cap(g)} bilateral pleural effusions.`,
  (g) => `There are ${g} pleural effusions on both sides.`,
];
export const CYST_TEMPLATES: readonly ((w: Words) => string)[] = [
  (w) => `There is a ${w.size} simple cyst in the ${w.side} hepatic lobe.`,
  (w) => `A ${w.size} hypodense cyst is noted in the ${w.side} lobe of the liver.`,
  (w) => `${cap(w.side)} hepatic lobe cyst measuring ${w.size}.`,
  (w) => `Incidental ${w.size} hepatic cyst in the ${w.side} lobe.`,
];
/** Impression items, one per finding. */
export const IMPRESSION_TEMPLATES: Record<Finding["kind"], readonly ((w: Words) => string)[]> = {
  nodule: [(w) => `${w.size} ${w.type} nodule in the ${w.side} ${w.zone}`, (w) => `${cap(w.side)} ${w.zone} ${w.type} nodule (${w.size})`],
  effusion: [(w) => `${w.grade} ${w.side} pleural effusion`, (w) => `${cap(w.grade)} ${w.side}-sided pleural effusion`],
  cyst: [(w) => `${w.size} simple hepatic cyst in the ${w.side} lobe`, (w) => `${cap(w.side)} hepatic lobe cyst (${w.size})`],
};

export const TECHNIQUE: Record<"contrast" | "plain", readonly string[]> = {
  contrast: ["CT of the chest with intravenous contrast.", "Contrast-enhanced CT of the chest."],
  plain: ["CT of the chest without intravenous contrast.", "Non-contrast CT of the chest."],
};
/** Negative sentences for an organ without findings of that kind. */
export const NEGATIVES: Record<Finding["kind"], readonly string[]> = {
  nodule: ["No pulmonary nodules.", "The lungs are clear without nodules.", "No suspicious pulmonary nodule or mass."],
  effusion: ["No pleural effusion.", "No pleural effusion or pneumothorax.", "The pleural spaces are clear."],
  cyst: ["No focal liver lesion.", "The visualized liver is unremarkable."],
};
/** Routine normal statements; each report includes a seeded subset. */
export const ROUTINE: readonly string[] = [
  "Heart size is normal.", "No pericardial effusion.", "The mediastinum is unremarkable.",
  "No mediastinal or hilar lymphadenopathy.", "The central airways are patent.", "The osseous structures are intact.",
];
export const NORMAL_IMPRESSIONS: readonly string[] = [
  "No acute cardiopulmonary abnormality.", "Normal CT of the chest.", "No significant abnormality.",
];
export const HEADERS = { findings: ["FINDINGS:", "Findings:"], impression: ["IMPRESSION:", "Impression:"] } as const;

/** The report of a study: "FINDINGS: ...\nIMPRESSION: ...". */
export function writeReport(rng: Rng, findings: readonly Finding[], contrast: boolean): string {
  const sentences: string[] = [];
  const effusions = findings.filter((f): f is Effusion => f.kind === "effusion");
  const bilateral = effusions.length === 2 && effusions[0].grade === effusions[1].grade && chance(rng, 0.5);
  for (const f of findings) {
    if (bilateral && f.kind === "effusion") continue;
    sentences.push(findingSentence(rng, f));
  }
  if (bilateral) sentences.push(pick(rng, BILATERAL_EFFUSION_TEMPLATES)(pick(rng, GRADE_WORDS[effusions[0].grade])));
  for (const kind of ["nodule", "effusion", "cyst"] as const) {
    if (!findings.some((f) => f.kind === kind)) sentences.push(pick(rng, NEGATIVES[kind]));
  }
  for (const s of ROUTINE) if (chance(rng, 0.5)) sentences.push(s);
  const body = [pick(rng, TECHNIQUE[contrast ? "contrast" : "plain"]), ...shuffled(rng, sentences)].join(" ");
  const items = shuffled(rng, findings).map((f) => pick(rng, IMPRESSION_TEMPLATES[f.kind])(words(rng, f)));
  const impression = items.length === 0 ? pick(rng, NORMAL_IMPRESSIONS) : `${cap(items.join("; "))}.`;
  return `${pick(rng, HEADERS.findings)} ${body}\n${pick(rng, HEADERS.impression)} ${impression}`;
}

/** One findings-section sentence for a finding (template and synonyms drawn). */
export function findingSentence(rng: Rng, f: Finding): string {
  const list = f.kind === "nodule" ? NODULE_TEMPLATES : f.kind === "effusion" ? EFFUSION_TEMPLATES : CYST_TEMPLATES;
  return pick(rng, list)(words(rng, f));
}

/** Fills the words of a finding; synonyms drawn from `rng`. */
export function words(rng: Rng, f: Finding): Words {
  const n = f as Nodule, e = f as Effusion, c = f as Cyst;
  return {
    size: f.kind === "effusion" ? `${e.depthMm} mm` : `${(f.kind === "nodule" ? n : c).sizeMm} mm`,
    type: f.kind === "nodule" ? pick(rng, TYPE_WORDS[n.subtype]) : "",
    side: f.side,
    zone: f.kind === "nodule" ? pick(rng, ZONE_WORDS[n.zone]) : "",
    grade: f.kind === "effusion" ? pick(rng, GRADE_WORDS[e.grade]) : "",
    depth: f.kind === "effusion" ? `${e.depthMm} mm` : "",
  };
}

/** First letter upper case. */
export function cap(s: string): string {
  return s.length === 0 ? s : s[0].toUpperCase() + s.slice(1);
}
