/**
 * Aggregation over seeds and the markdown formatters, against hand-computed statistics
 * (5e-13 absolute) and exact strings; plus the one-call `reportMetrics` / `qaMetrics` against hand-computed scores.
 */
import { describe, expect, it } from "vitest";
import { formatSummary, markdownTable, resultsTable, summarize, summarizeValues } from "../src/eval/summary.js";
import { qaMetrics, reportMetrics } from "../src/eval/metrics.js";
import { ValueError } from "../src/errors.js";
import { assertClose } from "./util/close.js";

const TOL = { atol: 5e-13, rtol: 0 }; // scores in [0, 1], float64 with a few roundings: |a - b| <= 5e-13

describe("summarize", () => {
  it("mean, sample std, min, max", () => {
    // [1, 2, 3, 4]: mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5; std = sqrt(5/3) = 1.2909944487358056
    const s = summarizeValues([1, 2, 3, 4]);
    expect(s.mean).toBe(2.5);
    assertClose("s.std", s.std!, 1.2909944487358056, TOL);
    expect([s.min, s.max, s.n]).toEqual([1, 4, 4]);
    expect(summarizeValues([0.25]).std).toBeNull(); // one seed: no spread
  });

  it("per metric over runs, in the first run's order; runs must agree on the metrics", () => {
    const out = summarize([{ bleu4: 0.2, meteor: 0.3 }, { meteor: 0.5, bleu4: 0.4 }]);
    expect(Object.keys(out)).toEqual(["bleu4", "meteor"]);
    assertClose("out.meteor.mean", out.meteor.mean, 0.4, TOL);
    // std of [0.3, 0.5]: sqrt((0.01 + 0.01) / 1) = 0.1414213562373095
    assertClose("out.meteor.std", out.meteor.std!, 0.1414213562373095, TOL);
    expect(() => summarize([{ a: 1 }, { b: 1 }])).toThrow(ValueError);
    expect(() => summarize([{ a: Number.NaN }])).toThrow(ValueError);
    expect(() => summarize([])).toThrow(ValueError);
  });

  it("formats cells and markdown tables", () => {
    const s = { n: 3, mean: 0.2512, std: 0.0104, min: 0.24, max: 0.262 };
    expect(formatSummary(s, { scale: 100 })).toBe("25.12 ± 1.04");
    expect(formatSummary(s, { scale: 100, digits: 1, range: true })).toBe("25.1 ± 1.0 [24.0, 26.2]");
    expect(formatSummary({ ...s, n: 1, std: null }, { digits: 3 })).toBe("0.251");
    expect(markdownTable(["method", "a|b"], [["x", "1"]])).toBe("| method | a\\|b |\n| :--- | ---: |\n| x | 1 |\n");
    const t = resultsTable([{ label: "tgh-moe", metrics: { bleu4: s } }, { label: "dense", metrics: {} }],
      [{ key: "bleu4", title: "BLEU-4" }], { scale: 100 });
    expect(t).toBe("| method | BLEU-4 |\n| :--- | ---: |\n| tgh-moe | 25.12 ± 1.04 |\n| dense | — |\n");
    expect(() => markdownTable(["a", "b"], [["1"]])).toThrow(ValueError);
  });
});

describe("reportMetrics / qaMetrics", () => {
  it("collects the defaults of each metric in one flat record", () => {
    const hyps = ["a small left pleural effusion", "no nodules"];
    const refs = ["small left pleural effusion", ["no nodule is seen", "no nodules"]];
    const m = reportMetrics(hyps, refs);
    expect(Object.keys(m)).toEqual(["bleu1", "bleu4", "rougeL", "rougeLPrecision", "rougeLRecall", "meteor"]);
    // By hand (not from the functions reportMetrics calls). Corpus BLEU: c = 5 + 2 = 7 > r = 4 + 2
    // (closest reference of "no nodules" is itself), BP = 1; matches / totals per order: 1-grams
    // 4+2 / 5+2, 2-grams 3+1 / 4+1, 3-grams 2 / 3, 4-grams 1 / 2.
    const bleu1 = 6 / 7, bleu4 = ((6 / 7) * (4 / 5) * (2 / 3) * (1 / 2)) ** (1 / 4);
    // ROUGE-L (beta 1.2), mean over sentences: s1 LCS 4, P 4/5, R 1; s2 matches "no nodules": P = R = 1.
    const f = (p: number, r: number) => ((1 + 1.2 ** 2) * p * r) / (r + 1.2 ** 2 * p);
    // METEOR (alpha 0.9, beta 3, gamma 0.5), mean over sentences: s1 4 matches in 1 chunk, P 4/5, R 1;
    // s2 2 matches in 1 chunk, P = R = 1.
    const meteor = (p: number, r: number, chunks: number, matches: number) => ((p * r) / (0.9 * p + 0.1 * r)) * (1 - 0.5 * (chunks / matches) ** 3);
    assertClose("reportMetrics", [m.bleu1, m.bleu4, m.rougeL, m.rougeLPrecision, m.rougeLRecall, m.meteor],
      [bleu1, bleu4, (f(0.8, 1) + 1) / 2, 0.9, 1, (meteor(0.8, 1, 1, 4) + meteor(1, 1, 1, 2)) / 2], TOL);
    const q = qaMetrics({ closed: [{ prediction: "A", options: ["x", "y"], answer: "A" }], open: [] });
    expect(q).toEqual({ closedAccuracy: 1 });
  });
});
