/**
 * Diagnosis: does a 3D model answer from the volume? On N test studies, the first answer token of
 * eight open question types with the study's volume and with the next study's (the swap), the
 * accuracy, the share of answers the swap changes where the truth differs, and for yes/no
 * questions the AUC of logit("yes") - logit("no").
 *   npx tsx scripts/diagnose/first-answers.ts MODEL_OR_CHECKPOINT.safetensors [N]
 * With --transfer, CHECKPOINT is a stage 0 (2D) training checkpoint, read after transfers to 3D
 * that differ in one part each (volume blocks, depth patches, depth pooling, which slices):
 *   npx tsx scripts/diagnose/first-answers.ts STAGE0.safetensors [N] --transfer
 */
import { readFile } from "node:fs/promises";
import { loadModel } from "../../src/api.ts";
import type { Backend } from "../../src/backend/backend.ts";
import { createBackend } from "../../src/backend/index.ts";
import { formatAnswer, formatQuestion } from "../../src/data/index.ts";
import type { ModelConfig } from "../../src/model/config.ts";
import type { Params } from "../../src/model/params.ts";
import { imageTokens } from "../../src/model/projector.ts";
import { transferTo3d } from "../../src/model/transfer.ts";
import type { PoolStudy } from "../../src/recipe/data.ts";
import { config2d, recipeConfig } from "../../src/recipe/stages.ts";
import { Tensor } from "../../src/tensor.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { parseCheckpoint } from "../../src/train/checkpoint.ts";
import { auc, firstAnswers, testStudies } from "./answers.ts";

const TEMPLATES = ["effusion-present", "nodule-present", "cyst-present", "contrast", "nodule-count", "effusion-side", "nodule-side", "nodule-at"];

function report(be: Backend, cfg: ModelConfig, params: Params, tok: BpeTokenizer, test: PoolStudy[]): string {
  const m = imageTokens(cfg, test[0].volume.dim(1));
  const st = new Map<string, { n: number; right: number; swapN: number; changed: number; preds: Map<string, number>; x: number[]; y: number[] }>();
  test.forEach((own, a) => {
    const other = test[(a + 1) % test.length];
    const qs = own.study.questions.filter((q) => q.kind === "open" && TEMPLATES.includes(q.template));
    if (qs.length === 0) return;
    const out = firstAnswers(be, cfg, params, tok, qs.flatMap((q) => [{ prompt: formatQuestion(q), image: own.volume }, { prompt: formatQuestion(q), image: other.volume }]), m);
    qs.forEach((q, i) => {
      const s = st.get(q.template) ?? { n: 0, right: 0, swapN: 0, changed: 0, preds: new Map(), x: [], y: [] };
      st.set(q.template, s);
      const [p0, p1] = [out[2 * i], out[2 * i + 1]];
      s.n++;
      s.right += p0.token === tok.encode(formatAnswer(q))[0] ? 1 : 0;
      const w = tok.decode([p0.token]);
      s.preds.set(w, (s.preds.get(w) ?? 0) + 1);
      const oq = other.study.questions.find((x) => x.kind === "open" && x.question === q.question);
      if (oq && oq.answer !== q.answer) (s.swapN++, (s.changed += p0.token !== p1.token ? 1 : 0));
      if (q.answer === "yes" || q.answer === "no") (s.x.push(p0.margin), s.y.push(q.answer === "yes" ? 1 : 0));
    });
  });
  return [...st].map(([t, s]) => `${t.padEnd(17)} n ${String(s.n).padStart(3)} acc ${((100 * s.right) / s.n).toFixed(0).padStart(3)}%  swap ${s.changed}/${s.swapN}  auc ${auc(s.x, s.y).toFixed(2)}  preds ${JSON.stringify(Object.fromEntries(s.preds))}`).join("\n");
}

/** Every `every`-th slice from `offset`: [1, D, H, W] -> [1, ceil((D - offset) / every), H, W]. */
function slices(p: PoolStudy, every: number, offset: number): PoolStudy {
  const [c, D, H, W] = p.volume.shape, n = H * W, k = Math.ceil((D - offset) / every);
  const v = new Tensor("f32", [c, k, H, W]);
  for (let i = 0; i < k; i++) v.data.set(p.volume.data.subarray((offset + i * every) * n, (offset + i * every + 1) * n), i * n);
  return { ...p, volume: v };
}

const [file, count = "40"] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const test = testStudies(Number(count));
if (process.argv.includes("--transfer")) {
  const s0 = parseCheckpoint(new Uint8Array(await readFile(file)));
  const tok = BpeTokenizer.deserialize(s0.tokenizer!), cfg = recipeConfig("small", tok), be = await createBackend("wasm");
  const variants: [string, { volumeLayers: number; depthPatch: number; depthPool: number }, PoolStudy[]][] = [
    ["the recipe's transfer: volume blocks 2, depth patch 4, depth pool 2 (64 image tokens)", { volumeLayers: 2, depthPatch: 4, depthPool: 2 }, test],
    ["no volume block: depth patch 4, depth pool 2", { volumeLayers: 0, depthPatch: 4, depthPool: 2 }, test],
    ["8 single slices (every 4th), depth pool 2, no volume block", { volumeLayers: 0, depthPatch: 1, depthPool: 2 }, test.map((p) => slices(p, 4, 2))],
    ["4 single slices (every 8th), no pooling, no volume block: 4 images as in 2D", { volumeLayers: 0, depthPatch: 1, depthPool: 1 }, test.map((p) => slices(p, 8, 4))],
    ["volume blocks 2, depth patch 4, depth pool 8 (16 image tokens, as many as one slice)", { volumeLayers: 2, depthPatch: 4, depthPool: 8 }, test],
  ];
  for (const [name, o, pool] of variants) {
    const t = transferTo3d(s0.params, config2d(cfg), { ...o, rope: cfg.vision.rope, ropeSections: cfg.vision.ropeSections });
    console.log(`== ${name}\n${report(be, t.cfg, t.params, tok, pool)}`);
  }
} else {
  const model = await loadModel(file);
  console.log(report(model.backend, model.cfg, model.params, model.tokenizer!, test));
}
process.exit(0);
