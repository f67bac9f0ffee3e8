// The vision side: slice embedding, the 2D -> 3D transfer invariants of spec section 3 (one slice =
// 2D encoder, same-slice attention logits, depth patching), rotary positions, projector merge order.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { preset, withConfig, type ModelConfig } from "../src/model/config.js";
import { encode, ropePositions } from "../src/model/encoder.js";
import { scope } from "../src/model/params.js";
import { mergeTokens } from "../src/model/projector.js";
import { embedSlices, qkv } from "../src/model/vit.js";
import { Tensor, permute, type F32Tensor } from "../src/tensor.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { assertClose, shaped, assertSameBits } from "./util/close.js";
import { randomParams, smallConfig } from "./util/model.js";
import { check, data, dataSeed } from "./util/prop.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  wasm = await wasmBackend();
  ref = await referenceBackend();
});

function volumeOf(cfg: ModelConfig, B: number, D: number, seed: number): F32Tensor {
  const H = cfg.vision.image;
  return new Tensor("f32", [B, 1, D, H, H], data(seed, B * D * H * H, 0, 1));
}

describe("slice embedding", () => {
  it("a zero volume embeds as LN(class + pos[0]) then LN(pos[j]): class token first, pos_embed per token", () => {
    const cfg = preset("tiny");
    const params = randomParams(cfg, 2);
    const P = scope(params, "vision");
    const S = 17, C = 32;
    const x = embedSlices(ref, P, cfg.vision, new Tensor("f32", [1, 1, 2, 32, 32]));
    const rows = P("pos_embed").clone();
    for (let c = 0; c < C; c++) rows.data[c] += P("class_embed").data[c];
    const want = ref.layerNorm(rows, P("pre_norm.weight"), P("pre_norm.bias"), 1e-5);
    expect(x.shape).toEqual([1, 2, S, C]);
    for (let d = 0; d < 2; d++) assertSameBits(`slice ${d}`, x.data.subarray(d * S * C, (d + 1) * S * C), want.data);
  });

  it("depth_patch t: a volume constant along each depth patch embeds as its 2D slice", () => {
    check(fc.record({ t: fc.constantFrom(2, 3, 4), seed: dataSeed }), ({ t, seed }) => {
      const cfg2 = preset("tiny"), cfgT = withConfig(cfg2, { vision: { depthPatch: t } });
      const P = scope(randomParams(cfg2, seed), "vision");
      const slice = volumeOf(cfg2, 1, 1, seed);
      const vol = new Tensor("f32", [1, 1, t, 32, 32]);
      for (let s = 0; s < t; s++) vol.data.set(slice.data, s * 1024);
      // Tolerance: t float32 products with W/t instead of one with W; LayerNorm output of order 1
      assertClose(`depth patch t=${t}`, embedSlices(ref, P, cfgT.vision, vol), embedSlices(ref, P, cfg2.vision, slice), { atol: 1e-5, rtol: 1e-5 });
    }, 6);
  });
});

