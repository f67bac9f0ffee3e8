/**
 * BLEU and ROUGE-L against values worked out by hand (the arithmetic is in the comments).
 * Tolerance: 1e-12 absolute (a handful of float64 operations; exp/log from src/detmath.ts are
 * accurate to a few ulp). Counts (matches, totals, lengths, LCS) are compared exactly.
 */
import { describe, expect, it } from "vitest";
import { bleuStats, closestRefLength, corpusBleu, sentenceBleu } from "../src/eval/bleu.js";
import { corpusRougeL, lcsLength, rougeL } from "../src/eval/rouge.js";
import { ShapeError, ValueError } from "../src/errors.js";
import { assertClose } from "./util/close.js";

const TOL = { atol: 5e-13, rtol: 0 }; // scores in [0, 1], float64 with a few roundings: |a - b| <= 5e-13

describe("BLEU", () => {
  it("clips repeated n-grams by the largest count in any one reference (Papineni's example)", () => {
    // hyp: the x7; ref1 "the cat is on the mat" has "the" x2, ref2 "there is a cat on the mat" x1
    // p1 = min(7, max(2, 1)) / 7 = 2/7;  c = 7, ref lengths 6 and 7 -> r = 7 (closest), BP = exp(0) = 1
    const hyp = "the the the the the the the", refs = ["the cat is on the mat", "there is a cat on the mat"];
    const b1 = corpusBleu([hyp], [refs], { maxOrder: 1 });
    expect(b1.matches).toEqual([2]);
    expect(b1.totals).toEqual([7]);
    expect(b1.refLength).toBe(7);
    assertClose("b1.score", b1.score, 2 / 7, TOL);
    // bigram "the the" x6 never occurs in a reference: p2 = 0 -> BLEU-4 = 0 (no smoothing)
    expect(corpusBleu([hyp], [refs]).score).toBe(0);
    // max over references, not the sum: "the" x3 vs refs with 1 and 2 -> 2/3 (a sum would give 3/3)
    assertClose("corpusBleu([\"the the the\"], [[\"the cat\", \"the the dog\"]],...", corpusBleu(["the the the"], [["the cat", "the the dog"]], { maxOrder: 1 }).score, 2 / 3, TOL);
  });

  it("is 1 for an exact match", () => {
    const s = "a small nodule in the right upper lobe";
    const b = corpusBleu([s], [s]);
    expect(b.precisions).toEqual([1, 1, 1, 1]);
    expect(b.score).toBe(1);
  });

  it("brevity penalty: a correct but short hypothesis", () => {
    // hyp is a contiguous piece of ref with no repeated n-gram: p1..p4 = 1
    // c = 6, r = 10: BP = exp(1 - 10/6) = exp(-2/3) = 0.513417119032592
    const b = corpusBleu(["a small nodule in the right"], ["there is a small nodule in the right upper lobe"]);
    expect(b.precisions).toEqual([1, 1, 1, 1]);
    assertClose("b.brevityPenalty", b.brevityPenalty, 0.513417119032592, TOL);
    assertClose("b.score", b.score, 0.513417119032592, TOL);
    // longer than the reference: no penalty
    expect(corpusBleu(["a b c d e"], ["a b c d"]).brevityPenalty).toBe(1);
  });

  it("geometric mean of the four precisions", () => {
    // hyp "the nodule is in the left lobe" vs ref "the nodule is in the right lobe" (7 tokens each)
    // 1-grams: the x2, nodule, is, in, lobe match, left does not: 6/7
    // 2-grams: the-nodule, nodule-is, is-in, in-the match; the-left, left-lobe not: 4/6
    // 3-grams: the-nodule-is, nodule-is-in, is-in-the: 3/5;  4-grams: 2/4;  BP = 1 (c = r = 7)
    // BLEU-4 = (6/7 * 4/6 * 3/5 * 2/4)^(1/4) = (144/840)^(1/4) = 0.6434588841607617;  BLEU-1 = 6/7
    const hyp = "the nodule is in the left lobe", ref = "the nodule is in the right lobe";
    const b = corpusBleu([hyp], [ref]);
    expect(b.matches).toEqual([6, 4, 3, 2]);
    expect(b.totals).toEqual([7, 6, 5, 4]);
    assertClose("b.score", b.score, 0.6434588841607617, TOL);
    assertClose("corpusBleu([hyp], [ref], { maxOrder: 1 }).score", corpusBleu([hyp], [ref], { maxOrder: 1 }).score, 6 / 7, TOL);
  });

  it("corpus BLEU sums statistics before dividing (it is not the mean of sentence BLEU)", () => {
    // s1: "the nodule is small" = ref: m = t = (4, 3, 2, 1);  s2: "left effusion" vs "small left effusion":
    // m = t = (2, 1, 0, 0).  Corpus p_n = 6/6, 4/4, 2/2, 1/1 = 1; c = 6, r = 4 + 3 = 7
    // BP = exp(1 - 7/6) = exp(-1/6) = 0.846481724890614.  Sentence BLEU-4 of s2 alone is 0 (t3 = 0).
    const hyps = ["the nodule is small", "left effusion"], refs = ["the nodule is small", "small left effusion"];
    const b = corpusBleu(hyps, refs);
    expect(b.matches).toEqual([6, 4, 2, 1]);
    expect(b.totals).toEqual([6, 4, 2, 1]);
    expect([b.hypLength, b.refLength]).toEqual([6, 7]);
    assertClose("b.score", b.score, 0.846481724890614, TOL);
    expect(sentenceBleu(hyps[1], refs[1]).score).toBe(0);
  });

  it("sentence BLEU with Chen & Cherry method 1 smoothing", () => {
    // hyp "left lower lobe nodule" (4) vs ref "nodule in the left lower lobe" (6)
    // p1 = 4/4; p2: left-lower, lower-lobe match, lobe-nodule not: 2/3; p3: left-lower-lobe: 1/2;
    // p4: 0/1 -> smoothed 0.1/1.  BP = exp(1 - 6/4) = exp(-0.5) = 0.6065306597126334
    // BLEU-4 = 0.6065306597126334 * (1 * 2/3 * 1/2 * 0.1)^(1/4) = 0.6065306597 * 0.4272870064 = 0.25916266987614406
    const hyp = "left lower lobe nodule", ref = "nodule in the left lower lobe";
    expect(sentenceBleu(hyp, ref).score).toBe(0);
    const s = sentenceBleu(hyp, ref, { smoothing: "chen-cherry-1" });
    assertClose("s.precisions[3]", s.precisions[3], 0.1, TOL);
    assertClose("s.score", s.score, 0.25916266987614406, TOL);
    // an order with no n-gram at all (t3 = t4 = 0) is smoothed to epsilon / max(1, 0) = 0.1 (as nltk):
    // (1 * 1 * 0.1 * 0.1)^(1/4) = 0.31622776601683794, BP = 1
    assertClose("sentenceBleu(\"left effusion\", \"left effusion\", { smoothin...", sentenceBleu("left effusion", "left effusion", { smoothing: "chen-cherry-1" }).score, 0.31622776601683794, TOL);
    // epsilon is an option: (1 * 1 * 0.5 * 0.5)^(1/4) = sqrt(0.5)
    assertClose("sentenceBleu(\"left effusion\", \"left effusion\", { smoothin...", sentenceBleu("left effusion", "left effusion", { smoothing: "chen-cherry-1", epsilon: 0.5 }).score, Math.SQRT1_2, TOL);
  });

  it("empty hypothesis and no overlap give 0, with or without smoothing", () => {
    const e = corpusBleu([""], ["a small nodule"]);
    expect([e.score, e.brevityPenalty, e.hypLength]).toEqual([0, 0, 0]);
    expect(corpusBleu(["x y z"], ["a b c"]).score).toBe(0);
    expect(sentenceBleu("x y z", "a b c", { smoothing: "chen-cherry-1" }).score).toBe(0); // m1 = 0 -> 0
    expect(sentenceBleu("", "a", { smoothing: "chen-cherry-1" }).score).toBe(0);
  });

  it("closest reference length: the nearest, the shorter on a tie", () => {
    expect(closestRefLength([6, 4], 5)).toBe(4);
    expect(closestRefLength([7, 3], 5)).toBe(3);
    expect(closestRefLength([9, 5, 2], 6)).toBe(5);
    expect(bleuStats(["a"], [["a", "b"], ["a"]], 1).refLength).toBe(1);
  });

  it("rejects bad input with typed errors", () => {
    expect(() => corpusBleu(["a"], [])).toThrow(ShapeError);
    expect(() => corpusBleu([], [])).toThrow(ValueError);
    expect(() => corpusBleu(["a"], [[]])).toThrow(ValueError);
    expect(() => corpusBleu(["a"], ["a"], { maxOrder: 0 })).toThrow(ValueError);
    expect(() => corpusBleu(["a"], ["a"], { smoothing: "add-1" as "none" })).toThrow(ValueError);
  });
});

