/**
 * Diagnosis: does a 3D checkpoint (training state or model file) look? Five open questions on N test
 * studies, answered on the study's volume and on the next study's: right answers, changed answers.
 *   npx tsx scripts/diagnose/swap-answers.ts FILE.safetensors [N]
 */
import { readFile } from "node:fs/promises";
import { parseCheckpoint } from "../../src/train/checkpoint.ts";
import { loadModel, makeCheckpoint } from "../../src/api.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { loadPool } from "../../src/recipe/data.ts";
import { preprocessPreset } from "../../src/preprocess/index.ts";
const bytes = new Uint8Array(await readFile(process.argv[2]));
let model;
try {
  const s = parseCheckpoint(bytes);
  model = await loadModel(makeCheckpoint({ cfg: s.cfg, params: s.params, tokenizer: BpeTokenizer.deserialize(s.tokenizer!) }));
} catch { model = await loadModel(bytes); }
const pool = loadPool(2026, "test", Number(process.argv[3] ?? 30), preprocessPreset("small"));
const Qs = ["Is there a pleural effusion?", "Are there any pulmonary nodules?", "Is there a cyst in the liver?", "Was the scan performed with intravenous contrast?", "Which side is the pleural effusion on?"];
for (const q of Qs) {
  let n = 0, right = 0, changed = 0, answers = new Map<string, number>();
  for (const [a, { study, volume }] of pool.entries()) {
    const truth = study.questions.find((x) => x.question === q && x.kind === "open");
    if (!truth) continue;
    const ask = async (v: typeof volume) => (await model.generate({ volume: v.reshape([1, ...v.shape]), prompt: q, maxNewTokens: 4 })).text.trim();
    const ans = await ask(volume), other = await ask(pool[(a + 1) % pool.length].volume);
    n++; right += ans === truth.answer ? 1 : 0; changed += ans !== other ? 1 : 0;
    answers.set(ans, (answers.get(ans) ?? 0) + 1);
  }
  console.log(`${q}: n ${n}, right ${right}, changed on swap ${changed}, answers ${JSON.stringify(Object.fromEntries(answers))}`);
}
