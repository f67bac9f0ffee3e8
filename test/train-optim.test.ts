/**
 * The optimiser side of training: AdamW against steps computed by hand and, on both backends, against
 * its former JS loop bit for bit, weight decay on matrices only, untouched parameters without
 * gradients, bias-correction powers, clipping by global norm (and its former sum's bits),
 * the warm-up + cosine schedule, and the stage freezing presets.
 */
import { describe, expect, it } from "vitest";
import { preset } from "../src/model/config.js";
import { initParams, paramSpecs, type Params } from "../src/model/params.js";
import { Tensor } from "../src/tensor.js";
import { ADAMW_DEFAULTS, AdamW, clipGradNorm, decays, powInt } from "../src/train/adamw.js";
import { stageSpec, trainableNames } from "../src/train/freeze.js";
import { Grads } from "../src/train/grads.js";
import { lrAt, type Schedule } from "../src/train/schedule.js";
import { Rng } from "../src/rng.js";
import { wasmBackend } from "./util/backends.js";
import { assertSameBits, assertClose, shaped } from "./util/close.js";

/** A two-tensor "model": a [2, 2] matrix (decays) and a [2] bias (does not). */
function tiny(w: number[], b: number[]): Params {
  return new Map([["m.weight", new Tensor("f32", [2, 2], Float32Array.from(w))], ["m.bias", new Tensor("f32", [2], Float32Array.from(b))]]);
}
function gradsFor(params: Params, g: Record<string, number[]>): Grads {
  const grads = new Grads(params, (n) => n in g);
  for (const [n, v] of Object.entries(g)) grads.slot(n).data.set(v);
  return grads;
}

const f = Math.fround;
/** AdamW.updateOne's former scalar loop, before the elementwise step became a backend op: the bit oracle. */
class FormerAdamW {
  readonly m = new Map<string, Float32Array>();
  readonly v = new Map<string, Float32Array>();
  readonly steps = new Map<string, number>();
  update(params: Params, grads: Grads, lr: number, scaleOf: (name: string) => number): void {
    const { beta1, beta2, eps, weightDecay } = ADAMW_DEFAULTS;
    for (const name of grads.names()) {
      const p = params.get(name)!, w = p.data, gd = grads.get(name)!.data, rate = lr * scaleOf(name);
      if (!this.m.has(name)) (this.m.set(name, new Float32Array(w.length)), this.v.set(name, new Float32Array(w.length)));
      const m = this.m.get(name)!, v = this.v.get(name)!, t = (this.steps.get(name) ?? 0) + 1;
      this.steps.set(name, t);
      const decay = f(1 - rate * (decays(p.shape) ? weightDecay : 0));
      const b1 = f(beta1), c1 = f(1 - beta1), b2 = f(beta2), c2 = f(1 - beta2);
      const stepSize = f(rate / (1 - powInt(beta1, t))), bc2Sqrt = f(Math.sqrt(1 - powInt(beta2, t))), e = f(eps);
      for (let i = 0; i < w.length; i++) {
        const gi = gd[i];
        m[i] = f(f(b1 * m[i]) + f(c1 * gi));
        v[i] = f(f(b2 * v[i]) + f(c2 * f(gi * gi)));
        const denom = f(f(f(Math.sqrt(v[i])) / bc2Sqrt) + e);
        w[i] = f(f(w[i] * decay) - f(stepSize * f(m[i] / denom)));
      }
    }
  }
}
/** clipGradNorm as it was (for...of sum), the bit oracle of the indexed one. */
function formerClip(grads: Grads, maxNorm: number): number {
  let sq = 0;
  for (const name of grads.names()) for (const x of grads.get(name)!.data) sq += x * x;
  const norm = Math.sqrt(sq), coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const name of grads.names()) grads.get(name)!.data.forEach((x, i, d) => (d[i] = f(x * f(coef))));
  return norm;
}

