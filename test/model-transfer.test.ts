// Moving weights between model forms: 2D -> 3D transfer (no parameter added), the Hugging Face
// CLIPVisionModel key map (q, k, v fused), and upcycling dense -> TGH-MoE (end to end invariant).
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { ShapeError, ValueError } from "../src/errors.js";
import { preset, withConfig, type ModelConfig } from "../src/model/config.js";
import { forward } from "../src/model/model.js";
import { initTensor, paramSpecs, scope } from "../src/model/params.js";
import { fromHfClipVision, hfClipKeyMap, transferTo3d } from "../src/model/transfer.js";
import { upcycle } from "../src/model/upcycle.js";
import { qkv } from "../src/model/vit.js";
import { Tensor, type F32Tensor } from "../src/tensor.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { assertClose, assertSameBits } from "./util/close.js";
import { batch, randomParams } from "./util/model.js";
import { data } from "./util/prop.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  wasm = await wasmBackend();
  ref = await referenceBackend();
});

const dense2d = (): ModelConfig => withConfig(preset("tiny"), { vision: { volumeLayers: 0, moeLayers: [], act: "quick_gelu" } });

describe("2D -> 3D transfer", () => {
  it("keeps every tensor (same objects), adds none, and only changes the config", () => {
    const cfg2 = dense2d();
    const p2 = randomParams(cfg2, 1);
    const { params, cfg } = transferTo3d(p2, cfg2, { volumeLayers: 2, depthPatch: 2, rope: "dhw", depthPool: 1 });
    expect([...params.keys()]).toEqual([...p2.keys()]);
    for (const [name, t] of p2) expect(params.get(name)).toBe(t);
    expect(cfg.vision).toMatchObject({ volumeLayers: 2, depthPatch: 2, rope: "dhw" });
    const out = forward(ref, params, cfg, batch(cfg, 1, 4, 2));
    expect(out.logits.data.every(Number.isFinite)).toBe(true);
    expect(() => transferTo3d(p2, cfg2, { volumeLayers: 5 })).toThrow("config: vision.volume_layers");
  });
});

describe("Hugging Face CLIPVisionModel key map", () => {
  /** A fake CLIP state dict with distinct random values per tensor, plus names we do not use. */
  function fakeClip(cfg: ModelConfig): Map<string, F32Tensor> {
    const C = cfg.vision.width;
    const specs = paramSpecs(cfg);
    const hf = new Map<string, F32Tensor>();
    let seed = 100;
    for (const { ours, hf: names } of hfClipKeyMap(cfg.vision.layers)) {
      const shape = [...specs.get(ours)!];
      if (names.length === 3) shape[0] = C; // q, k, v: [C, C] or [C]
      for (const n of names) hf.set(n, new Tensor("f32", shape, data(seed++, shape.reduce((a, b) => a * b, 1))));
    }
    hf.set("vision_model.post_layernorm.weight", new Tensor("f32", [C]));
    hf.set("vision_model.post_layernorm.bias", new Tensor("f32", [C]));
    return hf;
  }

  it("maps every vision.* name, fuses q, k, v into qkv in that order, reports the unused names", () => {
    const cfg = dense2d();
    const hf = fakeClip(cfg);
    const { params, unused } = fromHfClipVision(hf, cfg);
    expect([...params.keys()].sort()).toEqual([...paramSpecs(cfg).keys()].filter((n) => n.startsWith("vision.")).sort());
    expect(unused).toEqual(["vision_model.post_layernorm.bias", "vision_model.post_layernorm.weight"]);
    assertSameBits("patch", params.get("vision.patch_embed.weight")!.data, hf.get("vision_model.embeddings.patch_embedding.weight")!.data);
    assertSameBits("ln2", params.get("vision.blocks.3.ln2.bias")!.data, hf.get("vision_model.encoder.layers.3.layer_norm2.bias")!.data);
    const C = 32, qkvW = params.get("vision.blocks.1.attn.qkv.weight")!, qkvB = params.get("vision.blocks.1.attn.qkv.bias")!;
    ["q", "k", "v"].forEach((x, i) => {
      const h = "vision_model.encoder.layers.1.self_attn.";
      assertSameBits(`${x} rows`, qkvW.data.subarray(i * C * C, (i + 1) * C * C), hf.get(`${h}${x}_proj.weight`)!.data);
      assertSameBits(`${x} bias`, qkvB.data.subarray(i * C, (i + 1) * C), hf.get(`${h}${x}_proj.bias`)!.data);
    });
  });

  it("the fused projection gives CLIP's separate q, k, v", () => {
    const cfg = dense2d();
    const hf = fakeClip(cfg);
    const { params } = fromHfClipVision(hf, cfg);
    const u = new Tensor("f32", [2, 17, 32], data(5, 2 * 17 * 32));
    const got = qkv(ref, scope(params, "vision.blocks.0"), u, 4);
    const h = "vision_model.encoder.layers.0.self_attn.";
    for (const x of ["q", "k", "v"] as const) {
      assertSameBits(x, got[x].data, ref.linear(u, hf.get(`${h}${x}_proj.weight`)!, hf.get(`${h}${x}_proj.bias`)!).data);
    }
  });

  it("names a missing or misshapen tensor, refuses an MoE config", () => {
    const cfg = dense2d();
    const hf = fakeClip(cfg);
    hf.delete("vision_model.encoder.layers.2.self_attn.k_proj.bias");
    expect(() => fromHfClipVision(hf, cfg)).toThrow("vision_model.encoder.layers.2.self_attn.k_proj.bias: missing");
    const hf2 = fakeClip(cfg);
    hf2.set("vision_model.embeddings.class_embedding", new Tensor("f32", [31]));
    expect(() => fromHfClipVision(hf2, cfg)).toThrow(ShapeError);
    expect(() => fromHfClipVision(hf2, preset("tiny"))).toThrow(ValueError);
  });
});

