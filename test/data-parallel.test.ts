/**
 * Data-parallel training (Trainer.useThreads: micro-batches spread over Node workers): the weights
 * and reports of an update are bit-identical on 1, 2 and 3 threads, equal an independent oracle
 * (each micro-batch's gradients from zero, summed in micro-batch order), a resumed run continues
 * bit for bit on another thread count, and one micro-batch per update gives the bits of the trainer
 * before data parallelism (gradients accumulated in place: the order main's checkpoints used).
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBackend, type Backend } from "../src/backend/index.js";
import { preset, withConfig } from "../src/model/config.js";
import { initParams, type Params } from "../src/model/params.js";
import { imageTokens } from "../src/model/projector.js";
import { Rng } from "../src/rng.js";
import { Tensor } from "../src/tensor.js";
import { clipGradNorm } from "../src/train/adamw.js";
import { checkpointBytes, parseCheckpoint, resumeTrainer, trainerState } from "../src/train/checkpoint.js";
import { Grads } from "../src/train/grads.js";
import { lossAndGrads } from "../src/train/model-backward.js";
import { lrAt } from "../src/train/schedule.js";
import { Trainer, collate, trainOptions, type Sample, type StepReport, type TrainOptions } from "../src/train/trainer.js";
import { assertSameBits } from "./util/close.js";
import { sequence } from "./util/model.js";

const cfg = preset("tiny");
let be: Backend;
beforeAll(async () => {
  be = await createBackend("wasm", { threads: 1 });
}, 60_000);
const open: Trainer[] = [];
afterAll(() => open.forEach((t) => t.close()));

/** n samples of the tiny preset (4 slices, prompt 3, answer 2-6 tokens: micro-batches pad differently), alternating tasks. */
function samples(n: number, seed: number): Sample[] {
  const rng = new Rng(seed), m = imageTokens(cfg, 4);
  return Array.from({ length: n }, (_, i) => ({
    volume: new Tensor("f32", [1, 4, 32, 32], rng.fill(4 * 32 * 32, 0, 1)), ids: sequence(cfg, m, 3, 2 + (i % 5), 0, rng), task: i % 2,
  }));
}

const opts = (o: Partial<TrainOptions>) => trainOptions({ seed: 3, schedule: { peak: 1e-2, warmup: 1, total: 6, floor: 1e-3 }, ...o });

/** A trainer on `threads` data-parallel threads (closed after the file). */
async function trainer(threads: number, o: TrainOptions, params: Params = initParams(cfg, 1)): Promise<Trainer> {
  const t = new Trainer(be, cfg, params, o);
  open.push(t);
  expect(await t.useThreads(threads)).toBe(threads);
  return t;
}

function sameParams(what: string, a: Params, b: Params): void {
  for (const [name, p] of b) assertSameBits(`${what}: ${name}`, a.get(name)!.data as Float32Array, p.data as Float32Array);
}

/**
 * The oracle: one update written out here, not through Trainer.update. `inPlace`: every
 * micro-batch accumulates into one set of gradients (the trainer before data parallelism); else
 * each micro-batch's gradients start from zero and are summed in micro-batch order.
 */
function oracleUpdate(t: { params: Params; step: number; optimizer: Trainer["optimizer"] }, o: TrainOptions, mbs: Sample[][], inPlace: boolean): void {
  const all = () => true, total = new Grads(t.params, all);
  for (const mb of mbs) {
    const g = inPlace ? total : new Grads(t.params, all);
    lossAndGrads(be, t.params, cfg, collate(mb, cfg.tokens.pad), g, { scale: 1 / mbs.length, alpha: o.alpha, beta: o.beta });
    if (inPlace) continue;
    for (const [name, x] of g.entries()) {
      const have = total.get(name);
      if (!have) total.slot(name).data.set(x.data);
      else for (let i = 0; i < x.size; i++) have.data[i] = Math.fround(have.data[i] + x.data[i]);
    }
  }
  clipGradNorm(total, o.clip);
  t.optimizer.update(t.params, total, lrAt(t.step++, o.schedule));
  be.weightsChanged(t.params.values());
}

/** The micro-batches trainStep draws (the trainer's RNG, replayed). */
function draws(o: TrainOptions, data: Sample[], steps: number): Sample[][][] {
  const rng = new Rng(o.seed);
  return Array.from({ length: steps }, () => Array.from({ length: o.accum }, () => Array.from({ length: o.batchSize }, () => data[rng.int(data.length)])));
}

