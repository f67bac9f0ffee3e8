/**
 * The exported encoder graph (encoder.onnx: slice embedding, text guidance from the prompt's ids,
 * slice and volume blocks, TGH-MoE, projector) on onnxruntime-web (WASM, 1 thread) and, when the
 * package is installed, onnxruntime-node (native CPU, 1 thread), against our wasm backend
 * (forwardPrefix, 1 thread): same weights, same volume, same prompt, same run. `small`: the shipped
 * checkpoint on the first sample; `m3d`: random weights on its 32x256x256 grid. Each runtime's
 * act.projector and top-k indices are checked against ours once before anything is timed. Not a test.
 * Legend: B = 1 · D,H,W volume · m image tokens · d lm width.
 */
import { readFile } from "node:fs/promises";
import * as ortWeb from "onnxruntime-web";
import { createBackend, type Backend } from "../src/backend/index.js";
import { decodeF16, encodeF16 } from "../src/io/dtype.js";
import { exportOnnx } from "../src/export/build.js";
import { promptSequence } from "../src/generate/prefix.js";
import { loadModel, readNifti } from "../src/index.js";
import type { ModelConfig } from "../src/model/config.js";
import { forwardPrefix } from "../src/model/model.js";
import { paramSpecs, type Params } from "../src/model/params.js";
import { imageTokens } from "../src/model/projector.js";
import { Rng } from "../src/rng.js";
import { Tensor, fromInts, type F32Tensor, type I32Tensor } from "../src/tensor.js";
import { benchArgs, checkResult, printTable, time, type Cell, type Timing } from "./harness.js";
import { makeCase } from "./model.js";

interface EncoderCase {
  name: string;
  /** Weight storage of the exported graph. */
  weights: "f32" | "f16";
  cfg: ModelConfig;
  params: Params;
  volume: F32Tensor; // [1, 1, D, H, W]
  ids: I32Tensor; // [1, L]: <bos> <img> <image>*m </img> prompt <sep>
}

/** What a runtime returns for one encoder call: act.projector and the top-k indices of every MoE layer. */
type Outputs = { z: Float32Array; topk: Int32Array[] };
interface Runner {
  label: string;
  run(): Promise<Outputs>;
}

async function smallCase(): Promise<EncoderCase> {
  const model = await loadModel(new URL("../checkpoints/tgh-moe-small.safetensors", import.meta.url).pathname);
  const nifti = readNifti(new Uint8Array(await readFile(new URL("../samples/ct-2026-000064.nii.gz", import.meta.url))));
  const volume = model.prepareVolume(nifti);
  const m = imageTokens(model.cfg, volume.dim(2));
  const seq = promptSequence(model.cfg, m, model.tokenizer.encode("Describe the findings of this chest CT."));
  return { name: "small (shipped checkpoint)", weights: "f32", cfg: model.cfg, params: model.params, volume, ids: fromInts([1, seq.length], seq) };
}

/** m3d: bench/model.ts's vision weights plus text_proj, the projector and the token embedding the encoder graph reads; a 12-token prompt. */
function m3dCase(): EncoderCase {
  const c = makeCase("m3d"), rng = new Rng(13);
  for (const [name, shape] of paramSpecs(c.cfg)) {
    if (!(name.startsWith("moe.text_proj") || name.startsWith("projector.") || name === "lm.embed.weight")) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    c.params.set(name, new Tensor("f32", shape, name.endsWith(".bias") ? new Float32Array(n) : rng.fill(n, -0.05, 0.05)));
  }
  // float16 values (as golden files do), so the graph can store them as F16 without changing the model:
  // 0.7 GiB instead of 1.4, which onnxruntime-web's 4 GiB of wasm32 memory needs to load it
  for (const t of c.params.values()) t.data.set(decodeF16(encodeF16(t.data)));
  const m = imageTokens(c.cfg, c.volume.dim(2));
  const seq = promptSequence(c.cfg, m, Array.from({ length: 12 }, () => rng.int(c.cfg.lm.vocab - 7)));
  return { name: "m3d (random weights)", weights: "f16", cfg: c.cfg, params: c.params, volume: c.volume, ids: fromInts([1, seq.length], seq) };
}

function fetchNames(cfg: ModelConfig): string[] {
  return ["act.projector", ...cfg.vision.moeLayers.map((l) => `act.blocks.${l}.moe.topk_idx`)];
}

function ours(be: Backend, c: EncoderCase): Runner {
  return {
    label: "ours wasm (forwardPrefix)",
    run: async () => {
      const p = forwardPrefix(be, c.params, c.cfg, c.volume, c.ids);
      return { z: p.z.data, topk: p.enc.traces.map((t) => t.topkIdx.data) };
    },
  };
}

