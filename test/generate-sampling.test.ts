// The sampler (src/generate/sampling.ts) on single logits rows: greedy ties, top-k and top-p sets,
// draw frequencies against the softmax, one uniform per draw, extreme logits, and agreement of the
// two backends. Frequency tolerance: 5 standard deviations of a binomial (n = 4000 draws).
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { makeSampler, nextToken, type SamplingOptions } from "../src/generate/sampling.js";
import { Rng } from "../src/rng.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { check, data, dataSeed, dim } from "./util/prop.js";
import { assertClose } from "./util/close.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  wasm = await wasmBackend();
  ref = await referenceBackend();
});

const draw = (be: Backend, z: number[] | Float32Array, o: SamplingOptions, n: number, seed = 1): number[] => {
  const row = Float32Array.from(z), s = makeSampler(o), rng = new Rng(seed);
  return Array.from({ length: n }, () => nextToken(be, row, s, rng));
};
/** Rank of each id when ordered by logit descending, equal logits by lower id. */
const ranks = (z: Float32Array): number[] => {
  const order = Array.from(z.keys()).sort((a, b) => z[b] - z[a] || a - b);
  const r = new Array<number>(z.length);
  order.forEach((id, i) => (r[id] = i));
  return r;
};

describe("greedy", () => {
  it("takes the largest logit, equal logits by the lower id; -Infinity and one-token rows work", () => {
    for (const be of [ref, wasm]) {
      expect(draw(be, [1, 5, 5, 2], {}, 1)).toEqual([1]);
      expect(draw(be, [-Infinity, -Infinity, 0.5], {}, 1)).toEqual([2]);
      expect(draw(be, [7], { temperature: 1 }, 3)).toEqual([0, 0, 0]);
      expect(draw(be, [3e38, -3e38, 0], { temperature: 1 }, 5)).toEqual([0, 0, 0, 0, 0]); // no overflow to NaN
      expect(draw(be, [1, 2, 3], { temperature: 1e-30 }, 5)).toEqual([2, 2, 2, 2, 2]); // scaled by 1e30, shifted first
    }
  });

  it("consumes no randomness; sampling consumes exactly one uniform per token", () => {
    const row = Float32Array.from([0.1, 0.3, -0.2, 0.25]);
    const rng = new Rng(5), fresh = new Rng(5);
    nextToken(wasm, row, makeSampler({}), rng);
    expect(Array.from(rng.state())).toEqual(Array.from(fresh.state()));
    for (let i = 0; i < 3; i++) nextToken(wasm, row, makeSampler({ temperature: 0.7, topP: 0.5, topK: 2 }), rng);
    for (let i = 0; i < 3; i++) fresh.uniform();
    expect(Array.from(rng.state())).toEqual(Array.from(fresh.state()));
  });
});

describe("sampling", () => {
  it("draws every id with its softmax probability (temperature 1 and 0.5)", () => {
    const z = [2, 1, 0.5, 0, -1], n = 4000;
    for (const T of [1, 0.5]) {
      const w = z.map((x) => Math.exp(x / T)), sum = w.reduce((a, b) => a + b);
      const counts = new Array<number>(z.length).fill(0);
      for (const t of draw(wasm, z, { temperature: T }, n, 3)) counts[t]++;
      w.forEach((wi, i) => {
        const p = wi / sum, sd = Math.sqrt(n * p * (1 - p));
        assertClose(`T=${T} id ${i}: count`, counts[i], n * p, { atol: 5 * sd + 1, rtol: 0 }); // 5 binomial standard deviations
      });
    }
  });

  it("top-p keeps the smallest most likely set reaching topP, renormalised", () => {
    const z = [3, 2, 1, 0, -1]; // p = 0.636, 0.234, 0.086, 0.032, 0.012
    const set = (topP: number) => [...new Set(draw(wasm, z, { temperature: 1, topP }, 600, 4))].sort();
    expect(set(0.5)).toEqual([0]);
    expect(set(0.8)).toEqual([0, 1]);
    expect(set(0.9)).toEqual([0, 1, 2]);
    expect(set(1)).toEqual([0, 1, 2, 3, 4]);
    // within {0, 1}: p0 / (p0 + p1) = e / (e + 1)
    const n = 4000, zeros = draw(wasm, z, { temperature: 1, topP: 0.8 }, n, 5).filter((t) => t === 0).length;
    const p = Math.E / (Math.E + 1);
    assertClose("draws of token 0 within {0, 1}", zeros, n * p, { atol: 5 * Math.sqrt(n * p * (1 - p)), rtol: 0 }); // 5 binomial sd
  });

  it("top-k keeps the k largest logits, equal logits by the lower id", () => {
    expect([...new Set(draw(wasm, [0, 0, 0, 0, 0], { temperature: 1, topK: 2 }, 200))].sort()).toEqual([0, 1]);
    expect([...new Set(draw(wasm, [0, 5, 0, 5, 1], { temperature: 10, topK: 3 }, 300))].sort()).toEqual([1, 3, 4]);
  });

  it("property: a drawn id is finite-logit, within top-k, and within the top-p prefix (float64 check away from the boundary)", () => {
    const arb = fc.record({
      V: dim(40), seed: dataSeed, T: fc.double({ min: 0.05, max: 4, noNaN: true }), topP: fc.double({ min: 0.01, max: 1, noNaN: true }),
      topK: fc.option(fc.integer({ min: 1, max: 12 })), masked: fc.integer({ min: 0, max: 5 }),
    });
    check(arb, ({ V, seed, T, topP, topK, masked }) => {
      const z = data(seed, V, -4, 4);
      for (let i = 1; i <= masked && i < V; i++) z[(i * 7) % V] = -Infinity;
      const r = ranks(z);
      const o: SamplingOptions = { temperature: T, topP, topK: topK ?? undefined };
      // float64 nucleus size over the top-k candidates; ids near the topP boundary are not judged
      const K = Math.min(topK ?? V, V), order = Array.from(z.keys()).sort((a, b) => r[a] - r[b]).slice(0, K);
      const w = order.map((id) => Math.exp((z[id] - z[order[0]]) / T)), sum = w.reduce((a, b) => a + b);
      let c = 0, n = K;
      for (let i = 0; i < K; i++) {
        c += w[i] / sum;
        if (c >= topP - 1e-5) { n = i + 1; break; }
      }
      for (const t of draw(wasm, z, o, 20, seed)) {
        expect(z[t]).toBeGreaterThan(-Infinity);
        expect(r[t]).toBeLessThan(K);
        expect(r[t]).toBeLessThan(n + 1);
      }
    }, 60);
  });

  it("both backends draw the same tokens from the same logits and seed", () => {
    const z = data(9, 300, -3, 3);
    for (const o of [{ temperature: 1 }, { temperature: 0.7, topP: 0.9 }, { temperature: 1.5, topK: 40, topP: 0.95 }]) {
      expect(draw(ref, z, o, 200, 11)).toEqual(draw(wasm, z, o, 200, 11));
    }
  });

  it("rejects NaN, +Infinity and all -Infinity logits (ValueError naming the token)", () => {
    expect(() => draw(wasm, [0, NaN, 1], {}, 1)).toThrow(/logits: expected finite values .* token 1/);
    expect(() => draw(wasm, [0, Infinity], { temperature: 1 }, 1)).toThrow(/token 1/);
    expect(() => draw(wasm, [-Infinity, -Infinity], { temperature: 1 }, 1)).toThrow(/every candidate is -Infinity/);
  });
});
