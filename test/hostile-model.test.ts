/**
 * Checkpoints, configs, presets, prompts and PNGs a hostile user could hand us, each refused from
 * what it declares before the work it asks for: config sizes and the parameters they imply (closed
 * form, checked against paramSpecs), a config asking for more weights than the file holds, header
 * size and tensor count, tokenizer merges that double, preprocessing grids and resampled volumes,
 * prompts longer than the context, PNG inflate bombs.
 */
import fc from "fast-check";
import { zlibSync } from "fflate";
import { beforeAll, describe, expect, it } from "vitest";
import { makeCheckpoint, parseModel } from "../src/api.js";
import { FormatError, TghError, ValueError } from "../src/errors.js";
import { generate } from "../src/generate.js";
import { readSafetensors, writeSafetensors } from "../src/io/safetensors.js";
import { DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_TENSORS, parseHeader } from "../src/io/safetensors-header.js";
import { PRESET_NAMES, fromSpecJson, preset, toSpecJson } from "../src/model/config.js";
import { CONTEXT_TOKENS, configTotals } from "../src/model/limits.js";
import { paramCount, paramSpecs } from "../src/model/params.js";
import { preprocess, preprocessPreset } from "../src/preprocess/index.js";
import { Tensor } from "../src/tensor.js";
import { BpeTokenizer, MAX_TOKEN_BYTES } from "../src/tokenizer/bpe.js";
import { crc32, decodePng, encodePng, PNG_SIGNATURE } from "../src/viz/png.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { tinyModel, tinyVolume } from "./util/generate.js";
import { smallConfig } from "./util/model.js";
import { SEED } from "./util/prop.js";

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error, got a result");
}

