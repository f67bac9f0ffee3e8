/**
 * Threads: the wasm backend with 2, 3 and 8 threads gives the bits of 1 thread, kernel by kernel
 * (odd shapes, every path of matmul and attention) and for whole runs: the forward pass, generate
 * (greedy and sampled), training updates, and the golden-file verify. The split threshold is 0
 * here (splitMinNs) so that even these small shapes are split over every thread.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBackend, type Backend } from "../src/backend/index.js";
import { WasmModule, type ThreadPool } from "../src/backend/wasm/runtime.js";
import { ValueError } from "../src/errors.js";
import { generate } from "../src/generate.js";
import { formatReport, verifyGolden } from "../src/golden.js";
import { preset } from "../src/model/config.js";
import { forward } from "../src/model/model.js";
import { initParams } from "../src/model/params.js";
import { imageTokens } from "../src/model/projector.js";
import { Rng } from "../src/rng.js";
import { Tensor, type F32Tensor } from "../src/tensor.js";
import { Trainer, trainOptions, type Sample } from "../src/train/trainer.js";
import { assertSameBits } from "./util/close.js";
import { tinyModel, tinyVolume } from "./util/generate.js";
import { batch, randomParams, sequence } from "./util/model.js";

const COUNTS = [2, 3, 8];
let one: Backend;
const many = new Map<number, Backend>();
beforeAll(async () => {
  one = await createBackend("wasm", { threads: 1 });
  for (const t of COUNTS) many.set(t, await createBackend("wasm", { threads: t, splitMinNs: 0 }));
}, 60_000);
afterAll(() => {
  for (const be of many.values()) be.close();
});

const rng = new Rng(9);
const rand = (shape: number[], lo = -1, hi = 1): F32Tensor => new Tensor("f32", shape, rng.fill(shape.reduce((a, b) => a * b, 1), lo, hi));

/** op on 1 thread, then on each thread count: every output array bit-identical. */
function sameOnAll(what: string, op: (be: Backend) => Float32Array | Int32Array | (Float32Array | Int32Array)[]): void {
  const base = [op(one)].flat();
  for (const [t, be] of many) {
    const got = [op(be)].flat();
    expect(got.length).toBe(base.length);
    got.forEach((g, i) => assertSameBits(`${what} [${t} threads, output ${i}]`, g, base[i]));
  }
}

describe("createBackend threads", () => {
  it("reports its thread count and rejects a bad one with a typed error naming threads", async () => {
    expect(one.threads).toBe(1);
    for (const [t, be] of many) expect(be.threads).toBe(t);
    for (const bad of [0, -1, 1.5, 257, Number.NaN]) {
      await expect(createBackend("wasm", { threads: bad })).rejects.toThrow(ValueError);
      await expect(createBackend("wasm", { threads: bad })).rejects.toThrow(/threads: expected an integer from 1 to 256, got/);
    }
  });
});

