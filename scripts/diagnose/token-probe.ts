/**
 * Diagnosis: is a small finding (nodule, cyst) in the image token that covers it? For a training
 * checkpoint (a stage 0 one is first transferred to 3D), on N test studies: each image token
 * (projector output, one per depth group x 2x2-merged patch) is labelled by whether a finding of
 * the kind has its centre inside the token's region; a ridge regression probe (primal, lambda =
 * 0.1 x the mean squared norm of a token) is fitted on the tokens of the first 60% of the studies
 * and scored on the rest: token AUC, the same with each position's mean score removed (so that where
 * the finding usually lies does not count), and study AUC of the largest such score (has the study one?).
 *   npx tsx scripts/diagnose/token-probe.ts CHECKPOINT.safetensors [N]
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
const D = pool[0].volume.dim(1), H = pool[0].volume.dim(2);
const m = imageTokens(cfg, D), d = cfg.lm.width, g = cfg.vision.image / cfg.vision.patch / 2; // g x g merged patches per depth group
const slab = D / (m / (g * g)), cell = H / g; // slices per depth group, pixels per merged patch side
const ids = trainingSequence(cfg, tok, m, "Are there any pulmonary nodules?", "yes");
const own = pool.map((p) => projectorTokens(be, params, cfg, ids, p.volume)); // [m, d] each

for (const kind of ["nodule", "cyst"] as const) {
  const labels = pool.map(({ study }) => {
    const y = new Array<number>(m).fill(0);
    for (const f of study.findings) {
      if (f.kind !== kind || !f.centerVoxel) continue;
      const [k, j, i] = f.centerVoxel;
      y[Math.min(m / (g * g) - 1, Math.floor(k / slab)) * g * g + Math.min(g - 1, Math.floor(j / cell)) * g + Math.min(g - 1, Math.floor(i / cell))] = 1;
    }
    return y;
  });
  const split = Math.floor(pool.length * 0.6);
  const mean = new Float64Array(d);
  for (let st = 0; st < split; st++) for (let p = 0; p < m; p++) for (let c = 0; c < d; c++) mean[c] += own[st][p * d + c] / (split * m);
  const A = new Float64Array(d * d), b = new Float64Array(d);
  let ym = 0, norm = 0;
  for (let st = 0; st < split; st++) for (let p = 0; p < m; p++) ym += labels[st][p] / (split * m);
  for (let st = 0; st < split; st++) for (let p = 0; p < m; p++) {
    const x = Array.from({ length: d }, (_, c) => own[st][p * d + c] - mean[c]), y = labels[st][p] - ym;
    for (let r = 0; r < d; r++) { b[r] += x[r] * y; norm += x[r] * x[r]; for (let c = 0; c < d; c++) A[r * d + c] += x[r] * x[c]; }
  }
  const lambda = (0.1 * norm) / (split * m);
  for (let r = 0; r < d; r++) A[r * d + r] += lambda;
  const w = solveAugmented(Array.from({ length: d }, (_, i) => [...A.subarray(i * d, (i + 1) * d), b[i]]));
  const score = (st: number, p: number) => { let t = 0; for (let c = 0; c < d; c++) t += w[c] * (own[st][p * d + c] - mean[c]); return t; };
  // a token's score minus the mean score of its position over the held-out studies: where a finding
  // usually is (the lungs, the liver) no longer counts, only whether this study's token differs
  const held = Array.from({ length: pool.length - split }, (_, i) => split + i);
  const posMean = Array.from({ length: m }, (_, p) => held.reduce((t, st) => t + score(st, p), 0) / held.length);
  const ts: number[] = [], rs: number[] = [], tl: number[] = [], ss: number[] = [], sl: number[] = [];
  for (const st of held) {
    let best = -Infinity;
    for (let p = 0; p < m; p++) { const v = score(st, p); ts.push(v); rs.push(v - posMean[p]); tl.push(labels[st][p]); best = Math.max(best, v - posMean[p]); }
    ss.push(best); sl.push(labels[st].some((v) => v > 0) ? 1 : 0);
  }
  console.log(`${kind}: token AUC ${auc(ts, tl).toFixed(3)}, position-matched ${auc(rs, tl).toFixed(3)} (${tl.filter((v) => v > 0).length} of ${tl.length} held-out tokens hold one) · study AUC of the largest position-matched score ${auc(ss, sl).toFixed(3)} (${sl.filter((v) => v > 0).length} of ${sl.length} held-out studies have one); m ${m} tokens, depth groups of ${slab} slices, ${cell} px square`);
}