describe("transfer to 3D (spec section 3 invariants)", () => {
  it("a one-slice volume gives exactly the 2D encoder's output (rope depth), both backends", () => {
    const arb = fc.record({ cfg: smallConfig, B: fc.integer({ min: 1, max: 2 }), seed: dataSeed });
    check(arb, ({ cfg: drawn, B, seed }) => {
      const cfg3 = withConfig(drawn, { vision: { rope: "depth", depthPatch: 1, volumeLayers: drawn.vision.layers } });
      const cfg2 = withConfig(cfg3, { vision: { volumeLayers: 0 } });
      const params = randomParams(cfg3, seed);
      const x0 = embedSlices(ref, scope(params, "vision"), cfg3.vision, volumeOf(cfg3, B, 1, seed + 1));
      const g = new Tensor("f32", [B, cfg3.vision.width], data(seed + 2, B * cfg3.vision.width));
      for (const be of [ref, wasm]) {
        assertSameBits(`${be.name} 1-slice`, encode(be, params, cfg3, x0, { g }).x.data, encode(be, params, cfg2, x0, { g }).x.data);
      }
    }, 20);
  });

  it("two tokens of the same slice see the same attention logit as in 2D (rope depth)", () => {
    const cfg = preset("tiny");
    const params = randomParams(cfg, 5);
    const P = scope(params, "vision.blocks.3");
    const D = 3, S = 17, C = 32, NH = 4, dh = 8;
    const u = new Tensor("f32", [1, D * S, C], data(6, D * S * C));
    const logits = (q: F32Tensor, k: F32Tensor, T: number) => {
      const heads = (t: F32Tensor) => permute(t.reshape([T, NH, dh]), [1, 0, 2]); // [NH, T, dh]
      return ref.matmul(heads(q), heads(k), { transB: true }); // [NH, T, T]
    };
    const vol = qkv(ref, P, u, NH, ropePositions(cfg.vision, D));
    const lv = logits(vol.q, vol.k, D * S);
    for (let d = 0; d < D; d++) {
      const ud = new Tensor("f32", [1, S, C], u.data.slice(d * S * C, (d + 1) * S * C));
      const flat = qkv(ref, P, ud, NH);
      const l2 = logits(flat.q, flat.k, S);
      const got = new Float32Array(NH * S * S);
      for (let h = 0; h < NH; h++) for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) got[(h * S + i) * S + j] = lv.data[(h * D * S + d * S + i) * D * S + d * S + j];
      // Tolerance: q and k rotated by the same angle in float32 (a few ulp of |q||k| ~ 10)
      assertClose(`slice ${d} logits`, shaped([NH, S, S], got), l2, { atol: 2e-5, rtol: 1e-5 });
    }
  });

  it("rotary positions: depth = d; dhw = (d, r+1, c+1), class token (d, 0, 0)", () => {
    const cfg = withConfig(preset("tiny"), { vision: { image: 16, patch: 8, rope: "dhw" } }); // n = 2, S = 5
    const r = ropePositions(cfg.vision, 2);
    expect(r.pos.shape).toEqual([10, 3]);
    expect(Array.from(r.pos.data)).toEqual([
      0, 0, 0, 0, 1, 1, 0, 1, 2, 0, 2, 1, 0, 2, 2,
      1, 0, 0, 1, 1, 1, 1, 1, 2, 1, 2, 1, 1, 2, 2,
    ]);
    expect(r.sections).toEqual([2, 1, 1]);
    const depth = ropePositions(withConfig(cfg, { vision: { rope: "depth" } }).vision, 2);
    expect(Array.from(depth.pos.data)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    expect(depth.sections).toEqual([4]);
  });

  it("dhw with sections [dh/2, 0, 0] encodes exactly like depth", () => {
    const base = preset("tiny");
    const dhw = withConfig(base, { vision: { rope: "dhw", ropeSections: [4, 0, 0] } });
    const params = randomParams(base, 8);
    const x0 = embedSlices(ref, scope(params, "vision"), base.vision, volumeOf(base, 1, 2, 9));
    const g = new Tensor("f32", [1, 32], data(10, 32));
    for (const be of [ref, wasm]) assertSameBits(`${be.name} dhw [4,0,0]`, encode(be, params, dhw, x0, { g }).x.data, encode(be, params, base, x0, { g }).x.data);
  });
});

describe("projector token merge", () => {
  // x[0, d, 1 + r*n + c, ch] = 1000 d + 100 r + 10 c + ch; class tokens -1 (must be dropped)
  const n = 4, C = 2, D = 2, S = 1 + n * n;
  const x = new Tensor("f32", [1, D, S, C]);
  for (let d = 0; d < D; d++) for (let j = 0; j < S; j++) for (let ch = 0; ch < C; ch++) {
    const r = Math.floor((j - 1) / n), c = (j - 1) % n;
    x.data[(d * S + j) * C + ch] = j === 0 ? -1 : 1000 * d + 100 * r + 10 * c + ch;
  }

  it("concatenates (2r,2c), (2r,2c+1), (2r+1,2c), (2r+1,2c+1) and flattens (d, r, c)", () => {
    const z = mergeTokens(ref, x, 1);
    expect(z.shape).toEqual([1, 8, 8]);
    // token (d=1, r=1, c=0) is index 1*4 + 1*2 + 0 = 6: neighbours (2,0), (2,1), (3,0), (3,1) of slice 1
    expect(Array.from(z.data.subarray(6 * 8, 7 * 8))).toEqual([1200, 1201, 1210, 1211, 1300, 1301, 1310, 1311]);
    expect(Array.from(z.data.subarray(0, 8))).toEqual([0, 1, 10, 11, 100, 101, 110, 111]);
    expect(Array.from(z.data.subarray(3 * 8, 4 * 8))).toEqual([220, 221, 230, 231, 320, 321, 330, 331]);
  });

  it("depth_pool averages consecutive slices", () => {
    for (const be of [ref, wasm]) {
      const z = mergeTokens(be, x, 2);
      expect(z.shape).toEqual([1, 4, 8]);
      expect(Array.from(z.data.subarray(2 * 8, 3 * 8))).toEqual([700, 701, 710, 711, 800, 801, 810, 811]);
    }
  });
});
