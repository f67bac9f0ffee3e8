/**
 * Experiment: can the 2D (stage 0) encoder learn to mark nodules with the patch finding loss when
 * it sees enough of them? Continues a stage 0 checkpoint on the caption examples of STUDIES training
 * studies (mirrored, with cover marks): every slice whose marks hold a nodule, and as many other
 * slices; loss CE + W L_patch, batch 16, peak 5e-4, one thread. Read the result with
 * patch-channels.ts (docs/RESULTS.md "A patch finding loss in stage 0").
 *   npx tsx scripts/diagnose/patch-finetune.ts STAGE0.safetensors OUT.safetensors [UPDATES=300] [STUDIES=800] [W=4]
 */
import { readFile } from "node:fs/promises";
import { createBackend } from "../../src/backend/index.ts";
import { streamSeed } from "../../src/model/params.ts";
import { preprocessPreset } from "../../src/preprocess/index.ts";
import { loadPool, sliceExamples } from "../../src/recipe/data.ts";
import { config2d, phaseFreeze, recipeConfig } from "../../src/recipe/stages.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { parseCheckpoint, saveCheckpoint, trainerState } from "../../src/train/checkpoint.ts";
import { Trainer, trainOptions } from "../../src/train/trainer.ts";
const [file, out, updates = "300", studies = "800", weight = "4"] = process.argv.slice(2);
const steps = Number(updates), peak = 5e-4;
const s0 = parseCheckpoint(new Uint8Array(await readFile(file)));
const tok = BpeTokenizer.deserialize(s0.tokenizer!), c2 = config2d(recipeConfig("small", tok));
const pool = loadPool(2026, "train", Number(studies), preprocessPreset("small"), undefined, c2.vision.patch);
const all = sliceExamples(pool, c2, tok, 1, true, false, 1);
const nodule = all.filter((s) => s.cover!.some((b) => b & 1)), other = all.filter((s) => !s.cover!.some((b) => b & 1));
const data = [...nodule, ...other.filter((_, i) => i % Math.max(1, Math.floor(other.length / nodule.length)) === 0)];
console.error(`${all.length} slices, ${nodule.length} with a nodule; training on ${data.length}`);
const t = new Trainer(await createBackend("wasm", { threads: 1 }), c2, s0.params, trainOptions({
  seed: streamSeed(0, "patch-ft"), batchSize: 16, accum: 1, freeze: phaseFreeze(c2, "stage0"), patchLoss: Number(weight),
  schedule: { peak, warmup: 10, total: steps, floor: peak / 10 },
}));
while (t.step < steps) {
  const r = t.trainStep(data);
  if (t.step % 25 === 0) console.error(`update ${t.step}: loss ${r.loss.toFixed(3)} (ce ${r.ce?.toFixed(3)} patch ${r.patch?.toFixed(3)})`);
}
await saveCheckpoint(out, trainerState(t, s0.tokenizer));
process.exit(0);
