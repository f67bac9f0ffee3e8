/**
 * Diagnosis: how much of each encoder stage's output varies between studies (between-study variance
 * over mean square, 16 test studies), and the projector output split into global mean, per-position
 * mean and between-study parts. A stage-0 (2D) training state is first transferred to 3D.
 *   npx tsx scripts/diagnose/image-tokens.ts STATE.safetensors
 */
import { readFile } from "node:fs/promises";
import { parseCheckpoint } from "../../src/train/checkpoint.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { loadPool, trainingSequence } from "../../src/recipe/data.ts";
import { preprocessPreset } from "../../src/preprocess/index.ts";
import { forward } from "../../src/model/model.ts";
import { imageTokens } from "../../src/model/projector.ts";
import { createBackend } from "../../src/backend/index.ts";
import { fromInts, Tensor } from "../../src/tensor.ts";
import { advance, recipeConfig } from "../../src/recipe/stages.ts";
let s = parseCheckpoint(new Uint8Array(await readFile(process.argv[2])));
const tok = BpeTokenizer.deserialize(s.tokenizer!);
let cfg = s.cfg, params = s.params;
if (cfg.vision.volumeLayers === 0) { const full = recipeConfig("small", tok); params = advance(params, full, "stage0", "stage1", "dense", 0); cfg = { ...full, vision: { ...full.vision, moeLayers: [] } }; }
const be = await createBackend("wasm");
const pool = loadPool(2026, "test", 16, preprocessPreset("small"));
const m = imageTokens(cfg, pool[0].volume.dim(1));
const ids = trainingSequence(cfg, tok, m, "Is there a pleural effusion?", "yes");
const acts = new Map<string, number[][]>();
for (const { volume } of pool) {
  const out = forward(be, params, cfg, { volume: volume.reshape([1, ...volume.shape]), ids: fromInts([1, ids.length], ids) }, { acts: true });
  for (const [k, v] of out.acts!) if (/^act\.(embed|blocks\.\d+|projector)$/.test(k)) { if (!acts.has(k)) acts.set(k, []); acts.get(k)!.push(Array.from((v as Tensor<"f32">).data)); }
}
for (const [k, rows] of acts) {
  const n = rows.length, d = rows[0].length; let between = 0, ms = 0;
  for (let j = 0; j < d; j++) { let mu = 0; for (const r of rows) mu += r[j] / n; for (const r of rows) { between += (r[j] - mu) ** 2 / n; ms += r[j] ** 2 / n; } }
  console.log(k.padEnd(16), "between/meansq", (between / ms).toFixed(4), "rms", Math.sqrt(ms / d).toFixed(3));
}
{ // decomposition of the projector output: global channel mean, per-position mean, between-study
  const rows = acts.get("act.projector")!, n = rows.length, d = rows[0].length, C = cfg.lm.width, P = d / C;
  let ms = 0, glob = 0, pos = 0, btw = 0;
  for (let c = 0; c < C; c++) {
    let g = 0; for (const r of rows) for (let p = 0; p < P; p++) g += r[p * C + c] / (n * P);
    for (let p = 0; p < P; p++) {
      let mu = 0; for (const r of rows) mu += r[p * C + c] / n;
      for (const r of rows) { const x = r[p * C + c]; ms += x * x; glob += g * g; pos += (mu - g) ** 2; btw += (x - mu) ** 2; }
    }
  }
  console.log(`projector energy: global mean ${(glob / ms).toFixed(3)}, per-position ${(pos / ms).toFixed(3)}, between-study ${(btw / ms).toFixed(3)}`);
}
