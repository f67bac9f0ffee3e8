/**
 * Generate an answer about a CT volume from Node, end to end: checkpoint file -> loadModel -> NIfTI
 * -> generate (streamed tokens, task, routing, timings). Without --checkpoint it first writes a
 * seeded, untrained tiny model (so the answer is noise: this shows the API, not a trained result);
 * without --nifti it writes a synthetic chest CT as a NIfTI file and reads that.
 *
 *   npx tsx examples/node-generate.ts
 *   npx tsx examples/node-generate.ts --checkpoint model.safetensors --nifti ct.nii.gz --prompt "Is there a pleural effusion?"
 *   options: --backend wasm|reference  --max-tokens N  --temperature T (0: greedy)  --top-p P  --seed S
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadModel, makeCheckpoint, type TghModel } from "../src/api.js";
import type { BackendName } from "../src/backend/index.js";
import { makeSample } from "../src/data/dataset.js";
import { readNifti } from "../src/io/nifti.js";
import { writeNifti } from "../src/io/nifti-write.js";
import { initParams, preset, specialsAtEnd, withConfig } from "../src/model/index.js";
import { preprocessPreset } from "../src/preprocess/index.js";
import { trainBpe } from "../src/tokenizer/train.js";

const { values: args } = parseArgs({
  options: {
    checkpoint: { type: "string" },
    nifti: { type: "string" },
    prompt: { type: "string", default: "Describe the findings of this chest CT." },
    backend: { type: "string", default: "wasm" },
    "max-tokens": { type: "string", default: "24" },
    temperature: { type: "string", default: "0.8" },
    "top-p": { type: "string", default: "0.95" },
    seed: { type: "string", default: "0" },
  },
});
const work = mkdtempSync(join(tmpdir(), "tgh-moe-example-"));

/** A seeded tiny model: tokenizer trained on synthetic reports, weights from initParams, the tiny CT preset. */
function writeDemoCheckpoint(path: string): void {
  const texts = Array.from({ length: 8 }, (_, i) => makeSample(1, i, "tiny")).flatMap((s) => [s.report, ...s.questions.map((q) => q.question)]);
  const tokenizer = trainBpe(texts, preset("tiny").lm.vocab); // up to 512 tokens; fewer if the texts run out of pairs
  const V = tokenizer.vocabSize;
  const cfg = withConfig(preset("tiny"), { lm: { vocab: V }, tokens: specialsAtEnd(V) });
  writeFileSync(path, makeCheckpoint({ cfg, params: initParams(cfg, 0), tokenizer, preprocess: preprocessPreset("tiny") }));
  console.log(`wrote ${path}: tiny preset, vocabulary ${V}, seeded untrained weights`);
}

/** A synthetic chest CT (Hounsfield units) written as a NIfTI file, as a scanner export would be. */
function writeDemoNifti(path: string): void {
  const s = makeSample(7, 0, "small");
  writeFileSync(path, writeNifti({ data: s.volumeHU, shape: s.shape, affine: s.affine }, { gzip: true }));
  console.log(`wrote ${path}: synthetic CT ${s.shape.join("x")} (its report: "${s.report.slice(0, 80)}...")`);
}

async function main(): Promise<void> {
  const ckpt = args.checkpoint ?? join(work, "tiny.safetensors");
  if (!args.checkpoint) writeDemoCheckpoint(ckpt);
  const nii = args.nifti ?? join(work, "ct.nii.gz");
  if (!args.nifti) writeDemoNifti(nii);

  const m: TghModel = await loadModel(ckpt, { backend: args.backend as BackendName });
  const volume = readNifti(readFileSync(nii), { file: nii }); // canonical LPS+, HU; generate preprocesses it
  console.log(`model: ${m.cfg.vision.layers} vision blocks (MoE ${m.cfg.vision.moeLayers.join(", ")}), LM ${m.cfg.lm.layers} blocks, backend ${m.backend.name}`);
  console.log(`volume: ${volume.shape.join("x")} voxels of ${volume.spacing.map((x) => x.toFixed(2)).join("x")} mm -> preset grid ${m.preprocess?.grid.join("x")}`);
  console.log(`prompt: ${args.prompt}\n`);

  let shown = 0;
  const out = await m.generate({
    volume,
    prompt: args.prompt!,
    maxNewTokens: Number(args["max-tokens"]),
    temperature: Number(args.temperature),
    topP: Number(args["top-p"]),
    seed: Number(args.seed),
    signal: AbortSignal.timeout(60_000), // cancellation: any AbortSignal, checked between tokens
    onProgress: (p) => p.stage !== "decode" && p.done === p.total && console.log(`[${p.stage} done]`),
    onToken: (t) => {
      // stream the new text; a trailing U+FFFD may be an incomplete UTF-8 character: hold it back
      const stable = t.text.replace(/\uFFFD+$/, "");
      process.stdout.write(stable.slice(shown));
      shown = stable.length;
    },
  });
  console.log(`\n\nanswer (${out.tokens.length} tokens, stopped by ${out.stopReason}): ${JSON.stringify(out.text)}`);
  if (out.task) console.log(`task: ${out.task.name} (pi = ${out.task.probabilities.map((p) => p.toFixed(3)).join(", ")})`);
  for (const r of out.routing) {
    const k = r.topkIdx.dim(2), E = m.cfg.moe.experts, load = new Array<number>(E).fill(0);
    for (let i = 0; i < r.topkIdx.size; i += k) load[r.topkIdx.data[i]]++; // top-1 expert of each token
    console.log(`block ${r.layer}: group ${r.group.data[0]}, tokens per top-1 expert [${load.join(", ")}]`);
  }
  const t = out.timings;
  console.log(`timings (ms): encode ${t.encode.toFixed(1)}, prefill ${t.prefill.toFixed(1)}, decode ${t.decode.toFixed(1)}, total ${t.total.toFixed(1)}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? `${e.name}: ${e.message}` : e);
  process.exit(1);
});
