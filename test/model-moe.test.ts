// TGH-MoE (spec section 4): dropless dispatch against a per-token oracle, gate weights, upcycling
// invariant, token independence, hard/soft task routing, balance and task losses, the trace.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { withConfig, type ModelConfig, type MoeConfig } from "../src/model/config.js";
import { balanceLoss, moe, route, taskGate } from "../src/model/moe.js";
import { paramScope, scope, type ParamScope } from "../src/model/params.js";
import { upcycle } from "../src/model/upcycle.js";
import { mlp } from "../src/model/vit.js";
import { Tensor, fromArray, fromInts, type F32Tensor } from "../src/tensor.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { assertClose, shaped, assertSameBits } from "./util/close.js";
import { randomParams, range, smallConfig } from "./util/model.js";
import { check, data, dataSeed, dim } from "./util/prop.js";

let wasm: Backend, ref: Backend;
beforeAll(async () => {
  wasm = await wasmBackend();
  ref = await referenceBackend();
});

/** A drawn config with block 0 a TGH-MoE block, its MoE parameters, u [B, M, C] and g [B, C]. */
const moeCaseWith = (moeOverrides: Partial<MoeConfig> = {}) => fc.record({ cfg: smallConfig, B: fc.integer({ min: 1, max: 3 }), M: dim(17), seed: dataSeed }).map(({ cfg: drawn, B, M, seed }) => {
  const cfg = withConfig(drawn, { vision: { moeLayers: [0] }, moe: moeOverrides });
  const C = cfg.vision.width;
  const P = scope(randomParams(cfg, seed, 0.5), "vision.blocks.0.moe"); // std 0.5: decisive routing
  const u = new Tensor("f32", [B, M, C], data(seed + 1, B * M * C, -2, 2));
  const g = new Tensor("f32", [B, C], data(seed + 2, B * C, -2, 2));
  return { cfg, P, u, g, B, M, C, seed };
});
const moeCase = moeCaseWith();

function row(x: F32Tensor, i: number): F32Tensor {
  const c = x.dim(-1);
  return new Tensor("f32", [1, c], x.data.slice(i * c, (i + 1) * c));
}

/** The section 4 output formula, one token at a time (the oracle for the gather/scatter dispatch). */
function perTokenOracle(be: Backend, P: ParamScope, cfg: ModelConfig, u: F32Tensor, g: F32Tensor, group: Int32Array): Float64Array {
  const [B, M, C] = u.shape;
  const { tasks: T, topK: k, aShared, aRouted, sharedExperts } = cfg.moe;
  const pi = taskGate(be, P, g, cfg);
  const out = new Float64Array(B * M * C);
  for (let b = 0; b < B; b++) for (let i = 0; i < M; i++) {
    const ui = row(u, b * M + i), gi = row(g, b);
    const acc = (f: F32Tensor, w: number) => f.data.forEach((v, c) => (out[(b * M + i) * C + c] += w * v));
    for (let s = 0; s < sharedExperts; s++) acc(mlp(be, P.at(`shared.${s}`), ui, cfg.vision.act), aShared);
    for (let t = 0; t < T; t++) {
      const gw = cfg.moe.taskRouting === "soft" ? pi.data[b * T + t] : group[b] === t ? 1 : 0;
      if (gw === 0) continue;
      const r = route(be, P(`router.${t}.weight`), ui, gi, k, cfg.moe.renormalize);
      for (let j = 0; j < k; j++) acc(mlp(be, P.at(`experts.${t}.${r.idx.data[j]}`), ui, cfg.vision.act), aRouted * gw * r.w.data[j]);
    }
  }
  return out;
}

