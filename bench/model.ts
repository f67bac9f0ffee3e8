/**
 * Vision-encoder forward (spec sections 1-4: slice embedding, slice and volume blocks, TGH-MoE with
 * hard routing by argmax pi) at the `small` and `m3d` preset sizes, B = 1: wasm time against the
 * reference backend on small (checked once for agreement before anything is timed), wasm time and
 * memory on m3d. Weights are vision.* only (the language model is not built). Not a test.
 * Legend: B batch · D slices · S=1+n^2 · C width.
 */
import { createBackend, type Backend } from "../src/backend/index.js";
import { PRESET_VOLUME, preset, type ModelConfig, type PresetName } from "../src/model/config.js";
import { encode } from "../src/model/encoder.js";
import { paramSpecs, scope, type Params } from "../src/model/params.js";
import { embedSlices } from "../src/model/vit.js";
import { Rng } from "../src/rng.js";
import { Tensor, type F32Tensor, type I32Tensor } from "../src/tensor.js";
import { benchArgs, checkResult, gflops, printTable, time, type Cell } from "./harness.js";

const MB = 1024 * 1024;

/** vision.* weights: biases 0, norm weights 1, the rest uniform with std `std` (fast to draw at m3d size). */
function visionParams(cfg: ModelConfig, seed: number, std = 0.1): Params {
  const rng = new Rng(seed), a = std * Math.sqrt(3);
  const params: Params = new Map();
  for (const [name, shape] of paramSpecs(cfg)) {
    if (!name.startsWith("vision.")) continue;
    const n = shape.reduce((x, y) => x * y, 1);
    const data = name.endsWith(".bias") ? new Float32Array(n) : /(ln1|ln2|pre_norm)\.weight$/.test(name) ? new Float32Array(n).fill(1) : rng.fill(n, -a, a);
    params.set(name, new Tensor("f32", shape, data));
  }
  return params;
}

export interface Case {
  name: PresetName;
  cfg: ModelConfig;
  params: Params;
  volume: F32Tensor; // [1, 1, D, H, W]
  g: F32Tensor; // [1, C] text guidance
  tokens: number; // D/t * S
  paramCount: number;
}

export function makeCase(name: PresetName): Case {
  const cfg = preset(name);
  const [D, H, W] = PRESET_VOLUME[name];
  const rng = new Rng(7);
  const params = visionParams(cfg, 11);
  const n = cfg.vision.image / cfg.vision.patch;
  let paramCount = 0;
  for (const t of params.values()) paramCount += t.size;
  return {
    name, cfg, params, paramCount,
    volume: new Tensor("f32", [1, 1, D, H, W], rng.fill(D * H * W, 0, 1)),
    g: new Tensor("f32", [1, cfg.vision.width], rng.fill(cfg.vision.width, -1, 1)),
    tokens: (D / cfg.vision.depthPatch) * (1 + n * n),
  };
}

/**
 * Multiply-add FLOPs of one encoder forward (2 per MAC): per block the qkv and output projections
 * (8C^2 per token), attention (4 T^2 C over the T tokens that attend jointly: S per slice block,
 * D*S per volume block), and the MLP (16C^2 per token, times shared + top_k experts in a MoE block).
 * Patch embedding, norms and routers are left out (< 1%).
 */
export function encoderFlops(c: Case): number {
  const v = c.cfg.vision, C = v.width, M = c.tokens, S = M / (PRESET_VOLUME[c.name][0] / v.depthPatch);
  let f = 0;
  for (let l = 0; l < v.layers; l++) {
    const volume = l >= v.layers - v.volumeLayers;
    const experts = v.moeLayers.includes(l) ? c.cfg.moe.sharedExperts + c.cfg.moe.topK : 1;
    f += 8 * C * C * M + 4 * (volume ? M : S) * M * C + 16 * C * C * M * experts;
  }
  return f;
}

