// ONNX export (docs/EXPORT.md) on onnxruntime-web in Node: the graphs reproduce every act.* of the
// committed golden file (F32 and F16 weights, inline and external data), of a soft-routing golden
// file and of random configs covering every switch; ties in the router resolve to the lower expert
// as ours do; a perturbed weight fails verify at the tensor it feeds; the CLI's exit codes; and the
// shipped checkpoint's greedy answers on the four sample CTs are ours token for token.
import fc from "fast-check";
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { EXIT, type Io } from "../src/cli/command.js";
import { runCli } from "../src/cli/main.js";
import { FormatError, ValueError } from "../src/errors.js";
import { exportOnnx, type OnnxExport } from "../src/export/build.js";
import { readOnnxFolder, writeOnnxFolder } from "../src/export/files.js";
import { generateOnnx } from "../src/export/generate.js";
import { decodeModel } from "../src/export/proto.js";
import { OnnxSessions, type GraphBytes } from "../src/export/session.js";
import { readExportSource } from "../src/export/source.js";
import { verifyGoldenOnnx } from "../src/export/verify.js";
import { GOLDEN_ATOL, GOLDEN_RTOL, compareTensor, makeGolden, routingMargins } from "../src/golden.js";
import { readSafetensors, writeSafetensors } from "../src/io/safetensors.js";
import { loadModel, readNifti } from "../src/index.js";
import { preset, type ModelConfig } from "../src/model/config.js";
import { forward } from "../src/model/model.js";
import type { Params } from "../src/model/params.js";
import type { F32Tensor, I32Tensor, Tensor } from "../src/tensor.js";
import { wasmBackend } from "./util/backends.js";
import { batch, randomParams, smallConfig } from "./util/model.js";
import { SEED } from "./util/prop.js";

const GOLDEN = new URL("./golden/tiny-seed0.safetensors", import.meta.url);
const SAMPLES = new URL("../samples/", import.meta.url);
const CHECKPOINT = new URL("../checkpoints/tgh-moe-small.safetensors", import.meta.url);

