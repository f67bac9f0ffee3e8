/**
 * Threads (`npm run bench -- threads`): the wasm backend on 1 and 2 threads in the same run, with
 * ratios: the split threshold (dispatch cost), GEMM 2048x768x3072 and attention 12 x 2048 x 64
 * against onnxruntime-web on 1 and 2 threads (each ORT count in its own process: bench/ort-child.ts),
 * one training update of `small` (8 samples: one micro-batch on kernel threads, two micro-batches data
 * parallel) with its GFLOP/s as a fraction of the GEMM's, the m3d
 * encoder, an end-to-end answer on the shipped checkpoint, and the scaling model. Not a test.
 */
import { execFileSync } from "node:child_process";
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { loadModel } from "../src/api.js";
import { Backend, createBackend } from "../src/backend/index.js";
import { readNifti } from "../src/io/nifti.js";
import { PRESET_VOLUME, preset } from "../src/model/config.js";
import { initParams } from "../src/model/params.js";
import { imageTokens } from "../src/model/projector.js";
import { Rng } from "../src/rng.js";
import { Tensor } from "../src/tensor.js";
import { Trainer, trainOptions, type Sample } from "../src/train/trainer.js";
import { sequence } from "../test/util/model.js";
import { benchArgs, checkResult, gflops, printTable, timeInterleaved, type Cell, type Timing } from "./harness.js";
import { encoder, encoderFlops, makeCase } from "./model.js";
import { copyBandwidth, countingKernels, scalingTable } from "./threads-model.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

/** ORT in a child process (its thread count is fixed per process). */
function ort(job: Record<string, unknown>): Timing {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(new URL("./ort-child.ts", import.meta.url)), JSON.stringify(job)], { encoding: "utf8" });
  const r = JSON.parse(out.trim().split("\n").pop()!) as { median: number; min: number };
  return { median: r.median, min: r.min, samples: 0 };
}

/** Square products around the threshold: 1 vs 2 threads with every product split (splitMinNs 0). */
async function threshold(one: Backend, two: Backend): Promise<Cell[][]> {
  const rows: Cell[][] = [], rng = new Rng(3);
  for (const s of [8, 16, 24, 32, 48, 64, 96, 128]) {
    const a = new Tensor("f32", [s, s], rng.fill(s * s, -1, 1)), w = new Tensor("f32", [s, s], rng.fill(s * s, -1, 1));
    const t = await timeInterleaved([{ name: "1", fn: () => one.linear(a, w) }, { name: "2", fn: () => two.linear(a, w) }], { time: 300 });
    const t1 = t.get("1")!.median, t2 = t.get("2")!.median;
    rows.push([`${s}^3`, ((2 * s ** 3) / 40 / 1000).toFixed(1), (t1 * 1000).toFixed(1), (t2 * 1000).toFixed(1), x(t1, t2)]);
  }
  const v = new Tensor("f32", [64], rng.fill(64, -1, 1));
  const t = await timeInterleaved([{ name: "1", fn: () => one.add(v, v) }, { name: "2", fn: () => two.add(v, v) }], { time: 300 });
  rows.push(["add, 64 elements (dispatch cost)", "-", (t.get("1")!.median * 1000).toFixed(1), (t.get("2")!.median * 1000).toFixed(1), x(t.get("1")!.median, t.get("2")!.median)]);
  return rows;
}

