/**
 * Diagnosis: where is the side of a finding in the image tokens the language model reads? For a
 * training checkpoint (a stage 0 one is first transferred to 3D), on N test studies:
 *  - column: is the half of the image a token covers (left or right columns of the merged grid)
 *    linearly readable from that token's projector output alone? (class-mean probe, trained on the
 *    first half of the studies, AUC on the second half)
 *  - side: for each study whose effusions (or nodules) are all on one side, and its mirror (side
 *    flipped), a class-mean probe of the side from (a) the mean of its image tokens (the content
 *    with the token order thrown away) and (b) all tokens in order (content and position);
 *    leave-one-study-out AUC;
 *  - presence: whether the study has an effusion (a nodule, a cyst), from (a) and (b), a ridge
 *    regression probe (linear kernel, centred, lambda = 0.1 x the mean squared norm of a row),
 *    leave-one-study-out AUC.
 *   npx tsx scripts/diagnose/side-probe.ts CHECKPOINT.safetensors [N]
 * Legend: m image tokens · d = lm width.
 */
import { createBackend } from "../../src/backend/index.ts";
import { imageTokens } from "../../src/model/projector.ts";
import { mirrorVolume, trainingSequence } from "../../src/recipe/data.ts";
import type { F32Tensor } from "../../src/tensor.ts";
import { auc, testStudies } from "./answers.ts";
import { loadModel3d, projectorTokens, solveAugmented } from "./probe.ts";

const { tok, cfg, params } = await loadModel3d(process.argv[2]);
const be = await createBackend("wasm", { threads: 1 });
const pool = testStudies(Number(process.argv[3] ?? 100));
const m = imageTokens(cfg, pool[0].volume.dim(1)), d = cfg.lm.width, n = cfg.vision.image / cfg.vision.patch / 2; // tokens: (depth, row, column) of an n x n grid
const ids = trainingSequence(cfg, tok, m, "Which side is the pleural effusion on?", "left");

/** act.projector [m, d] of one volume [1, D, H, W]. */
const tokens = (v: F32Tensor) => projectorTokens(be, params, cfg, ids, v);

/** Scores of held-out rows under the class-mean direction sum_i y_i x_i / n of the training rows. */
function classMean(train: { x: ArrayLike<number>; y: number }[], test: { x: ArrayLike<number> }[]): number[] {
  const w = new Float64Array(train[0].x.length);
  for (const r of train) for (let j = 0; j < w.length; j++) w[j] += (r.y * r.x[j]) / train.length;
  return test.map((r) => { let sc = 0; for (let j = 0; j < w.length; j++) sc += w[j] * r.x[j]; return sc; });
}

const own = pool.map((p) => tokens(p.volume));
{ // column half of each token, from its content
  const rows = own.flatMap((t, st) => Array.from({ length: m }, (_, p) => ({ x: t.subarray(p * d, (p + 1) * d), y: p % n < n / 2 ? 1 : -1, st })));
  const half = Math.floor(pool.length / 2), test = rows.filter((r) => r.st >= half);
  const sc = classMean(rows.filter((r) => r.st < half), test);
  console.log(`column half of a token from its own content: AUC ${auc(sc, test.map((r) => (r.y > 0 ? 1 : 0))).toFixed(3)} (${test.length} held-out tokens)`);
}
for (const kind of ["effusion", "nodule"] as const) {
  const rows: { pooled: number[]; full: Float32Array; y: number; st: number }[] = [];
  pool.forEach(({ study, volume }, st) => {
    const sides = new Set(study.findings.filter((f) => f.kind === kind).map((f) => f.side));
    if (sides.size !== 1) return;
    const y = sides.has("left") ? 1 : -1;
    for (const [t, yy] of [[own[st], y], [tokens(mirrorVolume(volume)), -y]] as const) {
      const pooled = new Array<number>(d).fill(0);
      for (let p = 0; p < m; p++) for (let c = 0; c < d; c++) pooled[c] += t[p * d + c] / m;
      rows.push({ pooled, full: t, y: yy, st });
    }
  });
  for (const which of ["pooled", "full"] as const) {
    const sc: number[] = [], lab: number[] = [];
    for (const st of new Set(rows.map((r) => r.st))) {
      const test = rows.filter((r) => r.st === st);
      sc.push(...classMean(rows.filter((r) => r.st !== st).map((r) => ({ x: r[which], y: r.y })), test.map((r) => ({ x: r[which] }))));
      lab.push(...test.map((r) => (r.y > 0 ? 1 : 0)));
    }
    const what = which === "pooled" ? "the mean of the tokens (content only)" : "all tokens in order (content and position)";
    console.log(`${kind} side from ${what}: AUC ${auc(sc, lab).toFixed(3)} (${rows.length / 2} studies and their mirrors, leave-one-study-out)`);
  }
}
/** Score of one held-out row under ridge regression of y on the training rows (dual form: K = X X^T, centred). */
function ridge(train: { x: ArrayLike<number>; y: number }[], test: ArrayLike<number>): number {
  const n = train.length, dim = train[0].x.length, mean = new Float64Array(dim);
  for (const r of train) for (let j = 0; j < dim; j++) mean[j] += r.x[j] / n;
  const X = train.map((r) => Float64Array.from({ length: dim }, (_, j) => r.x[j] - mean[j]));
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let t = 0; for (let j = 0; j < dim; j++) t += a[j] * b[j]; return t; };
  const K = X.map((a) => X.map((b) => dot(a, b)));
  const lambda = (0.1 * K.reduce((t, row, i) => t + row[i], 0)) / n;
  // solve (K + lambda I) alpha = y - mean(y)
  const ym = train.reduce((t, r) => t + r.y, 0) / n;
  const alpha = solveAugmented(K.map((row, i) => [...row.map((v, j) => v + (i === j ? lambda : 0)), train[i].y - ym]));
  const xt = Float64Array.from({ length: dim }, (_, j) => test[j] - mean[j]);
  return X.reduce((t, row, i) => t + alpha[i] * dot(row, xt), 0);
}
for (const kind of ["effusion", "nodule", "cyst"] as const) {
  const rows = pool.map(({ study }, st) => {
    const pooled = new Array<number>(d).fill(0);
    for (let p = 0; p < m; p++) for (let c = 0; c < d; c++) pooled[c] += own[st][p * d + c] / m;
    return { pooled, full: own[st], y: study.findings.some((f) => f.kind === kind) ? 1 : -1, st };
  });
  for (const which of ["pooled", "full"] as const) {
    const sc = rows.map((r) => ridge(rows.filter((o) => o.st !== r.st).map((o) => ({ x: o[which], y: o.y })), r[which]));
    const what = which === "pooled" ? "the mean of the tokens" : "all tokens in order";
    console.log(`${kind} presence from ${what}: AUC ${auc(sc, rows.map((r) => (r.y > 0 ? 1 : 0))).toFixed(3)} (${rows.filter((r) => r.y > 0).length} of ${rows.length} studies with one, leave-one-study-out)`);
  }
}