let be: Backend, golden: Uint8Array, dir: string;
beforeAll(async () => {
  be = await wasmBackend();
  golden = new Uint8Array(await readFile(GOLDEN));
  dir = await mkdtemp(join(tmpdir(), "tgh-onnx-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The export's two graphs as onnxruntime inputs (external data joined when there is some). */
function graphsOf(exp: OnnxExport): { encoder: GraphBytes; lm: GraphBytes } {
  const one = (name: string): GraphBytes => {
    const f = exp.files.get(name)!;
    return { model: f.model, data: f.external ? Buffer.concat(f.data) : null };
  };
  return { encoder: one("encoder.onnx"), lm: one("lm.onnx") };
}

/** Export from a golden file's own weights (its depth) and verify it against the file. */
async function exportAndVerify(bytes: Uint8Array, o: Parameters<typeof exportOnnx>[2] = {}) {
  const src = readExportSource(bytes, "golden");
  const exp = await exportOnnx(src.cfg, src.params, { depth: src.depth!, backend: be, ...o });
  return { exp, report: await verifyGoldenOnnx(bytes, graphsOf(exp)) };
}

/** Our forward's act.* and the graphs' on the same inputs (the graphs' logits from an empty cache). */
async function bothActs(cfg: ModelConfig, params: Params, volume: F32Tensor, ids: I32Tensor) {
  const ours = forward(be, params, cfg, { volume, ids }, { acts: true }).acts!;
  const exp = await exportOnnx(cfg, params, { depth: volume.dim(2), backend: be });
  const s = await OnnxSessions.open(cfg, graphsOf(exp));
  try {
    const theirs = await s.encode(volume, ids);
    theirs.set("act.lm.logits", (await s.extend(ids, theirs.get("act.projector") as F32Tensor, s.emptyCache(ids.dim(0)))).logits);
    return { ours, theirs };
  } finally {
    await s.release();
  }
}

function expectAllClose(ours: Map<string, Tensor>, theirs: Map<string, Tensor>): void {
  for (const [name, t] of ours) {
    const c = compareTensor(name, theirs.get(name)!, t, GOLDEN_ATOL, GOLDEN_RTOL);
    expect(c.pass, `${name}: max abs ${c.maxAbs}, ${c.mismatches} mismatches, first ${JSON.stringify(c.worst)}`).toBe(true);
  }
}

describe("exported graphs against the golden files", () => {
  it("reproduce every act.* of the committed tiny file, routing indices and groups equal", async () => {
    const { exp, report } = await exportAndVerify(golden);
    expect(report.pass).toBe(true);
    expect(report.backend).toBe("onnxruntime-web (wasm)");
    expect(report.tensors.map((t) => t.name)).toContain("act.blocks.2.moe.topk_idx");
    for (const t of report.tensors) {
      expect(t.pass).toBe(true);
      if (t.dtype === "i32") expect(t.mismatches).toBe(0);
      else expect(t.ratio).toBeLessThan(0.1); // measured: at most 3.6% of the tolerance (act.lm.logits)
    }
    // standard opset only, every weight under its checkpoint name
    const model = decodeModel(exp.files.get("encoder.onnx")!.model) as { opset_import: { domain?: string; version: number }[]; graph: { node: { domain?: string }[]; initializer: { name: string }[] } };
    expect(model.opset_import).toEqual([{ domain: "", version: 17 }]);
    expect(model.graph.node.every((n) => !n.domain)).toBe(true);
    expect(model.graph.initializer.map((t) => t.name)).toContain("vision.blocks.2.moe.router.1.weight");
  });

  it("F16 weights are lossless on a golden file (its weights are float16 values) and half the size", async () => {
    const f32 = await exportAndVerify(golden);
    const f16 = await exportAndVerify(golden, { weightDtype: "f16" });
    expect(f16.report.pass).toBe(true);
    f16.report.tensors.forEach((t, i) => expect(t.maxAbs).toBe(f32.report.tensors[i].maxAbs));
    expect(f16.exp.files.get("encoder.onnx")!.weightBytes).toBeLessThan(0.55 * f32.exp.files.get("encoder.onnx")!.weightBytes);
  });

  it("external data (threshold forced to 0): written beside the graphs, read back, verifies; an inline export removes it", async () => {
    const src = readExportSource(golden, "golden");
    const out = join(dir, "external");
    const exp = await exportOnnx(src.cfg, src.params, { depth: 4, externalThreshold: 0, weightDtype: "f16", backend: be });
    await writeOnnxFolder(out, exp);
    expect((await readdir(out)).sort()).toEqual(["encoder.onnx", "encoder.onnx.data", "lm.onnx", "lm.onnx.data"]);
    expect((await stat(join(out, "encoder.onnx"))).size).toBeLessThan(0.5 * (await stat(join(out, "encoder.onnx.data"))).size);
    expect((await verifyGoldenOnnx(golden, await readOnnxFolder(out))).pass).toBe(true);
    await writeOnnxFolder(out, await exportOnnx(src.cfg, src.params, { depth: 4, backend: be }));
    expect((await readdir(out)).sort()).toEqual(["encoder.onnx", "lm.onnx"]);
  });

  it("soft task routing: a soft golden file verifies", async () => {
    const g = await makeGolden({ preset: "tiny", seed: 3, taskRouting: "soft", backend: be });
    expect((await exportAndVerify(g.bytes)).report.pass).toBe(true);
  });

  it("a perturbed weight fails verify at the first tensor it feeds, and only from there", async () => {
    const perturbed = async (name: string) => {
      const src = readExportSource(golden, "golden");
      const w = src.params.get(name)!.clone();
      w.data[0] += 0.05;
      src.params.set(name, w);
      return verifyGoldenOnnx(golden, graphsOf(await exportOnnx(src.cfg, src.params, { depth: 4, backend: be })));
    };
    const lm = await perturbed("lm.blocks.1.mlp.down.weight");
    expect(lm.pass).toBe(false);
    expect(lm.firstDivergence).toBe("act.lm.logits");
    const vision = await perturbed("vision.blocks.2.attn.qkv.weight");
    expect(vision.firstDivergence).toMatch(/^act\.blocks\.2\b/); // its routing trace comes first in forward order
    expect(vision.tensors.find((t) => t.name === "act.blocks.1")!.pass).toBe(true);
  });

  it("refuses graphs of another config or another volume depth, by name", async () => {
    const src = readExportSource(golden, "golden");
    const other = await exportOnnx(src.cfg, src.params, { depth: 8, backend: be });
    await expect(verifyGoldenOnnx(golden, graphsOf(other))).rejects.toThrow(ValueError);
    await expect(verifyGoldenOnnx(golden, graphsOf(other))).rejects.toThrow(/depth: expected the golden file's 4 slices, got a graph for 8/);
    const g = await makeGolden({ preset: "tiny", seed: 3, taskRouting: "soft", backend: be });
    await expect(verifyGoldenOnnx(golden, graphsOf((await exportAndVerify(g.bytes)).exp))).rejects.toThrow(FormatError);
    await expect(exportOnnx(src.cfg, src.params, { depth: 3 })).rejects.toThrow(/depth: expected a positive multiple of depth_patch\*depth_pool=2, got 3/);
  });
});

describe("exported graphs against our forward", () => {
  it("random configs covering every switch (GQA, dhw rope, depth patches, soft routing, untied head, every activation)", async () => {
    await fc.assert(fc.asyncProperty(smallConfig, fc.nat(1000), async (cfg, seed) => {
      const params = randomParams(cfg, seed, 0.1);
      const { volume, ids } = batch(cfg, 2, 2 * cfg.vision.depthPatch * cfg.projector.depthPool, seed);
      const ours = forward(be, params, cfg, { volume, ids }, { acts: true }).acts!;
      const m = routingMargins(be, params, cfg, ours);
      fc.pre(m.task > 1e-4 && m.token > 1e-5); // a near-tie may go either way in another summation order
      const { theirs } = await bothActs(cfg, params, volume, ids);
      expectAllClose(ours, theirs);
    }), { seed: SEED, numRuns: 8 });
  });

  it("the token-level ablation (moe.guidance none) exports too", async () => {
    const cfg: ModelConfig = { ...preset("tiny"), moe: { ...preset("tiny").moe, guidance: "none" } };
    const params = randomParams(cfg, 1, 0.1);
    const { volume, ids } = batch(cfg, 2, 4, 1);
    const { ours, theirs } = await bothActs(cfg, params, volume, ids);
    expect(theirs.has("act.text_guide")).toBe(false);
    expectAllClose(ours, theirs);
  });

  it("router ties: equal gates keep the lower expert first, as our topk (the ONNX TopK rule)", async () => {
    const cfg = preset("tiny");
    const params = randomParams(cfg, 2, 0.1);
    for (const l of cfg.vision.moeLayers) {
      for (let t = 0; t < cfg.moe.tasks; t++) { // expert 1's router row := expert 0's, so G_0 = G_1 bit for bit
        const w = params.get(`vision.blocks.${l}.moe.router.${t}.weight`)!, C2 = w.dim(1);
        w.data.copyWithin(C2, 0, C2);
      }
    }
    const { volume, ids } = batch(cfg, 2, 4, 2);
    const { ours, theirs } = await bothActs(cfg, params, volume, ids);
    const idx = theirs.get("act.blocks.2.moe.topk_idx")!.data, w = theirs.get("act.blocks.2.moe.topk_w")!.data;
    let ties = 0;
    for (let i = 0; i < idx.length; i += 2) {
      if (w[i] === w[i + 1]) {
        ties++;
        expect([idx[i], idx[i + 1]]).toEqual([0, 1]);
      }
    }
    expect(ties).toBeGreaterThan(10);
    expectAllClose(ours, theirs);
  });
});

describe("CLI", () => {
  it("export-onnx then verify --onnx: exit 0 on the golden file, 1 on a perturbed copy, 2 on a missing folder", async () => {
    const lines: string[] = [];
    const io: Io = { out: (l) => lines.push(l), err: () => {} };
    const out = join(dir, "cli");
    expect(await runCli(["export-onnx", "--checkpoint", GOLDEN.pathname, "--out", out], io)).toBe(EXIT.ok);
    expect(lines[0]).toMatch(/^encoder\.onnx: \d+ bytes, opset 17, f32 weights, volume depth 4$/);
    lines.length = 0;
    expect(await runCli(["verify", GOLDEN.pathname, "--onnx", out], io)).toBe(EXIT.ok);
    expect(lines[0]).toMatch(/recomputed on onnxruntime-web \(wasm\)/);
    expect(lines.at(-1)).toMatch(/^PASS: all 16 act\.\* tensors/);
    const { tensors, metadata, dtypes } = readSafetensors(golden); // the file's expected logits moved
    (tensors.get("act.lm.logits") as F32Tensor).data[5] += 0.1;
    const bad = join(dir, "bad.safetensors");
    await (await import("node:fs/promises")).writeFile(bad, writeSafetensors(tensors, { metadata, dtypes }));
    lines.length = 0;
    expect(await runCli(["verify", bad, "--onnx", out], io)).toBe(EXIT.mismatch);
    expect(lines.at(-1)).toMatch(/^FAIL: first divergence at act\.lm\.logits/);
    expect(await runCli(["verify", GOLDEN.pathname, "--onnx", join(dir, "nothing")], io)).toBe(EXIT.usage);
  });
});

describe("the shipped checkpoint", () => {
  it("greedy answers on the four sample CTs (a report and a question each) equal generate's token for token", async () => {
    const model = await loadModel(CHECKPOINT.pathname);
    const exp = await exportOnnx(model.cfg, model.params, { depth: model.preprocess!.grid[0], backend: model.backend });
    const s = await OnnxSessions.open(model.cfg, graphsOf(exp));
    try {
      const names = ["ct-2026-000064", "ct-2026-000089", "ct-2026-000037", "ct-2026-000046"];
      for (const [name, prompt] of names.flatMap((n) => [[n, "Describe the findings of this chest CT."], [n, "Are there any pulmonary nodules?"]])) {
        const volume = model.prepareVolume(readNifti(new Uint8Array(await readFile(new URL(`${name}.nii.gz`, SAMPLES)))));
        const ours = await model.generate({ volume, prompt, maxNewTokens: 64 });
        const theirs = await generateOnnx(s, model.cfg, model.tokenizer, { volume, prompt, maxNewTokens: 64 });
        expect(theirs.tokens, `${name}: ${prompt}`).toEqual(ours.tokens);
        expect(theirs.stopReason).toBe(ours.stopReason);
        expect(theirs.group).toBe(ours.task!.index);
      }
    } finally {
      await s.release();
    }
  });
});
