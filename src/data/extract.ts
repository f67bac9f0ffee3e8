/**
 * Reads findings back from report text (ours, or a model's imperfect imitation of it), and scores
 * them against the truth (precision / recall / F1 per finding). Rule-based, documented in
 * docs/DATA.md ("The extractor"); never a learned model.
 */
import type { Finding, FindingKind, Grade, NoduleType, Side, Zone } from "./findings.js";
import { findingKey } from "./findings.js";

/** A finding as far as the text tells it; attributes the text does not give are absent. */
export interface ExtractedFinding {
  kind: FindingKind;
  side?: Side;
  zone?: Zone;
  grade?: Grade;
  subtype?: NoduleType;
  sizeMm?: number;
  /** Cysts: "liver" when the text says hepatic/liver, "other" for another organ. */
  organ?: "liver" | "other";
}

const ANCHOR = /\b(?:nodules?|nodular opacit(?:y|ies)|cysts?|effusions?)\b/g;
const NEGATION_BEFORE = /\b(?:no|without|negative for|free of|absence of|resolution of|resolved)\b/;
const NEGATION_AFTER = /\b(?:(?:is|are|was|were) (?:not|no longer) (?:seen|present|identified|visible)|(?:has|have) resolved)\b/;
/** Clause separators used when a sentence names more than one finding. */
const CLAUSE = /,|;|\band\b|\bwith\b|\bas well as\b|\balso\b/;

/** Findings named (and not negated) in `text`, merged across sentences (findings + impression). */
export function extractFindings(text: string): ExtractedFinding[] {
  const out: ExtractedFinding[] = [];
  for (const sentence of sentences(normalise(text))) {
    for (const clause of mentionClauses(sentence)) {
      for (const f of readClause(clause)) merge(out, f);
    }
  }
  return out;
}

/** Lower case, one kind of dash, "ground glass" -> "ground-glass", single spaces. */
function normalise(text: string): string {
  return text
    .toLowerCase()
    .replace(/[\u2010-\u2015\u2212]/g, "-")
    .replace(/\bground\s+glass\b/g, "ground-glass")
    .replace(/\bnon[\s-]solid\b/g, "nonsolid")
    .replace(/\s+/g, " ");
}