describe("AdamW", () => {
  it("two steps equal the hand-computed values (beta1 0.9, beta2 0.95, eps 1e-8, decay 0.01 on the matrix only)", () => {
    const params = tiny([1, -2, 0.5, 0], [1, 0]);
    const opt = new AdamW(ADAMW_DEFAULTS);
    const lr = 0.1;
    // step 1: g = 0.5 everywhere. m = 0.1 g = 0.05, v = 0.05 g^2 = 0.0125; m_hat = 0.5, v_hat = 0.25,
    // update = lr 0.5 / (0.5 + 1e-8); the matrix first shrinks by 1 - lr 0.01 = 0.999.
    opt.update(params, gradsFor(params, { "m.weight": [0.5, 0.5, 0.5, 0.5], "m.bias": [0.5, 0.5] }), lr);
    const u1 = (lr * 0.5) / (0.5 + 1e-8);
    const w1 = [1, -2, 0.5, 0].map((p) => p * 0.999 - u1), b1 = [1, 0].map((p) => p - u1);
    expect(Array.from(params.get("m.weight")!.data)).toEqual(w1.map(Math.fround));
    expect(Array.from(params.get("m.bias")!.data)).toEqual(b1.map(Math.fround));
    // step 2: g = -0.25. m = 0.9*0.05 - 0.1*0.25 = 0.02, v = 0.95*0.0125 + 0.05*0.0625 = 0.015;
    // m_hat = 0.02 / (1 - 0.81), v_hat = 0.015 / (1 - 0.9025)
    opt.update(params, gradsFor(params, { "m.weight": [-0.25, -0.25, -0.25, -0.25], "m.bias": [-0.25, -0.25] }), lr);
    const u2 = (lr * (0.02 / 0.19)) / (Math.sqrt(0.015 / 0.0975) + 1e-8);
    const w2 = w1.map((p) => p * 0.999 - u2), b2 = b1.map((p) => p - u2);
    // float32 arithmetic throughout (the implementation) vs float64 by hand: within 2 ulp at |p| <= 2
    assertClose("m.weight after 2 steps", params.get("m.weight")!, shaped(params.get("m.weight")!.shape, w2), { atol: 3e-7, rtol: 0 });
    assertClose("m.bias after 2 steps", params.get("m.bias")!, shaped([2], b2), { atol: 3e-7, rtol: 0 });
    expect(opt.steps.get("m.weight")).toBe(2);
    assertClose("AdamW m of m.bias", opt.m.get("m.bias")!.data[0], 0.02, { atol: 5e-8, rtol: 0 });
    assertClose("AdamW v of m.bias", opt.v.get("m.bias")!.data[0], 0.015, { atol: 5e-8, rtol: 0 });
  });

  it("leaves a parameter without a gradient untouched (no decay, no moments, no step count)", () => {
    const params = tiny([1, 2, 3, 4], [5, 6]);
    const before = params.get("m.weight")!.data.slice();
    const opt = new AdamW();
    for (let s = 0; s < 3; s++) opt.update(params, gradsFor(params, { "m.bias": [0.1, -0.1] }), 1e-2);
    assertSameBits("m.weight", params.get("m.weight")!.data, before);
    expect(opt.m.has("m.weight")).toBe(false);
    expect(opt.steps.get("m.bias")).toBe(3);
  });

  it("decays exactly the tensors of rank >= 2 (matrices, embeddings, pos_embed, patch kernel)", () => {
    const decayed = [...paramSpecs(preset("tiny"))].filter(([, s]) => decays(s)).map(([n]) => n);
    expect(decayed).toContain("vision.patch_embed.weight");
    expect(decayed).toContain("vision.pos_embed");
    expect(decayed).toContain("lm.embed.weight");
    expect(decayed).toContain("vision.blocks.2.moe.router.1.weight");
    expect(decayed.some((n) => n.endsWith(".bias") || /norm|ln[12]/.test(n) || n === "vision.class_embed")).toBe(false);
  });

  it("bias-correction powers b^t (repeated squaring: IEEE products only) are b^t to t ulp", () => {
    for (const b of [0.9, 0.95, 0.999]) {
      for (let t = 0; t <= 3000; t += 7) assertClose(`${b}^${t}`, powInt(b, t), b ** t, { atol: 0, rtol: (t + 2) * Number.EPSILON });
    }
    expect(powInt(0.9, 0)).toBe(1);
    expect(powInt(0.9, 2)).toBe(0.9 * 0.9);
  });

  it("on either backend gives the bits of the former JS loop (partial gradients, lr scales, several steps)", async () => {
    const cfg = preset("tiny"), rng = new Rng(17);
    const [former, onRef, onWasm] = [0, 1, 2].map(() => initParams(cfg, 3));
    const oracle = new FormerAdamW(), opts = [new AdamW(), new AdamW(ADAMW_DEFAULTS, await wasmBackend())];
    const scaleOf = (name: string) => (name.endsWith(".bias") ? 0.5 : 1);
    for (let step = 0; step < 4; step++) {
      const names = [...former.keys()].filter(() => rng.int(4) > 0); // about a quarter get no gradient this step
      const grads = gradsFor(former, Object.fromEntries(names.map((n) => [n, Array.from(rng.fill(former.get(n)!.size, -0.1, 0.1))])));
      const lr = 1e-3 * (step + 1);
      oracle.update(former, grads, lr, scaleOf);
      opts[0].update(onRef, grads, lr, scaleOf);
      opts[1].update(onWasm, grads, lr, scaleOf);
    }
    for (const [i, p] of [onRef, onWasm].entries()) {
      const opt = opts[i], label = i ? "wasm" : "reference";
      for (const [name, w] of former) {
        assertSameBits(`${label} ${name}`, p.get(name)!.data, w.data);
        expect(opt.steps.get(name), name).toBe(oracle.steps.get(name));
        if (!oracle.m.has(name)) continue;
        assertSameBits(`${label} m ${name}`, opt.m.get(name)!.data, oracle.m.get(name)!);
        assertSameBits(`${label} v ${name}`, opt.v.get(name)!.data, oracle.v.get(name)!);
      }
    }
  });

  it("rejects bad settings", () => {
    expect(() => new AdamW({ ...ADAMW_DEFAULTS, beta2: 1 })).toThrow(/beta2/);
    const params = tiny([1, 1, 1, 1], [1, 1]);
    expect(() => new AdamW().update(params, gradsFor(params, {}), NaN)).toThrow(/lr/);
  });
});