describe("TGH-MoE dispatch", () => {
  it("gather -> expert MLP -> weighted scatter-add equals the per-token formula (hard and soft, both backends)", () => {
    check(moeCase, ({ cfg, P, u, g }) => {
      for (const be of [ref, wasm]) {
        const r = moe(be, P, u, g, cfg, 0);
        // Tolerance: the same float32 terms summed in expert order vs slot order (a few ulp of |y| ~ 10)
        assertClose(`${be.name} moe y`, r.y, shaped(r.y.shape, perTokenOracle(be, P, cfg, u, g, r.trace.group.data)), { atol: 2e-5, rtol: 1e-5 });
      }
    }, 25);
  });

  it("a token's output does not depend on the other tokens (permuted, appended samples)", () => {
    check(moeCase, ({ cfg, P, u, g, B, M, C, seed }) => {
      // reverse the tokens of every sample and append one more sample in front
      const perm = range(M).reverse();
      const u2 = new Tensor("f32", [B + 1, M, C], data(seed + 9, (B + 1) * M * C, -2, 2));
      const g2 = new Tensor("f32", [B + 1, C], data(seed + 8, (B + 1) * C, -2, 2));
      for (let b = 0; b < B; b++) {
        perm.forEach((p, i) => u2.data.set(u.data.subarray((b * M + p) * C, (b * M + p + 1) * C), ((b + 1) * M + i) * C));
        g2.data.set(g.data.subarray(b * C, (b + 1) * C), (b + 1) * C);
      }
      for (const be of [ref, wasm]) {
        const a = moe(be, P, u, g, cfg, 0), z = moe(be, P, u2, g2, cfg, 0);
        const got = new Float32Array(B * M * C);
        for (let b = 0; b < B; b++) perm.forEach((p, i) => got.set(z.y.data.subarray(((b + 1) * M + i) * C, ((b + 1) * M + i + 1) * C), (b * M + p) * C));
        // Bits on both backends: every kernel computes an output row from that row alone, whatever
        // the row count (true of the reference by construction, of the wasm kernels as measured)
        assertSameBits(`${be.name} token independence`, got, a.y.data);
      }
    }, 15);
  });

  it("gate weights are non-negative and sum to 1 with renormalize; equal G at the top-k without", () => {
    check(moeCase, ({ cfg, P, u, g, B, M }) => {
      const k = cfg.moe.topK, E = cfg.moe.experts;
      const U = u.reshape([B * M, -1]), Gr = fromInts([B * M], range(B * M).map((i) => Math.floor(i / M)));
      for (const renorm of [true, false]) {
        const r = route(wasm, P("router.0.weight"), U, wasm.gatherRows(g, Gr), k, renorm);
        for (let i = 0; i < B * M; i++) {
          const idx = Array.from(r.idx.data.subarray(i * k, (i + 1) * k)), w = Array.from(r.w.data.subarray(i * k, (i + 1) * k));
          expect(new Set(idx).size).toBe(k);
          expect(w.every((x) => x >= 0)).toBe(true);
          if (renorm) assertClose(`token ${i} renormalised gates sum`, w.reduce((a, b) => a + b, 0), 1, { atol: 1e-6, rtol: 0 });
          else expect(w).toEqual(idx.map((e) => r.G.data[i * E + e]));
          for (let j = 1; j < k; j++) expect(w[j]).toBeLessThanOrEqual(w[j - 1]);
        }
      }
    }, 25);
  });
});

describe("TGH-MoE upcycling", () => {
  it("an upcycled MoE block equals the dense block whatever the router says (a_shared + a_routed = 1)", () => {
    const arb = fc.record({ c: moeCase, soft: fc.boolean(), aShared: fc.constantFrom(0, 0.25, 0.5, 1) });
    check(arb, ({ c, soft, aShared }) => {
      const cfg = withConfig(c.cfg, { moe: { sharedExperts: 1, aShared, aRouted: 1 - aShared, renormalize: true, expertInit: "upcycle", taskRouting: soft ? "soft" : "hard" } });
      const dense = randomParams(withConfig(cfg, { vision: { moeLayers: [] } }), c.seed);
      const params = upcycle(dense, cfg, c.seed + 1, { std: 1 }); // large random routers and gates
      const want = mlp(ref, scope(dense, "vision.blocks.0.mlp"), c.u, cfg.vision.act);
      for (const be of [ref, wasm]) {
        const r = moe(be, scope(params, "vision.blocks.0.moe"), c.u, c.g, cfg, 0);
        // Tolerance: (a_s + a_r sum_e w_e) F(u) with sum w_e = 1 up to float32 rounding, |F| ~ 1-10
        assertClose(`${be.name} upcycled`, r.y, want, { atol: 2e-5, rtol: 2e-5 });
      }
    }, 20);
  });

  it("zero_out: routed experts contribute nothing at first, y = a_shared F(u)", () => {
    check(moeCase, ({ cfg: drawn, u, g, seed }) => {
      const cfg = withConfig(drawn, { moe: { sharedExperts: 1, expertInit: "zero_out" } });
      const dense = randomParams(withConfig(cfg, { vision: { moeLayers: [] } }), seed);
      const r = moe(ref, scope(upcycle(dense, cfg, seed, { std: 1 }), "vision.blocks.0.moe"), u, g, cfg, 0);
      const want = ref.scale(mlp(ref, scope(dense, "vision.blocks.0.mlp"), u, cfg.vision.act), cfg.moe.aShared);
      assertClose("zero_out", r.y, want, { atol: 1e-6, rtol: 1e-6 });
    }, 10);
  });
});

