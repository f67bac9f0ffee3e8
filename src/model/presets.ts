/**
 * The model presets as data (sizes tabulated in docs/ARCHITECTURE.md, "Presets"): tiny (tests and
 * golden files), small (training on 2 CPU cores), m3d and phi3v (shapes for memory planning), with
 * the spec's MoE defaults and the special token ids. `preset(name)` in ./config.ts copies and
 * validates one.
 */
import type { LmConfig, ModelConfig, MoeConfig, PresetName, TokenIds } from "./config-types.js";

/** Special tokens after the byte-level BPE merges, in the tokenizer's order: ids V-7 .. V-1. */
export function specialsAtEnd(vocab: number): TokenIds {
  const b = vocab - 7;
  return { bos: b, eos: b + 1, pad: b + 2, imgStart: b + 3, imgEnd: b + 4, image: b + 5, sep: b + 6 };
}

/** The spec's section 4 defaults (T=2: 0 = report, 1 = vqa; E=4; k=2; one shared expert). */
export const MOE_DEFAULTS: MoeConfig = {
  tasks: 2, experts: 4, topK: 2, sharedExperts: 1, aShared: 0.5, aRouted: 0.5,
  taskRouting: "hard", renormalize: true, expertInit: "upcycle",
};

/** The volume each preset is made for, [D, H, W] (D itself is read from the input). */
export const PRESET_VOLUME: Record<PresetName, readonly [number, number, number]> = {
  tiny: [4, 32, 32], small: [32, 128, 128], m3d: [32, 256, 256], phi3v: [32, 336, 336],
};

export const PRESETS: Record<PresetName, () => ModelConfig> = {
  /** Tests and golden files: 4 slices of 32x32, n=4, S=17, 68 volume tokens, m=8 image tokens; MoE in both volume blocks. */
  tiny: () => ({
    vision: {
      image: 32, patch: 8, cIn: 3, width: 32, heads: 4, layers: 4, volumeLayers: 2, mlpRatio: 4, act: "gelu_tanh",
      normEps: 1e-5, depthPatch: 1, rope: "depth", ropeBase: 10000, ropeSections: [2, 1, 1], moeLayers: [2, 3],
    },
    moe: { ...MOE_DEFAULTS },
    projector: { depthPool: 2, act: "gelu_tanh" },
    // kv_heads 2 < heads 4: grouped-query attention is exercised even at this size
    lm: { vocab: 512, width: 64, heads: 4, kvHeads: 2, layers: 2, mlpHidden: 176, normEps: 1e-6, ropeBase: 10000, tieEmbeddings: true },
    tokens: specialsAtEnd(512),
  }),
  /**
   * Training on 2 CPU cores: 32 slices of 128x128 (10 x 3 x 3 mm, fine enough to see a 12 mm nodule
   * among the vessels) in patches of 16 x 16 x 4 voxels -> 8 x 65 = 520 volume tokens, m=64.
   */
  small: () => ({
    vision: {
      image: 128, patch: 16, cIn: 3, width: 128, heads: 4, layers: 6, volumeLayers: 2, mlpRatio: 4, act: "gelu_tanh",
      normEps: 1e-5, depthPatch: 4, rope: "depth", ropeBase: 10000, ropeSections: [8, 4, 4], moeLayers: [4, 5],
    },
    moe: { ...MOE_DEFAULTS },
    projector: { depthPool: 2, act: "gelu_tanh" },
    lm: { vocab: 2048, width: 128, heads: 4, kvHeads: 2, layers: 4, mlpHidden: 344, normEps: 1e-6, ropeBase: 10000, tieEmbeddings: true },
    tokens: specialsAtEnd(2048),
  }),
  /** M3D-sized vision (32x256x256, patch 16, ViT-B width) with depth patches of 4: 8 x 257 = 2056 volume tokens; Phi-3-mini LM. */
  m3d: () => ({
    vision: {
      image: 256, patch: 16, cIn: 3, width: 768, heads: 12, layers: 12, volumeLayers: 4, mlpRatio: 4, act: "gelu_tanh",
      normEps: 1e-5, depthPatch: 4, rope: "depth", ropeBase: 10000, ropeSections: [16, 8, 8], moeLayers: [8, 9, 10, 11],
    },
    moe: { ...MOE_DEFAULTS },
    projector: { depthPool: 2, act: "gelu_tanh" },
    lm: phi3Mini(),
    tokens: specialsAtEnd(32064),
  }),
  /** Shapes of Phi-3-vision (CLIP ViT-L/14 at 336: n=24, S=577, quick_gelu; Phi-3-mini LM), for memory planning only. */
  phi3v: () => ({
    vision: {
      image: 336, patch: 14, cIn: 3, width: 1024, heads: 16, layers: 24, volumeLayers: 4, mlpRatio: 4, act: "quick_gelu",
      normEps: 1e-5, depthPatch: 2, rope: "depth", ropeBase: 10000, ropeSections: [16, 8, 8], moeLayers: [20, 21, 22, 23],
    },
    moe: { ...MOE_DEFAULTS },
    projector: { depthPool: 4, act: "gelu_tanh" },
    lm: phi3Mini(),
    tokens: specialsAtEnd(32064),
  }),
};

function phi3Mini(): LmConfig {
  return { vocab: 32064, width: 3072, heads: 32, kvHeads: 32, layers: 32, mlpHidden: 8192, normEps: 1e-5, ropeBase: 10000, tieEmbeddings: false };
}
