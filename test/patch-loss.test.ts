/**
 * The patch finding loss (src/model/patch-loss.ts) and its data (src/recipe/data.ts patchCover):
 * the loss against the balanced cross-entropy written out here in float64 Math, its gradient
 * against finite differences (the loss alone, and the whole model's total through lossAndGrads),
 * depth-patch grouping, the cover marks against the rendered finding masks, mirroring, and the
 * errors for missing or mis-sized marks.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/backend.js";
import { makeSample } from "../src/data/index.js";
import { ShapeError, ValueError } from "../src/errors.js";
import { forward, type ForwardInput } from "../src/model/model.js";
import { PATCH_KINDS, patchLoss } from "../src/model/patch-loss.js";
import { preprocessPreset } from "../src/preprocess/index.js";
import { corpus, focusExamples, loadPool, mirrorCover, mirrorVolume, patchCover, sliceExamples, taskExamples } from "../src/recipe/data.js";
import { defaultRecipe, patchLossOf } from "../src/recipe/recipe.js";
import { config2d, recipeConfig } from "../src/recipe/stages.js";
import { trainBpe } from "../src/tokenizer/train.js";
import { Tensor } from "../src/tensor.js";
import { Grads } from "../src/train/grads.js";
import { lossAndGrads } from "../src/train/model-backward.js";
import { collate } from "../src/train/trainer.js";
import { referenceBackend } from "./util/backends.js";
import { centralDiff, checkParamGrads } from "./util/fd.js";
import { batch, randomParams, smallConfig } from "./util/model.js";
import { check, data, dataSeed, ints } from "./util/prop.js";

const K = PATCH_KINDS.length;
let ref: Backend;
beforeAll(async () => {
  ref = await referenceBackend();
});

/** The loss written out: per kind, 1/2 mean over covered patches of -log sigma(z) + 1/2 mean over the rest of -log(1 - sigma(z)); mean over kinds. */
function plainLoss(x: Tensor<"f32">, cover: Uint8Array, t: number): number {
  const [B, D, S, C] = x.shape, nn = S - 1;
  let total = 0;
  for (let k = 0; k < K; k++) {
    const on: number[] = [], off: number[] = [];
    for (let r = 0; r < B * D; r++) {
      for (let p = 0; p < nn; p++) {
        let y = 0;
        for (let s = 0; s < t; s++) y |= (cover[(r * t + s) * nn + p] >> k) & 1;
        const z = x.data[(r * S + 1 + p) * C + k], sig = 1 / (1 + Math.exp(-z));
        (y ? on : off).push(y ? -Math.log(sig) : -Math.log(1 - sig));
      }
    }
    const mean = (a: number[]) => (a.length ? a.reduce((u, v) => u + v, 0) / a.length : 0);
    total += 0.5 * mean(on) + 0.5 * mean(off);
  }
  return total / K;
}

const shapes = fc.record({
  B: fc.integer({ min: 1, max: 3 }), D: fc.integer({ min: 1, max: 3 }), t: fc.integer({ min: 1, max: 3 }),
  n: fc.integer({ min: 1, max: 3 }), C: fc.integer({ min: K, max: 7 }), density: fc.double({ min: 0, max: 1, noNaN: true }), seed: dataSeed,
});
function drawn({ B, D, t, n, C, density, seed }: { B: number; D: number; t: number; n: number; C: number; density: number; seed: number }) {
  const S = 1 + n * n;
  const x = new Tensor("f32", [B, D, S, C], data(seed, B * D * S * C, -4, 4));
  const bits = ints(seed + 1, B * D * t * n * n * K, 0, 1000);
  const cover = new Uint8Array(B * D * t * n * n);
  for (let i = 0; i < bits.length; i++) if (bits[i] < density * 1000) cover[Math.floor(i / K)] |= 1 << i % K;
  return { x, cover };
}

