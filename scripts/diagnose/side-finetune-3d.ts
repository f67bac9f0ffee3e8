/**
 * Experiment: can the 3D model (a stage 1 training checkpoint) learn the side of a finding? Continues
 * it on STUDIES training studies (mirrored) with MODE "side": the side questions of the focus
 * examples alone (effusion and nodule side), or MODE "focusN": every focus example with the side
 * questions N times (data.ts focusExamples), or MODE "mixed": stage 1's mix (reports and every
 * question, answer cap 4, closed answers as text, a quarter focus examples with sides 4 times), or
 * MODE "nodule": the nodule questions of the focus examples alone (presence and side, answers balanced).
 * Batch 8, warm-up 10 updates then cosine from PEAK, one thread, stage 1's freezing. Every 50 updates: the mean training loss of those updates and the CE
 * of 48 held-out side questions (nodule questions in MODE "nodule"; test studies, mirrored). Read the result with first-answers.ts
 * (docs/RESULTS.md "Sides").
 *   npx tsx scripts/diagnose/side-finetune-3d.ts STAGE1.safetensors OUT.safetensors [UPDATES=600] [STUDIES=300] [PEAK=5e-4] [MODE=side]
 */
import { readFile } from "node:fs/promises";
import { createBackend } from "../../src/backend/index.ts";
import { OPEN } from "../../src/data/index.ts";
import { forward } from "../../src/model/model.ts";
import { streamSeed } from "../../src/model/params.ts";
import { preprocessPreset } from "../../src/preprocess/index.ts";
import { focusExamples, loadPool, mixedExamples, taskExamples } from "../../src/recipe/data.ts";
import { phaseFreeze } from "../../src/recipe/stages.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { parseCheckpoint, saveCheckpoint, trainerState } from "../../src/train/checkpoint.ts";
import { collate, Trainer, trainOptions, type Sample } from "../../src/train/trainer.ts";

const [file, out, updates = "600", studies = "300", peakText = "5e-4", mode = "side"] = process.argv.slice(2);
const steps = Number(updates), peak = Number(peakText);
const s1 = parseCheckpoint(new Uint8Array(await readFile(file)));
const tok = BpeTokenizer.deserialize(s1.tokenizer!), cfg = s1.cfg;
const text = (ids: Int32Array | number[]) => tok.decode(Array.from(ids), { skipSpecials: true });
const isSide = (x: Sample) => [OPEN.effusionSide, OPEN.noduleSide].some((q) => text(x.ids).startsWith(q));
const isNodule = (x: Sample) => [OPEN.nodulePresent, OPEN.noduleSide].some((q) => text(x.ids).startsWith(q));
const isHeld = mode === "nodule" ? isNodule : isSide;
const pool = loadPool(2026, "train", Number(studies), preprocessPreset("small"));
const data = mode === "mixed" ? mixedExamples(taskExamples(pool, cfg, tok, 4, 4, true, true), focusExamples(pool, cfg, tok, true, 4), 0.25) : mode === "side" || mode === "nodule" ? focusExamples(pool, cfg, tok, true).filter(isHeld) : focusExamples(pool, cfg, tok, true, Number(mode.slice("focus".length)));
// held out: distinct side (nodule) questions of test studies (an example and its balancing copies count once)
const held = [...new Set(focusExamples(loadPool(2026, "test", 60, preprocessPreset("small")), cfg, tok, true).filter(isHeld))].slice(0, 48);
console.error(`${data.length} training examples (${mode}); ${held.length} held-out questions`);
const be = await createBackend("wasm", { threads: 1 });
const t = new Trainer(be, cfg, s1.params, trainOptions({
  seed: streamSeed(0, "side3d"), batchSize: 8, accum: 1, freeze: phaseFreeze(cfg, "stage1"),
  schedule: { peak, warmup: 10, total: steps, floor: peak / 10 },
}));
const heldOut = () => {
  let ce = 0;
  for (let i = 0; i < held.length; i += 8) ce += forward(be, t.params, cfg, collate(held.slice(i, i + 8), cfg.tokens.pad)).losses.ce! * Math.min(8, held.length - i);
  return (ce / held.length).toFixed(3);
};
console.error(`update 0: held-out CE ${heldOut()}`);
let sum = 0;
while (t.step < steps) {
  sum += t.trainStep(data).loss;
  if (t.step % 50 === 0) {
    console.error(`update ${t.step}: training loss (last 50) ${(sum / 50).toFixed(3)}, held-out CE ${heldOut()}`);
    sum = 0;
  }
}
await saveCheckpoint(out, trainerState(t, s1.tokenizer));
process.exit(0);