describe("data-parallel training", () => {
  it("1, 2 and 3 threads: the same weights and reports, and the oracle's (gradients per micro-batch, summed in order)", async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 0, max: 1000 }), async (accum, batchSize, seed) => {
      const o = opts({ accum, batchSize, seed }), data = samples(6, seed);
      const runs: { reports: StepReport[]; params: Params }[] = [];
      for (const threads of [1, 2, 3]) {
        const t = await trainer(threads, o);
        runs.push({ reports: [t.trainStep(data), t.trainStep(data)], params: t.params });
        t.close();
      }
      const oracle = new Trainer(be, cfg, initParams(cfg, 1), o);
      for (const mbs of draws(o, data, 2)) oracleUpdate(oracle, o, mbs, false);
      for (const [i, r] of runs.entries()) {
        expect(r.reports, `reports, ${i + 1} threads`).toEqual(runs[0].reports);
        sameParams(`${i + 1} threads vs 1`, r.params, runs[0].params);
      }
      sameParams("1 thread vs the oracle", runs[0].params, oracle.params);
    }), { seed: 91, numRuns: 3 });
  });

  it("one micro-batch per update: the bits of accumulating in place (the trainer before data parallelism)", async () => {
    const o = opts({ batchSize: 3 }), data = samples(5, 7);
    const t = await trainer(2, o);
    for (let i = 0; i < 3; i++) t.trainStep(data);
    const old = new Trainer(be, cfg, initParams(cfg, 1), o);
    for (const mbs of draws(o, data, 3)) oracleUpdate(old, o, mbs, true);
    sameParams("2 threads vs in place", t.params, old.params);
  });

  it("a run resumed from a checkpoint on another thread count continues bit for bit", async () => {
    const o = opts({ accum: 3, batchSize: 2 }), data = samples(7, 11);
    const straight = await trainer(1, o);
    const want = Array.from({ length: 4 }, () => straight.trainStep(data));
    const first = await trainer(2, o);
    const got = [first.trainStep(data), first.trainStep(data)];
    const state = parseCheckpoint(checkpointBytes(trainerState(first)));
    const resumed = resumeTrainer(be, state);
    open.push(resumed);
    expect(await resumed.useThreads(3)).toBe(3);
    got.push(resumed.trainStep(data), resumed.trainStep(data));
    expect(got).toEqual(want);
    sameParams("resumed on 3 threads vs straight on 1", resumed.params, straight.params);
  });

  it("shared volumes (perVolume 2, a dense model): 1 and 2 threads give the same weights and reports", async () => {
    const dense = withConfig(cfg, { vision: { moeLayers: [] } }), rng = new Rng(8), m = imageTokens(dense, 4);
    const vols = Array.from({ length: 3 }, () => new Tensor("f32", [1, 4, 32, 32], rng.fill(4 * 32 * 32, 0, 1)));
    const data: Sample[] = Array.from({ length: 9 }, (_, i) => ({ volume: vols[i % 3], ids: sequence(dense, m, 3, 2 + (i % 3), 0, rng), task: 0 }));
    const o = opts({ accum: 3, batchSize: 4, perVolume: 2 });
    const runs = [];
    for (const threads of [1, 2]) {
      const t = new Trainer(be, dense, initParams(dense, 2), o);
      open.push(t);
      expect(await t.useThreads(threads)).toBe(threads);
      runs.push({ reports: [t.trainStep(data), t.trainStep(data)], params: t.params });
    }
    expect(runs[1].reports).toEqual(runs[0].reports);
    sameParams("perVolume, 2 threads vs 1", runs[1].params, runs[0].params);
  });

  it("the patch finding loss (cover marks on every sample): 1 and 2 threads give the same weights and reports, and the loss is in them", async () => {
    const rng = new Rng(4), nn = (cfg.vision.image / cfg.vision.patch) ** 2;
    const data = samples(6, 13).map((s) => ({ ...s, cover: Uint8Array.from({ length: 4 * nn }, () => (rng.int(6) === 0 ? 1 + rng.int(7) : 0)) }));
    const o = opts({ accum: 2, batchSize: 2, patchLoss: 2 }), runs = [];
    for (const threads of [1, 2]) {
      const t = await trainer(threads, o);
      runs.push({ reports: [t.trainStep(data), t.trainStep(data)], params: t.params });
    }
    expect(runs[1].reports).toEqual(runs[0].reports);
    sameParams("patch loss, 2 threads vs 1", runs[1].params, runs[0].params);
    expect(runs[0].reports[0].patch).toBeGreaterThan(0);
    const without = await trainer(1, opts({ accum: 2, batchSize: 2 }));
    const plain = without.trainStep(data);
    expect(plain.patch).toBeUndefined();
    expect(runs[0].reports[0].loss - plain.loss).toBeCloseTo(2 * runs[0].reports[0].patch!, 5);
  });

  it("a target emphasis on some samples: 1 and 2 threads give the same weights and reports, and the oracle's; it changes the loss", async () => {
    const rng = new Rng(6);
    const data = samples(6, 17).map((s, i) => (i % 2 === 0 ? { ...s, emphasis: Float32Array.from(s.ids, () => 0.5 + 3 * rng.uniform()) } : s));
    const o = opts({ accum: 2, batchSize: 2 }), runs = [];
    for (const threads of [1, 2]) {
      const t = await trainer(threads, o);
      runs.push({ reports: [t.trainStep(data), t.trainStep(data)], params: t.params });
    }
    expect(runs[1].reports).toEqual(runs[0].reports);
    sameParams("emphasis, 2 threads vs 1", runs[1].params, runs[0].params);
    const oracle = new Trainer(be, cfg, initParams(cfg, 1), o);
    for (const mbs of draws(o, data, 2)) oracleUpdate(oracle, o, mbs, false);
    sameParams("emphasis, 1 thread vs the oracle", runs[0].params, oracle.params);
    const plain = (await trainer(1, o)).trainStep(data.map(({ emphasis: _, ...s }) => s));
    expect(plain.loss).not.toBe(runs[0].reports[0].loss);
  });

  it("a micro-batch that fails on a worker fails the update with its error", async () => {
    const o = opts({ accum: 2, batchSize: 1 }), data = samples(2, 5);
    const bad: Sample = { ...data[1], ids: [...data[1].ids.slice(0, -1), cfg.lm.vocab + 5] };
    const t = await trainer(2, o);
    expect(() => t.update([[data[0]], [bad], [bad], [data[0]]])).toThrow(/micro-batch \d/);
  });

  it("the reference backend, or 1 thread, trains on this thread (useThreads gives 1)", async () => {
    const ref = await createBackend("reference");
    expect(await new Trainer(ref, cfg, initParams(cfg, 1), opts({})).useThreads(2)).toBe(1);
    expect(await new Trainer(be, cfg, initParams(cfg, 1), opts({})).useThreads(1)).toBe(1);
  });
});
