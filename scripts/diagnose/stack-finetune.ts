/**
 * Experiment: a single-slice stage 0 checkpoint continued on stacks of S consecutive slices
 * (sliceExamples with stack S: several images per sequence), writing a stage 0 checkpoint that
 * slice-answers.ts (with S) and first-answers.ts --transfer read. Seeded; 800 training studies.
 *   npx tsx scripts/diagnose/stack-finetune.ts STAGE0.safetensors OUT.safetensors [updates=400] [S=4]
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

const [file, out, updates = "400", stack = "4"] = process.argv.slice(2);
const steps = Number(updates), peak = 5e-4;
const s0 = parseCheckpoint(new Uint8Array(await readFile(file)));
const tok = BpeTokenizer.deserialize(s0.tokenizer!), c2 = config2d(recipeConfig("small", tok));
const pool = loadPool(2026, "train", 800, preprocessPreset("small"), (d, c) => d % 100 === 0 && console.error(`pool: ${d}/${c}`));
const data = sliceExamples(pool, c2, tok, 3, true, true, Number(stack)); // finding stacks 3x, mirrored, with questions
const t = new Trainer(await createBackend("wasm"), c2, s0.params, trainOptions({
  seed: streamSeed(0, "recipe.stage0b"), batchSize: 4, accum: 2, freeze: phaseFreeze(c2, "stage0"),
  schedule: { peak, warmup: Math.round(0.05 * steps), total: steps, floor: peak / 10 },
}));
await t.useThreads(2);
while (t.step < steps) {
  const r = t.trainStep(data);
  if (t.step % 50 === 0) console.error(`update ${t.step}: loss ${r.loss.toFixed(3)}`);
}
await saveCheckpoint(out, trainerState(t, s0.tokenizer));
t.close();
process.exit(0);
