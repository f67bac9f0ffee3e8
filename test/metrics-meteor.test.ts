/**
 * METEOR (exact + stem, no synonyms) against values worked out by hand: alignments and chunk counts
 * exactly, scores to 1e-12 absolute (a few float64 operations).
 */
import { describe, expect, it } from "vitest";
import { corpusMeteor, countChunks, meteor, meteorAlign } from "../src/eval/meteor.js";
import { ValueError } from "../src/errors.js";
import { assertClose } from "./util/close.js";

const TOL = { atol: 5e-13, rtol: 0 }; // scores in [0, 1], float64 with a few roundings: |a - b| <= 5e-13

describe("METEOR", () => {
  it("exact match: Fmean 1, one chunk, penalty 0.5 (1/n)^3", () => {
    // n = 4: P = R = 1, Fmean = 1/(0.9 + 0.1) = 1; penalty = 0.5 * (1/4)^3 = 0.0078125; score = 0.9921875
    const m = meteor("the nodule is small", "The nodule is small.");
    expect(m.chunks).toBe(1);
    expect(m.penalty).toBe(0.0078125);
    assertClose("m.score", m.score, 0.9921875, TOL);
  });

  it("fragmentation: every match its own chunk", () => {
    // hyp "lobe upper right" vs ref "right upper lobe": alignment (0,2), (1,1), (2,0): 3 chunks for 3
    // matches, penalty = 0.5 * (3/3)^3 = 0.5, Fmean = 1 -> 0.5
    const m = meteor("lobe upper right", "right upper lobe");
    expect(m.alignment).toEqual([[0, 2], [1, 1], [2, 0]]);
    expect(m.chunks).toBe(3);
    assertClose("m.score", m.score, 0.5, TOL);
  });

  it("stem stage matches what exact matching leaves", () => {
    // hyp: nodules(0) in(1) the(2) left(3) lobes(4);  ref: a(0) nodule(1) in(2) the(3) left(4) lobe(5)
    // exact: in->2, the->3, left->4.  stem (Porter): nodules, nodule -> nodul; lobes, lobe -> lobe:
    // nodules->1, lobes->5.  Alignment (0,1)..(4,5) is one chunk; m = 5, P = 1, R = 5/6
    // Fmean = (5/6) / (0.9 + 0.1 * 5/6) = 50/59 = 0.847457627118644; penalty = 0.5 (1/5)^3 = 0.004
    // score = 0.996 * 50/59 = 0.8440677966101694
    const hyp = "nodules in the left lobes", ref = "a nodule in the left lobe";
    const m = meteor(hyp, ref);
    expect(m.alignment).toEqual([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]);
    expect(m.chunks).toBe(1);
    assertClose("m.fmean", m.fmean, 50 / 59, TOL);
    assertClose("m.score", m.score, 0.8440677966101694, TOL);
    // exact only: in, the, left: m = 3, 1 chunk, P = 3/5, R = 3/6
    // Fmean = 0.3 / (0.54 + 0.05) = 0.5084745762711864; score = Fmean (1 - 0.5/27) = 0.4990583804143126
    const e = meteor(hyp, ref, { stem: false });
    expect(e.alignment).toEqual([[1, 2], [2, 3], [3, 4]]);
    assertClose("e.score", e.score, 0.4990583804143126, TOL);
  });

  it("greedy alignment as nltk: last hypothesis token first, to the last free reference token", () => {
    // hyp a(0) b(1) a(2), ref a(0) a(1) b(2): a(2)->1, b(1)->2, a(0)->0, so (0,0) (1,2) (2,1): 3 chunks,
    // penalty 0.5, score 0.5.  (The alignment (0,1) (1,2) (2,0) would have 2 chunks; the rule is pinned.)
    const m = meteor("a b a", "a a b");
    expect(m.alignment).toEqual([[0, 0], [1, 2], [2, 1]]);
    expect(m.chunks).toBe(3);
    assertClose("m.score", m.score, 0.5, TOL);
    // an exact match always wins over a stem match: "nodule nodules" vs "nodules": exact pairs (1,0)
    expect(meteorAlign(["nodule", "nodules"], ["nodules"])).toEqual([[1, 0]]);
  });

  it("no match or an empty text gives 0", () => {
    expect(meteor("x y", "a b").score).toBe(0);
    expect(meteor("", "a b").score).toBe(0);
    expect(meteor("a b", "").score).toBe(0);
    expect(countChunks([])).toBe(0);
  });

  it("several references: the best one; corpus: the mean", () => {
    // vs "x": 0;  vs "lobe upper right": 0.5 (above)
    assertClose("meteor(\"right upper lobe\", [\"x\", \"lobe upper right\"]).score", meteor("right upper lobe", ["x", "lobe upper right"]).score, 0.5, TOL);
    assertClose("meteor(\"right upper lobe\", [\"lobe upper right\", \"x\"]).score", meteor("right upper lobe", ["lobe upper right", "x"]).score, 0.5, TOL);
    const c = corpusMeteor(["lobe upper right", "x"], ["right upper lobe", "y"]);
    expect(c.perSample[1]).toBe(0);
    assertClose("c.score", c.score, 0.25, TOL);
  });

  it("parameters: alpha weights precision, gamma and beta shape the penalty", () => {
    // "a b c" vs "a b c d e f": m = 3, P = 1, R = 1/2, one chunk
    // alpha 0.5: Fmean = 0.5 / (0.5 + 0.25) = 2/3; gamma 0 removes the penalty
    assertClose("meteor(\"a b c\", \"a b c d e f\", { alpha: 0.5, gamma: 0 })....", meteor("a b c", "a b c d e f", { alpha: 0.5, gamma: 0 }).score, 2 / 3, TOL);
    // beta 1, gamma 0.5: penalty = 0.5 * 1/3; Fmean(0.9) = 0.5 / (0.9 + 0.05) = 10/19 -> 10/19 * 5/6
    assertClose("meteor(\"a b c\", \"a b c d e f\", { beta: 1 }).score", meteor("a b c", "a b c d e f", { beta: 1 }).score, (10 / 19) * (5 / 6), TOL);
    expect(() => meteor("a", "a", { alpha: 2 })).toThrow(ValueError);
  });
});
