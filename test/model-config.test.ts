// Config (section 9 keys, validation, presets), parameter names and counts, seeded init, and the
// deterministic math behind it (src/detmath.ts, Rng.normal).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cos, exp, log, sin } from "../src/detmath.js";
import { ValueError } from "../src/errors.js";
import { PRESET_NAMES, fromSpecJson, preset, toSpecJson, withConfig } from "../src/model/config.js";
import { paramCount } from "../src/model/params.js";
import { checkParams, getParam, initParams, paramSpecs } from "../src/model/params.js";
import { sizes } from "../src/model/sizes.js";
import { Rng } from "../src/rng.js";
import { Tensor } from "../src/tensor.js";
import { assertSameBits, assertClose } from "./util/close.js";
import { check } from "./util/prop.js";

// The key list of SPEC.md section 9, copied by hand (names in files may not differ).
const SPEC_KEYS = {
  vision: "image patch c_in width heads layers volume_layers mlp_ratio act norm_eps depth_patch rope rope_base rope_sections moe_layers",
  moe: "tasks experts top_k shared_experts a_shared a_routed task_routing renormalize expert_init",
  projector: "depth_pool act",
  lm: "vocab width heads kv_heads layers mlp_hidden norm_eps rope_base tie_embeddings",
  tokens: "bos eos pad img_start img_end image sep",
};