describe("WasmModule.split", () => {
  /** A module with a stand-in pool that records the pieces (and runs `meanwhile` as the pool does). */
  function fakeModule(threads: number | null) {
    const rec = { pieces: [] as number[][], meanwhile: 0 };
    const pool: ThreadPool = {
      threads: threads ?? 1, piecesPerThread: 3, maxPiecesPerThread: 16, kernel: () => 0,
      run: (calls, meanwhile) => {
        meanwhile?.();
        rec.pieces = calls.map((c) => [...c.args]);
      },
    };
    const m = Object.create(WasmModule.prototype) as WasmModule<{ f(lo: number, hi: number): void }>;
    Object.assign(m, { name: "fake", pool: threads === null ? null : pool, splitMinNs: 0, k: { f: (lo: number, hi: number) => rec.pieces.push([lo, hi]) } });
    return { m, rec };
  }

  it("guided: covers [0, total) once, in pieces of non-increasing size down to one grain, within the job slots", () => {
    for (const [total, threads, grain] of [[384, 2, 1], [384, 3, 1], [384, 8, 1], [12, 2, 1], [1000, 2, 3], [2, 2, 1], [5000, 2, 1]]) {
      const { m, rec } = fakeModule(threads);
      m.split("f", { total, grain, work: 1e9, perThread: 16, guided: true }, (lo, hi) => [lo, hi]);
      const p = rec.pieces;
      expect(p.length).toBeGreaterThan(1);
      expect(p.length).toBeLessThanOrEqual(threads * 16);
      expect(p[0][0]).toBe(0);
      expect(p[p.length - 1][1]).toBe(total);
      for (let i = 0; i < p.length; i++) {
        expect(p[i][1]).toBeGreaterThan(p[i][0]);
        if (i > 0) expect(p[i][0]).toBe(p[i - 1][1]);
        if (p[i][1] < total) expect(p[i][1] % grain).toBe(0);
        if (i > 0 && p[i][1] < total) expect(p[i][1] - p[i][0]).toBeLessThanOrEqual(p[i - 1][1] - p[i - 1][0]);
      }
      if (total / grain >= 4 * threads && p.length < threads * 16) expect(p[p.length - 2][1] - p[p.length - 2][0]).toBe(grain);
    }
    // 12 heads x 2048 tokens on 2 threads: the sizes the attention adapter's comment gives
    const { m, rec } = fakeModule(2);
    m.split("f", { total: 384, work: 1e9, perThread: 16, guided: true }, (lo, hi) => [lo, hi]);
    expect(rec.pieces.map(([lo, hi]) => hi - lo).slice(0, 3)).toEqual([96, 72, 54]);
    expect(rec.pieces.length).toBe(22);
  });

  it("guided with more pieces than job slots: equal pieces; `meanwhile` runs once on a split call, never on an unsplit one", () => {
    const big = fakeModule(2);
    let ran = 0;
    big.m.split("f", { total: 1 << 30, work: 1e9, perThread: 16, guided: true }, (lo, hi) => [lo, hi], () => ran++);
    expect(big.rec.pieces.length).toBe(32);
    expect(ran).toBe(1);
    for (const threads of [null, 2]) { // no pool; a pool, but less work than splitMinNs
      const { m, rec } = fakeModule(threads);
      m.splitMinNs = 1;
      let n = 0;
      m.split("f", { total: 10, work: threads === null ? 1e9 : 0, guided: true }, (lo, hi) => [lo, hi], () => n++);
      expect(n).toBe(0);
      expect(rec.pieces).toEqual([[0, 10]]);
    }
  });
});

