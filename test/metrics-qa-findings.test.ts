/**
 * Closed-answer parsing and accuracy, open EM / token F1, and finding-level P/R/F1, against
 * hand-derived values (exact, or 1e-12 absolute for ratios), plus the matcher's maximality checked
 * against exhaustive search on seeded random finding lists.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { closedAccuracy, exactMatch, openQaScores, parseChoice, tokenF1 } from "../src/eval/qa.js";
import { findingScores, fromExtracted, matchFindings, type Finding } from "../src/eval/findings.js";
import { ShapeError, ValueError } from "../src/errors.js";
import { check, dataSeed, ints } from "./util/prop.js";
import { assertClose } from "./util/close.js";

const TOL = { atol: 5e-13, rtol: 0 }; // scores in [0, 1], float64 with a few roundings: |a - b| <= 5e-13
const OPTIONS = ["left", "right", "both sides", "neither side"];

describe("closed questions", () => {
  it("parses the letter in its usual forms", () => {
    const cases: [string, string][] = [
      ["B", "B"], ["b", "B"], ["B.", "B"], ["(B)", "B"], ["B)", "B"], ["[C]", "C"], ["  D  ", "D"], ["A:", "A"],
      ["B) right", "B"], ["(b) Right", "B"], ["C. both sides", "C"], ["D: neither  side.", "D"],
      ["Right.", "B"], ["RIGHT", "B"], ["both  sides", "C"], // rule 3: the option text itself
      ["The answer is B", "B"], ["the answer is (c).", "C"], ["Answer: D", "D"], ["answer is: B", "B"],
      ["I would choose option A because the fluid is on the left", "A"], ["ANSWER IS C", "C"],
    ];
    for (const [pred, letter] of cases) expect(parseChoice(pred, OPTIONS), pred).toBe(letter);
  });

  it("returns null when no rule applies or the letter is out of range", () => {
    const none = ["", "E", "maybe", "right or left", "a small nodule", "the answer is a small one", "AB", "answers"];
    for (const pred of none) expect(parseChoice(pred, OPTIONS), pred).toBeNull();
    expect(parseChoice("D", ["x", "y", "z"])).toBeNull(); // only A-C exist
    expect(parseChoice("same", ["same", "same", "other"])).toBeNull(); // the text names two options
    expect(() => parseChoice("A", [])).toThrow(ValueError);
  });

  it("a leading letter counts only when the text after it is that option's text", () => {
    expect(parseChoice("A) right", OPTIONS)).toBeNull(); // A is "left": letter and text disagree
    expect(parseChoice("D. left", OPTIONS)).toBeNull();
    expect(parseChoice("(b) right side", OPTIONS)).toBeNull(); // not the option's text either
    expect(parseChoice("A) left", OPTIONS)).toBe("A");
  });

  it("accuracy counts unparsed answers as wrong", () => {
    // correct: "B" (B), "right" (B); wrong: "C" (answer B); unparsed: "not sure" -> 2/4
    const items = ["B", "right", "C", "not sure"].map((prediction) => ({ prediction, options: OPTIONS, answer: "B" }));
    expect(closedAccuracy(items)).toEqual({ accuracy: 0.5, correct: 2, unparsed: 1, n: 4 });
    expect(() => closedAccuracy([{ prediction: "A", options: OPTIONS, answer: "E" }])).toThrow(ValueError);
    expect(() => closedAccuracy([])).toThrow(ValueError);
  });
});

describe("open questions", () => {
  it("exact match after normalisation and article removal", () => {
    expect(exactMatch("The left.", "left")).toBe(1);
    expect(exactMatch("8mm", "8 mm")).toBe(1);
    expect(exactMatch("8 mm", "8.5 mm")).toBe(0);
    expect(exactMatch("No", ["yes", "no"])).toBe(1);
  });

  it("token F1 as a bag of tokens", () => {
    // "left lower lobe" vs "lower lobe": common 2, P = 2/3, R = 1, F1 = 2 (2/3) / (5/3) = 0.8
    assertClose("tokenF1(\"left lower lobe\", \"lower lobe\")", tokenF1("left lower lobe", "lower lobe"), 0.8, TOL);
    // repeats count once per gold occurrence: "no no no" vs "no": common 1, P = 1/3, R = 1, F1 = 0.5
    assertClose("tokenF1(\"no no no\", \"no\")", tokenF1("no no no", "no"), 0.5, TOL);
    // order is ignored
    expect(tokenF1("lobe lower", "lower lobe")).toBe(1);
    // both empty after article removal -> 1; one empty -> 0; no overlap -> 0
    expect(tokenF1("the", "a")).toBe(1);
    expect(tokenF1("", "left")).toBe(0);
    expect(tokenF1("right", "left")).toBe(0);
    // several gold answers: the best (0.8 vs 1)
    expect(tokenF1("lower lobe", ["left lower lobe", "lower lobe"])).toBe(1);
  });

  it("means over items", () => {
    // EM: 1, 0 -> 0.5;  F1: 1, 0.8 -> 0.9
    const s = openQaScores([{ prediction: "left", answer: "left" }, { prediction: "left lower lobe", answer: "lower lobe" }]);
    expect(s.exactMatch).toBe(0.5);
    assertClose("s.f1", s.f1, 0.9, TOL);
    expect(s.n).toBe(2);
  });
});

describe("finding-level precision / recall / F1", () => {
  const f = (type: string, side?: string, zone?: string): Finding => ({ type, side, zone });

  it("one sample: a wrong size class is a false positive and a false negative", () => {
    // nodule matches; effusion small vs moderate does not: TP 1, FP 1, FN 1 -> P = R = F1 = 1/2
    const s = findingScores([[f("nodule", "right", "upper"), f("effusion", "left", "small")]],
      [[f("nodule", "right", "upper"), f("effusion", "left", "moderate")]]);
    expect([s.tp, s.fp, s.fn]).toEqual([1, 1, 1]);
    expect([s.precision, s.recall, s.f1]).toEqual([0.5, 0.5, 0.5]);
  });

  it("zone is checked only when both have one; side always; case and spaces ignored", () => {
    expect(matchFindings([f("nodule", "right")], [f("nodule", "right", "upper")]).tp).toBe(1);
    expect(matchFindings([f("nodule")], [f("nodule", "right")]).tp).toBe(0);
    expect(matchFindings([f("nodule", "left", "upper")], [f("nodule", "right", "upper")]).tp).toBe(0);
    expect(matchFindings([f(" Nodule ", "RIGHT", "")], [f("nodule", "right")]).tp).toBe(1);
  });

  it("full agreement is matched first, so a zone-less prediction cannot steal a better match", () => {
    // pass 1: pred 1 (right lower) -> truth 0 (right lower); pass 2: pred 0 (right, no zone) -> truth 1.
    // Taking pred 0 -> truth 0 first would leave pred 1 unmatched (TP 1 instead of 2).
    const m = matchFindings([f("nodule", "right"), f("nodule", "right", "lower")],
      [f("nodule", "right", "lower"), f("nodule", "right", "upper")]);
    expect(m.pairs).toEqual([[1, 0], [0, 1]]);
    expect(m.tp).toBe(2);
  });

  it("micro-averages over the corpus, with per-type counts", () => {
    // s1: 2 TP; s2: 1 FP (cyst); s3: 1 FN (effusion).  TP 2, FP 1, FN 1: P = R = F1 = 2/3
    const s = findingScores(
      [[f("nodule", "right", "upper"), f("effusion", "left", "small")], [f("cyst", "right")], []],
      [[f("effusion", "left", "small"), f("nodule", "right", "upper")], [], [f("effusion", "right", "large")]],
    );
    expect([s.tp, s.fp, s.fn]).toEqual([2, 1, 1]);
    assertClose("s.precision", s.precision, 2 / 3, TOL);
    assertClose("s.f1", s.f1, 2 / 3, TOL);
    expect(s.byType.cyst).toEqual({ tp: 0, fp: 1, fn: 0, precision: 0, recall: null, f1: 0 }); // no cyst to find: recall undefined
    expect(s.byType.effusion).toMatchObject({ tp: 1, fp: 0, fn: 1, precision: 1, recall: 0.5 });
    expect(Object.keys(s.byType)).toEqual(["cyst", "effusion", "nodule"]);
  });

  it("maps the extractor's {kind, side, zone | grade} to {type, side, zone}", () => {
    expect(fromExtracted({ kind: "effusion", side: "left", grade: "small" })).toEqual(f("effusion", "left", "small"));
    expect(fromExtracted({ kind: "nodule", side: "right", zone: "upper" })).toEqual(f("nodule", "right", "upper"));
  });

  it("zero denominators: nothing predicted and nothing true is perfect, otherwise 0", () => {
    expect(findingScores([[], []], [[], []])).toMatchObject({ precision: null, recall: null, f1: null });
    expect(findingScores([[]], [[f("nodule", "left")]])).toMatchObject({ precision: null, recall: 0, f1: 0 }); // named nothing: no precision
    expect(findingScores([[f("nodule", "left")]], [[]])).toMatchObject({ precision: 0, recall: null, f1: 0 });
    expect(() => findingScores([[]], [])).toThrow(ShapeError);
    expect(() => matchFindings([{ type: "" }], [])).toThrow(ValueError);
  });

  /** The largest one-to-one matching by exhaustive search (truth j for each prediction, or none). */
  function bruteMax(ps: Finding[], ts: Finding[]): number {
    const ok = (p: Finding, t: Finding) =>
      p.type === t.type && p.side === t.side && (p.zone === undefined || t.zone === undefined || p.zone === t.zone);
    const go = (i: number, used: boolean[]): number => {
      if (i === ps.length) return 0;
      let best = go(i + 1, used);
      ts.forEach((t, j) => {
        if (!used[j] && ok(ps[i], t)) {
          used[j] = true;
          best = Math.max(best, 1 + go(i + 1, used));
          used[j] = false;
        }
      });
      return best;
    };
    return go(0, ts.map(() => false));
  }

  it("property: the greedy two-pass matching is a maximum matching, and swapping sides keeps TP", () => {
    const draw = (seed: number, n: number): Finding[] => {
      const v = ints(seed, 3 * n, 0, 3);
      return Array.from({ length: n }, (_, i) => ({
        type: ["nodule", "cyst"][v[3 * i] % 2],
        side: v[3 * i + 1] === 2 ? undefined : ["left", "right"][v[3 * i + 1]],
        zone: v[3 * i + 2] === 2 ? undefined : ["upper", "lower"][v[3 * i + 2]],
      }));
    };
    const arb = fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), dataSeed, dataSeed);
    check(arb, ([np, nt, s1, s2]) => {
      const ps = draw(s1, np), ts = draw(s2, nt);
      const m = matchFindings(ps, ts);
      expect(m.tp).toBe(bruteMax(ps, ts));
      expect(m.tp + m.fp).toBe(np);
      expect(m.tp + m.fn).toBe(nt);
      expect(matchFindings(ts, ps).tp).toBe(m.tp);
      const s = findingScores([ps], [ts]);
      for (const v of [s.precision, s.recall, s.f1]) expect(v === null || (v >= 0 && v <= 1)).toBe(true);
      expect(s.precision === null).toBe(np === 0);
    }, 300);
  });
});
