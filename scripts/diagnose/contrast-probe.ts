/**
 * Diagnosis: is the scan's contrast phase in what the language model reads? For a training
 * checkpoint (a stage 0 one is first transferred to 3D), on N test studies: per study, the image
 * tokens (projector output) averaged over all positions, and separately the token of each position;
 * a ridge probe (lambda = 0.1 x the mean squared norm) fitted on the first 60% of the studies,
 * scored on the rest: study AUC for "contrast" from the mean token, and from the best single
 * position (fitted per position, picked on the training studies). Raw baseline: the mean voxel of
 * the volume's brightest 2% soft-tissue voxels (blood, enhanced organs).
 *   npx tsx scripts/diagnose/contrast-probe.ts CHECKPOINT.safetensors [N]
 * Legend: m image tokens · d = lm width.
 */
import { createBackend } from "../../src/backend/index.ts";
import { imageTokens } from "../../src/model/projector.ts";
import { trainingSequence } from "../../src/recipe/data.ts";
import { auc, testStudies } from "./answers.ts";
import { loadModel3d, projectorTokens, solveAugmented } from "./probe.ts";

const { tok, cfg, params } = await loadModel3d(process.argv[2]);
const be = await createBackend("wasm", { threads: 1 });
const pool = testStudies(Number(process.argv[3] ?? 100));
const D = pool[0].volume.dim(1), m = imageTokens(cfg, D), d = cfg.lm.width;
const ids = trainingSequence(cfg, tok, m, "Was the scan performed with intravenous contrast?", "yes");
const own = pool.map((p) => projectorTokens(be, params, cfg, ids, p.volume)); // [m, d] each
const y = pool.map(({ study }) => (study.contrast ? 1 : 0));
const split = Math.floor(pool.length * 0.6), held = Array.from({ length: pool.length - split }, (_, i) => split + i);

/** Ridge probe on features f(study) [d']: fitted on the first `split` studies; returns the score function. */
function probe(f: (st: number) => number[]): (st: number) => number {
  const n = f(0).length, mean = new Float64Array(n), A = new Float64Array(n * n), b = new Float64Array(n);
  for (let st = 0; st < split; st++) f(st).forEach((v, c) => (mean[c] += v / split));
  const ym = y.slice(0, split).reduce((a, v) => a + v, 0) / split;
  let norm = 0;
  for (let st = 0; st < split; st++) {
    const x = f(st).map((v, c) => v - mean[c]);
    for (let r = 0; r < n; r++) { b[r] += x[r] * (y[st] - ym); norm += x[r] * x[r]; for (let c = 0; c < n; c++) A[r * n + c] += x[r] * x[c]; }
  }
  for (let r = 0; r < n; r++) A[r * n + r] += (0.1 * norm) / split;
  const w = solveAugmented(Array.from({ length: n }, (_, i) => [...A.subarray(i * n, (i + 1) * n), b[i]]));
  return (st) => f(st).reduce((t, v, c) => t + w[c] * (v - mean[c]), 0);
}

const meanToken = (st: number) => Array.from({ length: d }, (_, c) => { let t = 0; for (let p = 0; p < m; p++) t += own[st][p * d + c]; return t / m; });
const s = probe(meanToken);
console.log(`contrast: study AUC from the mean image token ${auc(held.map(s), held.map((st) => y[st])).toFixed(3)} (${held.filter((st) => y[st]).length} of ${held.length} held-out studies with contrast)`);
let best = { p: -1, train: -1, test: 0 };
for (let p = 0; p < m; p++) {
  const sp = probe((st) => Array.from(own[st].subarray(p * d, (p + 1) * d)));
  const train = auc(Array.from({ length: split }, (_, st) => sp(st)), y.slice(0, split)), test = auc(held.map(sp), held.map((st) => y[st]));
  if (train > best.train) best = { p, train, test };
}
console.log(`contrast: best single position ${best.p} (training AUC ${best.train.toFixed(3)}): held-out AUC ${best.test.toFixed(3)}`);
const raw = pool.map(({ volume }) => {
  const v = Array.from(volume.data).filter((x) => x > 0.45 && x < 0.7).sort((a, b) => b - a); // soft tissue, window [-1000, 1000] HU
  const top = v.slice(0, Math.max(1, Math.floor(v.length * 0.02)));
  return top.reduce((a, x) => a + x, 0) / top.length;
});
console.log(`raw voxels: study AUC of the brightest 2% soft-tissue mean ${auc(held.map((st) => raw[st]), held.map((st) => y[st])).toFixed(3)} (all studies ${auc(raw, y).toFixed(3)})`);
