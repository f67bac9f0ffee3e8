/**
 * Experiment: fine-tune a checkpoint's projector and LM only on balanced "Is there a pleural
 * effusion?" questions of 200 training studies (STEPS updates, peak LR), then save it: together
 * with swap-answers.ts this tells learning from memorising.
 *   npx tsx scripts/diagnose/focused-finetune.ts IN.safetensors STEPS LR OUT.safetensors
 */
import { readFile } from "node:fs/promises";
import { parseCheckpoint } from "../../src/train/checkpoint.ts";
import { parseModel } from "../../src/api.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { loadPool, trainingSequence, TASK } from "../../src/recipe/data.ts";
import { preprocessPreset } from "../../src/preprocess/index.ts";
import { imageTokens } from "../../src/model/projector.ts";
import { createBackend } from "../../src/backend/index.ts";
import { Trainer, trainOptions } from "../../src/train/trainer.ts";
import { stageSpec } from "../../src/train/freeze.ts";
import { formatQuestion, formatAnswer } from "../../src/data/index.ts";
import { answerRepeats } from "../../src/recipe/data.ts";
import { loadModel, makeCheckpoint } from "../../src/api.ts";
import { writeFile } from "node:fs/promises";
const bytes = new Uint8Array(await readFile(process.argv[2]));
let s: any;
try { s = parseCheckpoint(bytes); } catch { const m = parseModel(bytes); s = { cfg: m.cfg, params: m.params, tokenizer: m.tokenizer.serialize() }; }
const steps = Number(process.argv[3] ?? 300), lr = Number(process.argv[4] ?? 1e-3);
const tok = BpeTokenizer.deserialize(s.tokenizer!);
const be = await createBackend("wasm");
const pre = preprocessPreset("small");
const pool = loadPool(2026, "train", 200, pre);
const keep = new Set(["effusion-present"]);
const qs = pool.flatMap((p) => p.study.questions.filter((q) => keep.has(q.template)).map((q) => ({ q, volume: p.volume })));
const reps = answerRepeats(qs.map((x) => x.q), 4);
const m = imageTokens(s.cfg, pool[0].volume.dim(1));
const data = qs.flatMap(({ q, volume }, i) => Array.from({ length: reps[i] }, () => ({ volume, ids: trainingSequence(s.cfg, tok, m, formatQuestion(q), formatAnswer(q)), task: TASK.vqa })));
console.log("examples", data.length);
const t = new Trainer(be, s.cfg, s.params, trainOptions({ seed: 5, batchSize: 4, freeze: { train: ["projector.*", "lm.*"] }, schedule: { peak: lr, warmup: 10, total: steps, floor: lr / 10 } }));
for (let i = 0; i < steps; i++) { const r = t.trainStep(data); if (i % 25 === 0) console.log(i, r.ce?.toFixed(3)); }
await writeFile(process.argv[5], makeCheckpoint({ cfg: s.cfg, params: t.params, tokenizer: tok, preprocess: pre }));
