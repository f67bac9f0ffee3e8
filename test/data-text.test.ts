/**
 * Texts of the synthetic CT benchmark: every report template read back by the extractor,
 * whole reports round-tripping, the extractor on imperfect text, scoring, questions (one correct
 * option, answers from the truth) and slice captions.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Rng } from "../src/rng.js";
import { makeSample } from "../src/data/dataset.js";
import { countMatches, extractFindings, prf, truthAsExtracted, type ExtractedFinding } from "../src/data/extract.js";
import { findingKey, GRADES, NODULE_TYPES, SIDES, ZONES, type Finding } from "../src/data/findings.js";
import { formatAnswer, formatQuestion, makeQuestions, sizeDistractors, LETTERS } from "../src/data/questions.js";
import {
  BILATERAL_EFFUSION_TEMPLATES, CYST_TEMPLATES, EFFUSION_TEMPLATES, GRADE_WORDS, IMPRESSION_TEMPLATES, NEGATIVES,
  NODULE_TEMPLATES, NORMAL_IMPRESSIONS, ROUTINE, TECHNIQUE, TYPE_WORDS, ZONE_WORDS, writeReport,
} from "../src/data/report.js";
import { check, dataSeed } from "./util/prop.js";

/** The same findings, as sorted plain objects (undefined fields dropped), for equality. */
function canon(fs: readonly ExtractedFinding[]): string[] {
  return fs.map((f) => JSON.stringify(Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined).sort()))).sort();
}

/** A set of findings as the generator allows it: unique (kind, side, zone) slots. */
const findingsArb: fc.Arbitrary<Finding[]> = fc
  .uniqueArray(
    fc.oneof(
      fc.record({ kind: fc.constant("nodule" as const), side: fc.constantFrom(...SIDES), zone: fc.constantFrom(...ZONES), subtype: fc.constantFrom(...NODULE_TYPES), sizeMm: fc.integer({ min: 3, max: 30 }) }),
      fc.record({ kind: fc.constant("effusion" as const), side: fc.constantFrom(...SIDES), grade: fc.constantFrom(...GRADES), depthMm: fc.integer({ min: 10, max: 80 }) }),
      fc.record({ kind: fc.constant("cyst" as const), side: fc.constantFrom(...SIDES), sizeMm: fc.integer({ min: 5, max: 40 }) }),
    ),
    { maxLength: 3, selector: (f) => `${f.kind}:${f.side}:${"zone" in f ? f.zone : ""}` },
  )
  .map((fs) => fs.map((f): Finding => {
    if (f.kind === "nodule") return { ...f, hu: 40, center: [0, 0, 0] };
    if (f.kind === "effusion") return { ...f, heightMm: 60, hu: 15 };
    return { ...f, organ: "liver", hu: 10, center: [0, 0, 0] };
  }));