describe("patch finding loss", () => {
  // float64 accumulation of float64 terms (exp/log to ~1 ulp): agreement to 1e-12 relative
  it("equals the balanced cross-entropy written out, over shapes with odd sizes and depth patches", () => {
    check(shapes, (s) => {
      const { x, cover } = drawn(s);
      const want = plainLoss(x, cover, s.t), got = patchLoss(x, cover, s.t).value;
      expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));
    });
  });

  // 2-point differences with h = 2^-10 of the float64 loss over float32 inputs: |fd - an| <= 1e-4
  it("its gradient is the finite difference of the loss, and is zero on class tokens and other channels", () => {
    check(shapes, (s) => {
      const { x, cover } = drawn(s);
      const { dz } = patchLoss(x, cover, s.t);
      const [B, D, S, C] = x.shape, nn = S - 1;
      for (let r = 0; r < B * D; r++) {
        for (let q = 0; q < S; q++) {
          for (let c = 0; c < C; c++) {
            const i = (r * S + q) * C + c;
            const an = q > 0 && c < K ? dz[(r * nn + q - 1) * K + c] : 0;
            const fd = centralDiff(() => patchLoss(x, cover, s.t).value, x.data, i, 2 ** -10);
            expect(Math.abs(fd - an)).toBeLessThanOrEqual(1e-4);
          }
        }
      }
    }, 20);
  });

  it("weighs one covered patch as much as all uncovered ones (balance)", () => {
    const n = 4, nn = n * n, x = new Tensor("f32", [1, 1, 1 + nn, K]);
    const cover = new Uint8Array(nn);
    cover[5] = 1; // one nodule patch of 16
    for (let p = 0; p < nn; p++) x.data[(1 + p) * K] = 2; // every nodule logit +2: wrong on 15, right on 1
    const { dz } = patchLoss(x, cover, 1);
    let pushUp = 0, pushDown = 0;
    for (let p = 0; p < nn; p++) (p === 5 ? (pushUp -= dz[p * K]) : (pushDown += dz[p * K]));
    // covered half: 1/(2K) (1 - sigma(2)); uncovered half: 1/(2K) sigma(2) spread over 15 patches
    const sig = 1 / (1 + Math.exp(-2));
    expect(pushUp).toBeCloseTo((1 - sig) / (2 * K), 6);
    expect(pushDown).toBeCloseTo(sig / (2 * K), 6);
  });

  it("rejects cover marks of the wrong size, naming them", () => {
    const x = new Tensor("f32", [2, 1, 5, 4]);
    expect(() => patchLoss(x, new Uint8Array(7), 1)).toThrow(ShapeError);
    expect(() => patchLoss(x, new Uint8Array(7), 1)).toThrow(/cover: expected 8 marks/);
    expect(() => patchLoss(new Tensor("f32", [1, 1, 5, 2]), new Uint8Array(4), 1)).toThrow(/C >= 3/);
  });
});

describe("the patch finding loss in the model", () => {
  function input(cfg: Parameters<typeof randomParams>[0], B: number, seed: number): ForwardInput {
    const D = cfg.vision.depthPatch * cfg.projector.depthPool, n = cfg.vision.image / cfg.vision.patch;
    const cover = Uint8Array.from(ints(seed + 7, B * D * n * n, 0, 1 << K));
    return { ...batch(cfg, B, D, seed), cover };
  }

  // the whole model's total (CE + ... + gamma L_patch) against 4-point finite differences, as in
  // test/backward-model.test.ts (same tolerance helper); the patch term reaches every encoder weight
  it("adds gamma L_patch to the total, and its gradient to every encoder weight (finite differences)", () => {
    const arb = fc.record({ cfg: smallConfig.filter((c) => c.vision.width >= K && c.vision.moeLayers.length === 0), seed: dataSeed });
    check(arb, ({ cfg, seed }) => {
      const params = randomParams(cfg, seed), inp = input(cfg, 2, seed + 1), gamma = 3;
      const plain = forward(ref, params, cfg, inp).losses.total;
      const out = forward(ref, params, cfg, inp, { patchLoss: gamma }).losses;
      expect(out.total).toBeCloseTo(plain + gamma * out.patch!, 9);
      const grads = new Grads(params, (name) => name.startsWith("vision."));
      lossAndGrads(ref, params, cfg, inp, grads, { patchLoss: gamma });
      const encoder = [...params].filter(([name]) => name.startsWith("vision."));
      checkParamGrads(encoder, grads, () => ({ loss: forward(ref, params, cfg, inp, { patchLoss: gamma }).losses.total, key: "" }), seed, () => []);
    }, 4);
  });

  it("asks for the cover marks when the loss is on", () => {
    const cfg = fc.sample(smallConfig.filter((c) => c.vision.width >= K), { seed: 3, numRuns: 1 })[0];
    const params = randomParams(cfg, 1), inp = batch(cfg, 1, cfg.vision.depthPatch * cfg.projector.depthPool, 2);
    expect(() => forward(ref, params, cfg, inp, { patchLoss: 1 })).toThrow(ValueError);
    expect(() => forward(ref, params, cfg, inp, { patchLoss: 1 })).toThrow(/cover: expected the patch cover marks/);
  });

  it("collates the marks of every sample in order, and refuses a batch where only some have them", () => {
    const v = new Tensor("f32", [1, 1, 4, 4]);
    const a = { volume: v, ids: [1, 2], task: 0, cover: Uint8Array.of(1, 0, 2, 4) }, b = { volume: v, ids: [3], task: 1, cover: Uint8Array.of(0, 0, 0, 1) };
    expect(Array.from(collate([a, b], 0).cover!)).toEqual([1, 0, 2, 4, 0, 0, 0, 1]);
    expect(() => collate([a, { volume: v, ids: [3], task: 1 }], 0)).toThrow(/cover: expected cover marks on every sample of the batch or none, got 1 of 2/);
  });
});

