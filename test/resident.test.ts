/**
 * Resident weights: a weight registered with keepResident is copied into wasm memory once and read
 * from there (a write not reported is not seen: the proof that it is not copied per call);
 * weightsChanged makes the next product use the new values; results equal the per-call copies bit
 * for bit, on one thread and on several, and training updates are unchanged by residency.
 */
import { describe, expect, it } from "vitest";
import { Backend, createBackend } from "../src/backend/index.js";
import { preset } from "../src/model/config.js";
import { initParams } from "../src/model/params.js";
import { imageTokens } from "../src/model/projector.js";
import { Rng } from "../src/rng.js";
import { Tensor } from "../src/tensor.js";
import { Trainer, trainOptions, type Sample } from "../src/train/trainer.js";
import { assertSameBits } from "./util/close.js";
import { sequence } from "./util/model.js";

/** The same kernels without residency: every product copies its weight (the behaviour before). */
const copying = (be: Backend) => new Backend({ ...be.kernels, keepResident: undefined, weightsChanged: undefined });

describe("resident weights", () => {
  for (const threads of [1, 2]) {
    it(`${threads} thread(s): same bits as per-call copies; unreported writes unseen; weightsChanged re-copies`, async () => {
      const be = await createBackend("wasm", { threads, splitMinNs: 0 });
      const rng = new Rng(threads);
      const x = new Tensor("f32", [37, 48], rng.fill(37 * 48, -1, 1)), w = new Tensor("f32", [65, 48], rng.fill(65 * 48, -1, 1));
      const fresh = () => copying(be).linear(x, new Tensor("f32", w.shape, w.data.slice()));
      be.keepResident([w]);
      assertSameBits("resident linear", be.linear(x, w).data, fresh().data);
      assertSameBits("resident, again", be.linear(x, w).data, fresh().data);
      const dy = new Tensor("f32", [37, 65], rng.fill(37 * 65, -1, 1)); // a backward product reads w untransposed
      assertSameBits("resident dX = dY W", be.matmul(dy, w).data, copying(be).matmul(dy, new Tensor("f32", w.shape, w.data.slice())).data);
      const before = be.linear(x, w).data.slice();
      w.data[5] += 1; // not reported
      assertSameBits("an unreported write is not seen", be.linear(x, w).data, before);
      be.weightsChanged([w]);
      const after = be.linear(x, w).data;
      assertSameBits("after weightsChanged", after, fresh().data);
      expect(Array.from(after).some((v, i) => v !== before[i])).toBe(true);
      be.close();
    });
  }

  it("training updates are bit-identical with and without residency", async () => {
    const be = await createBackend("wasm", { threads: 2, splitMinNs: 0 });
    const cfg = preset("tiny"), m = imageTokens(cfg, 4), r = new Rng(8);
    const data: Sample[] = Array.from({ length: 3 }, (_, i) => ({
      volume: new Tensor("f32", [1, 4, 32, 32], r.fill(4 * 32 * 32, 0, 1)), ids: sequence(cfg, m, 3, 4, 0, r), task: i % 2,
    }));
    const train = (b: Backend) => {
      const t = new Trainer(b, cfg, initParams(cfg, 2), trainOptions({ batchSize: 2, seed: 1, schedule: { peak: 1e-2, warmup: 1, total: 3, floor: 1e-3 } }));
      const reports = [t.trainStep(data), t.trainStep(data), t.trainStep(data)];
      return { reports, params: t.params };
    };
    const a = train(be), b = train(copying(be));
    expect(a.reports).toEqual(b.reports);
    for (const [name, p] of b.params) assertSameBits(name, a.params.get(name)!.data, p.data);
    be.close();
  });
});
