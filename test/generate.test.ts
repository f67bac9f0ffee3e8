// Generation (src/generate.ts) on the wasm backend: greedy = argmax of the full forward on its own
// output, determinism per seed, the limits of temperature / top-p / top-k, <eos>, the token budget,
// cancellation, callbacks, option errors. All comparisons are exact (token ids and bits).
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { AbortError, ValueError } from "../src/errors.js";
import { generate, type GenerateOptions, type GenerateProgress } from "../src/generate.js";
import { promptSequence } from "../src/generate/prefix.js";
import { forward } from "../src/model/model.js";
import { imageTokens } from "../src/model/projector.js";
import { fromInts, Tensor } from "../src/tensor.js";
import { wasmBackend } from "./util/backends.js";
import { assertSameBits } from "./util/close.js";
import { tinyConfig, tinyModel, tinyVolume, type TinyModel } from "./util/generate.js";

let be: Backend, model: TinyModel;
beforeAll(async () => {
  be = await wasmBackend();
  model = tinyModel(be);
});
const volume = tinyVolume(1);
const prompt = "Is there a nodule in the left lung?";
const run = (o: Partial<GenerateOptions> = {}, mdl = model) => generate(mdl, { volume, prompt, maxNewTokens: 12, ...o });

describe("greedy", () => {
  it("is deterministic and each token is the argmax (ties to the lower id) of the full forward on the sequence so far", async () => {
    const a = await run(), b = await run();
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens.length).toBe(12);
    expect(new Set(a.tokens).size).toBeGreaterThan(3); // std 0.3 weights: not one repeated token
    const { cfg, params, tokenizer } = model;
    const prefix = promptSequence(cfg, imageTokens(cfg, 4), tokenizer.encode(prompt));
    const ids = [...prefix, ...a.tokens];
    const out = forward(be, params, cfg, { volume, ids: fromInts([1, ids.length], ids) });
    const V = cfg.lm.vocab;
    a.tokens.forEach((t, i) => {
      const row = out.logits.data.subarray((prefix.length - 1 + i) * V, (prefix.length + i) * V);
      const best = row.indexOf(Math.max(...row));
      expect(t, `token ${i}`).toBe(best);
    });
    expect(a.text).toBe(tokenizer.decode(a.tokens, { skipSpecials: true }));
  });

  it("temperature 0, temperature 1e-6, top-p 1e-9 and top-k 1 all give the greedy tokens", async () => {
    const greedy = (await run()).tokens;
    expect((await run({ temperature: 0, seed: 9 })).tokens).toEqual(greedy);
    expect((await run({ temperature: 1e-6, seed: 9 })).tokens).toEqual(greedy);
    expect((await run({ temperature: 1, topP: 1e-9, seed: 9 })).tokens).toEqual(greedy);
    expect((await run({ temperature: 2, topK: 1, seed: 9 })).tokens).toEqual(greedy);
    expect((await run({ temperature: 1e-300 })).tokens).toEqual(greedy); // 1/T overflows float32: greedy
  });
});

describe("sampling", () => {
  it("is deterministic per seed; different seeds give different answers", async () => {
    const o = { temperature: 1, topP: 0.95 };
    const a = await run({ ...o, seed: 1 }), b = await run({ ...o, seed: 1 });
    expect(a.tokens).toEqual(b.tokens);
    const others = await Promise.all([2, 3, 4].map((seed) => run({ ...o, seed })));
    for (const x of others) expect(x.tokens).not.toEqual(a.tokens);
    expect(a.tokens).not.toEqual((await run()).tokens); // and differs from greedy
  });

  it("the vision trace and task do not depend on the decoding options (same bits)", async () => {
    const a = await run(), b = await run({ temperature: 1.3, seed: 7 });
    expect(b.routing.length).toBe(model.cfg.vision.moeLayers.length);
    b.routing.forEach((t, i) => {
      assertSameBits(`pi ${t.layer}`, t.pi.data, a.routing[i].pi.data);
      assertSameBits(`topk_idx ${t.layer}`, t.topkIdx.data, a.routing[i].topkIdx.data);
      assertSameBits(`topk_w ${t.layer}`, t.topkW.data, a.routing[i].topkW.data);
    });
    expect(b.task).toEqual(a.task);
  });
});

describe("stopping", () => {
  it("stops at <eos> (not included): the eos row swapped with the greedy token of a later step", async () => {
    const first = await run();
    const { cfg, params, tokenizer } = model;
    const prefix = promptSequence(cfg, imageTokens(cfg, 4), tokenizer.encode(prompt));
    // the first step k >= 2 whose token appears nowhere before it (fixture check: there is one)
    const k = first.tokens.findIndex((t, i) => i >= 2 && !prefix.includes(t) && !first.tokens.slice(0, i).includes(t));
    expect(k).toBeGreaterThanOrEqual(2);
    const tk = first.tokens[k];
    // swapping the embedding rows of tk and <eos> (tied head) swaps exactly their logits up to step k
    const E = params.get("lm.embed.weight")!, d = cfg.lm.width, eos = cfg.tokens.eos;
    const E2 = E.clone();
    E2.data.set(E.data.subarray(eos * d, (eos + 1) * d), tk * d);
    E2.data.set(E.data.subarray(tk * d, (tk + 1) * d), eos * d);
    const out = await run({}, { ...model, params: new Map(params).set("lm.embed.weight", E2) });
    expect(out.stopReason).toBe("eos");
    expect(out.tokens).toEqual(first.tokens.slice(0, k));
  });

  it("maxNewTokens bounds the answer; 0 gives none and skips the prefill", async () => {
    for (const n of [1, 5]) {
      const out = await run({ maxNewTokens: n });
      expect(out.tokens.length).toBe(n);
      expect(out.stopReason).toBe("max_tokens");
    }
    const stages: string[] = [];
    const none = await run({ maxNewTokens: 0, onProgress: (e) => stages.push(e.stage) });
    expect(none.tokens).toEqual([]);
    expect(none.text).toBe("");
    expect(stages).toEqual(["encode", "encode"]);
    expect(none.task?.probabilities.length).toBe(model.cfg.moe.tasks);
  });
});

