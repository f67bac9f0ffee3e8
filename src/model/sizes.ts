/**
 * Size arithmetic for planning (the presets table of docs/ARCHITECTURE.md): token counts, parameter
 * count and an activation-memory estimate. Counting only; nothing here runs the model.
 * Legend: D depth · n=W/p · S=1+n^2 · C width · E experts · k top-k · L text tokens · V vocab.
 */
import type { ModelConfig } from "./config.js";
import { paramCount } from "./params.js";
import { imageTokens } from "./projector.js";

export interface Sizes {
  tokensPerSlice: number; // S
  volumeTokens: number; // (D/t) * S, the sequence of a volume block
  imageTokens: number; // m
  params: number;
  /** float32 bytes of every tensor one forward pass produces (what training keeps for backward). */
  activationBytes: number;
}

/**
 * For one sample of D slices and `textTokens` text tokens besides the m image tokens. Per token and
 * block (H = mlp hidden, F = LM hidden): vision 9C + 2H (+2C rotary q, k in volume blocks); MoE
 * blocks replace the MLP's 2H + C by 2C router input + 2E gates + shared (2H + C) each + k routed
 * slots of (2C + 2H) + 2C accumulators; LM 9d + 3*KV*dh + 3F, logits V. Attention never
 * materialises its [T, T] scores (the kernels are streaming), so they are not counted.
 */
export function sizes(cfg: ModelConfig, D: number, textTokens = 64): Sizes {
  const { vision: v, moe, lm } = cfg;
  const n = v.image / v.patch, S = 1 + n * n, C = v.width, H = v.mlpRatio * C;
  const tokens = (D / v.depthPatch) * S;
  const m = imageTokens(cfg, D);
  let perToken = 4 * C; // patch, class/pos, pre_norm
  for (let l = 0; l < v.layers; l++) {
    const volume = l >= v.layers - v.volumeLayers;
    perToken += 9 * C + (volume ? 2 * C : 0);
    perToken += v.moeLayers.includes(l)
      ? 2 * C + 2 * moe.experts + moe.sharedExperts * (2 * H + C) + moe.topK * (2 * C + 2 * H) + 2 * C - C
      : 2 * H;
  }
  const projector = m * (4 * C + 3 * lm.width);
  const L = m + textTokens, dh = lm.width / lm.heads;
  const lmPerToken = lm.width + lm.layers * (9 * lm.width + 3 * lm.kvHeads * dh + 3 * lm.mlpHidden) + lm.width + lm.vocab;
  return {
    tokensPerSlice: S,
    volumeTokens: tokens,
    imageTokens: m,
    params: paramCount(cfg),
    activationBytes: 4 * (tokens * perToken + projector + L * lmPerToken),
  };
}