describe("kernels: same bits on 1, 2, 3 and 8 threads", () => {
  it("matmul: row and column splits, every path (m = 1, 2, 5, > 128), k past the 512 block, batches, transposes, accumulate", () => {
    const cases: [number, number, number, number][] = [ // batch, m, k, n
      [1, 1, 64, 1000], [1, 2, 33, 515], [1, 5, 17, 100], [1, 300, 70, 129], [1, 513, 600, 77], [1, 130, 1, 40], [3, 7, 19, 65], [2, 200, 530, 31],
    ];
    for (const [B, m, k, n] of cases) {
      for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]]) {
        const a = rand(B > 1 ? [B, transA ? k : m, transA ? m : k] : [transA ? k : m, transA ? m : k]);
        const bb = rand(transB ? [n, k] : [k, n]); // shared by the batch (a weight)
        const bBatched = rand(B > 1 ? [B, transB ? n : k, transB ? k : n] : transB ? [n, k] : [k, n]);
        const acc = rand(B > 1 ? [B, m, n] : [m, n]);
        sameOnAll(`matmul ${B}x${m}x${k}x${n} tA=${transA} tB=${transB}`, (be) => [
          be.matmul(a, bb, { transA, transB }).data,
          be.matmul(a, bBatched, { transA, transB }).data,
          be.matmul(a, bb, { transA, transB, accumulate: new Tensor("f32", acc.shape, acc.data.slice()) }).data,
        ]);
      }
    }
  });

  it("attention: heads x query blocks (decode, GQA, causal, masks, odd sizes)", () => {
    const cases = [ // B, nq, nk, heads, kvHeads, dh
      [1, 1, 37, 4, 2, 16], [2, 130, 130, 4, 2, 16], [1, 65, 200, 3, 1, 6], [3, 5, 9, 2, 2, 5], [1, 200, 70, 6, 3, 8],
    ];
    for (const [B, nq, nk, heads, kvHeads, dh] of cases) {
      const q = rand([B, nq, heads * dh]), k = rand([B, nk, kvHeads * dh]), v = rand([B, nk, kvHeads * dh]);
      const mask = rand([B, nq, nk], -2, 0);
      for (let r = 0; r < mask.size; r += 7) mask.data[r] = -Infinity;
      sameOnAll(`attention ${[B, nq, nk, heads, kvHeads, dh]}`, (be) => [
        be.attention(q, k, v, { heads, kvHeads }).data,
        be.attention(q, k, v, { heads, kvHeads, causal: nk >= nq }).data,
        be.attention(q, k, v, { heads, kvHeads, mask }).data,
      ]);
      const out = one.attention(q, k, v, { heads, kvHeads, mask }), dout = rand([...out.shape]);
      sameOnAll(`attention backward ${[B, nq, nk, heads, kvHeads, dh]}`, (be) => {
        const dq = new Float32Array(q.size), dk = new Float32Array(k.size), dv = new Float32Array(v.size);
        be.kernels.attentionBackward(dq, dk, dv, dout.data, q.data, k.data, v.data, out.data, {
          batch: B, nq, nk, heads, kvHeads, dh, scale: 1 / Math.sqrt(dh), causal: false, mask: mask.data, maskBatch: B,
        });
        return [dq, dk, dv];
      });
    }
  });

  it("patch embedding over depth steps (one channel replicated, and c_in channels)", () => {
    const cases: number[][] = [[2, 1, 3, 6, 16, 20, 4, 2], [1, 3, 3, 5, 12, 9, 3, 1], [3, 1, 1, 4, 8, 8, 2, 1]];
    for (const [B, cv, cin, D, H, C, p, t] of cases) {
      const vol = rand([B, cv, D, H, H]), w = rand([C, cin, t, p, p]);
      sameOnAll(`patchEmbed ${[B, cv, cin, D, H, C, p, t]}`, (be) => be.patchEmbed(vol, w).data);
    }
  });

  it("rows, elementwise, rope and their backward kernels over row and element ranges", () => {
    for (const [rows, cols] of [[1, 5], [37, 50], [130, 17], [64, 64]]) {
      const x = rand([rows, cols], -4, 4), y = rand([rows, cols]), g = rand([cols], 0.5, 1.5), bias = rand([cols]);
      const mask = rand([rows % 4 === 0 ? 4 : 1, cols], -3, 0);
      const sm = one.softmax(x);
      sameOnAll(`rows ${rows}x${cols}`, (be) => [
        be.softmax(x).data, be.softmax(x, { mask }).data, be.softmax(x.reshape([1, rows, cols]), { causal: rows <= cols }).data,
        be.layerNorm(x, g, bias).data, be.rmsNorm(x, g).data, be.sum(x).data, be.mean(x).data, be.max(x).data,
        be.add(x, y).data, be.mul(x, y).data, be.scale(x, 0.3).data, be.addBias(x, bias).data, be.swiglu(x, y).data,
        be.act("gelu_tanh", x).data, be.act("quick_gelu", x).data, be.act("silu", x).data, be.topk(x, Math.min(3, cols)).indices.data,
      ]);
      sameOnAll(`backward ${rows}x${cols}`, (be) => {
        const n = rows * cols, o = () => new Float32Array(n);
        const r = [o(), o(), o(), o(), o(), o()];
        be.kernels.softmaxBackward(r[0], sm.data, y.data, rows, cols);
        be.kernels.geluTanhBackward(r[1], x.data, y.data, n);
        be.kernels.quickGeluBackward(r[2], x.data, y.data, n);
        be.kernels.siluBackward(r[3], x.data, y.data, n);
        be.kernels.swigluBackward(r[4], r[5], x.data, y.data, y.data, n);
        return r;
      });
    }
    const x = rand([2, 33, 3 * 8]), pos = new Tensor("i32", [33, 3], Int32Array.from({ length: 99 }, (_, i) => (i * 7) % 11));
    sameOnAll("rope", (be) => be.rope(x, pos, { heads: 3, sections: [2, 1, 1] }).data);
  });
});