describe("report templates", () => {
  it("every template with every synonym reads back as its finding", () => {
    let n = 0;
    for (const side of SIDES) {
      for (const subtype of NODULE_TYPES) for (const zone of ZONES) for (const type of TYPE_WORDS[subtype]) for (const z of ZONE_WORDS[zone]) {
        const w = { size: "12 mm", type, side, zone: z, grade: "", depth: "" };
        for (const t of [...NODULE_TEMPLATES, ...IMPRESSION_TEMPLATES.nodule]) {
          expect(canon(extractFindings(t(w)))).toEqual(canon([{ kind: "nodule", side, zone, subtype, sizeMm: 12 }]));
          n++;
        }
      }
      for (const grade of GRADES) for (const g of GRADE_WORDS[grade]) {
        const w = { size: "31 mm", type: "", side, zone: "", grade: g, depth: "31 mm" };
        for (const t of [...EFFUSION_TEMPLATES, ...IMPRESSION_TEMPLATES.effusion]) {
          const got = extractFindings(t(w));
          expect(got).toHaveLength(1);
          expect(findingKey(got[0])).toBe(findingKey({ kind: "effusion", side, grade }));
          if (got[0].sizeMm !== undefined) expect(got[0].sizeMm).toBe(31); // only the template that gives the depth
          n++;
        }
        for (const t of BILATERAL_EFFUSION_TEMPLATES) {
          expect(extractFindings(t(g)).map(findingKey).sort()).toEqual([`effusion:left:${grade}`, `effusion:right:${grade}`]);
        }
      }
      for (const t of [...CYST_TEMPLATES, ...IMPRESSION_TEMPLATES.cyst]) {
        const w = { size: "17 mm", type: "", side, zone: "", grade: "", depth: "" };
        expect(canon(extractFindings(t(w)))).toEqual(canon([{ kind: "cyst", side, organ: "liver", sizeMm: 17 }]));
        n++;
      }
    }
    expect(n).toBe(2 * (3 * 2 * 7 * 7 + 5 * 6 + 6)); // sides x (subtypes x type words x zone words x templates + grade words x templates + templates)
    // every normal sentence, technique line and impression says nothing is there
    for (const s of [...Object.values(NEGATIVES).flat(), ...ROUTINE, ...TECHNIQUE.contrast, ...TECHNIQUE.plain, ...NORMAL_IMPRESSIONS]) {
      expect(extractFindings(s)).toEqual([]);
    }
  });

  it("whole reports round-trip: extract(report(truth)) == truth for random findings and seeds", () => {
    check(fc.record({ findings: findingsArb, seed: dataSeed, contrast: fc.boolean() }), ({ findings, seed, contrast }) => {
      const report = writeReport(new Rng(seed), findings, contrast);
      expect(report).toMatch(/^(FINDINGS|Findings): .+\n(IMPRESSION|Impression): .+\.$/);
      const got = extractFindings(report);
      // effusion depth is only sometimes written: compare effusions without size
      const strip = (fs: ExtractedFinding[]) => fs.map((f) => (f.kind === "effusion" ? { ...f, sizeMm: undefined } : f));
      expect(canon(strip(got))).toEqual(canon(findings.map(truthAsExtracted)));
    }, 200);
  });

  it("same seed, same report; other seeds vary the phrasing and the sentence order", () => {
    const f: Finding[] = [{ kind: "nodule", side: "left", zone: "lower", subtype: "solid", sizeMm: 8, hu: 40, center: [0, 0, 0] }];
    expect(writeReport(new Rng(5), f, true)).toBe(writeReport(new Rng(5), f, true));
    const texts = new Set(Array.from({ length: 40 }, (_, s) => writeReport(new Rng(s), f, true)));
    expect(texts.size).toBeGreaterThan(30);
  });
});

describe("extractor on imperfect text", () => {
  const cases: [string, ExtractedFinding[]][] = [
    ["small left effusion", [{ kind: "effusion", side: "left", grade: "small" }]],
    ["Right upper lobe nodule 8mm.", [{ kind: "nodule", side: "right", zone: "upper", sizeMm: 8 }]],
    ["A 1.2 cm solid nodule in the LEFT lower lung.", [{ kind: "nodule", side: "left", zone: "lower", subtype: "solid", sizeMm: 12 }]],
    ["ground glass nodule, right mid zone, 9 x 7 mm", [{ kind: "nodule", side: "right", zone: "middle", subtype: "ground-glass", sizeMm: 9 }]],
    ["Non-solid  nodule\u2014left apex.", [{ kind: "nodule", side: "left", zone: "upper", subtype: "ground-glass" }]],
    ["No nodules. Small bilateral effusions.", [{ kind: "effusion", side: "right", grade: "small" }, { kind: "effusion", side: "left", grade: "small" }]],
    ["Small right and moderate left pleural effusions.", [{ kind: "effusion", side: "right", grade: "small" }, { kind: "effusion", side: "left", grade: "moderate" }]],
    ["There is no pleural effusion. No pericardial effusion.", []],
    ["Small pericardial effusion.", []],
    ["The previously seen right effusion has resolved.", []],
    ["A nodule is not seen.", []],
    ["Solid nodules in the right upper and lower zones.", [{ kind: "nodule", side: "right", zone: "upper", subtype: "solid" }, { kind: "nodule", side: "right", zone: "lower", subtype: "solid" }]],
    ["8 mm calcified nodule in the right upper zone and a small left pleural effusion, as well as a 20 mm liver cyst on the left.", [
      { kind: "nodule", side: "right", zone: "upper", subtype: "calcified", sizeMm: 8 },
      { kind: "effusion", side: "left", grade: "small" },
      { kind: "cyst", side: "left", organ: "liver", sizeMm: 20 },
    ]],
    ["Findings: left lower zone nodule, 6 mm. Impression: left lung nodule.", [{ kind: "nodule", side: "left", zone: "lower", sizeMm: 6 }]],
    ["Renal cyst on the right.", [{ kind: "cyst", side: "right", organ: "other" }]],
    ["", []],
  ];
  it.each(cases)("%j", (text, want) => {
    expect(canon(extractFindings(text))).toEqual(canon(want));
  });
});