/** GEMM and attention: ours on 1 and 2 threads (weights resident), ORT on 1 and 2. */
async function kernels(one: Backend, two: Backend): Promise<{ rows: Cell[][]; gemmGflops: [number, number] }> {
  const rng = new Rng(5), rows: Cell[][] = [];
  const [m, k, n] = [2048, 768, 3072], flops = 2 * m * k * n;
  const a = new Tensor("f32", [m, k], rng.fill(m * k, -1, 1)), w = new Tensor("f32", [n, k], rng.fill(n * k, -1, 1));
  for (const be of [one, two]) be.keepResident([w]);
  checkResult("gemm 2 threads vs 1", two.linear(a, w).data, one.linear(a, w).data, { atol: 0, rtol: 0 });
  const g = await timeInterleaved([{ name: "1", fn: () => one.linear(a, w) }, { name: "2", fn: () => two.linear(a, w) }]);
  const c0 = process.cpuUsage(), t0 = performance.now();
  for (let i = 0; i < 3; i++) two.linear(a, w);
  const cpu = process.cpuUsage(c0), cores = (cpu.user + cpu.system) / 1000 / (performance.now() - t0);
  console.log(`cores this process got during 2-thread GEMM calls (CPU time / wall time): ${cores.toFixed(2)} (2 = both cores free)`);
  const o1 = ort({ op: "gemm", threads: 1, m, k, n }), o2 = ort({ op: "gemm", threads: 2, m, k, n });
  const g1 = g.get("1")!, g2 = g.get("2")!;
  rows.push([`GEMM ${m}x${k}x${n}`, g1.median.toFixed(1), g2.median.toFixed(1), x(g1.median, g2.median), o1.median.toFixed(1), o2.median.toFixed(1), x(o2.median, g2.median),
    `${gflops(flops, g1.median).toFixed(1)} / ${gflops(flops, g2.median).toFixed(1)}`]);
  const [H, N, dh] = [12, 2048, 64];
  const q = new Tensor("f32", [1, N, H * dh], rng.fill(N * H * dh, -1, 1)), kk = new Tensor("f32", q.shape, rng.fill(q.size, -1, 1)), v = new Tensor("f32", q.shape, rng.fill(q.size, -1, 1));
  checkResult("attention 2 threads vs 1", two.attention(q, kk, v, { heads: H }).data, one.attention(q, kk, v, { heads: H }).data, { atol: 0, rtol: 0 });
  const at = await timeInterleaved([{ name: "1", fn: () => one.attention(q, kk, v, { heads: H }) }, { name: "2", fn: () => two.attention(q, kk, v, { heads: H }) }]);
  const p1 = ort({ op: "attention", threads: 1, heads: H, n: N, dh }), p2 = ort({ op: "attention", threads: 2, heads: H, n: N, dh });
  const a1 = at.get("1")!, a2 = at.get("2")!, af = 4 * H * N * N * dh;
  rows.push([`attention ${H} x ${N} x ${dh}`, a1.median.toFixed(1), a2.median.toFixed(1), x(a1.median, a2.median), p1.median.toFixed(1), p2.median.toFixed(1), x(p2.median, a2.median),
    `${gflops(af, a1.median).toFixed(1)} / ${gflops(af, a2.median).toFixed(1)}`]);
  return { rows, gemmGflops: [gflops(flops, g1.median), gflops(flops, g2.median)] };
}

/** `small`, batch 8 of random samples on the preset's grid. */
function trainingData(): Sample[] {
  const cfg = preset("small"), [D, Hh, W] = PRESET_VOLUME.small, m = imageTokens(cfg, D), rng = new Rng(4);
  return Array.from({ length: 8 }, (_, i) => ({
    volume: new Tensor("f32", [1, D, Hh, W], rng.fill(D * Hh * W, 0, 1)), ids: sequence(cfg, m, 8, 24, 0, rng), task: i % 2,
  }));
}

/** How a training update runs: its backend (kernel threads), micro-batches of the 8 samples, data-parallel threads. */
interface TrainRun {
  be: Backend;
  batchSize: number;
  accum: number;
  dataParallel: number;
}

/**
 * One update of `small` (8 samples) per run, the runs taking turns (round-robin, so load from
 * other processes hits them alike): median ms, and the cores the process got (CPU time of all its
 * threads / wall time); on the first run FLOPs, bytes, serial fraction (its FLOPs stand for every
 * run: the same products, whatever thread runs them).
 */
async function training(specs: TrainRun[]): Promise<{ ms: number[]; cores: number[]; flops: number; serial: number; bytes: number }> {
  const cfg = preset("small"), data = trainingData(), reps = benchArgs().quick ? 1 : 3;
  const bandwidth = copyBandwidth();
  const runs = await Promise.all(specs.map(async (s) => {
    const counted = countingKernels(s.be);
    const t = new Trainer(counted.backend, cfg, initParams(cfg, 1), trainOptions({ batchSize: s.batchSize, accum: s.accum, seed: 2, schedule: { peak: 1e-4, warmup: 1, total: 100, floor: 1e-5 } }));
    if ((await t.useThreads(s.dataParallel)) !== s.dataParallel) throw new Error(`bench: ${s.dataParallel} data-parallel threads unavailable`);
    t.trainStep(data); // warm-up (and the resident weights' first upload)
    counted.reset();
    return { counted, t, ms: [] as number[], cpu: 0 };
  }));
  for (let r = 0; r < reps; r++) {
    for (const run of runs) {
      const c0 = process.cpuUsage(), t0 = performance.now();
      run.t.trainStep(data);
      run.ms.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      run.cpu += (c.user + c.system) / 1000;
    }
  }
  for (const run of runs) run.t.close();
  const c = runs[0].counted.totals(), total = runs[0].ms.reduce((a, b) => a + b, 0);
  return {
    ms: runs.map((run) => [...run.ms].sort((a, b) => a - b)[run.ms.length >> 1]),
    cores: runs.map((run) => run.cpu / run.ms.reduce((a, b) => a + b, 0)),
    flops: c.flops / reps,
    bytes: c.bytes / reps,
    // serial: everything outside the split kernels, plus their copies in and out (one thread)
    serial: Math.min(1, (total - c.splitMs + (c.splitBytes / bandwidth) * 1000) / total),
  };
}