/** Splits at sentence ends (a period not inside a number), semicolons, colons, line breaks. */
function sentences(text: string): string[] {
  return text.split(/(?<!\d)\.|\.(?!\d)|[;:!?\n]/).map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * The clauses of a sentence, one per finding anchor: a sentence with one anchor is one clause;
 * with several, it is cut at separators and each anchor-free piece joins the anchor clause before
 * it (attributes usually follow: "nodule, 8 mm"), or after it when it comes first.
 */
function mentionClauses(sentence: string): string[] {
  if ((sentence.match(ANCHOR) ?? []).length <= 1) return [sentence];
  const pieces = sentence.split(CLAUSE).map((p) => p.trim()).filter((p) => p.length > 0);
  const clauses: string[] = [];
  let pending = "";
  for (const p of pieces) {
    if (new RegExp(ANCHOR.source).test(p)) clauses.push(`${pending} ${p}`.trim()), (pending = "");
    else if (clauses.length > 0) clauses[clauses.length - 1] += ` ${p}`;
    else pending += ` ${p}`;
  }
  return clauses;
}

/** The findings of one clause (one anchor; two findings when it names both sides). */
function readClause(clause: string): ExtractedFinding[] {
  const m = new RegExp(ANCHOR.source).exec(clause);
  if (m === null) return [];
  const before = clause.slice(0, m.index), after = clause.slice(m.index);
  if (NEGATION_BEFORE.test(before) || NEGATION_AFTER.test(after)) return [];
  const word = m[0];
  const kind: FindingKind = word.startsWith("cyst") ? "cyst" : word.startsWith("effusion") ? "effusion" : "nodule";
  if (kind === "effusion" && !/\bpleural\b|\bpleura\b/.test(clause) && /\b(?:pericardial|joint|peritoneal)\b/.test(clause)) return [];
  const base: ExtractedFinding = { kind };
  const size = readSize(clause), subtype = kind === "nodule" ? readSubtype(clause) : undefined;
  const organ = kind === "cyst" ? readOrgan(clause) : undefined;
  if (size !== undefined) base.sizeMm = size;
  if (subtype !== undefined) base.subtype = subtype;
  if (organ !== undefined) base.organ = organ;
  // one finding per side, zone or grade named ("bilateral", "right upper and lower zones")
  const sides = readSides(clause);
  const zones = kind === "nodule" ? readAll(clause, ZONE_PATTERNS) : [];
  const grades = kind === "effusion" ? readAll(clause, GRADE_PATTERNS) : [];
  const n = Math.max(1, sides.length, zones.length, grades.length);
  return Array.from({ length: n }, (_, i) => {
    const f = { ...base };
    const side = sides[i] ?? sides[0], zone = zones[i] ?? zones[0], grade = grades[i] ?? grades[0];
    if (side !== undefined) f.side = side;
    if (zone !== undefined) f.zone = zone;
    if (grade !== undefined) f.grade = grade;
    return f;
  });
}

function readOrgan(clause: string): "liver" | "other" | undefined {
  if (/\b(?:liver|hepatic)\b/.test(clause)) return "liver";
  return /\b(?:renal|kidney|splenic|spleen|pancrea\w*|thyroid)\b/.test(clause) ? "other" : undefined;
}

/** "right" / "left" in order of appearance; "bilateral" / "both" give both. */
function readSides(clause: string): Side[] {
  if (/\b(?:bilateral|bilaterally|both)\b/.test(clause)) return ["right", "left"];
  const found = [...clause.matchAll(/\b(right|left)\b/g)].map((m) => m[1] as Side);
  return [...new Set(found)];
}

const ZONE_PATTERNS: readonly [RegExp, Zone][] = [
  [/\b(?:upper|apical|apex|apices)\b/g, "upper"],
  [/\b(?:middle|mid|lingula|lingular)\b/g, "middle"],
  [/\b(?:lower|basal|base|bases|basilar)\b/g, "lower"],
];
const GRADE_PATTERNS: readonly [RegExp, Grade][] = [
  [/\b(?:small|trace|tiny|minimal|mild)\b/g, "small"],
  [/\bmoderate(?:-sized| sized|ly)?\b/g, "moderate"],
  [/\b(?:large|large-volume|massive|extensive|big)\b/g, "large"],
];

/** Every value whose pattern occurs, in order of first appearance. */
function readAll<T>(clause: string, patterns: readonly [RegExp, T][]): T[] {
  const hits: [number, T][] = [];
  for (const [re, value] of patterns) {
    for (const m of clause.matchAll(re)) hits.push([m.index ?? 0, value]);
  }
  const ordered = hits.sort((a, b) => a[0] - b[0]).map((h) => h[1]);
  return [...new Set(ordered)];
}

/** The first length in the clause, in mm ("8 mm", "1.2 cm", "8 x 6 mm" -> 8); rounded. */
function readSize(clause: string): number | undefined {
  const m = /(\d+(?:\.\d+)?)\s*(?:x\s*\d+(?:\.\d+)?\s*)?(mm|millimet(?:er|re)s?|cm|centimet(?:er|re)s?)\b/.exec(clause);
  if (m === null) return undefined;
  const value = Number(m[1]) * (m[2].startsWith("c") ? 10 : 1);
  return Math.round(value);
}

function readSubtype(clause: string): NoduleType | undefined {
  if (/calcif/.test(clause)) return "calcified";
  if (/\b(?:ground-glass|nonsolid|subsolid|part-solid)\b/.test(clause)) return "ground-glass";
  if (/\b(?:solid|soft-tissue|soft tissue)\b/.test(clause)) return "solid";
  return undefined;
}

/**
 * Adds `f` to `out`, or completes an earlier finding it may repeat: same kind, and side and
 * location either equal or unknown on one side (the impression repeating the findings section).
 */
function merge(out: ExtractedFinding[], f: ExtractedFinding): void {
  const fits = (a: ExtractedFinding): boolean =>
    a.kind === f.kind && compatible(a.side, f.side) && compatible(a.zone, f.zone) && compatible(a.grade, f.grade) && compatible(a.organ, f.organ);
  const prior = out.find(fits);
  if (prior === undefined) {
    out.push(f);
    return;
  }
  prior.side ??= f.side;
  prior.zone ??= f.zone;
  prior.grade ??= f.grade;
  prior.organ ??= f.organ;
  prior.subtype ??= f.subtype;
  prior.sizeMm ??= f.sizeMm;
}

function compatible<T>(a: T | undefined, b: T | undefined): boolean {
  return a === undefined || b === undefined || a === b;
}

/** The truth in the extractor's terms (what a perfect report lets one read back). */
export function truthAsExtracted(f: Finding): ExtractedFinding {
  if (f.kind === "nodule") return { kind: "nodule", side: f.side, zone: f.zone, subtype: f.subtype, sizeMm: f.sizeMm };
  if (f.kind === "effusion") return { kind: "effusion", side: f.side, grade: f.grade };
  return { kind: "cyst", side: f.side, organ: "liver", sizeMm: f.sizeMm };
}

export interface Counts {
  tp: number;
  fp: number;
  fn: number;
}

/**
 * Finding-level matches of predicted against true findings, one to one by key: strict = kind,
 * side and zone / grade / organ (findings.ts findingKey); lenient = kind and side only.
 */
export function countMatches(truth: readonly Finding[], predicted: readonly ExtractedFinding[], mode: "strict" | "lenient" = "strict"): Counts {
  const key = (f: ExtractedFinding): string => (mode === "strict" ? findingKey(f) : `${f.kind}:${f.side ?? "?"}`);
  const left = new Map<string, number>();
  for (const f of truth) left.set(key(truthAsExtracted(f)), (left.get(key(truthAsExtracted(f))) ?? 0) + 1);
  let tp = 0;
  for (const f of predicted) {
    const k = key(f), n = left.get(k) ?? 0;
    if (n > 0) tp++, left.set(k, n - 1);
  }
  return { tp, fp: predicted.length - tp, fn: truth.length - tp };
}

/**
 * Micro precision, recall and F1 of summed counts: precision = tp / (tp + fp), recall = tp / (tp +
 * fn), F1 = 2tp / (2tp + fp + fn). A ratio with a zero denominator is undefined (null), not 1: a
 * model that names no finding has no precision. F1 is null only when there is nothing to find and
 * nothing was found.
 */
export function prf(c: Counts): { precision: number | null; recall: number | null; f1: number | null } {
  const ratio = (a: number, b: number) => (b === 0 ? null : a / b);
  return { precision: ratio(c.tp, c.tp + c.fp), recall: ratio(c.tp, c.tp + c.fn), f1: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn) };
}
