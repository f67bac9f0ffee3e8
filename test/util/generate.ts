/**
 * Generation test fixtures: a tokenizer trained on a few report sentences, the tiny preset resized
 * to its vocabulary, weights with std 0.3 (so greedy decoding does not just repeat one token), volumes.
 */
import { Backend } from "../../src/backend/backend.js";
import { preset, specialsAtEnd, withConfig, type ModelConfig } from "../../src/model/config.js";
import { initParams, type Params } from "../../src/model/params.js";
import { Rng } from "../../src/rng.js";
import { Tensor, type F32Tensor } from "../../src/tensor.js";
import type { BpeTokenizer } from "../../src/tokenizer/bpe.js";
import { trainBpe } from "../../src/tokenizer/train.js";

export const SENTENCES = [
  "The liver is normal in size and attenuation.",
  "No pleural effusion is seen.",
  "A 12 mm nodule in the right upper lobe.",
  "Is there a nodule in the left lung? No.",
  "The heart is enlarged; no pericardial effusion.",
  "Describe the findings of this chest CT.",
];

let tokenizer: BpeTokenizer | undefined;
/** 320 tokens: 256 bytes, 57 merges, 7 specials (ids 313..319). */
export function tinyTokenizer(): BpeTokenizer {
  tokenizer ??= trainBpe(SENTENCES, 320, [], { minFrequency: 1 });
  return tokenizer;
}

/** The tiny preset with lm.vocab and the special ids of the tokenizer. */
export function tinyConfig(o: Parameters<typeof withConfig>[1] = {}): ModelConfig {
  const V = tinyTokenizer().vocabSize;
  return withConfig(preset("tiny"), { ...o, lm: { vocab: V, ...o.lm }, tokens: specialsAtEnd(V) });
}

export interface TinyModel {
  cfg: ModelConfig;
  params: Params;
  tokenizer: BpeTokenizer;
  backend: Backend;
}

export function tinyModel(backend: Backend, seed = 5, cfg = tinyConfig()): TinyModel {
  return { cfg, params: initParams(cfg, seed, { std: 0.3 }), tokenizer: tinyTokenizer(), backend };
}

/** [1, 1, D, 32, 32] uniform in [0, 1]. */
export function tinyVolume(seed: number, D = 4): F32Tensor {
  return new Tensor("f32", [1, 1, D, 32, 32], new Rng(seed).fill(D * 32 * 32, 0, 1));
}