describe("clipGradNorm", () => {
  it("scales to the global norm maxNorm / (norm + 1e-6) when above it, returns the norm before clipping", () => {
    const params = tiny([0, 0, 0, 0], [0, 0]);
    const grads = gradsFor(params, { "m.weight": [3, 0, 0, 0], "m.bias": [0, 4] });
    expect(clipGradNorm(grads, 1)).toBe(5);
    const c = Math.fround(1 / (5 + 1e-6));
    expect(Array.from(grads.get("m.weight")!.data)).toEqual([Math.fround(3 * c), 0, 0, 0]);
    expect(Array.from(grads.get("m.bias")!.data)).toEqual([0, Math.fround(4 * c)]);
    let sq = 0;
    for (const n of grads.names()) for (const x of grads.get(n)!.data) sq += x * x;
    assertClose("clipped norm", Math.sqrt(sq), 1, { atol: 1e-6, rtol: 0 });
  });

  it("gives the bits of the former for...of sum (norm and clipped gradients)", () => {
    const params = initParams(preset("tiny"), 5), rng = new Rng(9);
    for (const maxNorm of [1e9, 0.5]) {
      const names = [...params.keys()].filter(() => rng.int(3) > 0);
      const g = Object.fromEntries(names.map((n) => [n, Array.from(rng.fill(params.get(n)!.size, -0.05, 0.05))]));
      const grads = gradsFor(params, g), oracle = gradsFor(params, g);
      expect(clipGradNorm(grads, maxNorm)).toBe(formerClip(oracle, maxNorm));
      for (const n of names) assertSameBits(`clipped ${n}`, grads.get(n)!.data, oracle.get(n)!.data);
    }
  });

  it("leaves gradients below the norm bit for bit", () => {
    const params = tiny([0, 0, 0, 0], [0, 0]);
    const grads = gradsFor(params, { "m.weight": [0.3, -0.1, 0.2, 0], "m.bias": [0.4, 0] });
    const before = grads.get("m.weight")!.data.slice();
    assertClose("clipGradNorm(grads, 1)", clipGradNorm(grads, 1), Math.sqrt(0.3 ** 2 + 0.1 ** 2 + 0.2 ** 2 + 0.4 ** 2), { atol: 5e-7, rtol: 0 });
    assertSameBits("clip no-op", grads.get("m.weight")!.data, before);
  });
});

