/**
 * Model test fixtures: random small configs (fast-check), fully random parameters (biases and norm
 * weights included, so no term can hide behind a zero or a one), and section 6 sequences.
 */
import fc from "fast-check";
import { ACTIVATIONS } from "../../src/backend/backend.js";
import { specialsAtEnd, validateConfig, type ModelConfig } from "../../src/model/config.js";
import { initParams, paramSpecs, type Params } from "../../src/model/params.js";
import { imageTokens } from "../../src/model/projector.js";
import { Rng } from "../../src/rng.js";
import { Tensor, type F32Tensor, type I32Tensor } from "../../src/tensor.js";

/** Every tensor uniform: matrices in [-std*sqrt(3), +], biases in [-0.1, 0.1], norm weights in [0.5, 1.5]. */
export function randomParams(cfg: ModelConfig, seed: number, std = 0.15): Params {
  const rng = new Rng(seed);
  const params = initParams(cfg, seed);
  for (const [name, t] of params) {
    const a = std * Math.sqrt(3);
    const [lo, hi] = name.endsWith(".bias") ? [-0.1, 0.1] : /norm|ln[12]/.test(name) ? [0.5, 1.5] : [-a, a];
    for (let i = 0; i < t.size; i++) t.data[i] = lo + (hi - lo) * rng.uniform();
  }
  return params;
}

/** `<bos> <img> image*m </img> prompt <sep> answer <eos> <pad>...` of total length L (prompt, answer random text ids). */
export function sequence(cfg: ModelConfig, m: number, prompt: number, answer: number, L: number, rng: Rng): number[] {
  const t = cfg.tokens;
  const text = () => rng.int(cfg.lm.vocab - 7); // ids below the specials
  const ids = [t.bos, t.imgStart, ...new Array<number>(m).fill(t.image), t.imgEnd];
  for (let i = 0; i < prompt; i++) ids.push(text());
  ids.push(t.sep);
  for (let i = 0; i < answer; i++) ids.push(text());
  ids.push(t.eos);
  while (ids.length < L) ids.push(t.pad);
  return ids;
}

export interface Batch {
  volume: F32Tensor;
  ids: I32Tensor;
}

/** B samples of D slices, values in [0, 1], with prompts of different lengths (right-padded). */
export function batch(cfg: ModelConfig, B: number, D: number, seed: number): Batch {
  const rng = new Rng(seed);
  const m = imageTokens(cfg, D), H = cfg.vision.image;
  const volume = new Tensor("f32", [B, 1, D, H, H], rng.fill(B * D * H * H, 0, 1));
  const rows = Array.from({ length: B }, () => ({ prompt: 1 + rng.int(5), answer: rng.int(4) }));
  const L = Math.max(...rows.map((r) => m + r.prompt + r.answer + 6));
  const ids = rows.flatMap((r) => sequence(cfg, m, r.prompt, r.answer, L, rng));
  return { volume, ids: new Tensor("i32", [B, L], Int32Array.from(ids)) };
}

/** Random small but complete configs: odd sizes, GQA, every switch of the spec drawn. */
export const smallConfig: fc.Arbitrary<ModelConfig> = fc
  .record({
    patch: fc.constantFrom(2, 4), nHalf: fc.integer({ min: 1, max: 2 }), cIn: fc.constantFrom(1, 3),
    heads: fc.integer({ min: 1, max: 3 }), dhHalf: fc.integer({ min: 1, max: 3 }), layers: fc.integer({ min: 1, max: 3 }),
    volFrac: fc.double({ min: 0, max: 1, noNaN: true }), moeMask: fc.integer({ min: 0, max: 7 }), act: fc.constantFrom(...ACTIVATIONS),
    depthPatch: fc.constantFrom(1, 2), rope: fc.constantFrom("depth" as const, "dhw" as const), secSeed: fc.nat(1000),
    tasks: fc.integer({ min: 1, max: 3 }), experts: fc.integer({ min: 1, max: 5 }), kFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    shared: fc.integer({ min: 0, max: 2 }), soft: fc.boolean(), renormalize: fc.boolean(),
    depthPool: fc.constantFrom(1, 2), lmHeads: fc.constantFrom(1, 2, 3, 4), kvDiv: fc.constantFrom(1, 2), lmDhHalf: fc.integer({ min: 1, max: 3 }),
    lmLayers: fc.integer({ min: 1, max: 2 }), mlpHidden: fc.constantFrom(1, 5, 17), vocab: fc.constantFrom(40, 61), tie: fc.boolean(),
  })
  .map((r) => {
    const dh = 2 * r.dhHalf, half = r.dhHalf;
    const sd = r.secSeed % (half + 1), sr = (r.secSeed >> 3) % (half - sd + 1);
    const volumeLayers = Math.round(r.volFrac * r.layers);
    const kvHeads = r.lmHeads % r.kvDiv === 0 ? r.lmHeads / r.kvDiv : r.lmHeads;
    const cfg: ModelConfig = {
      vision: {
        image: 2 * r.nHalf * r.patch, patch: r.patch, cIn: r.cIn, width: r.heads * dh, heads: r.heads, layers: r.layers, volumeLayers,
        mlpRatio: 2, act: r.act, normEps: 1e-5, depthPatch: r.depthPatch, rope: r.rope, ropeBase: 10000,
        ropeSections: [sd, sr, half - sd - sr], moeLayers: range(r.layers).filter((l) => (r.moeMask >> l) & 1),
      },
      moe: {
        tasks: r.tasks, experts: r.experts, topK: 1 + Math.floor(r.kFrac * (r.experts - 1)), sharedExperts: r.shared,
        aShared: 0.5, aRouted: 0.5, taskRouting: r.soft ? "soft" : "hard", renormalize: r.renormalize, expertInit: "upcycle",
      },
      projector: { depthPool: r.depthPool, act: r.act },
      lm: {
        vocab: r.vocab, width: r.lmHeads * 2 * r.lmDhHalf, heads: r.lmHeads, kvHeads, layers: r.lmLayers, mlpHidden: r.mlpHidden,
        normEps: 1e-6, ropeBase: 10000, tieEmbeddings: r.tie,
      },
      tokens: specialsAtEnd(r.vocab),
    };
    validateConfig(cfg);
    return cfg;
  });

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Names of the parameters of cfg (for loops over tensors). */
export function names(cfg: ModelConfig): string[] {
  return [...paramSpecs(cfg).keys()];
}