describe("scoring", () => {
  const nodule = (side: "left" | "right", zone: "upper" | "lower"): Finding => ({ kind: "nodule", side, zone, subtype: "solid", sizeMm: 8, hu: 40, center: [0, 0, 0] });
  it("counts one-to-one matches by key; strict needs the zone, lenient only kind and side", () => {
    const truth = [nodule("left", "upper"), nodule("right", "lower")];
    const pred: ExtractedFinding[] = [{ kind: "nodule", side: "left", zone: "upper" }, { kind: "nodule", side: "right", zone: "upper" }, { kind: "effusion", side: "left" }];
    expect(countMatches(truth, pred)).toEqual({ tp: 1, fp: 2, fn: 1 });
    expect(countMatches(truth, pred, "lenient")).toEqual({ tp: 2, fp: 1, fn: 0 });
    const dup: ExtractedFinding[] = [{ kind: "nodule", side: "left", zone: "upper" }, { kind: "nodule", side: "left", zone: "upper" }];
    expect(countMatches([nodule("left", "upper")], dup)).toEqual({ tp: 1, fp: 1, fn: 0 });
    expect(prf({ tp: 1, fp: 1, fn: 2 })).toEqual({ precision: 0.5, recall: 1 / 3, f1: 0.4 });
    expect(prf({ tp: 0, fp: 0, fn: 0 })).toEqual({ precision: null, recall: null, f1: null }); // nothing to find, nothing named: undefined
    expect(prf({ tp: 0, fp: 0, fn: 3 })).toEqual({ precision: null, recall: 0, f1: 0 }); // no finding named: no precision, not 1.00
    expect(prf({ tp: 0, fp: 2, fn: 0 }).f1).toBe(0);
  });
});

