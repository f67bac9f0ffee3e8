/**
 * Answer generation for one volume and one prompt: encode (vision, guided by the prompt), prefill
 * the prompt sequence into a KV cache, then one token per step until `<eos>` or the budget. Works
 * on any (cfg, params, tokenizer, backend); the public model object (src/api.ts) wraps it and adds
 * checkpoint loading and NIfTI preprocessing. Not the math (src/model/) nor the sampler rules
 * (src/generate/sampling.ts).
 *
 *   const out = await generate({ cfg, params, tokenizer, backend }, { volume, prompt: "Describe the findings." });
 *   out.text; out.tokens; out.task; out.routing; out.timings; out.stopReason
 * Legend: D,H,W volume · L text tokens · V vocab · d = lm width · m image tokens · T tasks.
 */
import type { Backend } from "./backend/backend.js";
import { ValueError, assertInt } from "./errors.js";
import { encodePrefix, promptSequence, promptTokens } from "./generate/prefix.js";
import { makeSampler, nextToken, type SamplingOptions } from "./generate/sampling.js";
import { throwIfAborted, yieldToEventLoop, type StopReason } from "./generate/stopping.js";
import type { ModelConfig } from "./model/config.js";
import { CONTEXT_TOKENS } from "./model/limits.js";
import { KvCache, lmExtend } from "./model/decode.js";
import { checkVolume } from "./model/model.js";
import type { MoeTrace } from "./model/moe.js";
import { getParam, type Params } from "./model/params.js";
import { Rng } from "./rng.js";
import { fromInts, type F32Tensor } from "./tensor.js";
import type { BpeTokenizer } from "./tokenizer/bpe.js";

export { makeSampler, nextToken, type Sampler, type SamplingOptions } from "./generate/sampling.js";
export { yieldToEventLoop, type StopReason } from "./generate/stopping.js";

/** What generation runs on. */
export interface GenerateModel {
  cfg: ModelConfig;
  params: Params;
  tokenizer: BpeTokenizer;
  backend: Backend;
}

export interface GeneratedToken {
  step: number; // 0 for the first generated token
  token: number;
  text: string; // the whole answer so far, decoded (special tokens skipped)
}
export interface GenerateProgress {
  stage: "encode" | "prefill" | "decode";
  done: number; // encode: 0 or 1; prefill: prompt tokens; decode: tokens generated
  total: number; // encode: 1; prefill: prompt tokens; decode: maxNewTokens (or what the context leaves)
  /** On the last event of encode and of prefill: the stage's time in ms, exactly timings.encode / timings.prefill. */
  ms?: number;
}

export interface GenerateOptions extends SamplingOptions {
  /** [1, 1, D, H, W] float32, already preprocessed (windowed and scaled). */
  volume: F32Tensor;
  prompt: string;
  /** Task group for hard routing: index or name ("report" = 0, "vqa" = 1). Default: the task gate's argmax. */
  task?: number | string;
  /** Default 64. */
  maxNewTokens?: number;
  /** Seed of the sampling stream (unused when greedy). Default 0. */
  seed?: number;
  /** Checked between tokens; aborting throws AbortError (name "AbortError"). */
  signal?: AbortSignal;
  onToken?: (e: GeneratedToken) => void;
  onProgress?: (e: GenerateProgress) => void;
}

export interface GenerateResult {
  text: string; // decoded answer, special tokens skipped
  tokens: number[]; // generated ids, without the final <eos> (other specials the model emits stay here, not in text)
  /** The task group of the first MoE layer (given, or argmax pi) and its pi; null without MoE layers. */
  task: { index: number; name: string; probabilities: number[] } | null;
  routing: MoeTrace[];
  timings: { encode: number; prefill: number; decode: number; total: number }; // ms
  stopReason: StopReason;
}

/** Each id of cfg.tokens: code key, section 9 key, the tokenizer's special token name. */
const SPECIALS: readonly [keyof ModelConfig["tokens"], string, string][] = [
  ["bos", "bos", "<bos>"], ["eos", "eos", "<eos>"], ["pad", "pad", "<pad>"], ["imgStart", "img_start", "<img>"],
  ["imgEnd", "img_end", "</img>"], ["image", "image", "<image>"], ["sep", "sep", "<sep>"],
];

/**
 * Throws ValueError unless the tokenizer fits the config: its vocabulary is at most lm.vocab (a
 * larger embedding table is allowed; those ids are never generated) and each special token id of
 * the config is the tokenizer's id of that special.
 */
export function checkTokenizer(cfg: ModelConfig, tokenizer: BpeTokenizer): void {
  if (tokenizer.vocabSize > cfg.lm.vocab) {
    throw new ValueError(`tokenizer: vocabulary: expected at most lm.vocab=${cfg.lm.vocab} tokens, got ${tokenizer.vocabSize}`);
  }
  for (const [key, spec, name] of SPECIALS) {
    const want = cfg.tokens[key], got = tokenizer.specialId(name);
    if (want !== got) throw new ValueError(`tokenizer: ${name}: the config's tokens.${spec} is ${want}, the tokenizer's id is ${got}`);
  }
}