describe("upcycling dense -> TGH-MoE", () => {
  const cfg = preset("tiny"); // MoE in blocks 2, 3; a_shared + a_routed = 1; renormalize
  const denseCfg = withConfig(cfg, { vision: { moeLayers: [] } });

  it("shared and routed experts copy the dense MLP, new tensors follow the seeded init, all fresh copies", () => {
    const dense = randomParams(denseCfg, 3);
    const up = upcycle(dense, cfg, 77);
    expect([...up.keys()]).toEqual([...paramSpecs(cfg).keys()]);
    const mlpW = dense.get("vision.blocks.2.mlp.fc2.weight")!;
    assertSameBits("shared", up.get("vision.blocks.2.moe.shared.0.fc2.weight")!.data, mlpW.data);
    assertSameBits("expert", up.get("vision.blocks.2.moe.experts.1.3.fc2.weight")!.data, mlpW.data);
    expect(up.get("vision.blocks.2.moe.experts.1.3.fc2.weight")).not.toBe(mlpW);
    const name = "vision.blocks.3.moe.router.1.weight";
    assertSameBits("router", up.get(name)!.data, initTensor(name, [4, 64], 77).data);
    assertSameBits("unchanged", up.get("lm.embed.weight")!.data, dense.get("lm.embed.weight")!.data);
    const zero = upcycle(dense, withConfig(cfg, { moe: { expertInit: "zero_out" } }), 77);
    expect(Array.from(zero.get("vision.blocks.3.moe.experts.0.2.fc2.weight")!.data).every((x) => x === 0)).toBe(true);
    assertSameBits("zero_out fc1", zero.get("vision.blocks.3.moe.experts.0.2.fc1.weight")!.data, dense.get("vision.blocks.3.mlp.fc1.weight")!.data);
    expect(() => upcycle(up, cfg, 1)).toThrow(ValueError); // not dense parameters
  });

  it("the upcycled model computes the dense model's logits whatever the routers say", () => {
    const dense = randomParams(denseCfg, 4);
    const input = batch(cfg, 2, 4, 6);
    for (const be of [ref, wasm]) {
      const want = forward(be, dense, denseCfg, input).logits;
      for (const task of [undefined, [1, 0]]) {
        const got = forward(be, upcycle(dense, cfg, 9, { std: 1 }), cfg, { ...input, task });
        // Tolerance: (0.5 + 0.5 (w1 + w2)) F(u) with w1 + w2 = 1 up to float32 rounding, through 2 LM blocks
        assertClose(`${be.name} upcycled logits`, got.logits, want, { atol: 1e-4, rtol: 1e-4 });
      }
    }
  });
});