describe("cover marks of a rendered study", () => {
  it("mark exactly the patches where a finding covers half a voxel, per kind, and mirror with the image", () => {
    const grid = [32, 128, 128] as const, p = 16, n = 128 / p;
    let nodules = 0;
    for (let index = 0; index < 12; index++) {
      const s = makeSample(2026, index, "small", { masks: true });
      const cover = patchCover(s.findings, s.masks!, grid, p);
      // every mark is backed by a voxel of the right kind, and every such voxel is marked
      const want = new Uint8Array(cover.length);
      s.findings.forEach((f, i) => {
        s.masks![i].forEach((c, v) => {
          if (c < 0.5) return;
          const k = Math.floor(v / (128 * 128)), j = Math.floor(v / 128) % 128, x = v % 128;
          want[(k * n + Math.floor(j / p)) * n + Math.floor(x / p)] |= 1 << PATCH_KINDS.indexOf(f.kind);
        });
        if (f.kind === "nodule" && f.centerVoxel) {
          nodules++;
          const [k, j, x] = f.centerVoxel.map(Math.round); // fractional voxel coordinates [k, j, i]
          expect(cover[(k * n + Math.floor(j / p)) * n + Math.floor(x / p)] & 1, `nodule of ${s.id} at its centre`).toBe(1);
        }
      });
      expect(Array.from(cover)).toEqual(Array.from(want));
      // mirroring the masks' image mirrors the marks
      const mirrored = s.masks!.map((m) => mirrorVolume(new Tensor("f32", [...grid], m)).data);
      expect(Array.from(patchCover(s.findings, mirrored, grid, p))).toEqual(Array.from(mirrorCover(cover, n)));
    }
    expect(nodules, "studies with a nodule among the first 12").toBeGreaterThan(0);
  });

  it("rejects a patch size that does not divide the slice", () => {
    expect(() => patchCover([], [], [2, 10, 10], 4)).toThrow(/patch: expected a divisor of the slice 10 x 10, got 4/);
  });

  it("leaves the rendered volume unchanged when the masks are asked for", () => {
    const a = makeSample(2026, 3, "small"), b = makeSample(2026, 3, "small", { masks: true });
    expect(Buffer.from(a.volumeHU.buffer).equals(Buffer.from(b.volumeHU.buffer))).toBe(true);
  });
});

describe("cover marks in the recipe's examples", () => {
  it("every stage's examples carry their image's marks (mirrored views the mirrored marks); stage 2 trains without the loss", () => {
    const pool = loadPool(2026, "train", 3, preprocessPreset("tiny"), undefined, 8);
    const tok = trainBpe(corpus(pool), 300), cfg = recipeConfig("tiny", tok), n = cfg.vision.image / cfg.vision.patch, nn = n * n;
    for (const ex of [taskExamples(pool, cfg, tok, 1, 1, true), focusExamples(pool, cfg, tok, true)]) {
      for (const s of ex) {
        const p = pool.find((q) => q.volume === s.volume);
        if (p) expect(s.cover).toBe(p.cover); // the study as it is
        else expect(Array.from(s.cover!)).toEqual(Array.from(mirrorCover(pool.find((q) => Array.from(mirrorVolume(q.volume).data).join() === Array.from(s.volume.data).join())!.cover!, n)));
      }
    }
    const slices = sliceExamples(pool, config2d(cfg), tok, 1, false);
    const D = pool[0].volume.dim(1);
    slices.forEach((s, i) => expect(Array.from(s.cover!)).toEqual(Array.from(pool[Math.floor(i / D)].cover!.subarray((i % D) * nn, (i % D + 1) * nn))));
    const o = { ...defaultRecipe("tiny", 1), patchLoss: 2, stage1PatchLoss: 3 };
    expect(["stage0", "stage1", "stage12", "stage2"].map((ph) => patchLossOf(o, ph as "stage0"))).toEqual([2, 3, 3, 0]);
  });
});
