// The public model object (src/api.ts): makeCheckpoint -> loadModel round trip from every kind of
// source, generation identical to the in-memory model, training checkpoints, half-precision files,
// every malformed checkpoint as one FormatError (never a partial model), NIfTI inputs, encode.
// Comparisons are exact (bits, token ids) except F16 storage (relative 2^-11, its rounding).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOADABLE_FORMATS, loadModel, makeCheckpoint, parseModel } from "../src/api.js";
import type { Backend } from "../src/backend/index.js";
import { FormatError, ValueError } from "../src/errors.js";
import { generate } from "../src/generate.js";
import { promptBatch } from "../src/generate/prefix.js";
import { readNifti } from "../src/io/nifti.js";
import { writeNifti } from "../src/io/nifti-write.js";
import { readSafetensors, writeSafetensors } from "../src/io/safetensors.js";
import { specialsAtEnd, toSpecJson, withConfig } from "../src/model/config.js";
import { forward } from "../src/model/model.js";
import { preprocess, preprocessPreset } from "../src/preprocess/index.js";
import { Rng } from "../src/rng.js";
import { Tensor, type Tensor as AnyTensor } from "../src/tensor.js";
import { CHECKPOINT_FORMAT, checkpointBytes } from "../src/train/checkpoint.js";
import type { TrainOptions } from "../src/train/trainer.js";
import { wasmBackend } from "./util/backends.js";
import { assertSameBits, assertClose } from "./util/close.js";
import { DEFAULT_PATTERN } from "../src/tokenizer/pretokenize.js";
import { tinyConfig, tinyModel, tinyTokenizer, tinyVolume, type TinyModel } from "./util/generate.js";

