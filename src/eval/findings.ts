/**
 * Finding-level precision / recall / F1 between predicted and true structured findings (e.g. read
 * back from report text by src/data's `extractFindings`). A generic matcher on type, side and zone;
 * it knows no finding vocabulary and does no text parsing.
 *
 * Values compare after NFKC, trim and lowercase; an empty string counts as missing.
 * A predicted finding p may match a true finding t when
 *   type(p) = type(t),  side(p) = side(t) (missing matches only missing),
 *   zone(p) = zone(t), or either zone is missing (zone is checked only when both have one).
 * Matching is one-to-one and greedy in a fixed order, in two passes:
 *   pass 1 (full agreement: zones equal, or both missing), then pass 2 (exactly one zone missing);
 *   in each pass, predictions in list order each take the first unmatched true finding in list order.
 * This always reaches a maximum one-to-one matching (the tests check it against exhaustive search).
 * Micro-averaged over the corpus: TP, FP, FN summed over samples, then
 *   P = TP / (TP + FP),  R = TP / (TP + FN),  F1 = 2TP / (2TP + FP + FN)  (= 2PR / (P + R));
 * a ratio with a zero denominator is undefined (null): no precision without a predicted finding
 * (src/data/extract.ts prf, the one rule).
 */
import { prf } from "../data/extract.js";
import { ShapeError, ValueError } from "../errors.js";

export interface Finding {
  type: string;
  side?: string;
  /** Lobe zone (upper / middle / lower) or a size class (small / moderate / large). */
  zone?: string;
}

export interface FindingCounts {
  tp: number;
  fp: number;
  fn: number;
}

export interface FindingScores extends FindingCounts {
  precision: number | null; // null: no finding predicted
  recall: number | null; // null: no finding to find
  f1: number | null; // null: neither
}

/**
 * Adapter from src/data's extractor output (`{kind, side, zone?, grade?}`, grade = effusion size
 * class) to this matcher's shape: `{type: kind, side, zone: zone ?? grade}`. Other fields are ignored.
 */
export function fromExtracted(f: { kind: string; side?: string; zone?: string; grade?: string }): Finding {
  return { type: f.kind, side: f.side, zone: f.zone ?? f.grade };
}

type Norm = { type: string; side: string | undefined; zone: string | undefined };

function norm(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new ValueError(`findings: ${what}: expected a string, got ${typeof v}`);
  const s = v.normalize("NFKC").trim().toLowerCase();
  return s === "" ? undefined : s;
}

function normalize(f: Finding, what: string): Norm {
  if (f === null || typeof f !== "object") throw new ValueError(`findings: ${what}: expected a finding object`);
  const type = norm(f.type, `${what}.type`);
  if (type === undefined) throw new ValueError(`findings: ${what}.type: expected a non-empty string`);
  return { type, side: norm(f.side, `${what}.side`), zone: norm(f.zone, `${what}.zone`) };
}

/**
 * One-to-one matching of one sample's findings (see the file header).
 * `pairs` holds [prediction index, truth index] in the order they were made.
 */
export function matchFindings(
  predicted: readonly Finding[],
  truth: readonly Finding[],
): FindingCounts & { pairs: [number, number][] } {
  if (!Array.isArray(predicted) || !Array.isArray(truth)) {
    throw new ValueError("matchFindings: expected two arrays of findings");
  }
  const ps = predicted.map((f, i) => normalize(f, `predicted[${i}]`));
  const ts = truth.map((f, i) => normalize(f, `truth[${i}]`));
  const usedP = new Array<boolean>(ps.length).fill(false), usedT = new Array<boolean>(ts.length).fill(false);
  const pairs: [number, number][] = [];
  const fullAgree = (p: Norm, t: Norm) => p.zone === t.zone;
  const oneZoneMissing = (p: Norm, t: Norm) => (p.zone === undefined) !== (t.zone === undefined);
  for (const zoneOk of [fullAgree, oneZoneMissing]) {
    ps.forEach((p, i) => {
      if (usedP[i]) return;
      const j = ts.findIndex((t, k) => !usedT[k] && t.type === p.type && t.side === p.side && zoneOk(p, t));
      if (j < 0) return;
      usedP[i] = usedT[j] = true;
      pairs.push([i, j]);
    });
  }
  return { tp: pairs.length, fp: ps.length - pairs.length, fn: ts.length - pairs.length, pairs };
}

/** P, R, F1 from counts (zero-denominator rule in the file header). */
export function scoresFromCounts(c: FindingCounts): FindingScores {
  return { ...c, ...prf(c) };
}

/**
 * Micro-averaged finding scores over a corpus (`predicted[s]` against `truth[s]`), overall and per
 * finding type (a pair counts for its type; an unmatched finding for its own type).
 */
export function findingScores(
  predicted: readonly (readonly Finding[])[],
  truth: readonly (readonly Finding[])[],
): FindingScores & { byType: Record<string, FindingScores> } {
  if (predicted.length !== truth.length) {
    throw new ShapeError(`findingScores: truth: expected one list per sample (${predicted.length}), got ${truth.length}`);
  }
  const total: FindingCounts = { tp: 0, fp: 0, fn: 0 };
  const perType = new Map<string, FindingCounts>();
  const bump = (type: string, k: keyof FindingCounts) => {
    if (!perType.has(type)) perType.set(type, { tp: 0, fp: 0, fn: 0 });
    perType.get(type)![k]++;
    total[k]++;
  };
  predicted.forEach((ps, s) => {
    const ts = truth[s];
    const { pairs } = matchFindings(ps, ts);
    const matchedP = new Set(pairs.map(([i]) => i)), matchedT = new Set(pairs.map(([, j]) => j));
    ps.forEach((f, i) => bump(normalize(f, "predicted").type, matchedP.has(i) ? "tp" : "fp"));
    ts.forEach((f, j) => {
      if (!matchedT.has(j)) bump(normalize(f, "truth").type, "fn");
    });
  });
  const byType: Record<string, FindingScores> = {};
  for (const type of [...perType.keys()].sort()) byType[type] = scoresFromCounts(perType.get(type)!);
  return { ...scoresFromCounts(total), byType };
}
