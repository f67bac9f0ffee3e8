/**
 * Diagnosis: does a stage 0 (2D) checkpoint read the slice? On N test studies (one slice each,
 * spread over the levels): how much the projector's tokens differ between the slice and another
 * study's slice at another level, the caption loss with the slice and with that other slice, and
 * for slices that show a one-sided nodule or effusion the side read from the image (AUC of
 * logit("left") - logit("right") at the side word, and its change when the slice is mirrored).
 *   npx tsx scripts/diagnose/image-dependence.ts STAGE0.safetensors [N]
 */
import { readFile } from "node:fs/promises";
import { createBackend } from "../../src/backend/index.ts";
import { encodePrefix } from "../../src/generate/prefix.ts";
import { forward } from "../../src/model/model.ts";
import { preprocessPreset } from "../../src/preprocess/index.ts";
import { loadPool, mirrorVolume, SLICE_PROMPT, trainingSequence } from "../../src/recipe/data.ts";
import { Tensor, type F32Tensor } from "../../src/tensor.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { parseCheckpoint } from "../../src/train/checkpoint.ts";
import { collate } from "../../src/train/trainer.ts";

const s = parseCheckpoint(new Uint8Array(await readFile(process.argv[2])));
if (s.cfg.vision.volumeLayers !== 0) throw new Error("image-dependence: expected a stage 0 (2D) training checkpoint");
const N = Number(process.argv[3] ?? 40);
const tok = BpeTokenizer.deserialize(s.tokenizer!);
const be = await createBackend("wasm");
const pool = loadPool(2026, "test", 2 * N, preprocessPreset("small"));
const [, D, H, W] = pool[0].volume.shape;
const slice = (v: F32Tensor, k: number) => new Tensor("f32", [1, 1, H, W], v.data.slice(k * H * W, (k + 1) * H * W));
const run = (img: F32Tensor, ids: number[]) => {
  const b = collate([{ volume: img, ids, task: 0 }], s.cfg.tokens.pad);
  return { logits: forward(be, s.params, s.cfg, b).logits, z: encodePrefix(be, s.params, s.cfg, b.volume, b.ids).z };
};
const nll = (logits: F32Tensor, p: number, target: number) => {
  const V = logits.dim(2), row = logits.data.subarray(p * V, (p + 1) * V);
  let mx = -Infinity, z = 0;
  for (const v of row) mx = Math.max(mx, v);
  for (const v of row) z += Math.exp(v - mx);
  return -(row[target] - mx - Math.log(z));
};

let zDiff = 0, ceOwn = 0, ceOther = 0, targets = 0;
for (let i = 0; i < N; i++) {
  const k = (i * 7) % D, k2 = (k + D / 2) % D;
  const ids = trainingSequence(s.cfg, tok, 16, SLICE_PROMPT, pool[i].study.captions[k]);
  const a = run(slice(pool[i].volume, k), ids), o = run(slice(pool[N + i].volume, k2), ids);
  let d = 0, n = 0;
  for (let j = 0; j < a.z.size; j++) (d += (a.z.data[j] - o.z.data[j]) ** 2), (n += a.z.data[j] ** 2);
  zDiff += Math.sqrt(d / n) / N;
  for (let p = ids.indexOf(s.cfg.tokens.sep); p < ids.length - 1; p++) {
    ceOwn += nll(a.logits, p, ids[p + 1]);
    ceOther += nll(o.logits, p, ids[p + 1]);
    targets++;
  }
}
console.log(`projector tokens, slice vs another study's slice: ${(100 * zDiff).toFixed(1)}% relative difference`);
console.log(`caption loss per token: ${(ceOwn / targets).toFixed(3)} with the slice, ${(ceOther / targets).toFixed(3)} with the other slice`);

const [left, right] = [tok.encode(" left")[0], tok.encode(" right")[0]];
const scores: number[] = [], truth: number[] = [];
let mirrorChange = 0;
for (const { study, volume } of pool) {
  for (const f of study.findings) {
    if (f.kind === "cyst" || study.findings.filter((g) => g.kind === f.kind).length !== 1) continue;
    const k = f.slices[Math.floor(f.slices.length / 2)];
    const ids = trainingSequence(s.cfg, tok, 16, SLICE_PROMPT, study.captions[k]);
    const p = ids.lastIndexOf(f.side === "left" ? left : right) - 1;
    if (p < 0) continue;
    const margin = (img: F32Tensor) => { const l = run(img, ids).logits, V = l.dim(2); return l.data[p * V + left] - l.data[p * V + right]; };
    const m = margin(slice(volume, k));
    scores.push(m);
    truth.push(f.side === "left" ? 1 : 0);
    mirrorChange += Math.abs(m - margin(slice(mirrorVolume(volume), k)));
  }
}
let wins = 0, pairs = 0;
for (let i = 0; i < scores.length; i++) for (let j = 0; j < scores.length; j++) {
  if (truth[i] === 1 && truth[j] === 0) (pairs++, (wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0));
}
console.log(`side of ${scores.length} one-sided findings: AUC ${(wins / pairs).toFixed(3)}, mean |margin change| when mirrored ${(mirrorChange / scores.length).toFixed(3)}`);