/** Task names by index: 0 "report", 1 "vqa", then "task2", "task3", ... */
export function taskName(t: number): string {
  return t === 0 ? "report" : t === 1 ? "vqa" : `task${t}`;
}

/** A task given as an index or a name -> its index in [0, T). */
export function taskIndex(cfg: ModelConfig, task: number | string): number {
  const T = cfg.moe.tasks;
  const names = Array.from({ length: T }, (_, t) => taskName(t));
  const t = typeof task === "string" ? names.indexOf(task) : task;
  if (!Number.isInteger(t) || t < 0 || t >= T) {
    throw new ValueError(`generate: task: expected an index in [0, ${T}) or one of ${names.join(", ")}, got ${JSON.stringify(task)}`);
  }
  return t;
}

export async function generate(model: GenerateModel, o: GenerateOptions): Promise<GenerateResult> {
  const { cfg, params, tokenizer, backend: be } = model;
  const t0 = now();
  checkTokenizer(cfg, tokenizer);
  const sampler = makeSampler(o);
  const maxNew = o.maxNewTokens ?? 64;
  assertInt("generate", "maxNewTokens", maxNew, 0);
  const seed = o.seed ?? 0;
  assertInt("generate", "seed", seed, 0, 0xffffffff);
  if (typeof o.prompt !== "string") throw new ValueError(`generate: prompt: expected a string, got ${typeof o.prompt}`);
  const m = checkVolume(cfg, o.volume, "generate");
  if (o.volume.dim(0) !== 1) throw new ValueError(`generate: volume: expected one volume [1, 1, D, H, W], got a batch of ${o.volume.dim(0)}`);
  const ids = promptSequence(cfg, m, promptTokens(tokenizer, m, o.prompt, "generate"));
  const P = ids.length;
  const budget = Math.min(maxNew, CONTEXT_TOKENS - P); // the answer stops where the context ends
  const task = o.task === undefined || cfg.vision.moeLayers.length === 0 ? null : taskIndex(cfg, o.task);
  const progress = o.onProgress ?? (() => {});
  throwIfAborted(o.signal, "before encoding");

  // encode: vision guided by the prompt, image spliced into the prompt embeddings
  progress({ stage: "encode", done: 0, total: 1 });
  const vis = encodePrefix(be, params, cfg, o.volume, fromInts([1, P], ids), task === null ? null : Int32Array.of(task));
  const t1 = now();
  progress({ stage: "encode", done: 1, total: 1, ms: t1 - t0 });
  await yieldToEventLoop();
  throwIfAborted(o.signal, "after encoding");

  // prefill: the whole prompt sequence at once; its last logits predict the first answer token
  const cache = new KvCache(cfg.lm, 1, P + Math.min(budget, 256)); // grows by doubling past that
  const tokens: number[] = [];
  let stopReason: StopReason = budget < maxNew ? "context" : "max_tokens";
  let t2 = t1;
  if (budget > 0) {
    progress({ stage: "prefill", done: 0, total: P });
    let logits = lmExtend(be, params, cfg.lm, vis.x, cache); // [1, 1, V]
    t2 = now();
    progress({ stage: "prefill", done: P, total: P, ms: t2 - t1 });
    // decode: one token per step, each attending over the cache
    const rng = new Rng(seed);
    const embed = getParam(params, "lm.embed.weight");
    const limit = Math.min(tokenizer.vocabSize, cfg.lm.vocab); // ids the tokenizer can decode
    for (let step = 0; step < budget; step++) {
      await yieldToEventLoop();
      throwIfAborted(o.signal, `before token ${step}`);
      const token = nextToken(be, logits.data.subarray(0, limit), sampler, rng);
      if (token === cfg.tokens.eos) {
        stopReason = "eos";
        break;
      }
      tokens.push(token);
      o.onToken?.({ step, token, text: tokenizer.decode(tokens, { skipSpecials: true }) });
      progress({ stage: "decode", done: step + 1, total: budget });
      if (step + 1 < budget) logits = lmExtend(be, params, cfg.lm, be.embedding(embed, fromInts([1, 1], [token])), cache);
    }
  }
  const t3 = now();
  return {
    text: tokenizer.decode(tokens, { skipSpecials: true }),
    tokens,
    task: taskOf(vis.routing, task),
    routing: vis.routing,
    timings: { encode: t1 - t0, prefill: t2 - t1, decode: t3 - t2, total: t3 - t0 },
    stopReason,
  };
}

function taskOf(routing: MoeTrace[], given: number | null): GenerateResult["task"] {
  if (routing.length === 0) return null;
  const first = routing[0];
  const index = given ?? first.group.data[0];
  return { index, name: taskName(index), probabilities: Array.from(first.pi.data) };
}

function now(): number {
  return globalThis.performance?.now() ?? Date.now();
}

