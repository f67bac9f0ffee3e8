/**
 * Diagnosis helpers shared by side-probe.ts and token-probe.ts: a training checkpoint as a 3D model
 * (a stage 0 one transferred), the image tokens the language model reads, and a small linear solver.
 * Legend: m image tokens · d = lm width.
 */
import { readFile } from "node:fs/promises";
import { parseModel } from "../../src/api.ts";
import type { Backend } from "../../src/backend/backend.ts";
import type { ModelConfig } from "../../src/model/config.ts";
import { forward } from "../../src/model/model.ts";
import type { Params } from "../../src/model/params.ts";
import { advance, configDense, recipeConfig } from "../../src/recipe/stages.ts";
import { fromInts, type F32Tensor, type Tensor } from "../../src/tensor.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { parseCheckpoint } from "../../src/train/checkpoint.ts";

/** A training checkpoint's (or a model file's) tokenizer, config and weights; a stage 0 (2D) one is transferred to 3D first. */
export async function loadModel3d(file: string): Promise<{ tok: BpeTokenizer; cfg: ModelConfig; params: Params }> {
  const bytes = new Uint8Array(await readFile(file));
  try {
    const { tokenizer, cfg, params } = parseModel(bytes, file);
    return { tok: tokenizer, cfg, params };
  } catch {
    // not a model file: a training checkpoint
  }
  const s = parseCheckpoint(bytes);
  const tok = BpeTokenizer.deserialize(s.tokenizer!);
  if (s.cfg.vision.volumeLayers > 0) return { tok, cfg: s.cfg, params: s.params };
  const full = recipeConfig("small", tok);
  return { tok, cfg: configDense(full), params: advance(s.params, full, "stage0", "stage1", "dense", 0) };
}

/** act.projector [m, d] of one volume [1, D, H, W] under a training sequence `ids` (its image tokens do not depend on the words but for the task gate). */
export function projectorTokens(be: Backend, params: Params, cfg: ModelConfig, ids: number[], v: F32Tensor): Float32Array {
  const task = cfg.vision.moeLayers.length ? [1] : null;
  const out = forward(be, params, cfg, { volume: v.reshape([1, ...v.shape]), ids: fromInts([1, ids.length], ids), task }, { acts: true });
  return (out.acts!.get("act.projector") as Tensor<"f32">).data.slice();
}

/** Solves A x = b for the n x (n + 1) augmented rows [A | b] (changed in place), Gaussian elimination with partial pivoting. */
export function solveAugmented(M: number[][]): Float64Array {
  const n = M.length;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = c + 1; r < n; r++) { const f = M[r][c] / M[c][c]; for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k]; }
  }
  const x = new Float64Array(n);
  for (let r = n - 1; r >= 0; r--) { let t = M[r][n]; for (let k = r + 1; k < n; k++) t -= M[r][k] * x[k]; x[r] = t / M[r][r]; }
  return x;
}
