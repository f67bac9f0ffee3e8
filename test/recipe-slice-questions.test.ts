/**
 * Stage 0's slice questions (src/recipe/data.ts sliceQuestions): every answer agrees with the
 * findings placed on that slice, the questions are worded as the volume's open questions (so the
 * language model meets them again in stage 1), and sliceExamples adds them after each caption,
 * mirrored with the sides swapped.
 */
import { describe, expect, it } from "vitest";
import { OPEN, SIDES, type FindingKind } from "../src/data/index.js";
import { loadPool, mirrorText, sliceExamples, sliceQuestions } from "../src/recipe/data.js";
import { preprocessPreset } from "../src/preprocess/index.js";
import { preset, specialsAtEnd, withConfig } from "../src/model/config.js";
import { config2d } from "../src/recipe/stages.js";
import { trainBpe } from "../src/tokenizer/train.js";
import { corpus } from "../src/recipe/data.js";

const pool = loadPool(2026, "train", 12, preprocessPreset("tiny"));
const PRESENT: Record<string, FindingKind> = { [OPEN.effusionPresent]: "effusion", [OPEN.nodulePresent]: "nodule", [OPEN.cystPresent]: "cyst" };

describe("sliceQuestions", () => {
  it("answers every question from the findings on that slice (presence, side) and the study (contrast)", () => {
    let yes = 0, no = 0, sides = 0;
    for (const { study } of pool) {
      for (let k = 0; k < study.captions.length; k++) {
        const on = study.findings.filter((f) => f.slices.includes(k));
        for (const [q, a] of sliceQuestions(study, k)) {
          if (q in PRESENT) {
            expect(a, `${study.id} slice ${k}: ${q}`).toBe(on.some((f) => f.kind === PRESENT[q]) ? "yes" : "no");
            a === "yes" ? yes++ : no++;
          } else if (q === OPEN.effusionSide || q === OPEN.noduleSide) {
            const kind = q === OPEN.effusionSide ? "effusion" : "nodule";
            const s = SIDES.filter((side) => on.some((f) => f.kind === kind && f.side === side));
            expect(s.length, `${study.id} slice ${k}: a side question needs a ${kind} on the slice`).toBeGreaterThan(0);
            expect(a).toBe(s.length === 2 ? "both" : s[0]);
            sides++;
          } else {
            expect(q).toBe(OPEN.contrast);
            expect(a).toBe(study.contrast ? "yes" : "no");
          }
        }
      }
    }
    // the pool has findings: both answers and side questions occur
    expect(yes).toBeGreaterThan(0);
    expect(no).toBeGreaterThan(0);
    expect(sides).toBeGreaterThan(0);
  });

  it("uses the wording of the volume's open questions", () => {
    const volumeQuestions = new Set(pool.flatMap(({ study }) => study.questions.filter((q) => q.kind === "open").map((q) => q.question)));
    const asked = new Set(pool.flatMap(({ study }) => study.captions.flatMap((_, k) => sliceQuestions(study, k).map(([q]) => q))));
    for (const q of asked) expect(volumeQuestions.has(q), q).toBe(true);
  });
});