describe("cancellation and callbacks", () => {
  it("an aborted signal throws AbortError before any work", async () => {
    const ac = new AbortController();
    ac.abort("user left");
    const seen: GenerateProgress[] = [];
    const err = await run({ signal: ac.signal, onProgress: (e) => seen.push(e) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).name).toBe("AbortError");
    expect((err as AbortError).reason).toBe("user left");
    expect(seen).toEqual([]);
  });

  it("aborting from onToken stops at the next token boundary; the next run is unaffected", async () => {
    const full = await run();
    const ac = new AbortController();
    const steps: number[] = [];
    const err = await run({ signal: ac.signal, onToken: (e) => { steps.push(e.step); if (e.step === 2) ac.abort(); } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as Error).message).toMatch(/before token 3/);
    expect(steps).toEqual([0, 1, 2]);
    expect((await run()).tokens).toEqual(full.tokens);
  });

  it("an abort from another task (setImmediate / setTimeout) is seen between tokens", async () => {
    const ac = new AbortController();
    const steps: number[] = [];
    const err = await run({ signal: ac.signal, onToken: (e) => { steps.push(e.step); if (e.step === 1) setImmediate(() => ac.abort()); } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(steps).toEqual([0, 1]);
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 5);
    const slow = await run({ signal: ac2.signal, maxNewTokens: 100000 }).catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(AbortError);
  });

  it("onToken gives the text so far; onProgress walks encode, prefill, decode", async () => {
    const texts: string[] = [], progress: GenerateProgress[] = [];
    const out = await run({ maxNewTokens: 4, onToken: (e) => texts.push(e.text), onProgress: (e) => progress.push(e) });
    expect(texts.at(-1)).toBe(out.text);
    texts.forEach((t, i) => expect(t).toBe(model.tokenizer.decode(out.tokens.slice(0, i + 1), { skipSpecials: true })));
    const P = promptSequence(model.cfg, 8, model.tokenizer.encode(prompt)).length;
    const t = out.timings;
    // the last event of encode and prefill carries the stage's time: exactly the timings (what the CLI prints)
    expect(progress).toEqual([
      { stage: "encode", done: 0, total: 1 }, { stage: "encode", done: 1, total: 1, ms: t.encode },
      { stage: "prefill", done: 0, total: P }, { stage: "prefill", done: P, total: P, ms: t.prefill },
      ...[1, 2, 3, 4].map((done) => ({ stage: "decode", done, total: 4 })),
    ]);
    for (const v of [t.encode, t.prefill, t.decode]) expect(v).toBeGreaterThanOrEqual(0);
    expect(t.total).toBeGreaterThanOrEqual(t.encode + t.prefill + t.decode - 1e-6);
  });
});

describe("task", () => {
  it("reports argmax pi of the first MoE layer, or the task given (which then routes)", async () => {
    const auto = await run({ maxNewTokens: 1 });
    const pi = auto.task!.probabilities;
    expect(auto.task!.index).toBe(pi[1] > pi[0] ? 1 : 0);
    expect(auto.task!.name).toBe(["report", "vqa"][auto.task!.index]);
    const other = auto.task!.index === 0 ? "vqa" : "report";
    const forced = await run({ maxNewTokens: 1, task: other });
    expect(forced.task!.name).toBe(other);
    expect(forced.task!.probabilities).toEqual(pi);
    for (const t of forced.routing) expect(t.group.data[0]).toBe(forced.task!.index);
  });

  it("is null for a dense model (no MoE layers)", async () => {
    const dense = tinyModel(be, 5, tinyConfig({ vision: { moeLayers: [] } }));
    const out = await run({ maxNewTokens: 2, task: "vqa" }, dense);
    expect(out.task).toBeNull();
    expect(out.routing).toEqual([]);
  });
});

describe("option errors (typed, naming the option)", () => {
  const cases: [string, Partial<GenerateOptions>, RegExp][] = [
    ["temperature < 0", { temperature: -1 }, /temperature/],
    ["temperature NaN", { temperature: NaN }, /temperature/],
    ["topP 0", { topP: 0 }, /topP/],
    ["topP > 1", { topP: 1.5 }, /topP/],
    ["topK 0", { topK: 0 }, /topK/],
    ["topK 1.5", { topK: 1.5 }, /topK/],
    ["maxNewTokens -1", { maxNewTokens: -1 }, /maxNewTokens/],
    ["seed 2^32", { seed: 2 ** 32 }, /seed/],
    ["task name", { task: "segmentation" }, /task/],
    ["task index", { task: 2 }, /task/],
    ["batch of 2", { volume: new Tensor("f32", [2, 1, 4, 32, 32]) }, /one volume/],
    ["depth 3", { volume: new Tensor("f32", [1, 1, 3, 32, 32]) }, /volume/],
  ];
  for (const [name, o, re] of cases) {
    it(name, async () => {
      const err = await run(o).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(re);
      expect(["ValueError", "ShapeError"]).toContain((err as Error).name);
    });
  }
  it("a prompt that is not a string", async () => {
    await expect(run({ prompt: 3 as unknown as string })).rejects.toThrow(ValueError);
  });
});
