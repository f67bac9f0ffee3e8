/**
 * Experiment: does a 2D encoder learn the contrast phase (or a liver cyst) from single slices when
 * it also sees soft-tissue and lung windows as input channels? A fresh stage 0 model (small preset,
 * 2D) is trained on one open question per slice of STUDIES training studies (mirrored: no), answers
 * balanced, for UPDATES updates of 16 (peak 1e-3, one thread), its input either the model's one wide
 * window ([-1000, 1000] HU: "wide") or three windows as the three input channels ("three": wide,
 * soft tissue [-160, 240], lung [-1350, 150]). Scored on every slice of 40 test studies: AUC of
 * logit("yes") - logit("no"), per slice and, for contrast, per study (mean margin).
 *   npx tsx scripts/diagnose/window-contrast.ts wide|three contrast|cyst [UPDATES=300] [STUDIES=200]
 */
import { createBackend } from "../../src/backend/index.ts";
import { OPEN } from "../../src/data/index.ts";
import { imageTokens } from "../../src/model/projector.ts";
import { initParams, streamSeed } from "../../src/model/params.ts";
import { preprocessPreset } from "../../src/preprocess/index.ts";
import { corpus, loadPool, trainingSequence, type PoolStudy } from "../../src/recipe/data.ts";
import { config2d, phaseFreeze, recipeConfig } from "../../src/recipe/stages.ts";
import { Rng } from "../../src/rng.ts";
import { Tensor, type F32Tensor } from "../../src/tensor.ts";
import { trainBpe } from "../../src/tokenizer/train.ts";
import { Trainer, trainOptions, type Sample } from "../../src/train/trainer.ts";
import { auc, firstAnswers } from "./answers.ts";

const [mode = "wide", kind = "contrast", updates = "300", studies = "200"] = process.argv.slice(2);
const WINDOWS: [number, number][] = mode === "three" ? [[-1000, 1000], [-160, 240], [-1350, 150]] : [[-1000, 1000]];
const pre = preprocessPreset("small");
const train = loadPool(2026, "train", Number(studies), pre), test = loadPool(2026, "test", 40, pre);
const tok = trainBpe(corpus(train), 2048), base = recipeConfig("small", tok), cfg = config2d(base);
const m = imageTokens(cfg, 1), question = kind === "contrast" ? OPEN.contrast : OPEN.cystPresent;

/** Slice k of a study as the input channels [c, 1, H, W]: HU recovered from the wide window, re-windowed. */
function slice(p: PoolStudy, k: number): F32Tensor {
  const [, , H, W] = p.volume.shape, n = H * W, out = new Tensor("f32", [WINDOWS.length, 1, H, W]);
  WINDOWS.forEach(([lo, hi], c) => {
    for (let i = 0; i < n; i++) {
      const hu = p.volume.data[k * n + i] * 2000 - 1000;
      out.data[c * n + i] = Math.fround(Math.min(1, Math.max(0, (hu - lo) / (hi - lo))));
    }
  });
  return out;
}
const label = (p: PoolStudy, k: number) => (kind === "contrast" ? (p.study.contrast ? 1 : 0) : p.study.findings.some((f) => f.kind === "cyst" && f.slices.includes(k)) ? 1 : 0);

const D = train[0].volume.dim(1), rng = new Rng(7);
const pos: Sample[] = [], neg: Sample[] = [];
for (const p of train) for (let k = 0; k < D; k++) {
  const y = label(p, k);
  (y ? pos : neg).push({ volume: slice(p, k), ids: trainingSequence(cfg, tok, m, question, y ? "yes" : "no"), task: 1 });
}
const keep = Math.min(pos.length, neg.length);
const data = [...pos.filter((_, i) => i < keep || rng.int(pos.length) < keep), ...neg.filter(() => rng.int(neg.length) < keep)];
console.error(`${mode} ${kind}: ${pos.length} yes and ${neg.length} no slices; training on ${data.length}, balanced`);
const be = await createBackend("wasm", { threads: 1 });
const steps = Number(updates), peak = 1e-3;
const t = new Trainer(be, cfg, initParams(cfg, 1), trainOptions({
  seed: streamSeed(0, "window-contrast"), batchSize: 16, accum: 1, freeze: phaseFreeze(base, "stage0"),
  schedule: { peak, warmup: 20, total: steps, floor: peak / 10 },
}));
while (t.step < steps) {
  const r = t.trainStep(data);
  if (t.step % 50 === 0) console.error(`update ${t.step}: loss ${r.loss.toFixed(3)}`);
}
const margins: number[] = [], labels: number[] = [], perStudy: number[] = [], studyLabel: number[] = [];
for (const p of test) {
  const rows = Array.from({ length: D }, (_, k) => ({ prompt: question, image: slice(p, k) }));
  const got = firstAnswers(be, cfg, t.params, tok, rows, m).map((a) => a.margin);
  got.forEach((g, k) => (margins.push(g), labels.push(label(p, k))));
  perStudy.push(got.reduce((a, x) => a + x, 0) / D);
  studyLabel.push(p.study.contrast ? 1 : 0);
}
console.log(`${mode} ${kind}, ${steps} updates: slice AUC ${auc(margins, labels).toFixed(3)} (${labels.filter((y) => y).length} of ${labels.length} test slices yes)${kind === "contrast" ? `, study AUC of the mean margin ${auc(perStudy, studyLabel).toFixed(3)}` : ""}`);
process.exit(0);