describe("config", () => {
  it("every preset stores exactly the section 9 keys and round-trips through JSON", () => {
    for (const name of PRESET_NAMES) {
      const cfg = preset(name);
      const json = toSpecJson(cfg);
      expect(Object.keys(json)).toEqual(Object.keys(SPEC_KEYS));
      for (const [sec, keys] of Object.entries(SPEC_KEYS)) expect(Object.keys(json[sec])).toEqual(keys.split(" "));
      expect(fromSpecJson(JSON.stringify(json))).toEqual(cfg);
    }
  });

  // [key, bad value]: each must be refused with a ValueError that names the key
  const BAD: [string, unknown][] = [
    ["vision.image", 30], ["vision.image", 40], ["vision.patch", 0], ["vision.c_in", 1.5], ["vision.width", 30], ["vision.heads", 0],
    ["vision.layers", -1], ["vision.volume_layers", 5], ["vision.mlp_ratio", 0], ["vision.act", "relu"], ["vision.norm_eps", -1],
    ["vision.depth_patch", 0], ["vision.rope", "xyz"], ["vision.rope_base", 0], ["vision.rope_sections", [2, 2, 2]],
    ["vision.rope_sections", [4]], ["vision.moe_layers", [3, 2]], ["vision.moe_layers", [4]], ["moe.tasks", 0], ["moe.experts", 0],
    ["moe.top_k", 5], ["moe.shared_experts", -1], ["moe.a_shared", "0.5"], ["moe.a_routed", Infinity], ["moe.task_routing", "auto"],
    ["moe.renormalize", 1], ["moe.expert_init", "copy"], ["projector.depth_pool", 0], ["projector.act", null], ["lm.vocab", 0],
    ["lm.width", 66], ["lm.heads", 0], ["lm.kv_heads", 3], ["lm.layers", 0], ["lm.mlp_hidden", 0], ["lm.norm_eps", NaN],
    ["lm.rope_base", -1], ["lm.tie_embeddings", "yes"], ["tokens.bos", 512], ["tokens.sep", 505], ["tokens.pad", -1],
  ];

  it("refuses bad values with a ValueError naming the spec key", () => {
    for (const [key, value] of BAD) {
      const [sec, k] = key.split(".");
      const json = toSpecJson(preset("tiny"));
      json[sec][k] = value;
      expect(() => fromSpecJson(json), key).toThrow(ValueError);
      expect(() => fromSpecJson(json), key).toThrow(`config: ${key}: expected`);
    }
  });

  it("refuses missing and unknown keys and sections", () => {
    const json = toSpecJson(preset("tiny"));
    delete json.moe.top_k;
    expect(() => fromSpecJson(json)).toThrow("config: moe.top_k: missing");
    expect(() => fromSpecJson({ ...toSpecJson(preset("tiny")), extra: {} })).toThrow("config: extra: unknown section");
    const j2 = toSpecJson(preset("tiny"));
    j2.lm.topk = 3;
    expect(() => fromSpecJson(j2)).toThrow("config: lm.topk: unknown key");
    expect(() => fromSpecJson("{not json")).toThrow(ValueError);
  });

  it("rope_sections null or absent: accepted with rope \"depth\" (as the presets' split), refused with \"dhw\"; written as before", () => {
    for (const name of PRESET_NAMES) {
      const cfg = preset(name);
      const asNull = toSpecJson(cfg), absent = toSpecJson(cfg);
      expect(asNull.vision.rope).toBe("depth");
      asNull.vision.rope_sections = null;
      delete absent.vision.rope_sections;
      for (const json of [asNull, absent]) {
        const read = fromSpecJson(JSON.stringify(json));
        expect(read, name).toEqual(cfg);
        expect(toSpecJson(read).vision.rope_sections, name).toEqual([...cfg.vision.ropeSections]);
      }
    }
    const dhw = toSpecJson(withConfig(preset("tiny"), { vision: { rope: "dhw" } }));
    dhw.vision.rope_sections = null;
    expect(() => fromSpecJson(dhw)).toThrow("config: vision.rope_sections: expected");
    delete dhw.vision.rope_sections;
    expect(() => fromSpecJson(dhw)).toThrow("config: vision.rope_sections: missing");
  });

  it("tiny's parameter count matches the spec's shapes counted by hand", () => {
    const C = 32, H = 128, S = 17, d = 64, V = 512, F = 176, kv = 2 * 16;
    const ln = 2 * C, lin = (o: number, i: number) => o * i + o, mlp = lin(H, C) + lin(C, H);
    const attn = ln + lin(3 * C, C) + lin(C, C) + ln;
    const moeBlock = attn + lin(C, C) + lin(2, C) + 2 * 4 * 2 * C + mlp + 2 * 4 * mlp;
    const vision = C * 3 * 64 + C + S * C + ln + 2 * (attn + mlp) + 2 * moeBlock;
    const lm = V * d + 2 * (d + d * d + 2 * kv * d + d * d + d + 3 * F * d) + d;
    expect(paramCount(preset("tiny"))).toBe(vision + lin(C, d) + lin(d, 4 * C) + lin(d, d) + lm);
  });

  it("parameter names: MoE blocks carry moe.* instead of mlp.*, text_proj only with MoE, lm.head only untied", () => {
    const cfg = preset("tiny");
    const names = [...paramSpecs(cfg).keys()];
    expect(names.filter((n) => n.startsWith("vision.blocks.2.mlp"))).toEqual([]);
    expect(names).toContain("vision.blocks.1.mlp.fc2.bias");
    expect(names).toContain("vision.blocks.3.moe.experts.1.3.fc2.weight");
    expect(names).toContain("vision.blocks.3.moe.router.1.weight");
    expect(names).toContain("moe.text_proj.weight");
    expect(names).not.toContain("lm.head.weight");
    const dense = withConfig(cfg, { vision: { moeLayers: [] }, lm: { tieEmbeddings: false } });
    const dn = [...paramSpecs(dense).keys()];
    expect(dn.some((n) => n.includes("moe"))).toBe(false);
    expect(dn).toContain("lm.head.weight");
    for (const n of names) expect(n).toMatch(/^(vision|moe\.text_proj|projector|lm)\./);
  });

  it("sizes: token counts of the presets", () => {
    expect(sizes(preset("tiny"), 4)).toMatchObject({ tokensPerSlice: 17, volumeTokens: 68, imageTokens: 8 });
    expect(sizes(preset("m3d"), 32)).toMatchObject({ tokensPerSlice: 257, volumeTokens: 2056, imageTokens: 256 });
    expect(sizes(preset("phi3v"), 32)).toMatchObject({ tokensPerSlice: 577 });
  });
});