let be: Backend, model: TinyModel, bytes: Uint8Array, dir: string;
beforeAll(async () => {
  be = await wasmBackend();
  model = tinyModel(be, 21);
  bytes = makeCheckpoint({ ...model, preprocess: preprocessPreset("tiny") });
  dir = mkdtempSync(join(tmpdir(), "tgh-api-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const volume = tinyVolume(2);
const prompt = "Describe the findings.";

describe("makeCheckpoint -> loadModel", () => {
  it("round-trips config, weights and tokenizer, and generates identically (greedy and sampled)", async () => {
    expect(Buffer.compare(makeCheckpoint({ ...model, preprocess: preprocessPreset("tiny") }), bytes)).toBe(0); // deterministic bytes
    const m = await loadModel(bytes, { backend: be });
    expect(toSpecJson(m.cfg)).toEqual(toSpecJson(model.cfg));
    expect([...m.params.keys()].sort()).toEqual([...model.params.keys()].sort());
    for (const [name, t] of model.params) assertSameBits(name, m.params.get(name)!.data, t.data);
    expect(m.tokenizer.serialize()).toBe(model.tokenizer.serialize());
    expect(m.preprocess).toEqual(preprocessPreset("tiny"));
    for (const o of [{}, { temperature: 0.9, topP: 0.9, seed: 3 }]) {
      const a = await m.generate({ volume, prompt, maxNewTokens: 10, ...o });
      const b = await generate(model, { volume, prompt, maxNewTokens: 10, ...o });
      expect(a.tokens).toEqual(b.tokens);
      expect(a.text).toBe(b.text);
      expect(a.task).toEqual(b.task);
    }
  });

  it("loads from an ArrayBuffer, a path, a file: URL and an http URL", async () => {
    const path = join(dir, "model.safetensors");
    writeFileSync(path, bytes);
    const server = createServer((req, res) => {
      if (req.url === "/model.safetensors") res.end(Buffer.from(bytes));
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const want = (await generate(model, { volume, prompt, maxNewTokens: 4 })).tokens;
      const sources = [bytes.slice().buffer, path, pathToFileURL(path), new URL("/model.safetensors", base)];
      for (const src of sources) {
        const m = await loadModel(src, { backend: be });
        expect((await m.generate({ volume, prompt, maxNewTokens: 4 })).tokens, String(src)).toEqual(want);
      }
      await expect(loadModel(new URL("/missing", base), { backend: be })).rejects.toThrow(/HTTP 404/);
      await expect(loadModel(join(dir, "missing.safetensors"), { backend: be })).rejects.toThrow(/ENOENT/);
    } finally {
      server.close();
    }
  });

  it("stores weights as F16 on request (half the bytes, values rounded to 11 significant bits)", async () => {
    const half = makeCheckpoint({ ...model, dtype: "F16" });
    expect(half.length).toBeLessThan(0.6 * bytes.length);
    const m = await loadModel(half, { backend: be });
    for (const [name, t] of model.params) {
      // F16 keeps 11 significant bits (relative rounding 2^-11); below 2^-14 it is subnormal, steps of 6e-8
      assertClose(`F16 ${name}`, m.params.get(name)!, t, { atol: 6e-8, rtol: 2 ** -11 });
    }
  });

  it("loads a training checkpoint (src/train/checkpoint.ts) and ignores its optim.* tensors", async () => {
    expect(LOADABLE_FORMATS).toContain(CHECKPOINT_FORMAT);
    const name = "lm.norm.weight", p = model.params.get(name)!;
    const train = checkpointBytes({
      cfg: model.cfg, params: model.params, options: {} as TrainOptions, step: 7, rng: new Rng(1).state(),
      m: new Map([[name, p.clone()]]), v: new Map([[name, p.clone()]]), steps: new Map([[name, 7]]), tokenizer: model.tokenizer.serialize(),
    });
    expect(readSafetensors(train).tensors.has(`optim.m.${name}`)).toBe(true);
    const c = parseModel(train);
    expect(c.params.size).toBe(model.params.size);
    for (const [n, t] of model.params) assertSameBits(n, c.params.get(n)!.data, t.data);
    expect(c.preprocess).toBeNull();
  });
});

describe("a bad checkpoint is one FormatError, never a partial model", () => {
  const good = () => readSafetensors(bytes);
  const rewrite = (edit: (t: Map<string, AnyTensor>, meta: Map<string, string>) => void): Uint8Array => {
    const { tensors, metadata } = good();
    edit(tensors, metadata);
    return writeSafetensors(tensors, { metadata });
  };
  const cases: [string, () => Uint8Array, RegExp][] = [
    ["missing weight", () => rewrite((t) => t.delete("lm.norm.weight")), /"lm\.norm\.weight": missing/],
    ["wrong shape", () => rewrite((t) => t.set("vision.class_embed", new Tensor("f32", [31]))), /"vision\.class_embed": expected shape \[32\], got \[31\]/],
    ["integer weight", () => rewrite((t) => t.set("lm.norm.weight", new Tensor("i32", [64]))), /"lm\.norm\.weight": expected dtype f32, got I32/],
    ["unexpected tensor", () => rewrite((t) => t.set("act.lm.logits", new Tensor("f32", [1]))), /not a parameter of this config .*"act\.lm\.logits"/],
    ["missing config", () => rewrite((_, m) => m.delete("config")), /__metadata__\.config: missing/],
    ["config not JSON", () => rewrite((_, m) => m.set("config", "{vision")), /__metadata__\.config: .*JSON/],
    ["config with an unknown key", () => rewrite((_, m) => m.set("config", m.get("config")!.replace('"top_k"', '"topk"'))), /__metadata__\.config: .*moe\.topk: unknown key/],
    ["missing tokenizer", () => rewrite((_, m) => m.delete("tokenizer")), /__metadata__\.tokenizer: missing/],
    ["tokenizer of another vocabulary", () => rewrite((_, m) => m.set("tokenizer", `{"type":"byte_bpe","version":1,"pattern":${JSON.stringify(DEFAULT_PATTERN)},"merges":[],"specials":{"<bos>":256,"<eos>":257,"<pad>":258,"<img>":259,"</img>":260,"<image>":261,"<sep>":262}}`)), /__metadata__\.tokenizer: .*<bos>.*tokens\.bos is 313/],
    ["tokenizer with a pattern of its own (code run on every prompt)", () => rewrite((_, m) => m.set("tokenizer", m.get("tokenizer")!.replace(/"pattern":"(?:[^"\\]|\\.)*"/, '"pattern":"(a+)+$"'))), /__metadata__\.tokenizer: tokenizer: pattern: expected the default split pattern/],
    ["unknown format", () => rewrite((_, m) => m.set("format", "onnx")), /__metadata__\.format: expected one of/],
    ["preprocess grid for another image size", () => rewrite((_, m) => m.set("preprocess", JSON.stringify(preprocessPreset("small")))), /preprocess: grid: expected \[D, 32, 32\]/],
    ["truncated file", () => bytes.slice(0, 100), /./],
  ];
  for (const [name, make, re] of cases) {
    it(name, async () => {
      const err = await loadModel(make(), { backend: be }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FormatError);
      expect((err as Error).message).toMatch(re);
    });
  }

  it("makeCheckpoint refuses inconsistent contents (ValueError)", () => {
    const params = new Map(model.params);
    params.delete("lm.norm.weight");
    expect(() => makeCheckpoint({ ...model, params })).toThrow(/lm\.norm\.weight: missing/);
    expect(() => makeCheckpoint({ ...model, metadata: { config: "{}" } })).toThrow(/metadata: config is reserved/);
    expect(() => makeCheckpoint({ ...model, preprocess: preprocessPreset("small") })).toThrow(ValueError);
    const shifted = withConfig(model.cfg, { lm: { vocab: 330 }, tokens: specialsAtEnd(330) });
    expect(() => makeCheckpoint({ ...model, cfg: shifted, params: tinyModel(be, 1, shifted).params })).toThrow(/tokens\.bos is 323, the tokenizer's id is 313/);
  });

  it("an embedding table larger than the tokenizer's vocabulary loads; its extra ids are never generated", async () => {
    const cfg = tinyConfig({ lm: { vocab: 330 } }), V = tinyTokenizer().vocabSize, d = cfg.lm.width; // ids 320..329 beyond the tokenizer
    const params = tinyModel(be, 21, cfg).params;
    const first = (await generate({ ...model, cfg, params }, { volume, prompt, maxNewTokens: 1 })).tokens[0];
    const E = params.get("lm.embed.weight")!;
    for (let v = V; v < 330; v++) for (let c = 0; c < d; c++) E.data[v * d + c] = 5 * E.data[first * d + c]; // 5x the winner's logit
    const m = await loadModel(makeCheckpoint({ ...model, cfg, params }), { backend: be });
    const out = await m.generate({ volume, prompt, maxNewTokens: 6 });
    expect(out.tokens[0]).toBe(first);
    for (const t of out.tokens) expect(t).toBeLessThan(V);
  });
});

describe("volumes and encode", () => {
  const hu = () => {
    const rng = new Rng(8), shape: [number, number, number] = [6, 40, 36];
    const data = rng.fill(6 * 40 * 36, -1000, 1500);
    const affine = [[-0.8, 0, 0, 10], [0, -0.8, 0, 20], [0, 0, 2.5, -30], [0, 0, 0, 1]];
    return readNifti(writeNifti({ data, shape, affine })); // a NIfTI file's volume, HU, LPS
  };

  it("a NIfTI volume is preprocessed with the checkpoint's preset (or the one given to loadModel)", async () => {
    const m = await loadModel(bytes, { backend: be }), vol = hu();
    const pre = preprocess(vol, preprocessPreset("tiny")).data;
    expect(pre.shape).toEqual([1, 1, 4, 32, 32]);
    const a = await m.generate({ volume: vol, prompt, maxNewTokens: 5 });
    expect(a.tokens).toEqual((await m.generate({ volume: pre, prompt, maxNewTokens: 5 })).tokens);
    const bare = await loadModel(makeCheckpoint(model), { backend: be });
    await expect(bare.generate({ volume: vol, prompt })).rejects.toThrow(/no preprocess preset/);
    const given = await loadModel(makeCheckpoint(model), { backend: be, preprocess: preprocessPreset("tiny") });
    expect((await given.generate({ volume: vol, prompt, maxNewTokens: 5 })).tokens).toEqual(a.tokens);
    await expect(loadModel(bytes, { backend: be, preprocess: preprocessPreset("m3d") })).rejects.toThrow(ValueError);
  });

  it("encode gives the projector tokens and routing of the forward pass, per sample independent of the batch", async () => {
    const m = await loadModel(bytes, { backend: be });
    const vols = new Tensor("f32", [2, 1, 4, 32, 32], new Rng(4).fill(2 * 4096, 0, 1));
    const prompts = ["Is there a nodule?", "Describe the findings of this chest CT."];
    const enc = m.encode({ volume: vols, prompt: prompts });
    expect(enc.tokens.shape).toEqual([2, 8, model.cfg.lm.width]);
    const ids = promptBatch(model.cfg, 8, prompts.map((p) => tinyTokenizer().encode(p)));
    const out = forward(be, model.params, model.cfg, { volume: vols, ids }, { acts: true });
    assertSameBits("act.projector", enc.tokens.data, (out.acts!.get("act.projector") as Tensor<"f32">).data);
    enc.routing.forEach((t, i) => assertSameBits(`topk ${t.layer}`, t.topkIdx.data, out.trace[i].topkIdx.data));
    const one = m.encode({ volume: new Tensor("f32", [1, 1, 4, 32, 32], vols.data.slice(4096)), prompt: prompts[1] });
    assertSameBits("sample 1 alone", one.tokens.data, enc.tokens.data.subarray(8 * model.cfg.lm.width));
    const forced = m.encode({ volume: vols, prompt: prompts[0], task: "vqa" });
    for (const t of forced.routing) expect(Array.from(t.group.data)).toEqual([1, 1]);
    expect(() => m.encode({ volume: vols, prompt: ["only one"] })).toThrow(/2 strings/);
  });
});
