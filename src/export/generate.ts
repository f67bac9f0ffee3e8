/**
 * Greedy generation on the exported graphs, the loop of src/generate.ts with onnxruntime doing the
 * math: encoder.onnx on the prompt sequence `<bos> <img> <image>*m </img> prompt <sep>`, lm.onnx
 * prefill with an empty cache, then one token per step until <eos>, the token budget or the
 * context. Greedy only (the highest logit, ties to the lower id, over the ids the tokenizer can
 * decode), so its tokens can be compared with `generate` token for token. Not a sampler.
 * Legend: B = 1 · D,H,W volume · m image tokens · V vocab.
 */
import { ValueError, assertInt } from "../errors.js";
import type { ModelConfig } from "../model/config.js";
import { CONTEXT_TOKENS } from "../model/limits.js";
import { checkVolume } from "../model/model.js";
import { fromInts, type F32Tensor } from "../tensor.js";
import type { BpeTokenizer } from "../tokenizer/bpe.js";
import { promptSequence, promptTokens } from "../generate/prefix.js";
import type { OnnxSessions } from "./session.js";

export interface OnnxGenerateOptions {
  /** A preprocessed volume [1, 1, D, H, W] on the grid the encoder graph was exported for. */
  volume: F32Tensor;
  prompt: string;
  maxNewTokens?: number;
}
export interface OnnxGenerateResult {
  text: string;
  tokens: number[];
  stopReason: "eos" | "max_tokens" | "context";
  /** The chosen group of the first MoE layer (act.blocks.<l>.moe.group), null without MoE layers or trace. */
  group: number | null;
}

export async function generateOnnx(s: OnnxSessions, cfg: ModelConfig, tokenizer: BpeTokenizer, o: OnnxGenerateOptions): Promise<OnnxGenerateResult> {
  const maxNew = o.maxNewTokens ?? 64;
  assertInt("generateOnnx", "maxNewTokens", maxNew, 0);
  const m = checkVolume(cfg, o.volume, "generateOnnx");
  if (o.volume.dim(0) !== 1) throw new ValueError(`generateOnnx: volume: expected one volume [1, 1, D, H, W], got a batch of ${o.volume.dim(0)}`);
  const seq = promptSequence(cfg, m, promptTokens(tokenizer, m, o.prompt, "generateOnnx"));
  const ids = fromInts([1, seq.length], seq);
  const budget = Math.min(maxNew, CONTEXT_TOKENS - seq.length);
  const acts = await s.encode(o.volume, ids);
  const z = acts.get("act.projector") as F32Tensor;
  const firstMoe = cfg.vision.moeLayers[0];
  const group = firstMoe === undefined ? null : (acts.get(`act.blocks.${firstMoe}.moe.group`)?.data[0] ?? null);
  const tokens: number[] = [];
  let stopReason: OnnxGenerateResult["stopReason"] = budget < maxNew ? "context" : "max_tokens";
  if (budget > 0) {
    let { logits, cache } = await s.extend(ids, z, s.emptyCache(1));
    const limit = Math.min(tokenizer.vocabSize, cfg.lm.vocab);
    for (let step = 0; step < budget; step++) {
      const V = logits.dim(2), n = logits.dim(1);
      const token = argmax(logits.data.subarray((n - 1) * V, (n - 1) * V + limit));
      if (token === cfg.tokens.eos) {
        stopReason = "eos";
        break;
      }
      tokens.push(token);
      if (step + 1 < budget) ({ logits, cache } = await s.extend(fromInts([1, 1], [token]), z, cache));
    }
  }
  return { text: tokenizer.decode(tokens, { skipSpecials: true }), tokens, stopReason, group };
}

/** The index of the largest value, the lower index on ties (our topk rule). */
function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}
