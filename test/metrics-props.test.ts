/**
 * Seeded properties of the text metrics: ranges, identity, symmetry, invariance to whitespace, case
 * and punctuation, corpus-order invariance, determinism (same bits), and extreme inputs.
 * Texts are drawn as a length first (1, 3, 5, 17 in the mix), then words from a small vocabulary
 * so that overlaps, repeats and stem matches are common. Equalities are exact (Object.is).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { corpusBleu, sentenceBleu } from "../src/eval/bleu.js";
import { corpusRougeL, lcsLength, rougeL } from "../src/eval/rouge.js";
import { meteor } from "../src/eval/meteor.js";
import { tokenF1 } from "../src/eval/qa.js";
import { reportMetrics } from "../src/eval/metrics.js";
import { tokenize } from "../src/eval/tokenize.js";
import { check, dataSeed, dim, ints } from "./util/prop.js";
import { assertClose } from "./util/close.js";

const VOCAB = ("the a of in no is nodule nodules lobe lobes left right upper lower small large pleural " +
  "effusion effusions cyst calcified 8 12.5 mm seen").split(" ");

function words(seed: number, n: number): string[] {
  return Array.from(ints(seed, n, 0, VOCAB.length), (i) => VOCAB[i]);
}
/** A text arbitrary: length first, then words. */
const text = fc.tuple(dim(17), dataSeed).map(([n, s]) => words(s, n).join(" "));
const pair = fc.tuple(text, text);

/** The same tokens with other separators, case and punctuation. */
function messy(s: string, seed: number): string {
  const seps = [" ", "  ", "\t", "\n", ", ", "; ", " (", ") ", " - ", ": "];
  const pick = ints(seed, 2 * s.length + 2, 0, seps.length);
  return "  " + s.split(" ").map((w, i) => (pick[i] % 3 === 0 ? w.toUpperCase() : w) + seps[pick[i + s.length]]).join("") + ".";
}

const inUnit = (x: number) => x >= 0 && x <= 1;

describe("metric properties", () => {
  it("all scores lie in [0, 1]", () => {
    check(pair, ([h, r]) => {
      const s = [
        corpusBleu([h], [r]).score, corpusBleu([h], [r], { maxOrder: 1 }).score,
        sentenceBleu(h, r, { smoothing: "chen-cherry-1" }).score,
        ...Object.values(rougeL(h, r)), meteor(h, r).score, tokenF1(h, r),
      ];
      expect(s.every(inUnit)).toBe(true);
    }, 200);
  });

  it("identical non-empty texts: BLEU, ROUGE-L, token F1 are 1; METEOR is 1 - 0.5/n^3", () => {
    check(text, (t) => {
      const n = tokenize(t).length;
      expect(corpusBleu([t], [t]).score).toBe(n >= 4 ? 1 : 0); // no 4-gram at all below 4 tokens
      expect(corpusBleu([t], [t], { maxOrder: 1 }).score).toBe(1);
      expect(rougeL(t, t)).toEqual({ precision: 1, recall: 1, f: 1 });
      expect(tokenF1(t, t)).toBe(1);
      assertClose("meteor(t, t).score", meteor(t, t).score, 1 - 0.5 / n ** 3, { atol: 5e-15, rtol: 0 });
    });
  });

  it("symmetry: token F1, LCS and ROUGE-L with beta 1 (P and R swap)", () => {
    check(pair, ([a, b]) => {
      expect(tokenF1(a, b)).toBe(tokenF1(b, a));
      expect(lcsLength(tokenize(a), tokenize(b))).toBe(lcsLength(tokenize(b), tokenize(a)));
      const ab = rougeL(a, b, { beta: 1 }), ba = rougeL(b, a, { beta: 1 });
      expect([ab.precision, ab.recall]).toEqual([ba.recall, ba.precision]);
      assertClose("ab.f", ab.f, ba.f, { atol: 5e-16, rtol: 0 });
    });
  });

  it("invariance: whitespace, case and punctuation never change a score (same bits)", () => {
    check(fc.tuple(pair, dataSeed), ([[h, r], seed]) => {
      const h2 = messy(h, seed), r2 = messy(r, seed + 1);
      expect(Object.is(corpusBleu([h2], [r2]).score, corpusBleu([h], [r]).score)).toBe(true);
      expect(rougeL(h2, r2)).toEqual(rougeL(h, r));
      expect(Object.is(meteor(h2, r2).score, meteor(h, r).score)).toBe(true);
      expect(Object.is(tokenF1(h2, r2), tokenF1(h, r))).toBe(true);
    });
  });

  it("corpus BLEU does not depend on the order of the sentences", () => {
    const corpus = fc.array(pair, { minLength: 1, maxLength: 5 });
    check(corpus, (c) => {
      const hyps = c.map(([h]) => h), refs = c.map(([, r]) => r);
      const a = corpusBleu(hyps, refs), b = corpusBleu([...hyps].reverse(), [...refs].reverse());
      expect(Object.is(a.score, b.score)).toBe(true);
      const ra = corpusRougeL(hyps, refs).f;
      expect(inUnit(ra)).toBe(true);
    }, 40);
  });

  it("determinism: the same input gives the same bits", () => {
    check(fc.array(pair, { minLength: 1, maxLength: 4 }), (c) => {
      const hyps = c.map(([h]) => h), refs = c.map(([, r]) => r);
      const a = reportMetrics(hyps, refs), b = reportMetrics([...hyps], [...refs]);
      for (const k of Object.keys(a)) expect(Object.is(a[k], b[k])).toBe(true);
    }, 30);
  });

  it("extreme inputs: long texts, a single token, punctuation only, no shared token", () => {
    // 3000-token report against itself and a shifted copy: finite, in range, quick (LCS is 3000 x 3000)
    const long = words(7, 3000).join(" "), shifted = words(7, 3001).slice(1).join(" ");
    const m = reportMetrics([long], [shifted]);
    expect(Object.values(m).every(inUnit)).toBe(true);
    expect(reportMetrics([long], [long]).bleu4).toBe(1);
    assertClose("meteor(\"nodule\", \"nodules\").score", meteor("nodule", "nodules").score, 0.5, { atol: 5e-16, rtol: 0 }); // stem match, n = 1: 1 - 0.5
    const empty = reportMetrics(["..."], ["!!"]);
    expect(Object.values(empty)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(reportMetrics(["x y z"], ["a b c"]).meteor).toBe(0);
  });
});
