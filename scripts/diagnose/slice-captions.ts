/**
 * Diagnosis: does a stage-0 (2D) training state name the findings it sees? Greedy captions of every
 * third slice showing a finding in 12 test studies, against the true caption.
 *   npx tsx scripts/diagnose/slice-captions.ts RUN.stage0.safetensors
 */
import { loadCheckpoint } from "../../src/train/checkpoint.ts";
import { loadModel, makeCheckpoint } from "../../src/api.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { loadPool, SLICE_PROMPT } from "../../src/recipe/data.ts";
import { preprocessPreset } from "../../src/preprocess/index.ts";
import { Tensor } from "../../src/tensor.ts";
const s = await loadCheckpoint(process.argv[2]);
const tok = BpeTokenizer.deserialize(s.tokenizer!);
const model = await loadModel(makeCheckpoint({ cfg: s.cfg, params: s.params, tokenizer: tok }));
const pre = preprocessPreset("small");
const pool = loadPool(2026, "test", 12, pre);
let n = 0, hit = 0, kindHit = 0;
for (const { study, volume } of pool) {
  const [, D, H, W] = volume.shape;
  for (let k = 0; k < D; k += 3) {
    const truth = study.captions[k];
    if (!truth.includes(" with ")) continue;
    const slice = new Tensor("f32", [1, 1, 1, H, W], volume.data.slice(k * H * W, (k + 1) * H * W));
    const r = await model.generate({ volume: slice, prompt: SLICE_PROMPT, maxNewTokens: 40 });
    n++;
    const t = truth.split(" with ")[1], g = r.text.split(" with ")[1] ?? "";
    if (g === t) hit++;
    if (["effusion", "nodule", "cyst"].some((w) => t.includes(w) && g.includes(w))) kindHit++;
    if (n <= 8) console.log(`T: ${truth}\nG: ${r.text}\n`);
  }
}
console.log(`slices with findings: ${n}, exact finding phrase ${hit}, kind named ${kindHit}`);
