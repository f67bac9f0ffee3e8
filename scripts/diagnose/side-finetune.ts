/**
 * Experiment: can the 2D (stage 0) model learn the side of a finding on a slice? Continues a stage 0
 * checkpoint on the slice examples of STUDIES training studies (mirrored, with questions): with
 * MIX = 0 on the side questions alone, with MIX = N on every example with each side question N
 * times (as --slice-side-repeat N); batch 16, peak 5e-4, one thread. Read the result with
 * slice-answers.ts (docs/RESULTS.md "Sides").
 *   npx tsx scripts/diagnose/side-finetune.ts STAGE0.safetensors OUT.safetensors [UPDATES=150] [STUDIES=300] [MIX=0]
 */
import { readFile } from "node:fs/promises";
import { createBackend } from "../../src/backend/index.ts";
import { OPEN } from "../../src/data/index.ts";
import { streamSeed } from "../../src/model/params.ts";
import { preprocessPreset } from "../../src/preprocess/index.ts";
import { loadPool, sliceExamples } from "../../src/recipe/data.ts";
import { config2d, phaseFreeze, recipeConfig } from "../../src/recipe/stages.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { parseCheckpoint, saveCheckpoint, trainerState } from "../../src/train/checkpoint.ts";
import { Trainer, trainOptions } from "../../src/train/trainer.ts";
const [file, out, updates = "150", studies = "300", mix = "0"] = process.argv.slice(2);
const steps = Number(updates), peak = 5e-4;
const s0 = parseCheckpoint(new Uint8Array(await readFile(file)));
const tok = BpeTokenizer.deserialize(s0.tokenizer!), c2 = config2d(recipeConfig("small", tok));
const pool = loadPool(2026, "train", Number(studies), preprocessPreset("small"));
const all = sliceExamples(pool, c2, tok, 1, true, true, 1);
const text = (ids: Int32Array | number[]) => tok.decode(Array.from(ids), { skipSpecials: true });
const side = all.filter((s) => [OPEN.effusionSide, OPEN.noduleSide].some((q) => text(s.ids).startsWith(q)));
console.error(`${all.length} slice examples, ${side.length} side questions; e.g. ${JSON.stringify(text(side[0].ids))}`);
// mix > 0: every slice example, with the side questions mix times more (side-only otherwise)
const data = Number(mix) > 0 ? [...all, ...Array.from({ length: Number(mix) - 1 }, () => side).flat()] : side;
console.error(`training on ${data.length} examples`);
const t = new Trainer(await createBackend("wasm", { threads: 1 }), c2, s0.params, trainOptions({
  seed: streamSeed(0, "side-ft"), batchSize: 16, accum: 1, freeze: phaseFreeze(c2, "stage0"),
  schedule: { peak, warmup: 10, total: steps, floor: peak / 10 },
}));
while (t.step < steps) {
  const r = t.trainStep(data);
  if (t.step % 25 === 0) console.error(`update ${t.step}: loss ${r.loss.toFixed(3)}`);
}
await saveCheckpoint(out, trainerState(t, s0.tokenizer));
process.exit(0);