describe("ROUGE-L (beta 1.2, sentence level, corpus mean)", () => {
  it("LCS keeps order and allows gaps", () => {
    const t = (s: string) => s.split(" ");
    expect(lcsLength(t("a b c d e"), t("a c e"))).toBe(3);
    expect(lcsLength(t("a b"), t("b a"))).toBe(1);
    expect(lcsLength([], t("a"))).toBe(0);
    // Lin (2004): "police killed the gunman" vs "police kill the gunman": LCS = 3 (police, the, gunman);
    // vs "the gunman kill police": LCS = 2 (the gunman)
    expect(lcsLength(t("police killed the gunman"), t("police kill the gunman"))).toBe(3);
    expect(lcsLength(t("police killed the gunman"), t("the gunman kill police"))).toBe(2);
  });

  it("P, R and F_beta from the LCS", () => {
    // hyp "a nodule in the lobe" (5) vs ref "there is a small nodule in the right upper lobe" (10):
    // LCS = a, nodule, in, the, lobe = 5;  P = 5/5 = 1, R = 5/10 = 0.5
    // F(1.2) = (1 + 1.44) * 1 * 0.5 / (0.5 + 1.44 * 1) = 1.22 / 1.94 = 0.6288659793814433
    // F(1)   = 2 * 0.5 / 1.5 = 2/3
    const hyp = "a nodule in the lobe", ref = "there is a small nodule in the right upper lobe";
    const r = rougeL(hyp, ref);
    expect([r.precision, r.recall]).toEqual([1, 0.5]);
    assertClose("r.f", r.f, 0.6288659793814433, TOL);
    assertClose("rougeL(hyp, ref, { beta: 1 }).f", rougeL(hyp, ref, { beta: 1 }).f, 2 / 3, TOL);
    // Lin's example: P = R = 3/4 -> F = 3/4 for any beta
    assertClose("rougeL(\"police killed the gunman\", \"police kill the gunma...", rougeL("police killed the gunman", "police kill the gunman").f, 0.75, TOL);
  });

  it("several references: P and R are maximised separately (pycocoevalcap)", () => {
    // ref1 "a b": LCS 2, P = 2/4, R = 2/2;  ref2 "a b c d e f g h": LCS 4, P = 4/4, R = 4/8
    // max P = 1, max R = 1 -> F = 1
    for (const refs of [["a b", "a b c d e f g h"], ["a b c d e f g h", "a b"]]) {
      const r = rougeL("a b c d", refs);
      expect([r.precision, r.recall, r.f]).toEqual([1, 1, 1]);
    }
  });

  it("exact match 1; empty or disjoint texts 0", () => {
    expect(rougeL("Small left effusion.", "small left effusion").f).toBe(1);
    expect(rougeL("", "small left effusion")).toEqual({ precision: 0, recall: 0, f: 0 });
    expect(rougeL("small left effusion", "")).toEqual({ precision: 0, recall: 0, f: 0 });
    expect(rougeL("x y", "a b")).toEqual({ precision: 0, recall: 0, f: 0 });
  });

  it("corpus value is the mean of sentence values", () => {
    // sentence F: 1 (exact) and 0 (disjoint) -> 0.5; P and R likewise
    const c = corpusRougeL(["a b", "x"], ["a b", "y"]);
    expect([c.precision, c.recall, c.f]).toEqual([0.5, 0.5, 0.5]);
    expect(c.perSample.map((s) => s.f)).toEqual([1, 0]);
    expect(() => corpusRougeL(["a"], ["a", "b"])).toThrow(ShapeError);
    expect(() => rougeL("a", "a", { beta: 0 })).toThrow(ValueError);
  });
});