describe("params", () => {
  it("init: biases 0, norm weights 1, matrices N(0, 0.02^2); same seed same bits", () => {
    const cfg = preset("tiny");
    const a = initParams(cfg, 42), b = initParams(cfg, 42), c = initParams(cfg, 43);
    checkParams(a, cfg);
    for (const [name, t] of a) assertSameBits(name, t.data, b.get(name)!.data);
    expect(Array.from(a.get("vision.blocks.0.attn.qkv.bias")!.data).every((x) => x === 0)).toBe(true);
    expect(Array.from(a.get("lm.blocks.1.norm2.weight")!.data).every((x) => x === 1)).toBe(true);
    expect(Array.from(a.get("vision.pre_norm.weight")!.data).every((x) => x === 1)).toBe(true);
    const w = a.get("lm.embed.weight")!.data; // 32768 draws
    const mean = w.reduce((s, x) => s + x, 0) / w.length, sd = Math.sqrt(w.reduce((s, x) => s + (x - mean) ** 2, 0) / w.length);
    // 32768 draws of N(0, 0.02): the standard error of the mean is 1.1e-4, of the sd 7.8e-5
    assertClose("init mean, sd", [mean, sd], [0, 0.02], { atol: 0.0005, rtol: 0 });
    expect(c.get("lm.embed.weight")!.data[0]).not.toBe(w[0]);
  });

  it("a tensor's init does not depend on which other tensors exist", () => {
    const cfg = preset("tiny"), bigger = withConfig(cfg, { vision: { layers: 6, volumeLayers: 3, moeLayers: [4, 5] } });
    const a = initParams(cfg, 5), b = initParams(bigger, 5);
    for (const name of ["vision.blocks.0.attn.qkv.weight", "lm.embed.weight", "projector.fc1.weight"]) assertSameBits(name, a.get(name)!.data, b.get(name)!.data);
  });

  it("getParam and checkParams name the missing, misshapen or unknown tensor", () => {
    const cfg = preset("tiny");
    const p = initParams(cfg, 1);
    expect(() => getParam(p, "vision.blocks.9.ln1.weight")).toThrow("params: vision.blocks.9.ln1.weight: missing");
    p.set("vision.class_embed", new Tensor("f32", [31]));
    expect(() => checkParams(p, cfg)).toThrow("params: vision.class_embed: expected shape [32], got [31]");
    const q = initParams(cfg, 1);
    q.set("vision.extra", new Tensor("f32", [1]));
    expect(() => checkParams(q, cfg)).toThrow("params: vision.extra: not a parameter");
    q.delete("lm.norm.weight");
    expect(() => checkParams(q, cfg, true)).toThrow("params: lm.norm.weight: missing");
  });
});

describe("deterministic math", () => {
  // Tolerances: detmath is accurate to ~1 ulp (measured max relative error 2.2e-16); 1e-15 leaves room.
  it("exp, log, cos, sin agree with the platform's to 1e-15 (relative; absolute for cos/sin)", () => {
    check(fc.double({ min: -700, max: 700, noNaN: true }), (x) => {
      assertClose("exp", exp(x), Math.exp(x), { atol: 0, rtol: 1e-15 });
    }, 500);
    check(fc.double({ min: Number.MIN_VALUE, max: 1e300, noNaN: true }), (x) => {
      assertClose("log", log(x), Math.log(x), { atol: 1e-15, rtol: 1e-15 });
    }, 500);
    check(fc.double({ min: -1e4, max: 1e4, noNaN: true }), (x) => {
      assertClose("cos, sin", [cos(x), sin(x)], [Math.cos(x), Math.sin(x)], { atol: 1e-15, rtol: 0 });
    }, 500);
  });

  it("special values", () => {
    expect([exp(0), log(1), cos(0), sin(0)]).toEqual([1, 0, 1, 0]);
    expect([exp(-Infinity), exp(Infinity), exp(800), exp(-800)]).toEqual([0, Infinity, Infinity, 0]);
    expect([log(0), log(Infinity)]).toEqual([-Infinity, Infinity]);
    expect([log(-1), exp(NaN), cos(Infinity), sin(NaN)].every(Number.isNaN)).toBe(true);
    assertClose("log(Number.MIN_VALUE)", log(Number.MIN_VALUE), -744.4400719213812, { atol: 5e-13, rtol: 0 }); // subnormal input
  });

  it("Rng.normal is Box-Muller (cos branch) on two uniforms, N(0, 1), resumable from state()", () => {
    const r = new Rng(7), u = new Rng(7);
    for (let i = 0; i < 1000; i++) {
      const u1 = 1 - u.uniform(), u2 = u.uniform();
      assertClose("Box-Muller", r.normal(), Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2), { atol: 1e-13, rtol: 0 });
    }
    const g = new Rng(11);
    const n = 100_000, xs = Array.from({ length: n }, () => g.normal());
    const mean = xs.reduce((s, x) => s + x, 0) / n, v = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / n;
    const k4 = xs.reduce((s, x) => s + (x - mean) ** 4, 0) / n / v ** 2;
    // 1e5 draws: standard errors 0.0032 (mean), 0.0045 (variance), 0.015 (kurtosis); about 5 of them
    assertClose("N(0, 1) mean", mean, 0, { atol: 0.015, rtol: 0 });
    assertClose("N(0, 1) variance", v, 1, { atol: 0.02, rtol: 0 });
    assertClose("N(0, 1) kurtosis", k4, 3, { atol: 0.1, rtol: 0 });
    const s = g.state(), next = g.normal();
    expect(new Rng(s).normal()).toBe(next);
  });
});