describe("questions", () => {
  it("closed questions have four distinct options and exactly one correct; answers follow from the truth", () => {
    const letters = new Set<string>();
    check(fc.record({ findings: findingsArb, seed: dataSeed, contrast: fc.boolean() }), ({ findings, seed, contrast }) => {
      const qs = makeQuestions(new Rng(seed), findings, contrast);
      const has = (kind: string, side?: string) => findings.some((f) => f.kind === kind && (side === undefined || f.side === side));
      const nodules = findings.filter((f) => f.kind === "nodule");
      for (const q of qs) {
        if (q.kind === "closed") {
          expect(q.options).toHaveLength(4);
          expect(new Set(q.options).size).toBe(4);
          expect(q.options!.filter((o) => o === q.answerText)).toHaveLength(1);
          expect(q.options![LETTERS.indexOf(q.answer as "A")]).toBe(q.answerText);
          expect(formatQuestion(q).split("\n")).toHaveLength(5);
          expect(formatAnswer(q)).toBe(`${q.answer}. ${q.answerText}`);
          letters.add(q.answer);
        } else {
          expect(q.options).toBeUndefined();
          expect(formatAnswer(q)).toBe(q.answer);
        }
        const f = findings.find((g) => g.side === q.slots.side && (g.kind !== "nodule" || g.zone === q.slots.zone) && q.template.startsWith(g.kind));
        const sides = (kind: string) => SIDES.filter((s) => has(kind, s));
        switch (q.template) {
          case "present":
            if (findings.length === 0) expect(q.answerText).toBe("no abnormality");
            else expect(findings.map((g) => (g.kind === "nodule" ? `nodule in the ${g.side} ${g.zone} zone` : g.kind === "effusion" ? `${g.side} pleural effusion` : `cyst in the ${g.side} hepatic lobe`))).toContain(q.answerText);
            break;
          case "effusion-side": {
            const s = sides("effusion");
            const want = q.kind === "closed" ? (s.length === 2 ? "both sides" : s[0] ?? "neither side") : s.length === 2 ? "both" : s[0];
            expect(q.answerText).toBe(want);
            break;
          }
          case "nodule-side": {
            const s = sides("nodule");
            const want = q.kind === "closed" ? (s.length === 2 ? "both sides" : s[0] ?? "neither side") : s.length === 2 ? "both" : s[0];
            expect(q.answerText).toBe(want);
            break;
          }
          case "effusion-present": expect(q.answer).toBe(has("effusion") ? "yes" : "no"); break;
          case "nodule-present": expect(q.answer).toBe(nodules.length > 0 ? "yes" : "no"); break;
          case "cyst-present": expect(q.answer).toBe(has("cyst") ? "yes" : "no"); break;
          case "contrast": expect(q.answer).toBe(contrast ? "yes" : "no"); break;
          case "nodule-count": expect(q.answerText).toBe(q.kind === "open" ? String(nodules.length) : ["none", "one", "two", "three"][nodules.length]); break;
          case "cyst-side": {
            const s = sides("cyst");
            expect(q.answerText).toBe(s.length === 2 ? "both hepatic lobes" : s.length === 1 ? `${s[0]} hepatic lobe` : "there is no hepatic cyst");
            break;
          }
          case "nodule-at":
            expect(q.answer).toBe(nodules.some((g) => g.side === q.slots.side && g.kind === "nodule" && g.zone === q.slots.zone) ? "yes" : "no");
            break;
          case "effusion-grade": expect(f?.kind === "effusion" && q.answerText === f.grade).toBe(true); break;
          case "nodule-type": expect(f?.kind === "nodule" && q.answerText === f.subtype).toBe(true); break;
          case "nodule-size": expect(f?.kind === "nodule" && q.answerText === `${f.sizeMm} mm`).toBe(true); break;
          case "cyst-size": expect(f?.kind === "cyst" && q.answerText === `${f.sizeMm} mm`).toBe(true); break;
          case "nodule-zone": {
            const only = nodules.filter((g) => g.side === q.slots.side);
            expect(only).toHaveLength(1);
            expect(q.answerText).toBe(`${(only[0] as { zone: string }).zone} zone`);
            break;
          }
          default: throw new Error(`untested template ${q.template}`);
        }
      }
      // the finding-specific questions exist for every finding
      for (const g of findings) expect(qs.some((q) => q.slots.side === g.side && q.template.startsWith(g.kind) && q.template !== "nodule-at")).toBe(true);
    }, 200);
    expect([...letters].sort()).toEqual(["A", "B", "C", "D"]); // the correct option is not always in one place
  });

  it("size distractors: three sizes in [2, 45], at least max(3, s/4) from s and from each other", () => {
    check(fc.record({ s: fc.integer({ min: 3, max: 40 }), seed: dataSeed }), ({ s, seed }) => {
      const d = sizeDistractors(new Rng(seed), s), gap = Math.max(3, Math.round(s / 4));
      expect(d).toHaveLength(3);
      for (const x of d) expect(x >= 2 && x <= 45 && Math.abs(x - s) >= gap).toBe(true);
      expect(Math.abs(d[0] - d[1]) >= gap && Math.abs(d[0] - d[2]) >= gap && Math.abs(d[1] - d[2]) >= gap).toBe(true);
    });
  });
});

describe("slice captions", () => {
  it("one per slice; a finding is named on exactly the slices where it is visible", () => {
    for (const index of [1, 2, 6]) {
      const s = makeSample(11, index, "small");
      expect(s.captions).toHaveLength(s.shape[0]);
      s.captions.forEach((c, k) => {
        expect(c).toMatch(/^axial slice through the (lower neck|upper thorax|mid thorax|lower thorax|lung bases|upper abdomen)/);
        const here = s.findings.filter((f) => f.slices.includes(k));
        if (here.length === 0) expect(c).toMatch(/, no abnormality$/);
        for (const f of here) expect(c).toContain(f.kind === "effusion" ? `${f.grade} ${f.side} pleural effusion` : f.kind === "nodule" ? `${f.sizeMm} mm ${f.subtype} nodule in the ${f.side} lung` : `cyst in the ${f.side} hepatic lobe`);
      });
      // levels run from the abdomen (k = 0) up to the apices / neck (k = D-1)
      expect(s.captions[0]).toMatch(/abdomen|lung bases/);
      expect(s.captions[s.shape[0] - 1]).toMatch(/apices|neck/);
    }
  });
});