/** An onnxruntime session (web or node: the same InferenceSession API) on encoder.onnx, asking only for the outputs compared. */
async function ortRunner(label: string, ort: typeof ortWeb, model: Uint8Array, c: EncoderCase, providers: string[]): Promise<Runner> {
  const session = await ort.InferenceSession.create(model, { executionProviders: providers, graphOptimizationLevel: "all", intraOpNumThreads: 1, interOpNumThreads: 1 });
  const feeds = {
    volume: new ort.Tensor("float32", c.volume.data, [...c.volume.shape]),
    ids: new ort.Tensor("int64", BigInt64Array.from(c.ids.data, (x) => BigInt(x)), [...c.ids.shape]),
  };
  const names = fetchNames(c.cfg);
  return {
    label,
    run: async () => {
      const r = await session.run(feeds, names);
      return { z: r["act.projector"].data as Float32Array, topk: names.slice(1).map((n) => r[n].data as Int32Array) };
    },
  };
}

/** onnxruntime-node when installed (a large native package, not a dependency: bench/README.md says why), else null. */
async function ortNode(): Promise<typeof ortWeb | null> {
  const name = "onnxruntime-node";
  try {
    return (await import(/* @vite-ignore */ name)) as typeof ortWeb;
  } catch {
    return null;
  }
}

export default async function (): Promise<void> {
  const quick = benchArgs().quick;
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.wasm.proxy = false;
  ortWeb.env.logLevel = "error";
  const native = await ortNode();
  if (!native) console.log("\n[export] onnxruntime-node is not installed: its row is left out (bench/README.md, \"Exported encoder\")");
  const be = await createBackend("wasm");
  const rows: Cell[][] = [];
  for (const make of [smallCase, async () => m3dCase()]) {
    const c = await make();
    const exp = await exportOnnx(c.cfg, c.params, { depth: c.volume.dim(2), graphs: "encoder", weightDtype: c.weights, backend: be });
    const model = exp.files.get("encoder.onnx")!.model;
    const runners = [ours(be, c)];
    const failed: Cell[][] = [];
    const tryRunner = async (label: string, ort: typeof ortWeb, providers: string[]) => {
      try {
        runners.push(await ortRunner(label, ort, model, c, providers));
      } catch (e) { // e.g. the 4 GiB of wasm32 memory: reported as a row, the others still run
        failed.push([c.name, label, `${(model.length / 2 ** 20).toFixed(0)} MiB ${c.weights}`, "failed", String((e as Error).message).slice(0, 80), "-", "-"]);
      }
    };
    await tryRunner("onnxruntime-web (WASM EP)", ortWeb, ["wasm"]);
    if (native) await tryRunner("onnxruntime-node (CPU EP)", native, ["cpu"]);
    const ref = await runners[0].run();
    // Tolerance: act.projector after the whole encoder in another summation order; the golden one
    // (docs/EXPORT.md: at most 11% of it used on small) with atol raised to 2e-5 of the largest |value|
    // (m3d's random weights give values up to ~70, differences of larger terms: onnxruntime-node's
    // FMA kernels differ from ours by up to 5.5e-4 there, 8e-6 of the scale); indices equal.
    const scale = ref.z.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    const tol = { atol: Math.max(2e-4, 2e-5 * scale), rtol: 1e-4 };
    for (const r of runners.slice(1)) {
      let out: Outputs;
      try {
        out = await r.run();
      } catch (e) {
        failed.push([c.name, r.label, `${(model.length / 2 ** 20).toFixed(0)} MiB ${c.weights}`, "failed", String((e as Error).message).slice(0, 80), "-", "-"]);
        runners.splice(runners.indexOf(r), 1);
        continue;
      }
      checkResult(`${c.name} ${r.label} act.projector`, out.z, ref.z, tol);
      out.topk.forEach((t, i) => checkResult(`${c.name} ${r.label} topk_idx ${i}`, t, ref.topk[i], { atol: 0, rtol: 0 }));
    }
    const heavy = c.cfg.vision.width > 256;
    const timings: Timing[] = [], cores: number[] = [];
    for (const r of [...runners]) {
      const cpu = process.cpuUsage(), t0 = performance.now(); // CPU time of all the process's threads / wall time
      try {
        timings.push(await time(`${c.name} ${r.label}`, () => r.run(), heavy ? { time: 1, minIterations: quick ? 1 : 2 } : {}));
      } catch (e) { // onnxruntime-web on m3d: the checked run passes, a later one runs out of wasm32 memory
        failed.push([c.name, r.label, `${(model.length / 2 ** 20).toFixed(0)} MiB ${c.weights}`, "failed", `after the checked run: ${String((e as Error).message).slice(0, 60)}`, "-", "-"]);
        runners.splice(runners.indexOf(r), 1);
        continue;
      }
      const used = process.cpuUsage(cpu);
      cores.push((used.user + used.system) / 1000 / (performance.now() - t0));
    }
    rows.push(...failed);
    runners.forEach((r, i) => rows.push([c.name, r.label, `${(model.length / 2 ** 20).toFixed(0)} MiB ${c.weights}`, timings[i].median.toFixed(1), timings[i].min.toFixed(1), `${(timings[i].median / timings[0].median).toFixed(2)}x`, cores[i].toFixed(2)]));
  }
  printTable("exported encoder (encoder.onnx; F16 storage = float16 weights cast to float32 in the graph) vs our wasm backend, B = 1, one thread each; checked once before timing",
    ["model", "runtime", "graph", "median ms", "min ms", "time / ours", "cores used"], rows);
}
