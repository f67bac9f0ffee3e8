/**
 * Choosing among given answers instead of generating one (a multiple-choice question answered by
 * the model's likelihood of each candidate). For the prompt sequence s (the volume encoded once,
 * guided by the prompt, and the prompt prefilled once) and candidate text c with ids c_1 .. c_n:
 *
 *   score(c) = sum_{i=1..n+1} log p(c_i | s, c_<i),   c_{n+1} = <eos>       (the answer and its end)
 *   log p(t | .) = z_t - zmax - log sum_j exp(z_j - zmax)   over the ids the tokenizer can decode
 *
 * in float64 with src/detmath.ts's exp and log, sums in id order then position order, so every
 * engine gives the same bits. The choice is the highest score, ties to the lower index. Not the
 * generation loop (src/generate.ts).
 * Legend: L text tokens · V vocab · d = lm width · m image tokens · n candidate tokens.
 */
import { exp, log } from "../detmath.js";
import { ValueError } from "../errors.js";
import { taskIndex, type GenerateModel } from "../generate.js";
import { KvCache, lmExtend } from "../model/decode.js";
import { checkVolume } from "../model/model.js";
import type { MoeTrace } from "../model/moe.js";
import { getParam } from "../model/params.js";
import { CONTEXT_TOKENS } from "../model/limits.js";
import { fromInts, type F32Tensor } from "../tensor.js";
import { encodePrefix, promptSequence, promptTokens } from "./prefix.js";

export interface ChooseOptions {
  /** [1, 1, D, H, W] float32, already preprocessed. */
  volume: F32Tensor;
  prompt: string;
  /** The candidate answers (at least one), each scored as the whole answer followed by <eos>. */
  candidates: readonly string[];
  /** Task group for hard routing: index or name, as in generate. Default: the task gate's argmax. */
  task?: number | string;
}

export interface ChooseResult {
  index: number; // the highest score's candidate, ties to the lower index
  scores: number[]; // log-likelihood of each candidate (float64, <= 0)
  routing: MoeTrace[];
}

export function choose(model: GenerateModel, o: ChooseOptions): ChooseResult {
  const { cfg, params, tokenizer, backend: be } = model;
  if (!Array.isArray(o.candidates) || o.candidates.length === 0 || o.candidates.some((c) => typeof c !== "string")) {
    throw new ValueError(`choose: candidates: expected a non-empty list of strings, got ${JSON.stringify(o.candidates)}`);
  }
  const m = checkVolume(cfg, o.volume, "choose");
  if (o.volume.dim(0) !== 1) throw new ValueError(`choose: volume: expected one volume [1, 1, D, H, W], got a batch of ${o.volume.dim(0)}`);
  const ids = promptSequence(cfg, m, promptTokens(tokenizer, m, o.prompt, "choose"));
  const answers = o.candidates.map((c) => [...tokenizer.encode(c), cfg.tokens.eos]);
  const longest = Math.max(...answers.map((a) => a.length));
  if (ids.length + longest > CONTEXT_TOKENS) {
    throw new ValueError(`choose: candidates: the prompt's ${ids.length} tokens and the longest candidate's ${longest} exceed the context of ${CONTEXT_TOKENS}`);
  }
  const task = o.task === undefined || cfg.vision.moeLayers.length === 0 ? null : Int32Array.of(taskIndex(cfg, o.task));
  const vis = encodePrefix(be, params, cfg, o.volume, fromInts([1, ids.length], ids), task);
  const cache = new KvCache(cfg.lm, 1, ids.length + longest);
  const first = lmExtend(be, params, cfg.lm, vis.x, cache).data; // [1, 1, V]: predicts the answer's first token
  const P = cache.length, limit = Math.min(tokenizer.vocabSize, cfg.lm.vocab), V = cfg.lm.vocab;
  const embed = getParam(params, "lm.embed.weight");
  const scores = answers.map((a) => {
    cache.length = P; // every candidate continues the same prompt (its positions are overwritten)
    let s = logProb(first, 0, limit, a[0]);
    if (a.length > 1) {
      const z = lmExtend(be, params, cfg.lm, be.embedding(embed, fromInts([1, a.length - 1], a.slice(0, -1))), cache, { logits: "all" }).data; // [1, n, V]
      for (let i = 1; i < a.length; i++) s += logProb(z, (i - 1) * V, limit, a[i]);
    }
    return s;
  });
  let index = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[index]) index = i;
  return { index, scores, routing: vis.routing };
}

/** log softmax(row)[t] of the row z[at .. at+limit), float64 (module comment). */
export function logProb(z: Float32Array, at: number, limit: number, t: number): number {
  let zmax = -Infinity;
  for (let j = 0; j < limit; j++) zmax = Math.max(zmax, z[at + j]);
  let sum = 0;
  for (let j = 0; j < limit; j++) sum += exp(z[at + j] - zmax);
  return z[at + t] - zmax - log(sum);
}