describe("whole runs: same bits on 1, 2, 3 and 8 threads", () => {
  it("the forward pass of the tiny preset: logits, routing, losses and every act.*", () => {
    const cfg = preset("tiny"), params = randomParams(cfg, 3);
    const input = { ...batch(cfg, 2, 4, 11), task: [0, 1] };
    const run = (be: Backend) => forward(be, params, cfg, input, { acts: true, alpha: 0.01, beta: 0.1 });
    const base = run(one);
    for (const [t, be] of many) {
      const out = run(be);
      assertSameBits(`forward logits [${t} threads]`, out.logits.data, base.logits.data);
      expect(out.losses, `losses [${t} threads]`).toEqual(base.losses);
      out.trace.forEach((tr, i) => assertSameBits(`trace ${i} topkW [${t}]`, tr.topkW.data, base.trace[i].topkW.data));
      for (const [name, a] of base.acts!) assertSameBits(`${name} [${t} threads]`, out.acts!.get(name)!.data as Float32Array, a.data as Float32Array);
    }
  });

  it("generate: greedy and sampled tokens and routing", async () => {
    const volume = tinyVolume(4);
    for (const o of [{ temperature: 0 }, { temperature: 0.9, topK: 40, seed: 5 }]) {
      const run = (be: Backend) => generate(tinyModel(be), { volume, prompt: "Describe the findings.", maxNewTokens: 10, ...o });
      const base = await run(one);
      for (const [t, be] of many) {
        const r = await run(be);
        expect(r.tokens, `tokens [${t} threads] ${JSON.stringify(o)}`).toEqual(base.tokens);
        r.routing.forEach((tr, i) => assertSameBits(`routing ${i} pi [${t}]`, tr.pi.data, base.routing[i].pi.data));
      }
    }
  });

  it("training: three updates (2 micro-batches of 2) leave the same weights and reports", () => {
    const cfg = preset("tiny"), m = imageTokens(cfg, 4), r = new Rng(2);
    const data: Sample[] = Array.from({ length: 4 }, (_, i) => ({
      volume: new Tensor("f32", [1, 4, 32, 32], r.fill(4 * 32 * 32, 0, 1)), ids: sequence(cfg, m, 3, 4, 0, r), task: i % 2,
    }));
    const train = (be: Backend) => {
      const t = new Trainer(be, cfg, initParams(cfg, 1), trainOptions({ batchSize: 2, accum: 2, seed: 4, schedule: { peak: 1e-2, warmup: 1, total: 3, floor: 1e-3 } }));
      const reports = [t.trainStep(data), t.trainStep(data), t.trainStep(data)];
      return { reports, params: t.params };
    };
    const base = train(one);
    for (const [t, be] of many) {
      const got = train(be);
      expect(got.reports, `reports [${t} threads]`).toEqual(base.reports);
      for (const [name, p] of base.params) assertSameBits(`${name} [${t} threads]`, got.params.get(name)!.data as Float32Array, p.data as Float32Array);
    }
  });

  it("the committed golden file verifies on every thread count", async () => {
    const bytes = new Uint8Array(await readFile(new URL("./golden/tiny-seed0.safetensors", import.meta.url)));
    for (const be of [one, ...many.values()]) {
      const r = await verifyGolden(bytes, { backend: be });
      expect(r.pass, formatReport(r).join("\n")).toBe(true);
    }
  });
});