describe("sliceExamples with questions", () => {
  const tok = trainBpe(corpus(pool), 512);
  const cfg = config2d(withConfig(preset("tiny"), { lm: { vocab: tok.vocabSize }, tokens: specialsAtEnd(tok.vocabSize) }));
  const text = (ids: readonly number[]) => tok.decode(ids.filter((t) => t < tok.vocabSize - 7));

  it("follows each caption with the slice's questions, repeated with the caption, mirrored with the sides swapped", () => {
    const one = [pool.find(({ study }) => study.findings.length > 0)!];
    const plain = sliceExamples(one, cfg, tok, 2, false, false), withQ = sliceExamples(one, cfg, tok, 2, false, true);
    const { study } = one[0];
    const expected = study.captions.reduce((n, _, k) => n + (1 + sliceQuestions(study, k).length) * (study.findings.some((f) => f.slices.includes(k)) ? 2 : 1), 0);
    expect(withQ.length).toBe(expected);
    expect(withQ.length).toBeGreaterThan(plain.length);
    const mirrored = sliceExamples(one, cfg, tok, 2, true, true);
    expect(mirrored.length).toBe(2 * expected);
    const texts = withQ.map((e) => text(e.ids));
    const textsMirrored = mirrored.map((e) => text(e.ids));
    // every plain text, with left and right swapped, is among the mirrored ones
    for (const t of texts) expect(textsMirrored).toContain(mirrorText(t));
    expect(withQ.filter((e) => e.task === 1).length).toBe(withQ.length - plain.length);
  });

  it("with sideRepeat 3 every side question appears three times, every other example as before", () => {
    const some = pool.filter(({ study }) => study.findings.some((f) => f.kind !== "cyst")).slice(0, 3);
    const once = sliceExamples(some, cfg, tok, 2, true, true, 1, 1), thrice = sliceExamples(some, cfg, tok, 2, true, true, 1, 3);
    const count = (ex: typeof once) => {
      const c = new Map<string, number>();
      for (const e of ex) c.set(text(e.ids), (c.get(text(e.ids)) ?? 0) + 1);
      return c;
    };
    const a = count(once), b = count(thrice);
    let sides = 0;
    for (const [t, n] of a) {
      const side = t.includes(OPEN.effusionSide) || t.includes(OPEN.noduleSide);
      expect(b.get(t), t).toBe(side ? 3 * n : n);
      sides += side ? n : 0;
    }
    expect(sides).toBeGreaterThan(0);
    expect(thrice.length).toBe(once.length + 2 * sides);
  });
});

describe("slice stacks (stage 0 with several slices per image)", () => {
  const tok = trainBpe(corpus(pool, 2), 512);
  const cfg = config2d(withConfig(preset("tiny"), { lm: { vocab: tok.vocabSize }, tokens: specialsAtEnd(tok.vocabSize) }));
  const text = (ids: readonly number[]) => tok.decode(ids.filter((t) => t < tok.vocabSize - 7));

  it("a stack's questions answer for its slices together: yes when any of them shows the kind; stack 1 is sliceQuestions of the slice", () => {
    let yes = 0, no = 0;
    for (const { study } of pool) {
      const D = study.captions.length;
      for (let k = 0; k < D; k++) expect(sliceQuestions(study, k, 1)).toEqual(sliceQuestions(study, k));
      for (let k = 0; k < D; k += 2) {
        const on = study.findings.filter((f) => f.slices.includes(k) || f.slices.includes(k + 1));
        for (const [q, a] of sliceQuestions(study, k, 2)) {
          if (!(q in PRESENT)) continue;
          expect(a, `${study.id} slices ${k}-${k + 1}: ${q}`).toBe(on.some((f) => f.kind === PRESENT[q]) ? "yes" : "no");
          a === "yes" ? yes++ : no++;
        }
      }
    }
    expect(yes).toBeGreaterThan(0);
    expect(no).toBeGreaterThan(0);
  });

  it("sliceExamples with stack 2: images [1, 2, H, W] that are the volume's consecutive slices, the captions numbered in order, 2m image tokens", () => {
    const one = [pool.find(({ study }) => study.findings.length > 0)!];
    const { study, volume } = one[0];
    const [, D, H, W] = volume.shape;
    const ex = sliceExamples(one, cfg, tok, 1, false, true, 2);
    const captions = ex.filter((e) => e.task === 0);
    expect(captions.length).toBe(D / 2);
    captions.forEach((e, j) => {
      expect(e.volume.shape).toEqual([1, 2, H, W]);
      expect(Array.from(e.volume.data)).toEqual(Array.from(volume.data.subarray(2 * j * H * W, (2 * j + 2) * H * W)));
      expect(e.ids.filter((t) => t === cfg.tokens.image).length).toBe(2 * (cfg.vision.image / cfg.vision.patch / 2) ** 2);
      const t = text(e.ids);
      expect(t).toContain("Describe these slices.");
      expect(t).toContain(`1: ${study.captions[2 * j]}; 2: ${study.captions[2 * j + 1]}`);
    });
    expect(() => sliceExamples(one, cfg, tok, 1, false, true, 3)).toThrow(`sliceExamples: stack: expected a divisor of the ${D} slices, got 3`);
  });
});
