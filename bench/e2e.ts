/**
 * End to end, as `tgh-moe run` does it: the demo checkpoint (scripts/make-samples.ts DEMO_CHECKPOINT)
 * on a shipped sample volume, stage by stage: load the checkpoint file, read the NIfTI, preprocess,
 * encode (vision encoder guided by the prompt, projector, splice), prefill the prompt into the KV
 * cache, decode 64 tokens (the <eos> stop is disabled so every run decodes 64), with each stage's
 * time and the memory after it; then the encode stage on the reference backend, for the ratio.
 * Checked once before timing: the decode loop here gives generate()'s tokens up to <eos>, and the
 * wasm encode agrees with the reference one. Not a test. Legend: L text tokens · d = lm width · V vocab.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseModel, TghModel } from "../src/api.js";
import { createBackend, type Backend } from "../src/backend/index.js";
import { encodePrefix, promptSequence, type VisionResult } from "../src/generate/prefix.js";
import { makeSampler, nextToken } from "../src/generate/sampling.js";
import { readNifti } from "../src/io/nifti.js";
import { KvCache, lmExtend } from "../src/model/decode.js";
import { checkVolume } from "../src/model/model.js";
import { getParam } from "../src/model/params.js";
import { Rng } from "../src/rng.js";
import { fromInts, type F32Tensor } from "../src/tensor.js";
import { demoCheckpoint, readSamples, REPORT_PROMPT, ROOT, SAMPLES_DIR } from "../scripts/make-samples.js";
import { benchArgs, checkResult, printTable, type Cell } from "./harness.js";

const MB = 1024 * 1024;
const NEW_TOKENS = 64;
const STAGES = ["load", "read", "preprocess", "encode", "prefill", "decode"] as const;
type Stage = (typeof STAGES)[number];

interface Memory {
  rss: number; // MiB now
  maxRss: number; // MiB, process high-water mark
  wasm: number; // MiB of wasm linear memory (Node counts it in `external`, outside `arrayBuffers`)
}
function memory(): Memory {
  const m = process.memoryUsage();
  return { rss: m.rss / MB, maxRss: process.resourceUsage().maxRSS / 1024, wasm: (m.external - m.arrayBuffers) / MB };
}

/** The prompt sequence of the model and the volume: <bos> <img> <image>*m </img> prompt <sep>. */
function promptIds(m: TghModel, volume: F32Tensor): number[] {
  return promptSequence(m.cfg, checkVolume(m.cfg, volume, "bench"), m.tokenizer.encode(REPORT_PROMPT));
}

function encodeStage(m: TghModel, be: Backend, volume: F32Tensor, ids: number[]): VisionResult {
  return encodePrefix(be, m.params, m.cfg, volume, fromInts([1, ids.length], ids), null);
}

/** generate()'s loop (src/generate.ts) without the <eos> stop: prefill, then `n` greedy tokens. */
function prefillAndDecode(m: TghModel, vis: VisionResult, n: number, times?: Partial<Record<Stage, number>>): number[] {
  const { cfg, params, backend: be } = m;
  const t0 = performance.now();
  const cache = new KvCache(cfg.lm, 1, vis.x.dim(1) + n);
  let logits = lmExtend(be, params, cfg.lm, vis.x, cache); // [1, 1, V]
  const t1 = performance.now();
  const sampler = makeSampler({}), rng = new Rng(0), embed = getParam(params, "lm.embed.weight");
  const limit = Math.min(m.tokenizer.vocabSize, cfg.lm.vocab);
  const tokens: number[] = [];
  for (let step = 0; step < n; step++) {
    const token = nextToken(be, logits.data.subarray(0, limit), sampler, rng);
    tokens.push(token);
    if (step + 1 < n) logits = lmExtend(be, params, cfg.lm, be.embedding(embed, fromInts([1, 1], [token])), cache);
  }
  if (times) Object.assign(times, { prefill: t1 - t0, decode: performance.now() - t1 });
  return tokens;
}