describe("TGH-MoE task routing", () => {
  it("hard routing picks argmax(pi) (ties to the lower index), or the given labels", () => {
    check(moeCase, ({ cfg: drawn, P, u, g, B }) => {
      const cfg = withConfig(drawn, { moe: { taskRouting: "hard" } });
      const r = moe(ref, P, u, g, cfg, 0);
      const T = cfg.moe.tasks;
      for (let b = 0; b < B; b++) {
        const pib = Array.from(r.trace.pi.data.subarray(b * T, (b + 1) * T));
        expect(r.trace.group.data[b]).toBe(pib.indexOf(Math.max(...pib)));
      }
      const labels = Int32Array.from(range(B).map((b) => (b * 7 + 1) % T));
      expect(Array.from(moe(ref, P, u, g, cfg, 0, labels).trace.group.data)).toEqual(Array.from(labels));
    }, 20);
  });

  it("equal task probabilities route to group 0", () => {
    check(moeCase, ({ cfg, P, u, g }) => {
      const Q = paramScope((n) => (n.startsWith("task_gate.fc2") ? new Tensor("f32", P(n).shape) : P(n)), P.prefix); // pi uniform
      expect(Array.from(moe(ref, Q, u, g, cfg, 0).trace.group.data).every((t) => t === 0)).toBe(true);
    }, 5);
  });

  it("soft routing with a one-hot pi equals hard routing", () => {
    check(moeCaseWith({ tasks: 2 }), ({ cfg: base, P, u, g }) => {
      const T = 2;
      const hot = fromArray([T], [100, -100]); // pi = [1, 0] exactly in float32
      const Q = paramScope((n) => (n === "task_gate.fc2.weight" ? new Tensor("f32", [T, base.vision.width]) : n === "task_gate.fc2.bias" ? hot : P(n)), P.prefix);
      for (const be of [ref, wasm]) {
        const soft = moe(be, Q, u, g, withConfig(base, { moe: { taskRouting: "soft" } }), 0);
        const hard = moe(be, Q, u, g, withConfig(base, { moe: { taskRouting: "hard" } }), 0);
        expect(Array.from(soft.trace.pi.data.filter((_, i) => i % 2 === 1)).every((p) => p === 0)).toBe(true);
        assertSameBits(`${be.name} soft one-hot`, soft.y.data, hard.y.data);
        expect(Array.from(soft.trace.topkIdx.data)).toEqual(Array.from(hard.trace.topkIdx.data));
      }
    }, 10);
  });

  it("the trace holds the top-k of the sample's group, computed on its tokens", () => {
    check(moeCase, ({ cfg, P, u, g, B, M }) => {
      const r = moe(ref, P, u, g, cfg, 0);
      const k = cfg.moe.topK;
      expect(r.trace.topkIdx.shape).toEqual([B, M, k]);
      for (let b = 0; b < B; b++) {
        const ub = new Tensor("f32", [M, u.dim(2)], u.data.slice(b * M * u.dim(2), (b + 1) * M * u.dim(2)));
        const gb = ref.gatherRows(g, fromInts([M], new Array(M).fill(b)));
        const want = route(ref, P(`router.${r.trace.group.data[b]}.weight`), ub, gb, k, cfg.moe.renormalize);
        expect(Array.from(r.trace.topkIdx.data.subarray(b * M * k, (b + 1) * M * k))).toEqual(Array.from(want.idx.data));
        assertSameBits("topk_w", r.trace.topkW.data.subarray(b * M * k, (b + 1) * M * k), want.w.data);
      }
    }, 15);
  });
});

describe("TGH-MoE losses", () => {
  it("balance loss is 1 for perfectly uniform routing (zero router: G = 1/E)", () => {
    check(moeCase, ({ cfg, P, u, g }) => {
      const Q = paramScope((n) => (n.startsWith("router.") ? new Tensor("f32", P(n).shape) : P(n)), P.prefix);
      for (const b of moe(ref, Q, u, g, cfg, 0).balance) assertClose("b.value", b.value, 1, { atol: 5e-7, rtol: 0 });
    }, 10);
  });

  it("balance loss by hand: E sum_e f_e P_e", () => {
    const G = fromArray([2, 2], [0.9, 0.1, 0.8, 0.2]);
    assertClose("balanceLoss(ref, G, fromInts([2, 1], [0, 0]))", balanceLoss(ref, G, fromInts([2, 1], [0, 0])), 2 * (1 * 0.85 + 0 * 0.15), { atol: 5e-7, rtol: 0 }); // all to expert 0: 1.7
    assertClose("balanceLoss(ref, fromArray([2, 2], [0.6, 0.4, 0.4, 0.6]),...", balanceLoss(ref, fromArray([2, 2], [0.6, 0.4, 0.4, 0.6]), fromInts([2, 1], [0, 1])), 1, { atol: 5e-7, rtol: 0 });
    const G3 = fromArray([3, 3], [0.5, 0.3, 0.2, 0.1, 0.6, 0.3, 0.2, 0.2, 0.6]); // k = 2: slots 0,1 | 1,2 | 2,0
    const f = [2 / 6, 2 / 6, 2 / 6], P = [0.8 / 3, 1.1 / 3, 1.1 / 3];
    assertClose("balanceLoss(ref, G3, fromInts([3, 2], [0, 1, 1, 2, 2, 0]))", balanceLoss(ref, G3, fromInts([3, 2], [0, 1, 1, 2, 2, 0])), 3 * f.reduce((s, x, e) => s + x * P[e], 0), { atol: 5e-7, rtol: 0 });
  });

  it("task loss = mean over the batch of -log pi[label]", () => {
    check(moeCase, ({ cfg, P, u, g, B }) => {
      const T = cfg.moe.tasks;
      const labels = Int32Array.from(range(B).map((b) => (b + 1) % T));
      const r = moe(ref, P, u, g, cfg, 0, labels);
      const want = range(B).reduce((s, b) => s - Math.log(r.trace.pi.data[b * T + labels[b]]), 0) / B;
      assertClose("r.task", r.task, want, { atol: 5e-13, rtol: 0 });
    }, 10);
  });
});