describe("config sizes are bounded, and so is what they imply", () => {
  it("configTotals (closed form) equals the totals of paramSpecs, for every preset and random configs", () => {
    const totals = (c: ReturnType<typeof preset>) => {
      const shapes = [...paramSpecs(c).values()].map((s) => s.reduce((a, b) => a * b, 1));
      return { tensors: shapes.length, params: paramCount(c), largest: Math.max(...shapes) };
    };
    for (const name of PRESET_NAMES) expect(configTotals(preset(name)), name).toEqual(totals(preset(name)));
    fc.assert(fc.property(smallConfig, (c) => {
      expect(configTotals(c)).toEqual(totals(c));
    }), { seed: SEED, numRuns: 80 });
  });

  it("moe.experts 1e6, lm.layers 1e9 and a parameter count past the bound are ValueErrors naming the key and the bound", () => {
    const json = toSpecJson(preset("tiny"));
    const edit = (sec: string, key: string, v: unknown) => JSON.stringify({ ...json, [sec]: { ...json[sec], [key]: v } });
    expect(thrown(() => fromSpecJson(edit("moe", "experts", 1e6))).message).toBe("config: moe.experts: expected at most 4096 (this implementation's bound), got 1000000");
    expect(thrown(() => fromSpecJson(edit("lm", "layers", 1e9))).message).toBe("config: lm.layers: expected at most 1024 (this implementation's bound), got 1000000000");
    const wide = JSON.stringify({ ...json, lm: { ...json.lm, width: 65536, heads: 512, kv_heads: 512, mlp_hidden: 2 ** 20, layers: 1 } });
    expect(thrown(() => fromSpecJson(wide)).message).toMatch(/^config: sizes: expected at most 8589934592 parameters, got "\d+ tensors, \d+ parameters/);
  });

  it("a checkpoint whose config implies more parameters than its data holds is refused before the parameters are listed", async () => {
    const m = tinyModel(await referenceBackend(), 3);
    const { tensors, metadata } = readSafetensors(makeCheckpoint(m));
    const cfg = toSpecJson(m.cfg);
    metadata.set("config", JSON.stringify({ ...cfg, moe: { ...cfg.moe, experts: 200 } })); // within the config bounds
    const err = thrown(() => parseModel(writeSafetensors(tensors, { metadata }), "big.safetensors"));
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(new RegExp(`^big\\.safetensors: data buffer: the config implies \\d+ parameters \\(at least \\d+ bytes as F16/BF16\\), the file holds ${4 * paramCount(m.cfg)}$`));
  });
});

describe("checkpoint metadata: preset grid, tokenizer, header bounds", () => {
  let m: ReturnType<typeof tinyModel>;
  beforeAll(async () => {
    m = tinyModel(await referenceBackend(), 4);
  });
  const withMeta = (key: string, value: string) => {
    const { tensors, metadata } = readSafetensors(makeCheckpoint({ ...m, preprocess: preprocessPreset("tiny") }));
    metadata.set(key, value);
    return writeSafetensors(tensors, { metadata });
  };
  it("a grid of 1048576 x 32 x 32, or more slices than the context has room for, is refused with the bound", () => {
    const grid = (D: number) => JSON.stringify({ ...preprocessPreset("tiny"), grid: [D, 32, 32] });
    expect(thrown(() => parseModel(withMeta("preprocess", grid(1048576)))).message).toMatch(/preprocess: grid: expected at most 134217728 voxels \(512\^3\), got \[1048576,32,32\]/);
    // tiny: 2 image tokens per slice (4 per depth_patch*depth_pool = 2 slices)
    const maxD = Math.floor((CONTEXT_TOKENS - 5) / 4) * 2;
    expect(thrown(() => parseModel(withMeta("preprocess", grid(maxD + 2)))).message).toMatch(new RegExp(`grid: D=${maxD + 2} gives ${2 * maxD + 4} image tokens; the context of ${CONTEXT_TOKENS} tokens allows D up to ${maxD}`));
    expect(parseModel(withMeta("preprocess", grid(maxD))).preprocess!.grid).toEqual([maxD, 32, 32]);
  });
  it("tokenizer merges that double a token each time are refused before the tokens are built", () => {
    const tok = JSON.parse(m.tokenizer.serialize()) as { merges: number[][]; specials: Record<string, number> };
    const first = 256 + 40, doubling = [[97, 97], ...Array.from({ length: 39 }, (_, r) => [256 + r, 256 + r])];
    const bomb = JSON.stringify({ ...tok, merges: doubling, specials: Object.fromEntries(Object.keys(tok.specials).map((k, i) => [k, first + i])) });
    const err = thrown(() => BpeTokenizer.deserialize(bomb));
    expect(err.message).toBe(`tokenizer: merges[10]: makes a token of 2048 bytes, more than ${MAX_TOKEN_BYTES}`);
  });
  it("a header above 16 MiB is refused from its first 8 bytes; more than 16384 tensors while the JSON is read", () => {
    const head = new Uint8Array(8);
    new DataView(head.buffer).setBigUint64(0, BigInt(DEFAULT_MAX_HEADER_BYTES + 8), true);
    expect(thrown(() => parseHeader(head, "h")).message).toBe(`h: header length: ${DEFAULT_MAX_HEADER_BYTES + 8} bytes is above the bound of ${DEFAULT_MAX_HEADER_BYTES} (this reader's; option maxHeaderBytes, the format allows 100000000)`);
    const many = new Map(Array.from({ length: DEFAULT_MAX_TENSORS + 1 }, (_, i) => [`t${i}`, new Tensor("f32", [0])]));
    const bytes = writeSafetensors(many);
    expect(thrown(() => parseHeader(bytes, "h")).message).toBe(`h: header: more than ${DEFAULT_MAX_TENSORS} tensors (this reader's bound; option maxTensors)`);
    expect(parseHeader(bytes, "h", { maxTensors: DEFAULT_MAX_TENSORS + 1 }).tensors).toHaveLength(DEFAULT_MAX_TENSORS + 1);
  });
  it("a missing config is named once (not prefixed twice)", () => {
    const { tensors, metadata } = readSafetensors(makeCheckpoint(m));
    metadata.delete("config");
    expect(thrown(() => parseModel(writeSafetensors(tensors, { metadata }), "c")).message).toBe("c: __metadata__.config: missing (a model checkpoint stores it; see makeCheckpoint)");
  });
});

describe("preprocess and generate: what the input asks for is bounded first", () => {
  it("spacing-mode resampling to more than 512^3 voxels is a ValueError before any allocation", () => {
    const vol = { data: new Float32Array(8), shape: [2, 2, 2], spacing: [1, 1, 1], affine: [[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] };
    const p = { ...preprocessPreset("tiny"), resample: { mode: "spacing" as const, spacing: [0.001, 0.001, 0.001] as [number, number, number] } };
    expect(thrown(() => preprocess(vol, p)).message).toMatch(/^preprocess: resample\.spacing: \[2, 2, 2\] voxels .* gives \[2000, 2000, 2000\] = 8000000000 voxels, more than 134217728/);
  });
  it("a prompt that cannot fit the context is refused before it is tokenized; one that fills it stops the answer there", async () => {
    const m = tinyModel(await wasmBackend(), 6);
    const volume = tinyVolume(1); // D = 4: m = 8 image tokens, so 4096 - 8 - 4 = 4084 for the prompt
    const long = await generate(m, { volume, prompt: "a".repeat(100_000) }).catch((e: unknown) => e);
    expect(long).toBeInstanceOf(ValueError);
    expect((long as Error).message).toMatch(/^generate: prompt: 100000 characters cannot fit the 4084 tokens the context of 4096 leaves beside 8 image tokens \(a token holds at most \d+ bytes\)$/);
    const over = await generate(m, { volume, prompt: "Ab ".repeat(CONTEXT_TOKENS) }).catch((e: unknown) => e);
    expect((over as Error).message).toMatch(/^generate: prompt: \d+ tokens, more than the 4084 the context of 4096 leaves beside 8 image tokens$/);
    // a prompt of about 4080 tokens leaves a budget of a few tokens: the answer stops at the context
    const count = (k: number) => m.tokenizer.encode("Ab ".repeat(k)).length;
    const per = (count(200) - count(100)) / 100, k = Math.floor((4084 - 5 - count(100) + 100 * per) / per);
    const P = count(k) + 12, budget = CONTEXT_TOKENS - P;
    expect(budget).toBeGreaterThan(0);
    expect(budget).toBeLessThan(50);
    const out = await generate(m, { volume, prompt: "Ab ".repeat(k), maxNewTokens: 50 });
    if (out.stopReason !== "eos") expect([out.stopReason, out.tokens.length]).toEqual(["context", budget]);
    expect(out.tokens.length).toBeLessThanOrEqual(budget);
  });
});

describe("PNG: the pixel size is bounded from IHDR and from what IDAT can inflate to", () => {
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length), v = new DataView(out.buffer);
    v.setUint32(0, data.length);
    for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
    out.set(data, 8);
    v.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
    return out;
  };
  const png = (w: number, h: number, idat: Uint8Array) => {
    const ihdr = new Uint8Array(13), v = new DataView(ihdr.buffer);
    v.setUint32(0, w);
    v.setUint32(4, h);
    ihdr.set([8, 6, 0, 0, 0], 8);
    const parts = [PNG_SIGNATURE, chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) (out.set(p, o), (o += p.length));
    return out;
  };
  it("an IDAT inflating far past what a 2x2 image needs stops at the first byte too many", () => {
    const err = thrown(() => decodePng(png(2, 2, zlibSync(new Uint8Array(32 << 20), { level: 9 }))));
    expect(err).toBeInstanceOf(TghError);
    expect(err.message).toBe("decodePng: IDAT: expected 18 bytes after inflate for 2x2x4, got more");
  });
  it("IHDR above maxBytes, or more pixels than the IDAT bytes can hold, is refused before inflating", () => {
    expect(thrown(() => decodePng(png(8193, 8192, zlibSync(new Uint8Array(10))))).message).toBe("decodePng: IHDR: 8193x8192x4 = 268468224 bytes of pixels, more than the bound 268435456 (option maxBytes)");
    expect(thrown(() => decodePng(png(4096, 4096, zlibSync(new Uint8Array(10))))).message).toMatch(/IDAT: expected 67112960 bytes after inflate for 4096x4096x4; \d+ compressed bytes hold at most \d+ \(deflate expands at most 1032:1\)/);
    expect(decodePng(encodePng({ width: 3, height: 2, channels: 4, data: new Uint8Array(24).fill(9) })).data).toEqual(new Uint8Array(24).fill(9));
  });
});