/** The encoder: act.embed then every block; returns the output [1, D, S, C] and the top-k indices of every MoE layer. */
export function encoder(be: Backend, c: Case): { x: F32Tensor; topk: I32Tensor[] } {
  const x0 = embedSlices(be, scope(c.params, "vision"), c.cfg.vision, c.volume);
  const out = encode(be, c.params, c.cfg, x0, { g: c.g });
  return { x: out.x, topk: out.traces.map((t) => t.topkIdx) };
}

/** Process memory now: resident set, and wasm linear memory (Node counts it in `external`, outside `arrayBuffers`). */
function memory(): { rss: number; maxRss: number; wasm: number; js: number } {
  const m = process.memoryUsage();
  return { rss: m.rss / MB, maxRss: process.resourceUsage().maxRSS / 1024, wasm: (m.external - m.arrayBuffers) / MB, js: m.arrayBuffers / MB };
}

export default async function (): Promise<void> {
  const wasm = await createBackend("wasm"), ref = await createBackend("reference");
  const quick = benchArgs().quick;

  // --- small: agreement once, then wasm vs reference
  const small = makeCase("small");
  const w = encoder(wasm, small), r = encoder(ref, small);
  // Tolerance: float32 (wasm) vs float64 accumulation (reference) through 6 blocks, values of
  // order 1-10: as test/model-forward.test.ts, 1e-4 + 1e-4 |ref|; top-k indices must be equal.
  checkResult("small encoder output", w.x.data, r.x.data, { atol: 1e-4, rtol: 1e-4 }, r.x.shape);
  w.topk.forEach((t, i) => checkResult(`small topk_idx of MoE layer ${i}`, t.data, r.topk[i].data, { atol: 0, rtol: 0 }, t.shape));
  const ts = await time("encoder small wasm", () => encoder(wasm, small));
  const memSmall = memory();
  const tr = await time("encoder small reference", () => encoder(ref, small), { time: quick ? 1 : 1000 });

  // --- m3d: wasm only (the reference would take tens of minutes); few runs, each tens of seconds
  const m3d = makeCase("m3d");
  const before = memory();
  const runs: number[] = [];
  for (let i = 0; i < (quick ? 1 : 2); i++) {
    const t0 = performance.now();
    encoder(wasm, m3d);
    runs.push(performance.now() - t0);
  }
  const memM3d = memory();

  const row = (label: string, c: Case, med: number, min: number, ratio: string): Cell[] =>
    [label, String(c.tokens), (c.paramCount / 1e6).toFixed(1), (encoderFlops(c) / 1e9).toFixed(1), med.toFixed(0), min.toFixed(0), gflops(encoderFlops(c), min).toFixed(1), ratio];
  printTable("vision encoder forward, B = 1 (small: 16x64x64, m3d: 32x256x256), hard routing; m3d: median/max column is the slowest run",
    ["preset, backend", "tokens", "Mparams", "GFLOP", "median ms", "min ms", "GFLOP/s (min)", "time / wasm"], [
      row("small wasm", small, ts.median, ts.min, "1.00x"),
      row("small reference", small, tr.median, tr.min, `${(tr.median / ts.median).toFixed(1)}x`),
      row("m3d wasm", m3d, Math.max(...runs), Math.min(...runs), "-"),
    ]);
  printTable("memory after the runs (MiB): peak RSS (process high-water mark), wasm linear memory of all kernel modules (= their arena high-water mark; never shrinks)", ["after", "peak RSS", "RSS", "wasm memory", "JS typed arrays"], [
    ["small runs", memSmall.maxRss.toFixed(0), memSmall.rss.toFixed(0), memSmall.wasm.toFixed(0), memSmall.js.toFixed(0)],
    ["m3d weights built", before.maxRss.toFixed(0), before.rss.toFixed(0), before.wasm.toFixed(0), before.js.toFixed(0)],
    ["m3d runs", memM3d.maxRss.toFixed(0), memM3d.rss.toFixed(0), memM3d.wasm.toFixed(0), memM3d.js.toFixed(0)],
  ]);
  console.log(`m3d runs (ms): ${runs.map((x) => x.toFixed(0)).join(", ")}; m3d vision weights ${((m3d.paramCount * 4) / MB).toFixed(0)} MiB (float32)`);
}
