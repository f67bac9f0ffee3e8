/**
 * Upper bounds of a model config, and the sizes a config implies in closed form (weight tensors,
 * parameters, the largest tensor), so a config read from a file is refused before anything sized by
 * it is built. The bounds sit far above every preset (phi3v: 742 tensors, 4.4e9 parameters); they
 * exist so that a hostile number (moe.experts 1e6, lm.layers 1e9) is an error, not hours of work.
 * Legend: C width · S=1+n^2 · E experts · T tasks · V vocab · d = lm width · F = lm mlp_hidden.
 */
import type { ModelConfig } from "./config-types.js";

/** Largest value of each size key (spec key -> bound). */
export const CONFIG_LIMITS = {
  vision: { image: 4096, patch: 4096, c_in: 64, width: 16384, heads: 1024, layers: 1024, mlp_ratio: 64, depth_patch: 1024 },
  moe: { tasks: 256, experts: 4096, shared_experts: 256 },
  projector: { depth_pool: 1024 },
  lm: { vocab: 2 ** 19, width: 65536, heads: 1024, layers: 1024, mlp_hidden: 2 ** 20 },
} as const;
/** Most weight tensors a config may imply (phi3v: 742); a training checkpoint holds 4x as many with optim.*, within the reader's 16384. */
export const MAX_WEIGHT_TENSORS = 2 ** 12;
/** Most parameters a config may imply: 8.6e9, twice phi3v's. */
export const MAX_PARAMS = 2 ** 33;
/**
 * The longest language-model sequence this implementation runs: image tokens, prompt and answer
 * together (`<bos> <img> <image>*m </img> prompt <sep> answer`). 4096 is Phi-3-mini's context; the
 * small preset sees about 200 in training. A longer prompt is refused, generation stops at it, and a
 * preprocessing grid whose image tokens alone exceed it is refused.
 */
export const CONTEXT_TOKENS = 4096;
/** Largest single tensor (elements): what one typed array / wasm buffer can hold (tensor.ts MAX_ELEMENTS). */
export const MAX_TENSOR_ELEMENTS = 2 ** 30 - 1;

/** What a config implies, computed without listing the parameters (equal to paramSpecs' totals; a test checks). */
export interface ConfigTotals {
  tensors: number;
  params: number;
  largest: number; // elements of the largest tensor
}

export function configTotals(cfg: ModelConfig): ConfigTotals {
  const { vision: v, moe, lm } = cfg;
  const C = v.width, hid = v.mlpRatio * C, n = v.image / v.patch, S = 1 + n * n, d = lm.width;
  const guided = v.moeLayers.length > 0 && moe.guidance !== "none";
  const groups = moe.guidance === "none" ? 1 : moe.tasks;
  let tensors = 0, params = 0, largest = 0;
  const add = (count: number, ...shape: number[]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    tensors += count;
    params += count * size;
    largest = Math.max(largest, size);
  };
  const linear = (count: number, out: number, inp: number, bias = true) => {
    add(count, out, inp);
    if (bias) add(count, out);
  };
  const mlp = (count: number) => {
    linear(count, hid, C);
    linear(count, C, hid);
  };
  add(1, C, v.cIn, v.patch, v.patch);
  add(1, C);
  add(1, S, C);
  add(2, C); // pre_norm
  const moeBlocks = v.moeLayers.length, dense = v.layers - moeBlocks;
  add(4 * v.layers, C); // ln1, ln2 weight and bias
  linear(v.layers, 3 * C, C);
  linear(v.layers, C, C);
  mlp(dense);
  if (guided) {
    linear(moeBlocks, C, C);
    linear(moeBlocks, moe.tasks, C);
  }
  add(moeBlocks * groups, moe.experts, guided ? 2 * C : C);
  mlp(moeBlocks * (moe.sharedExperts + groups * moe.experts));
  if (guided) linear(1, C, d);
  linear(1, d, 4 * C);
  linear(1, d, d);
  const dh = d / lm.heads;
  add(lm.tieEmbeddings ? 1 : 2, lm.vocab, d);
  add(2 * lm.layers + 1, d); // norm1, norm2, lm.norm
  add(2 * lm.layers, lm.heads * dh, d); // q, o
  add(2 * lm.layers, lm.kvHeads * dh, d); // k, v
  add(3 * lm.layers, lm.mlpHidden, d); // gate, up, down
  return { tensors, params, largest };
}

type Check = (key: string, ok: boolean, expected: string, got: unknown) => void;

/** Each size key within CONFIG_LIMITS, then the implied totals within their bounds. */
export function checkConfigLimits(cfg: ModelConfig, check: Check): void {
  const code: Record<string, string> = { c_in: "cIn", mlp_ratio: "mlpRatio", depth_patch: "depthPatch", shared_experts: "sharedExperts", depth_pool: "depthPool", mlp_hidden: "mlpHidden" };
  for (const [sec, keys] of Object.entries(CONFIG_LIMITS)) {
    const values = cfg[sec as keyof typeof CONFIG_LIMITS] as unknown as Record<string, number>;
    for (const [key, max] of Object.entries(keys)) {
      const x = values[code[key] ?? key];
      check(`${sec}.${key}`, x <= max, `at most ${max} (this implementation's bound)`, x);
    }
  }
  const t = configTotals(cfg);
  const got = `${t.tensors} tensors, ${t.params} parameters, largest tensor ${t.largest} elements`;
  check("sizes", t.tensors <= MAX_WEIGHT_TENSORS, `at most ${MAX_WEIGHT_TENSORS} weight tensors`, got);
  check("sizes", t.params <= MAX_PARAMS, `at most ${MAX_PARAMS} parameters`, got);
  check("sizes", t.largest <= MAX_TENSOR_ELEMENTS, `no tensor above ${MAX_TENSOR_ELEMENTS} elements`, got);
}
