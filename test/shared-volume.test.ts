/**
 * Sequences that share a volume (ForwardInput.volumeOf, Trainer perVolume): each distinct volume is
 * encoded once. The logits are bit for bit those of the volumes repeated; the gradients equal theirs
 * up to the order of the sums over a volume's sequences; the sampler draws perVolume samples of one
 * volume; models whose encoder reads the text refuse it.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/backend.js";
import { preset, withConfig } from "../src/model/config.js";
import { forward, type ForwardInput } from "../src/model/model.js";
import { initParams } from "../src/model/params.js";
import { Rng } from "../src/rng.js";
import { Tensor, type F32Tensor } from "../src/tensor.js";
import { Grads } from "../src/train/grads.js";
import { trainableBy } from "../src/train/freeze.js";
import { lossAndGrads } from "../src/train/model-backward.js";
import { Trainer, collateShared, trainOptions, type Sample } from "../src/train/trainer.js";
import { wasmBackend } from "./util/backends.js";
import { assertClose, assertSameBits } from "./util/close.js";
import { batch, sequence } from "./util/model.js";
import { imageTokens } from "../src/model/projector.js";

let wasm: Backend;
beforeAll(async () => {
  wasm = await wasmBackend();
});

const dense = withConfig(preset("tiny"), { vision: { moeLayers: [] } });
const D = 4;

/** U distinct volumes and B sequences reading volumeOf; also the same with the volumes repeated per sequence. */
function inputs(U: number, volumeOf: number[], seed: number): { shared: ForwardInput; repeated: ForwardInput } {
  const vols = batch(dense, U, D, seed).volume, seqs = batch(dense, volumeOf.length, D, seed + 1).ids;
  const n = vols.size / U, rep = new Tensor("f32", [volumeOf.length, ...vols.shape.slice(1)]);
  volumeOf.forEach((u, b) => rep.data.set(vols.data.subarray(u * n, (u + 1) * n), b * n));
  return { shared: { volume: vols, ids: seqs, volumeOf: Int32Array.from(volumeOf) }, repeated: { volume: rep, ids: seqs } };
}

describe("forward with volumeOf", () => {
  it("gives the logits of the volumes repeated, bit for bit", () => {
    const params = initParams(dense, 3);
    for (const [U, of] of [[1, [0, 0, 0]], [2, [1, 0, 1, 1, 0]], [3, [2, 0, 1]]] as [number, number[]][]) {
      const { shared, repeated } = inputs(U, of, 11 + U);
      const a = forward(wasm, params, dense, shared), b = forward(wasm, params, dense, repeated);
      expect(a.logits.shape).toEqual(b.logits.shape);
      assertSameBits(`logits U=${U}`, a.logits.data, b.logits.data);
      expect(a.losses.ce).toBe(b.losses.ce);
    }
  });

  it("gradients equal those of the volumes repeated (sums over a volume's sequences reordered)", () => {
    const params = initParams(dense, 4);
    const { shared, repeated } = inputs(2, [1, 0, 1, 1], 21);
    const g = (input: ForwardInput) => {
      const grads = new Grads(params, trainableBy({}));
      lossAndGrads(wasm, params, dense, input, grads);
      return grads;
    };
    const a = g(shared), b = g(repeated);
    let checked = 0;
    for (const name of params.keys()) {
      const x = a.get(name), y = b.get(name);
      expect(x === null, name).toBe(y === null);
      if (!x || !y) continue;
      // float32 sums of 2-3 terms in another order: relative error a few ulps of the largest term
      let big = 0;
      for (const v of y.data) big = Math.max(big, Math.abs(v));
      assertClose(`grad ${name}`, x, y, { atol: 1e-5 * big + 1e-9, rtol: 1e-4 });
      checked++;
    }
    expect(checked).toBe(params.size);
  });

  it("refuses a model with MoE layers, a wrong length and an index out of range, naming them", () => {
    const moe = preset("tiny"), params = initParams(moe, 1);
    const { shared } = inputs(2, [0, 1], 5);
    expect(() => forward(wasm, params, moe, shared)).toThrow(/volumeOf: expected a model without MoE layers.*got moe_layers \[2, 3\]/);
    const p = initParams(dense, 1);
    expect(() => forward(wasm, p, dense, { ...shared, volumeOf: Int32Array.from([0, 1, 1]) })).toThrow(/ids: expected \[B=3 \(volumeOf's length\), L\], got \[2, /);
    expect(() => forward(wasm, p, dense, { ...shared, volumeOf: Int32Array.from([0, 2]) })).toThrow(/volumeOf\[1\]: expected a volume row in \[0, 2\), got 2/);
  });
});

/** n samples over `volumes` distinct volume tensors (the sample i reads volume i % volumes). */
function samples(n: number, volumes: number, seed: number): Sample[] {
  const rng = new Rng(seed), H = dense.vision.image, m = imageTokens(dense, D);
  const vols: F32Tensor[] = Array.from({ length: volumes }, () => new Tensor("f32", [1, D, H, H], rng.fill(D * H * H, 0, 1)));
  return Array.from({ length: n }, (_, i) => ({ volume: vols[i % volumes], ids: sequence(dense, m, 3, 4, m + 13, rng).filter((t) => t !== dense.tokens.pad), task: 0 }));
}

describe("Trainer perVolume", () => {
  it("draws each micro-batch perVolume samples at a time from one volume and encodes each volume once", () => {
    const data = samples(24, 6, 2);
    const t = new Trainer(wasm, dense, initParams(dense, 2), trainOptions({ seed: 9, batchSize: 6, perVolume: 3, schedule: { peak: 1e-3, warmup: 1, total: 4, floor: 1e-4 } }));
    const seen: Sample[][] = [];
    const update = t.update.bind(t);
    t.update = (mbs) => { seen.push(...mbs.map((mb) => [...mb])); return update(mbs); };
    for (let i = 0; i < 3; i++) t.trainStep(data);
    expect(seen.length).toBe(3);
    for (const mb of seen) {
      expect(mb.length).toBe(6);
      for (let j = 0; j < 6; j += 3) expect(new Set(mb.slice(j, j + 3).map((s) => s.volume)).size).toBe(1);
      const c = collateShared(mb, dense.tokens.pad);
      const distinct = new Set(mb.map((s) => s.volume)).size;
      expect(c.volume.dim(0)).toBe(distinct);
      mb.forEach((s, b) => expect(c.volume.data.subarray(c.volumeOf[b] * s.volume.size, (c.volumeOf[b] + 1) * s.volume.size)).toEqual(s.volume.data));
    }
  });

  it("trains the same bits run to run, and refuses a perVolume that does not divide the batch", () => {
    const data = samples(16, 4, 3);
    const run = () => {
      const t = new Trainer(wasm, dense, initParams(dense, 5), trainOptions({ seed: 1, batchSize: 4, perVolume: 2, schedule: { peak: 1e-3, warmup: 1, total: 3, floor: 1e-4 } }));
      for (let i = 0; i < 3; i++) t.trainStep(data);
      return t.params;
    };
    const a = run(), b = run();
    for (const [name, w] of a) assertSameBits(name, w.data, b.get(name)!.data);
    expect(() => new Trainer(wasm, dense, initParams(dense, 5), trainOptions({ batchSize: 4, perVolume: 3, schedule: { peak: 1e-3, warmup: 1, total: 3, floor: 1e-4 } }))).toThrow(/perVolume: expected an integer >= 1 dividing batchSize=4, got 3/);
  });
});