/** The m3d encoder (one run each) and an end-to-end answer (shipped checkpoint, first shipped sample, 32 tokens; 3 turns each). */
async function models(bes: Backend[]): Promise<Cell[][]> {
  const c = makeCase("m3d"), enc: number[] = [], e2e: number[][] = bes.map(() => []);
  const files = (await readdir(`${ROOT}samples`)).filter((f) => f.endsWith(".nii.gz")).sort();
  const volume = readNifti(await readFile(`${ROOT}samples/${files[0]}`));
  for (const be of bes) {
    const t0 = performance.now();
    encoder(be, c);
    enc.push(performance.now() - t0);
  }
  const ms = await Promise.all(bes.map((be) => loadModel(`${ROOT}checkpoints/tgh-moe-small.safetensors`, { backend: be })));
  const answer = { volume, prompt: "Describe the findings of this chest CT.", maxNewTokens: 32 };
  for (const m of ms) await m.generate(answer); // warm-up
  for (let r = 0; r < 3; r++) {
    for (const [i, m] of ms.entries()) {
      const t0 = performance.now();
      await m.generate(answer);
      e2e[i].push(performance.now() - t0);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  return [
    ["m3d encoder (32x256x256), one run each", enc[0].toFixed(0), enc[1].toFixed(0), x(enc[0], enc[1]), `${gflops(encoderFlops(c), enc[0]).toFixed(1)} / ${gflops(encoderFlops(c), enc[1]).toFixed(1)}`],
    [`run: shipped small, ${files[0]}, 32 tokens (median of 3)`, med(e2e[0]).toFixed(0), med(e2e[1]).toFixed(0), x(med(e2e[0]), med(e2e[1])), "-"],
  ];
}

export default async function (): Promise<void> {
  const one = await createBackend("wasm", { threads: 1 }), two = await createBackend("wasm", { threads: 2 });
  const cores = (await import("node:os")).availableParallelism();
  console.log(`threads bench: ${cores} cores available; 1 and 2 threads; weights resident`);
  const split0 = await createBackend("wasm", { threads: 2, splitMinNs: 0 });
  printTable("split threshold: 1 vs 2 threads with every product split (µs, median); est. = the adapter's single-thread estimate",
    ["linear M=K=N", "est. µs", "1 thread", "2 threads", "speed-up"], await threshold(one, split0));
  split0.close();
  const k = await kernels(one, two);
  printTable("kernels, ms (median); ours with the weight resident; ORT: onnxruntime-web wasm, Gemm transB / MultiHeadAttention",
    ["op", "ours 1T", "ours 2T", "2T speed-up", "ORT 1T", "ORT 2T", "ORT 2T / ours 2T", "GFLOP/s 1T / 2T"], k.rows);
  const tr = await training([{ be: one, batchSize: 8, accum: 1, dataParallel: 1 }, { be: two, batchSize: 8, accum: 1, dataParallel: 1 },
    { be: one, batchSize: 4, accum: 2, dataParallel: 1 }, { be: two, batchSize: 4, accum: 2, dataParallel: 2 }]); // as `train --threads 2`: the trainer's own ops (AdamW) on the 2-thread backend

  const g = tr.ms.map((m) => gflops(tr.flops, m)), gemm = [0, 1, 0, 1].map((i) => k.gemmGflops[i]);
  const what = ["1 micro-batch of 8, 1 thread", "1 micro-batch of 8, 2 kernel threads", "2 micro-batches of 4, 1 thread", "2 micro-batches of 4, 2 data-parallel threads"];
  printTable(`training update, small, 8 samples (${(tr.flops / 1e9).toFixed(1)} GFLOP counted: matmul, attention, patch, fwd + bwd); speed-up over the same micro-batches on 1 thread`,
    ["how", "ms (median, turns)", "speed-up", "cores got", "GFLOP/s", "% of the same run's GEMM GFLOP/s"],
    tr.ms.map((m, i) => [what[i], m.toFixed(0), x(tr.ms[i & 2], m), tr.cores[i].toFixed(2), g[i].toFixed(1), `${((100 * g[i]) / gemm[i]).toFixed(0)}%`]));
  printTable("models, ms", ["what", "1 thread", "2 threads", "speed-up", "GFLOP/s 1T / 2T"], await models([one, two]));
  printTable(`scaling model of the update (measured: serial fraction ${(100 * tr.serial).toFixed(0)}% of the 1-thread time, ${(tr.bytes / 2 ** 20).toFixed(0)} MiB handed to kernels per update; assumptions: bench/README.md)`,
    ["cores", "update ms (model)", "speed-up", "limited by"], scalingTable({ t1: tr.ms[0], serial: tr.serial, bytes: tr.bytes, bandwidth: copyBandwidth() }, [1, 2, 8, 16, 64]));
}
