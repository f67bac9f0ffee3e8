// Golden vectors: the committed file verifies on both backends and regenerates to the same bytes;
// perturbed, flipped and malformed copies fail where they should; a port-shaped file (F32 weights,
// I64 indices, no tokenizer) verifies; the act.* layout matches the forward pass on random configs.
import fc from "fast-check";
import { readFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { FormatError } from "../src/errors.js";
import { GOLDEN_ATOL, GOLDEN_RTOL, MIN_MARGINS, actSlots, compareTensor, formatReport, makeGolden, verifyGolden, type VerifyReport } from "../src/golden.js";
import { QUESTIONS, REPORT_PROMPTS } from "../src/golden/corpus.js";
import { unravel } from "../src/golden/compare.js";
import { decodeF16, encodeF16 } from "../src/io/dtype.js";
import { readSafetensors, writeSafetensors, type StDType } from "../src/io/safetensors.js";
import { specialsAtEnd } from "../src/model/config.js";
import { forward } from "../src/model/model.js";
import { Tensor } from "../src/tensor.js";
import { BpeTokenizer } from "../src/tokenizer/bpe.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { batch, randomParams, smallConfig } from "./util/model.js";
import { check, data, dataSeed, dim } from "./util/prop.js";

const FILE = new URL("./golden/tiny-seed0.safetensors", import.meta.url);
/** Regenerate with the documented command (docs/FORMATS.md): */
const REGEN = "npx tsx src/cli.ts golden --preset tiny --seed 0 --out test/golden/tiny-seed0.safetensors";

let wasm: Backend, ref: Backend, committed: Uint8Array;
beforeAll(async () => {
  wasm = await wasmBackend();
  ref = await referenceBackend();
  committed = new Uint8Array(await readFile(FILE));
});

/** A copy of a golden file with `edit` applied to its tensors / metadata (weights keep their stored dtype). */
function edited(bytes: Uint8Array, edit: (t: Map<string, Tensor>, meta: Map<string, string>, dtypes: Map<string, StDType>) => void): Uint8Array {
  const { tensors, metadata, dtypes } = readSafetensors(bytes);
  edit(tensors, metadata, dtypes);
  for (const name of dtypes.keys()) if (!tensors.has(name)) dtypes.delete(name);
  return writeSafetensors(tensors, { metadata, dtypes });
}

const failing = (r: VerifyReport) => r.tensors.filter((t) => !t.pass).map((t) => t.name);

describe("golden: the committed file", () => {
  it("verifies on wasm and on reference: every act.* within its atol + rtol*|ref|, indices equal", async () => {
    for (const backend of [wasm, ref]) {
      const r = await verifyGolden(committed, { backend });
      expect(failing(r), formatReport(r).join("\n")).toEqual([]);
      expect(r.pass && r.firstDivergence === null && r.tokenizer.checked && r.tokenizer.pass).toBe(true);
      expect(r.tensors.length).toBe(16);
      // the tolerance has headroom: measured reference-vs-wasm error uses < 25% of it
      for (const t of r.tensors) expect(t.ratio, t.name).toBeLessThan(0.25);
    }
  });

  it(`regenerates to the same bytes (if a kernel's summation order changed on purpose: ${REGEN})`, async () => {
    const g = await makeGolden({ preset: "tiny", seed: 0, backend: ref });
    expect(g.bytes.length).toBe(committed.length);
    expect(Buffer.compare(Buffer.from(g.bytes), Buffer.from(committed)), REGEN).toBe(0);
  });

  it("holds what spec section 8 lists, stays small, and its decisions are far from ties", async () => {
    expect(committed.length).toBeLessThan(1_000_000); // F16 weights (334k parameters) + F32 acts
    const { tensors, metadata, dtypes } = readSafetensors(committed);
    for (const key of ["spec", "config", "prompt", "atol", "rtol", "tokenizer", "backend", "seed"]) expect(metadata.has(key), key).toBe(true);
    expect(Number(metadata.get("atol"))).toBe(GOLDEN_ATOL);
    expect(Number(metadata.get("rtol"))).toBe(GOLDEN_RTOL);
    const margins = JSON.parse(metadata.get("margins")!) as { task: number; token: number };
    expect(margins.task).toBeGreaterThanOrEqual(MIN_MARGINS.task);
    expect(margins.token).toBeGreaterThanOrEqual(MIN_MARGINS.token);
    // weights F16 (exactly the float32 values used), activations F32, indices I32
    for (const [name, dt] of dtypes) expect(dt, name).toBe(name.startsWith("act.") || name.startsWith("input.") ? (tensors.get(name)!.dtype === "i32" ? "I32" : "F32") : "F16");
    expect(tensors.get("input.volume")!.shape).toEqual([2, 1, 4, 32, 32]);
  });
});

describe("golden: inputs and tokenizer", () => {
  it("sequences follow section 6, prompts differ in length, volumes lie in [0, 1], specials sit at the end of the vocabulary", async () => {
    const g = await makeGolden({ seed: 5, backend: wasm });
    const tok = BpeTokenizer.deserialize(g.metadata.tokenizer);
    expect(tok.vocabSize).toBe(512);
    expect(g.cfg.tokens).toEqual(specialsAtEnd(512));
    expect(g.volume.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(REPORT_PROMPTS).toContain(g.texts[0].prompt);
    expect(QUESTIONS.map((q) => q[0])).toContain(g.texts[1].prompt);
    const t = g.cfg.tokens, L = g.ids.dim(1);
    const lengths = g.texts.map((x, b) => {
      const row = Array.from(g.ids.data.subarray(b * L, (b + 1) * L));
      const p = tok.encode(x.prompt), a = tok.encode(x.answer);
      const want = [t.bos, t.imgStart, ...new Array<number>(8).fill(t.image), t.imgEnd, ...p, t.sep, ...a, t.eos];
      expect(row.slice(0, want.length)).toEqual(want);
      expect(row.slice(want.length).every((id) => id === t.pad)).toBe(true); // right padding
      return p.length;
    });
    expect(lengths[0]).not.toBe(lengths[1]);
  });

  it("is deterministic: same options, same bytes; another seed or routing, other bytes", async () => {
    const a = await makeGolden({ seed: 3, backend: wasm }), b = await makeGolden({ seed: 3, backend: wasm });
    expect(Buffer.compare(Buffer.from(a.bytes), Buffer.from(b.bytes))).toBe(0);
    const c = await makeGolden({ seed: 4, backend: wasm });
    expect(Buffer.compare(Buffer.from(a.bytes), Buffer.from(c.bytes))).not.toBe(0);
    // F16 storage: the weights used are exactly representable, so the file widens back to them
    for (const w of a.params.values()) expect(Array.from(decodeF16(encodeF16(w.data)))).toEqual(Array.from(w.data));
  });
});

describe("golden: variants a port might produce", () => {
  it("soft task routing, made on the reference backend, verifies on wasm", async () => {
    const g = await makeGolden({ seed: 1, taskRouting: "soft", backend: ref });
    expect(g.cfg.moe.taskRouting).toBe("soft");
    const r = await verifyGolden(g.bytes, { backend: wasm });
    expect(failing(r), formatReport(r).join("\n")).toEqual([]);
    expect(r.producedBy).toBe("reference");
  });

  it("F32 weights, I64 indices, no tokenizer, plain-text prompt, an extra act.*: verifies; tokenizer check and extra skipped", async () => {
    const bytes = edited(committed, (t, meta, dtypes) => {
      t.set("act.blocks.0.attn", new Tensor("f32", [2, 4, 17, 32]));
      for (const [name, dt] of dtypes) dtypes.set(name, dt === "F16" ? "F32" : dt === "I32" ? "I64" : dt);
      meta.delete("tokenizer");
      meta.set("prompt", "Generate a radiology report. | Is there a pleural effusion?");
    });
    const r = await verifyGolden(bytes, { backend: wasm });
    expect(r.pass).toBe(true);
    expect(r.tokenizer.checked).toBe(false);
    expect(r.ignored).toEqual(["act.blocks.0.attn"]);
    expect(formatReport(r).join("\n")).toMatch(/ignored +not in spec section 8, not checked: act\.blocks\.0\.attn/);
  });
  it("rope_sections null or absent with rope \"depth\" (spec section 9): verifies", async () => {
    for (const edit of [(v: Record<string, unknown>) => { v.rope_sections = null; }, (v: Record<string, unknown>) => { delete v.rope_sections; }]) {
      const bytes = edited(committed, (_t, meta) => {
        const cfg = JSON.parse(meta.get("config")!) as { vision: Record<string, unknown> };
        expect(cfg.vision.rope).toBe("depth");
        edit(cfg.vision);
        meta.set("config", JSON.stringify(cfg));
      });
      const r = await verifyGolden(bytes, { backend: wasm });
      expect(failing(r), formatReport(r).join("\n")).toEqual([]);
      expect(r.pass).toBe(true);
    }
  });
});

describe("golden: verify catches divergences", () => {
  it("one element of act.blocks.2 off by 1e-2: fails, names act.blocks.2 first and only", async () => {
    const bytes = edited(committed, (t) => {
      (t.get("act.blocks.2")!.data as Float32Array)[100] += 1e-2;
    });
    const r = await verifyGolden(bytes, { backend: wasm });
    expect(r.pass).toBe(false);
    expect(r.firstDivergence).toBe("act.blocks.2");
    expect(failing(r)).toEqual(["act.blocks.2"]); // recomputed from the inputs: nothing downstream moves
    const c = r.tensors.find((x) => x.name === "act.blocks.2")!;
    expect(c.mismatches).toBe(1);
    expect(c.worst!.index).toEqual(unravel(100, [2, 4, 17, 32]));
    expect(formatReport(r).at(-1)).toMatch(/^FAIL: first divergence at act\.blocks\.2;/);
  });

  it("two top-k indices swapped: fails on act.blocks.3.moe.topk_idx with 2 differing entries", async () => {
    const bytes = edited(committed, (t) => {
      const idx = t.get("act.blocks.3.moe.topk_idx")!.data as Int32Array;
      [idx[10], idx[11]] = [idx[11], idx[10]]; // token 5 of sample 0: first and second choice
    });
    const r = await verifyGolden(bytes, { backend: wasm });
    expect(r.firstDivergence).toBe("act.blocks.3.moe.topk_idx");
    expect(r.tensors.find((x) => x.name === "act.blocks.3.moe.topk_idx")!.mismatches).toBe(2);
  });

  it("convention errors a port could make fail by more than 10x the tolerance, at the first tensor that depends on them", async () => {
    // [what, edit, first divergence, a tensor that must be off by more than 10x its tolerance]
    const cases: [string, (t: Map<string, Tensor>, m: Map<string, string>) => void, string, string][] = [
      // W used as [in, out] instead of [out, in] (a square weight, so the shapes still fit)
      ["transposed attn.proj of block 1", (t) => {
        const w = t.get("vision.blocks.1.attn.proj.weight")!, C = w.dim(0), d = w.data.slice();
        for (let i = 0; i < C; i++) for (let j = 0; j < C; j++) w.data[i * C + j] = d[j * C + i];
      }, "act.blocks.1", "act.blocks.1"],
      // block 2 is the first volume block; its router sees LN2 of the attention output, so its
      // top-k weights (recorded before the block output) are the first to move
      ["rotary positions (d, r+1, c+1) instead of d", (_t, m) => m.set("config", m.get("config")!.replace('"rope":"depth"', '"rope":"dhw"')), "act.blocks.2.moe.topk_w", "act.blocks.2"],
      ["top-k weights not renormalized", (_t, m) => m.set("config", m.get("config")!.replace('"renormalize":true', '"renormalize":false')), "act.blocks.2.moe.topk_w", "act.blocks.2.moe.topk_w"],
    ];
    for (const [what, edit, first, big] of cases) {
      const r = await verifyGolden(edited(committed, edit), { backend: wasm });
      expect(r.firstDivergence, what).toBe(first);
      expect(r.tensors.find((x) => x.name === big)!.ratio, what).toBeGreaterThan(10);
    }
  });

  it("a prompt that its tokenizer does not encode to input.ids fails the tokenizer check only", async () => {
    const bytes = edited(committed, (_t, meta) => meta.set("prompt", JSON.stringify(["Write the report for this CT.", "Is there a pleural effusion?"])));
    const r = await verifyGolden(bytes, { backend: wasm });
    expect(r.firstDivergence).toBe(null);
    expect(r.tokenizer.pass).toBe(false);
    expect(r.pass).toBe(false);
  });

  it("malformed files fail with a FormatError naming the field", async () => {
    const cases: [string, (t: Map<string, Tensor>, m: Map<string, string>) => void, RegExp][] = [
      ["missing weight", (t) => t.delete("vision.blocks.1.attn.proj.bias"), /"vision\.blocks\.1\.attn\.proj\.bias": missing/],
      ["unknown weight", (t) => t.set("vision.blocks.1.mlp.fc3.weight", new Tensor("f32", [2])), /"vision\.blocks\.1\.mlp\.fc3\.weight": not expected/],
      ["wrong weight shape", (t) => t.set("projector.fc2.bias", new Tensor("f32", [63])), /"projector\.fc2\.bias": expected shape \[64\], got \[63\]/],
      ["missing act", (t) => t.delete("act.blocks.3.moe.topk_w"), /"act\.blocks\.3\.moe\.topk_w": missing/],
      ["wrong spec", (_t, m) => m.set("spec", "tgh-moe/2"), /__metadata__\.spec: expected "tgh-moe\/1", got "tgh-moe\/2"/],
      ["no spec", (_t, m) => m.delete("spec"), /__metadata__\.spec/],
      ["bad config", (_t, m) => m.set("config", m.get("config")!.replace('"top_k":2', '"top_k":9')), /__metadata__\.config: config: moe\.top_k/],
      ["bad atol", (_t, m) => m.set("atol", "-1"), /__metadata__\.atol/],
      ["no input", (t) => t.delete("input.ids"), /input\.ids/],
      ["bad tokenizer", (_t, m) => m.set("tokenizer", "{}"), /__metadata__\.tokenizer: type/],
    ];
    for (const [what, edit, msg] of cases) {
      const bytes = edited(committed, edit);
      const err = await verifyGolden(bytes, { backend: wasm }).then(() => null, (e: unknown) => e);
      expect(err, what).toBeInstanceOf(FormatError);
      expect((err as Error).message, what).toMatch(msg);
    }
    await expect(verifyGolden(new Uint8Array([1, 2, 3]), { backend: wasm })).rejects.toThrow(FormatError);
  });

  it("verifying twice gives the same report (determinism)", async () => {
    const a = await verifyGolden(committed, { backend: wasm }), b = await verifyGolden(committed, { backend: wasm });
    expect(JSON.stringify(b.tensors)).toBe(JSON.stringify(a.tensors));
  });
});

describe("golden: layout and comparison", () => {
  it("actSlots lists exactly the forward pass's act.* in forward order with their shapes and dtypes (random configs)", () => {
    const arb = fc.record({ cfg: smallConfig, B: fc.integer({ min: 1, max: 2 }), slices: fc.integer({ min: 1, max: 2 }), seed: dataSeed });
    check(arb, ({ cfg, B, slices, seed }) => {
      const D = slices * cfg.vision.depthPatch * cfg.projector.depthPool;
      const input = batch(cfg, B, D, seed);
      const acts = forward(ref, randomParams(cfg, seed), cfg, input, { acts: true }).acts!;
      const slots = actSlots(cfg, B, D, input.ids.dim(1));
      expect(slots.map((s) => s.name)).toEqual([...acts.keys()]);
      for (const s of slots) expect([...acts.get(s.name)!.shape, acts.get(s.name)!.dtype], s.name).toEqual([...s.shape, s.dtype]);
    }, 15);
  });

  it("compareTensor: passes exactly when every |d| <= atol + rtol*|ref| (boundary, odd sizes)", () => {
    // Tolerance: none; this is the definition, checked in float64 on float32 data.
    const arb = fc.record({ n: dim(17), seed: dataSeed, at: fc.nat(), scale: fc.constantFrom(0.5, 0.999, 1.001, 2), atol: fc.constantFrom(0, 1e-4), rtol: fc.constantFrom(0, 1e-3) });
    check(arb, ({ n, seed, at, scale, atol, rtol }) => {
      const refT = new Tensor("f32", [n], data(seed, n, -10, 10));
      const ours = refT.clone();
      const i = at % n;
      const bound = atol + rtol * Math.abs(refT.data[i]);
      ours.data[i] = refT.data[i] + scale * bound;
      const d = Math.abs(ours.data[i] - refT.data[i]); // after float32 rounding
      const c = compareTensor("x", ours, refT, atol, rtol);
      expect(c.pass).toBe(d <= bound);
      expect(c.mismatches).toBe(d <= bound ? 0 : 1);
      expect(c.maxAbs).toBe(d);
    });
  });

  it("compareTensor: NaN matches only NaN, infinities only themselves; i32 counts differing entries", () => {
    const f = (xs: number[]) => new Tensor("f32", [xs.length], Float32Array.from(xs));
    expect(compareTensor("a", f([NaN, Infinity, -Infinity]), f([NaN, Infinity, -Infinity]), 0, 0).pass).toBe(true);
    const bad = compareTensor("a", f([1, NaN, Infinity]), f([1, 2, -Infinity]), 1, 1);
    expect([bad.pass, bad.mismatches, bad.maxAbs, bad.worst!.index]).toEqual([false, 2, Infinity, [1]]);
    expect(compareTensor("a", f([1e30]), f([NaN]), 1e40, 0).pass).toBe(false);
    const i = (xs: number[]) => new Tensor("i32", [xs.length], Int32Array.from(xs));
    const c = compareTensor("idx", i([0, 1, 2, 3]), i([0, 2, 1, 3]), 100, 100);
    expect([c.pass, c.mismatches, c.worst!.index]).toEqual([false, 2, [1]]);
  });
});

describe("public entry point", () => {
  it("src/index.ts exports the model, backends, files, tokenizer and golden API", async () => {
    const api = await import("../src/index.js");
    for (const name of ["Tensor", "createBackend", "Backend", "preset", "initParams", "paramSpecs", "forward", "readSafetensors",
      "writeSafetensors", "loadChecked", "BpeTokenizer", "trainBpe", "makeGolden", "verifyGolden", "FormatError", "ShapeError"]) {
      expect(typeof (api as Record<string, unknown>)[name], name).toBe("function");
    }
  });
});