/** One pass through every stage, timed; memory after each stage when `mem` is given. */
async function pipeline(file: string, volumeFile: string, be: Backend, mem?: Map<Stage, Memory>): Promise<Record<Stage, number>> {
  const t: Partial<Record<Stage, number>> = {};
  const mark = (s: Stage, t0: number) => {
    t[s] = performance.now() - t0;
    mem?.set(s, memory());
  };
  let t0 = performance.now();
  const c = parseModel(new Uint8Array(await readFile(file)), file);
  const m = new TghModel(c.cfg, c.params, c.tokenizer, c.preprocess, be);
  mark("load", t0);
  t0 = performance.now();
  const nifti = readNifti(await readFile(volumeFile), { file: volumeFile });
  mark("read", t0);
  t0 = performance.now();
  const volume = m.prepareVolume(nifti);
  mark("preprocess", t0);
  t0 = performance.now();
  const vis = encodeStage(m, be, volume, promptIds(m, volume));
  mark("encode", t0);
  prefillAndDecode(m, vis, NEW_TOKENS, t);
  mem?.set("prefill", memory()); // prefill and decode run in one call: memory after both
  mem?.set("decode", memory());
  return t as Record<Stage, number>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

export default async function (): Promise<void> {
  const quick = benchArgs().quick;
  const wasm = await createBackend("wasm"), ref = await createBackend("reference");
  const ckpt = await demoCheckpoint();
  const tmp = await mkdtemp(join(tmpdir(), "tgh-moe-e2e-"));
  try {
    const file = join(tmp, "model.safetensors");
    await writeFile(file, ckpt.bytes);
    const sample = (await readSamples())[0];
    const volumeFile = join(ROOT, SAMPLES_DIR, sample.file);

    // --- correctness once, before timing
    const c = parseModel(ckpt.bytes);
    const m = new TghModel(c.cfg, c.params, c.tokenizer, c.preprocess, wasm);
    const volume = m.prepareVolume(readNifti(await readFile(volumeFile)));
    const ids = promptIds(m, volume);
    const w = encodeStage(m, wasm, volume, ids), r = encodeStage(m, ref, volume, ids);
    // float32 (wasm) vs float64 accumulation (reference) through 6 vision blocks and the projector,
    // values of order 1-10: 1e-4 + 1e-4 |ref|, as bench/model.ts; top-k indices must be equal
    checkResult("encode: LM input embeddings", w.x.data, r.x.data, { atol: 1e-4, rtol: 1e-4 }, r.x.shape);
    w.routing.forEach((t, i) => checkResult(`encode: topk_idx of MoE layer ${t.layer}`, t.topkIdx.data, r.routing[i].topkIdx.data, { atol: 0, rtol: 0 }, t.topkIdx.shape));
    const forced = prefillAndDecode(m, w, NEW_TOKENS);
    const gen = await m.generate({ volume, prompt: REPORT_PROMPT, maxNewTokens: NEW_TOKENS });
    const eos = gen.stopReason === "eos" ? gen.tokens.length : NEW_TOKENS;
    checkResult("decode loop = generate() up to <eos>", forced.slice(0, eos), gen.tokens, { atol: 0, rtol: 0 });

    // --- wasm, stage by stage (memory after each stage of the first run)
    const runs = quick ? 2 : 5;
    const mem = new Map<Stage, Memory>();
    const times: Record<Stage, number>[] = [];
    for (let i = 0; i < runs; i++) times.push(await pipeline(file, volumeFile, wasm, i === 0 ? mem : undefined));
    const encRef: number[] = [], encWasm: number[] = [];
    for (let i = 0; i < (quick ? 1 : 2); i++) {
      // interleaved, so load from other processes hits both alike
      let t0 = performance.now();
      encodeStage(m, ref, volume, ids);
      encRef.push(performance.now() - t0);
      t0 = performance.now();
      encodeStage(m, wasm, volume, ids);
      encWasm.push(performance.now() - t0);
    }

    const prompt = ids.length;
    const rows: Cell[][] = STAGES.map((s) => {
      const xs = times.map((t) => t[s]), mm = mem.get(s)!;
      const what = s === "prefill" ? `${prompt} tokens` : s === "decode" ? `${NEW_TOKENS} tokens, ${((1000 * NEW_TOKENS) / median(xs)).toFixed(0)} tokens/s` : "";
      return [s, what, median(xs).toFixed(1), Math.min(...xs).toFixed(1), mm.rss.toFixed(0), mm.maxRss.toFixed(0), mm.wasm.toFixed(0)];
    });
    const total = times.map((t) => STAGES.reduce((a, s) => a + t[s], 0));
    rows.push(["total", "", median(total).toFixed(1), Math.min(...total).toFixed(1), "", "", ""]);
    printTable(`end to end, wasm: ${ckpt.label}, ${sample.id} (${sample.shape.join("x")}), prompt "${REPORT_PROMPT}", ${runs} runs; memory (MiB) after the stage in run 1 (prefill+decode: after both)`,
      ["stage", "", "median ms", "min ms", "RSS", "peak RSS", "wasm memory"], rows);
    printTable("encode stage (vision encoder + projector + splice), wasm vs reference, same inputs, interleaved runs",
      ["backend", "median ms", "min ms", "time / wasm"], [
        ["wasm", median(encWasm).toFixed(1), Math.min(...encWasm).toFixed(1), "1.00x"],
        ["reference", median(encRef).toFixed(1), Math.min(...encRef).toFixed(1), `${(median(encRef) / median(encWasm)).toFixed(1)}x`],
      ]);
    const what = ckpt.trained ? "" : " (UNTRAINED placeholder: the trained model's shapes but for the vocabulary, so about its costs; the text is noise)";
    console.log(`checkpoint ${(ckpt.bytes.length / MB).toFixed(1)} MiB, vocabulary ${m.cfg.lm.vocab}${what}; generate() stopped by ${gen.stopReason} after ${gen.tokens.length} tokens`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