describe("learning-rate schedule", () => {
  const sc: Schedule = { peak: 1e-3, warmup: 10, total: 110, floor: 1e-4 };
  it("linear warm-up to the peak, cosine to the floor at `total`, the floor after", () => {
    assertClose("lrAt(0, sc)", lrAt(0, sc), 1e-4, { atol: 5e-16, rtol: 0 });
    assertClose("lrAt(4, sc)", lrAt(4, sc), 5e-4, { atol: 5e-16, rtol: 0 });
    assertClose("lrAt(9, sc)", lrAt(9, sc), 1e-3, { atol: 5e-16, rtol: 0 });
    assertClose("lrAt(10, sc)", lrAt(10, sc), 1e-3, { atol: 5e-16, rtol: 0 });
    assertClose("lrAt(60, sc)", lrAt(60, sc), 5.5e-4, { atol: 5e-16, rtol: 0 }); // half way: floor + (peak - floor) / 2
    assertClose("lrAt(35, sc)", lrAt(35, sc), 1e-4 + 9e-4 * (1 + Math.cos(Math.PI / 4)) / 2, { atol: 5e-16, rtol: 0 });
    expect(lrAt(110, sc)).toBe(1e-4);
    expect(lrAt(5000, sc)).toBe(1e-4);
    for (let s = 10; s < 110; s++) expect(lrAt(s + 1, sc)).toBeLessThanOrEqual(lrAt(s, sc));
    expect(lrAt(0, { peak: 2e-4, warmup: 0, total: 10, floor: 0 })).toBe(2e-4);
  });
  it("rejects an inconsistent schedule", () => {
    expect(() => lrAt(0, { ...sc, floor: 2e-3 })).toThrow(/floor <= peak/);
    expect(() => lrAt(0, { ...sc, total: 5 })).toThrow(/warmup <= total/);
    expect(() => lrAt(-1, sc)).toThrow(/s:/);
  });
});

describe("stage presets (spec section 7)", () => {
  const cfg = preset("tiny");
  it("stage 1 freezes the slice blocks and the embedding, trains volume blocks, projector and LM", () => {
    const names = trainableNames(cfg, stageSpec(cfg, 1));
    expect(names.some((n) => /^vision\.(patch_embed|class_embed|pos_embed|pre_norm|blocks\.[01]\.)/.test(n))).toBe(false);
    expect(names).toContain("vision.blocks.2.attn.qkv.weight");
    expect(names).toContain("projector.fc1.weight");
    expect(names).toContain("lm.embed.weight");
    expect(names.length).toBe([...initParams(cfg, 0).keys()].filter((n) => !/^vision\.(patch_embed|class_embed|pos_embed|pre_norm|blocks\.[01]\.)/.test(n)).length);
  });
  it("stage 2 trains routed experts, routers, task gates, text_proj, projector and LM; the shared experts and the rest of the encoder stay frozen", () => {
    const names = trainableNames(cfg, stageSpec(cfg, 2));
    expect(names.every((n) => /^(vision\.blocks\.[23]\.moe\.(experts|router|task_gate)\.|moe\.text_proj\.|projector\.|lm\.)/.test(n))).toBe(true);
    expect(names).toContain("projector.fc2.weight");
    expect(names).toContain("lm.blocks.1.mlp.down.weight");
    expect(names.some((n) => n.startsWith("vision.blocks.3.attn."))).toBe(false);
    expect(names).toContain("vision.blocks.3.moe.experts.1.3.fc2.bias");
    expect(names).toContain("vision.blocks.2.moe.router.0.weight");
    expect(names.filter((n) => n.includes(".shared."))).toEqual([]);
    expect(trainableNames(cfg, stageSpec(cfg, 0)).length).toBe(paramSpecs(cfg).size);
  });
});
