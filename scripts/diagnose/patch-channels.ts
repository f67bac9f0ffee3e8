/**
 * Diagnosis: does the encoder mark the patches a finding covers (the patch finding loss's channels,
 * src/model/patch-loss.ts)? For a training checkpoint, on N test studies: the encoder output's
 * channel k at each patch token, as a score, against whether a finding of kind k covers the patch
 * (patchCover, grouped by depth patch): the AUC over all patch tokens, and the study AUC of the
 * largest score (has the study one?). Two views: the 2D model on single slices (a stage 0
 * checkpoint as trained), and the 3D model (a stage 0 checkpoint transferred; later ones as they are).
 *   [SPLIT=train] npx tsx scripts/diagnose/patch-channels.ts CHECKPOINT.safetensors [N]
 * Legend: B batch · D depth (patches) · S=1+n^2 · C width.
 */
import { readFile } from "node:fs/promises";
import { createBackend } from "../../src/backend/index.ts";
import { makeSample } from "../../src/data/index.ts";
import type { ModelConfig } from "../../src/model/config.ts";
import { forward } from "../../src/model/model.ts";
import type { Params } from "../../src/model/params.ts";
import { PATCH_KINDS } from "../../src/model/patch-loss.ts";
import { imageTokens } from "../../src/model/projector.ts";
import { preprocessPreset } from "../../src/preprocess/index.ts";
import { loadPool, patchCover, trainingSequence } from "../../src/recipe/data.ts";
import { fromInts, Tensor, type F32Tensor } from "../../src/tensor.ts";
import { parseCheckpoint } from "../../src/train/checkpoint.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { auc, testStudies } from "./answers.ts";
import { loadModel3d } from "./probe.ts";

const file = process.argv[2], N = Number(process.argv[3] ?? 40);
const be = await createBackend("wasm", { threads: 1 });
const pre = preprocessPreset("small"), p = 16, n = pre.grid[2] / p, nn = n * n;
// SPLIT=train: the first N training studies instead (is what the loss taught there also on the test studies?)
const studies = process.env.SPLIT === "train" ? loadPool(2026, "train", N, pre) : testStudies(N);
const pool = studies.map((s) => {
  const m = makeSample(2026, s.study.index, "small", { masks: true });
  return { ...s, cover: patchCover(m.findings, m.masks!, pre.grid, p) };
});

/** Encoder output [D, S, C] of one image [1, D', H, W]. */
function encoderOut(cfg: ModelConfig, params: Params, ids: number[], image: F32Tensor): Float32Array {
  const task = cfg.vision.moeLayers.length ? [1] : null;
  const out = forward(be, params, cfg, { volume: image.reshape([1, ...image.shape]), ids: fromInts([1, ids.length], ids), task }, { acts: true });
  return (out.acts!.get(`act.blocks.${cfg.vision.layers - 1}`) as Tensor<"f32">).data;
}

/**
 * Per kind: the patch AUC of channel k; the same position-matched (each score minus the mean score of
 * its position, slice level x patch, over the studies: where a finding usually lies no longer
 * counts); and the study AUC of the largest position-matched score.
 */
function report(view: string, rows: { x: Float32Array; cover: Uint8Array; C: number; depths: number; t: number; study: number; level: number }[]): void {
  for (let k = 0; k < PATCH_KINDS.length; k++) {
    const s: number[] = [], y: number[] = [], at: number[] = [], st: number[] = [];
    for (const r of rows) {
      for (let d = 0; d < r.depths; d++) {
        for (let q = 0; q < nn; q++) {
          let on = 0;
          for (let u = 0; u < r.t; u++) on |= (r.cover[(d * r.t + u) * nn + q] >> k) & 1;
          s.push(r.x[((d * (1 + nn)) + 1 + q) * r.C + k]); y.push(on); at.push(((r.level + d) * nn) + q); st.push(r.study);
        }
      }
    }
    const sum = new Map<number, number>(), count = new Map<number, number>();
    at.forEach((a, i) => (sum.set(a, (sum.get(a) ?? 0) + s[i]), count.set(a, (count.get(a) ?? 0) + 1)));
    const rel = s.map((v, i) => v - sum.get(at[i])! / count.get(at[i])!);
    const best = new Map<number, number>(), has = new Map<number, number>();
    rel.forEach((v, i) => (best.set(st[i], Math.max(best.get(st[i]) ?? -Infinity, v)), has.set(st[i], Math.max(has.get(st[i]) ?? 0, y[i]))));
    const pos = y.reduce((a, b) => a + b, 0);
    console.log(`${view} ${PATCH_KINDS[k]}: patch AUC ${auc(s, y).toFixed(3)}, position-matched ${auc(rel, y).toFixed(3)} (${pos} of ${y.length} covered); study AUC of the largest position-matched ${auc([...best.values()], [...has.values()]).toFixed(3)}`);
  }
}

const ck = parseCheckpoint(new Uint8Array(await readFile(file)));
if (ck.cfg.vision.volumeLayers === 0) {
  const tok = BpeTokenizer.deserialize(ck.tokenizer!), cfg = ck.cfg, ids = trainingSequence(cfg, tok, imageTokens(cfg, 1), "Describe this slice.", "");
  const rows = pool.flatMap((st, i) => Array.from({ length: pre.grid[0] }, (_, k) => ({
    x: encoderOut(cfg, ck.params, ids, new Tensor("f32", [1, 1, pre.grid[1], pre.grid[2]], st.volume.data.subarray(k * pre.grid[1] * pre.grid[2], (k + 1) * pre.grid[1] * pre.grid[2]))),
    cover: st.cover.subarray(k * nn, (k + 1) * nn), C: cfg.vision.width, depths: 1, t: 1, study: i, level: k,
  })));
  report("2D slices", rows);
}
const { tok, cfg, params } = await loadModel3d(file);
const ids = trainingSequence(cfg, tok, imageTokens(cfg, pre.grid[0]), "Are there any pulmonary nodules?", "yes");
const t = cfg.vision.depthPatch;
report("3D volume", pool.map((st, i) => ({ x: encoderOut(cfg, params, ids, st.volume), cover: st.cover, C: cfg.vision.width, depths: pre.grid[0] / t, t, study: i, level: 0 })));
