/**
 * Choosing the next token from one row of logits [V]: greedy, or seeded sampling with temperature,
 * top-k and top-p (nucleus). Pinned so that a port draws the same tokens from the same logits and
 * seed: every step below is either a Backend op (float32) or a fixed-order float64 sum. Not the loop.
 *
 *   order   = topk(z, K)                   K = topK or V; descending, equal logits by lower id
 *   greedy  : order[0]                     (temperature 0, or 1/temperature overflows float32)
 *   p       = softmax((z[order] - z[order_0]) * fround(1/temperature))   float32, Backend softmax
 *             (shifted first, so no scaled logit overflows to +Infinity)
 *   c_i     = p_0 + ... + p_i              float64, in that order
 *   n       = 1 + first i with c_i >= topP (all K when none)
 *   u       = rng.uniform() * c_{n-1}      exactly one draw per sampled token
 *   token   = order[first i < n with c_i > u]
 */
import type { Backend } from "../backend/backend.js";
import { ValueError } from "../errors.js";
import type { Rng } from "../rng.js";
import { Tensor } from "../tensor.js";

export interface SamplingOptions {
  /** 0 (default): greedy. > 0: sample from softmax(logits / temperature). */
  temperature?: number;
  /** Keep only the topK most likely tokens (before top-p). Default: all. */
  topK?: number;
  /** Nucleus: keep the most likely tokens until their probabilities sum to topP, in (0, 1]. Default 1. */
  topP?: number;
}

/** Options checked and filled in; `greedy` when no draw is made. */
export interface Sampler {
  greedy: boolean;
  scale: number; // fround(1 / temperature), the float32 factor (unused when greedy)
  topK: number | null;
  topP: number;
}

export function makeSampler(o: SamplingOptions): Sampler {
  const t = o.temperature ?? 0, topP = o.topP ?? 1, topK = o.topK ?? null;
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0) throw new ValueError(`generate: temperature: expected a finite number >= 0, got ${String(t)}`);
  if (typeof topP !== "number" || !(topP > 0 && topP <= 1)) throw new ValueError(`generate: topP: expected a number in (0, 1], got ${String(topP)}`);
  if (topK !== null && (!Number.isInteger(topK) || topK < 1)) throw new ValueError(`generate: topK: expected a positive integer, got ${String(topK)}`);
  const scale = t === 0 ? Infinity : Math.fround(1 / t);
  return { greedy: !Number.isFinite(scale), scale, topK, topP };
}

/** The next token of a logits row (ids 0..row.length-1). Draws one uniform from rng unless greedy. */
export function nextToken(be: Backend, row: Float32Array, s: Sampler, rng: Rng): number {
  const V = row.length;
  for (let i = 0; i < V; i++) {
    if (Number.isNaN(row[i]) || row[i] === Infinity) throw new ValueError(`generate: logits: expected finite values (or -Infinity), got ${row[i]} at token ${i}`);
  }
  const z = new Tensor("f32", [1, V], row);
  if (s.greedy) return be.topk(z, 1).indices.data[0];
  const K = Math.min(s.topK ?? V, V);
  const top = be.topk(z, K); // [1, K] descending, ties to the lower id
  if (top.values.data[0] === -Infinity) throw new ValueError("generate: logits: every candidate is -Infinity");
  const z0 = top.values.data[0];
  const shifted = new Tensor("f32", [1, K], top.values.data.map((zi) => zi - z0)); // float32 subtraction, <= 0
  const p = be.softmax(be.scale(shifted, s.scale)).data; // [K] float32
  const cum = new Float64Array(K);
  let acc = 0, n = K;
  for (let i = 0; i < K; i++) {
    acc += p[i];
    cum[i] = acc;
    if (acc >= s.topP) {
      n = i + 1;
      break;
    }
  }
  const u = rng.uniform() * cum[n - 1];
  for (let i = 0; i < n; i++) if (cum[i] > u) return top.indices.data[i];
  return top.indices.data[n - 1]; // u rounded up to c_{n-1}
}
