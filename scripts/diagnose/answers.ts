/**
 * Diagnosis helpers shared by first-answers.ts and slice-answers.ts: the test studies, the first
 * answer token of a batch of prompts, and the AUC of a score against yes/no truth.
 */
import { promptSequence } from "../../src/generate/prefix.ts";
import type { Backend } from "../../src/backend/backend.ts";
import type { ModelConfig } from "../../src/model/config.ts";
import { forward } from "../../src/model/model.ts";
import type { Params } from "../../src/model/params.ts";
import { preprocessPreset } from "../../src/preprocess/index.ts";
import { loadPool, type PoolStudy } from "../../src/recipe/data.ts";
import { Tensor, type F32Tensor } from "../../src/tensor.ts";
import type { BpeTokenizer } from "../../src/tokenizer/bpe.ts";

/** The first n test studies of dataset 2026 on the small grid. */
export function testStudies(n: number): PoolStudy[] {
  return loadPool(2026, "test", n, preprocessPreset("small"), (d, c) => d % 10 === 0 && console.error(`test studies: ${d}/${c}`));
}

/** For each (prompt, image [1, D', H, W]) row: the argmax first answer token and logit("yes") - logit("no"). */
export function firstAnswers(be: Backend, cfg: ModelConfig, params: Params, tok: BpeTokenizer, rows: { prompt: string; image: F32Tensor }[], m: number): { token: number; margin: number }[] {
  const seqs = rows.map((r) => promptSequence(cfg, m, tok.encode(r.prompt)));
  const B = seqs.length, L = Math.max(...seqs.map((r) => r.length));
  const ids = new Tensor("i32", [B, L], new Int32Array(B * L).fill(cfg.tokens.pad));
  seqs.forEach((r, b) => ids.data.set(r, b * L));
  const n = rows[0].image.size, volume = new Tensor("f32", [B, ...rows[0].image.shape]);
  rows.forEach((r, b) => volume.data.set(r.image.data, b * n));
  const logits = forward(be, params, cfg, { volume, ids }).logits, V = cfg.lm.vocab;
  const yes = tok.encode("yes")[0], no = tok.encode("no")[0];
  return seqs.map((r, b) => {
    const row = logits.data.subarray((b * L + r.length - 1) * V, (b * L + r.length) * V);
    let token = 0;
    for (let v = 1; v < V; v++) if (row[v] > row[token]) token = v;
    return { token, margin: row[yes] - row[no] };
  });
}

/** Area under the ROC curve of `score` for labels 1 vs 0 (ties count half); NaN without both. */
export function auc(score: readonly number[], label: readonly number[]): number {
  let s = 0, pos = 0, neg = 0;
  for (let i = 0; i < score.length; i++) {
    if (label[i] !== 1) continue;
    for (let j = 0; j < score.length; j++) if (label[j] === 0) s += score[i] > score[j] ? 1 : score[i] === score[j] ? 0.5 : 0;
  }
  for (const y of label) y === 1 ? pos++ : neg++;
  return pos && neg ? s / (pos * neg) : NaN;
}
