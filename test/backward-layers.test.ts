/**
 * Layer backwards (src/train/*-backward.ts) against central finite differences of their forwards
 * (src/model/) on the reference backend, over small random configs: every input gradient and every
 * parameter gradient of the MLP, the attention sublayer (no rope, depth rope, dhw rope), the MLP
 * sublayer, the slice embedding, the TGH-MoE sublayer with its two losses (hard and soft routing),
 * the projector, an LM block and the LM with cross-entropy. Also: recording a tape leaves every
 * forward bit unchanged, and each backward consumes exactly its forward's tape.
 *
 * Precision (why these tolerances): the forward stores float32, so a loss L = sum r.y (float64) carries
 * rounding noise ~1e-7 |L|; 4-point differences with h = 2^-7 bring that to ~1e-5 and truncation to
 * ~h^4 = 4e-9. A coordinate passes when |fd - an| <= 3e-3 max|an of its tensor| + 1e-2 |an| + 1e-6;
 * measured worst over these cases: 40% of that (an LM block's norm2 weight: |fd - an| = 1.8e-3 max|an|,
 * 1.5% of |an|), while a wrong term is off by tens of percent. Top-k choices that change inside the stencil make
 * the loss jump: such coordinates are detected (the tape's routes) and skipped, and counted.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/index.js";
import { withConfig } from "../src/model/config.js";
import { moeSublayer, ropePositions } from "../src/model/encoder.js";
import { crossEntropy, lmBlock, lmForward, parseSequence, promptMean } from "../src/model/lm.js";
import { forward } from "../src/model/model.js";
import { scope, type Params } from "../src/model/params.js";
import { project } from "../src/model/projector.js";
import { Tape } from "../src/model/tape.js";
import { attentionSublayer, embedSlices, mlp, mlpSublayer } from "../src/model/vit.js";
import { Rng } from "../src/rng.js";
import { Tensor, fromInts, type F32Tensor } from "../src/tensor.js";
import { Grads, type Ctx } from "../src/train/grads.js";
import { crossEntropyBackward, embeddingBackward, lmBackward, lmBlockBackward, textGuidanceBackward } from "../src/train/lm-backward.js";
import { moeSublayerBackward } from "../src/train/moe-backward.js";
import { projectBackward } from "../src/train/model-backward.js";
import { attentionSublayerBackward, embedSlicesBackward, mlpBackward, mlpSublayerBackward } from "../src/train/vit-backward.js";
import { referenceBackend, wasmBackend } from "./util/backends.js";
import { assertSameBits, assertClose } from "./util/close.js";
import { centralDiff4, dotLoss, someIndices } from "./util/fd.js";
import { batch, randomParams, sequence, smallConfig } from "./util/model.js";
import { check, data, dataSeed, dim } from "./util/prop.js";

let ref: Backend, wasm: Backend;
beforeAll(async () => {
  [ref, wasm] = await Promise.all([referenceBackend(), wasmBackend()]);
});

/** Configs for gradient checks: width >= 4 (a 2-wide LayerNorm maps each row to +-1, a step at which differences mean nothing). */
const gradConfig = smallConfig.filter((c) => c.vision.width >= 4);

/** One layer under test: a forward that may record, the backward that consumes it, what to differentiate. */
interface LayerCase {
  params: Params;
  inputs: [string, F32Tensor][]; // input tensors whose gradients the backward returns, in order
  /** y: a tensor output (the loss adds sum r.y, r random); aux: a scalar loss term added as is. */
  forward: (tape?: Tape) => { y?: F32Tensor; aux?: number };
  /** The input gradients, given dL/dy (null when the forward has no y). */
  backward: (ctx: Ctx, dy: F32Tensor | null) => (F32Tensor | null)[];
}

/** The discrete choices recorded on a tape: every route's top-k indices, in forward order. */
function routesOf(tape: Tape): string {
  return tape.entriesOf("route").map((r) => Array.from(r.idx.data).join(",")).join(";");
}

/** Runs the case's backward and checks it against 4-point differences on `perTensor` coordinates of each input and parameter. */
function checkLayer(op: string, c: LayerCase, seed: number, perTensor = 5): { checked: number; skipped: number } {
  const probe = c.forward();
  const r = probe.y ? data(seed, probe.y.size) : null;
  const loss = () => {
    const tape = new Tape();
    const o = c.forward(tape);
    return { loss: (o.y && r ? dotLoss(o.y.data, r) : 0) + (o.aux ?? 0), key: routesOf(tape) };
  };
  const key0 = loss().key;
  // analytic: forward with a tape, then the backward, which must read the whole tape
  const tape = new Tape();
  const grads = new Grads(c.params, () => true);
  const out = c.forward(tape);
  const dIn = c.backward({ be: ref, params: c.params, grads, tape }, out.y && r ? new Tensor("f32", out.y.shape, r) : null);
  expect(tape.length, `${op}: tape entries left unread`).toBe(0);
  const targets: [string, F32Tensor, F32Tensor | null | undefined][] = [
    ...c.inputs.map(([n, x], i): [string, F32Tensor, F32Tensor | null | undefined] => [n, x, dIn[i]]),
    ...[...c.params].map(([n, p]): [string, F32Tensor, F32Tensor | null | undefined] => [n, p, grads.get(n)]),
  ];
  let checked = 0, skipped = 0;
  for (const [name, x, an] of targets) {
    const g = an?.data ?? new Float32Array(x.size); // no gradient: the tensor must not matter
    const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (const i of someIndices(x.size, perTensor, seed + name.length)) {
      const fd = centralDiff4(loss, x.data, i, 2 ** -7, (k) => k === key0);
      if (fd === null) {
        skipped++;
        continue;
      }
      checked++;
      // fourth-order central differences in float32 at h = 2^-7: error relative to the largest gradient and to this one
      assertClose(`${op}: d${name}[${i}] analytic vs finite difference (max |grad| ${scale})`, g[i], fd, { atol: 3e-3 * scale + 1e-2 * Math.abs(g[i]) + 1e-6, rtol: 0 });
    }
  }
  return { checked, skipped };
}

const randT = (shape: number[], seed: number, lo = -1, hi = 1) => new Tensor("f32", shape, data(seed, shape.reduce((a, b) => a * b, 1), lo, hi));
const blockScope = (params: Params, l: number) => scope(params, `vision.blocks.${l}`);

// ---------------------------------------------------------------- vision layers
describe("vision layers: backward = finite differences", () => {
  it("MLP (every activation) and the MLP sublayer", () => {
    check(fc.record({ cfg: gradConfig, N: dim(2), T: dim(5), seed: dataSeed }), ({ cfg, N, T, seed }) => {
      const c0 = withConfig(cfg, { vision: { moeLayers: [] } });
      const params = randomParams(c0, seed), P = blockScope(params, 0), C = c0.vision.width;
      const x = randT([N, T, C], seed + 1, -2, 2);
      checkLayer("mlp", {
        params, inputs: [["u", x]],
        forward: (tape) => ({ y: mlp(ref, P.at("mlp"), x, c0.vision.act, tape) }),
        backward: (ctx, dy) => [mlpBackward(ctx, scope(params, "vision.blocks.0.mlp"), c0.vision.act, dy!, true)],
      }, seed);
      checkLayer("mlpSublayer", {
        params, inputs: [["x", x]],
        forward: (tape) => ({ y: mlpSublayer(ref, P, x, c0.vision, tape) }),
        backward: (ctx, dy) => [mlpSublayerBackward(ctx, scope(params, "vision.blocks.0"), c0.vision, dy!, true)],
      }, seed);
    }, 6);
  });

  it("attention sublayer: slice (no rotary), volume with depth rotary, volume with dhw sections", () => {
    const arb = fc.record({ cfg: gradConfig, B: dim(2), D: fc.integer({ min: 1, max: 3 }), rope: fc.constantFrom("none", "depth", "dhw"), seed: dataSeed });
    check(arb, ({ cfg, B, D, rope, seed }) => {
      const c0 = withConfig(cfg, { vision: { moeLayers: [], rope: rope === "dhw" ? "dhw" : "depth" } });
      const v = c0.vision, n = v.image / v.patch, S = 1 + n * n, C = v.width;
      const params = randomParams(c0, seed), P = blockScope(params, 0);
      const spec = rope === "none" ? undefined : ropePositions(v, D);
      const x = randT(spec ? [B, D * S, C] : [B * D, S, C], seed + 1, -2, 2);
      checkLayer(`attention (${rope})`, {
        params, inputs: [["x", x]],
        forward: (tape) => ({ y: attentionSublayer(ref, P, x, v, spec, tape) }),
        backward: (ctx, dy) => [attentionSublayerBackward(ctx, scope(params, "vision.blocks.0"), v, dy!, true)],
      }, seed);
    }, 8);
  });

  it("slice embedding: patch kernel (depth patches, replicated channel), class and position embeddings, pre_norm", () => {
    check(fc.record({ cfg: gradConfig, B: dim(2), slices: fc.integer({ min: 1, max: 2 }), seed: dataSeed }), ({ cfg, B, slices, seed }) => {
      const v = cfg.vision, D = slices * v.depthPatch;
      const params = randomParams(cfg, seed);
      const volume = randT([B, 1, D, v.image, v.image], seed + 1, 0, 1);
      checkLayer(`embedSlices (t=${v.depthPatch}, cIn=${v.cIn})`, {
        params, inputs: [],
        forward: (tape) => ({ y: embedSlices(ref, scope(params, "vision"), v, volume, tape) }),
        backward: (ctx, dy) => (embedSlicesBackward(ctx, v, dy!), []),
      }, seed, 6);
    }, 6);
  });

  it("TGH-MoE sublayer with the balance and task losses: hard routing (labels), soft routing, renormalize on and off", () => {
    const arb = fc.record({
      cfg: gradConfig, B: fc.integer({ min: 1, max: 3 }), M: dim(7), soft: fc.boolean(), experts: fc.integer({ min: 2, max: 5 }), kFrac: fc.double({ min: 0, max: 1, noNaN: true }), seed: dataSeed,
    });
    let skipped = 0, checked = 0;
    check(arb, ({ cfg: drawn, B, M, soft, experts, kFrac, seed }) => {
      const moe = { taskRouting: soft ? "soft" as const : "hard" as const, tasks: Math.max(2, drawn.moe.tasks), experts, topK: 1 + Math.floor(kFrac * (experts - 1)) };
      const cfg = withConfig(drawn, { vision: { moeLayers: [0] }, moe });
      const C = cfg.vision.width;
      const params = randomParams(cfg, seed, 0.3), P = blockScope(params, 0);
      const x = randT([B, M, C], seed + 1, -2, 2), g = randT([B, C], seed + 2, -2, 2);
      const labels = Int32Array.from({ length: B }, (_, b) => (b + seed) % cfg.moe.tasks);
      const coef = { balance: 0.3, task: 0.2 }; // weights of sum(L_bal terms) and L_task in the loss
      const res = checkLayer(`moe (${cfg.moe.taskRouting}, renormalize ${cfg.moe.renormalize})`, {
        params, inputs: [["x", x], ["g", g]],
        forward: (tape) => {
          const { x: y, r } = moeSublayer(ref, P, x, g, cfg, 0, B, labels, tape);
          return { y, aux: coef.balance * r.balance.reduce((s, t) => s + t.value, 0) + coef.task * (r.task ?? 0) };
        },
        backward: (ctx, dy) => {
          const dg = new Tensor("f32", [B, C]);
          return [moeSublayerBackward(ctx, scope(params, "vision.blocks.0"), cfg, dy!, coef, dg, true), dg];
        },
      }, seed, 4);
      skipped += res.skipped;
      checked += res.checked;
    }, 12);
    expect(skipped, `coordinates skipped for a top-k change (of ${checked + skipped})`).toBeLessThan(0.1 * (checked + skipped));
  });

  it("projector: merge (class tokens dropped, 2x2, depth pool) and its MLP", () => {
    check(fc.record({ cfg: gradConfig, B: dim(2), slices: fc.integer({ min: 1, max: 2 }), seed: dataSeed }), ({ cfg, B, slices, seed }) => {
      const v = cfg.vision, n = v.image / v.patch, S = 1 + n * n, D = slices * cfg.projector.depthPool;
      const params = randomParams(cfg, seed);
      const x = randT([B, D, S, v.width], seed + 1, -2, 2);
      checkLayer(`project (depth_pool ${cfg.projector.depthPool})`, {
        params, inputs: [["x", x]],
        forward: (tape) => ({ y: project(ref, params, cfg, x, tape) }),
        backward: (ctx, dy) => [projectBackward(ctx, cfg, dy!, true)],
      }, seed);
    }, 6);
  });
});

// ---------------------------------------------------------------- language model
describe("language model: backward = finite differences", () => {
  it("one block (RMSNorms, rotary, causal GQA, SwiGLU)", () => {
    check(fc.record({ cfg: gradConfig, B: dim(2), L: dim(7), seed: dataSeed }), ({ cfg, B, L, seed }) => {
      const params = randomParams(cfg, seed), lm = cfg.lm;
      const x = randT([B, L, lm.width], seed + 1, -2, 2);
      const pos = fromInts([L], Array.from({ length: L }, (_, i) => i));
      checkLayer(`lmBlock (${lm.heads}/${lm.kvHeads} heads)`, {
        params, inputs: [["x", x]],
        forward: (tape) => ({ y: lmBlock(ref, scope(params, "lm.blocks.0"), x, lm, pos, tape) }),
        backward: (ctx, dy) => [lmBlockBackward(ctx, scope(params, "lm.blocks.0"), lm, dy!)],
      }, seed);
    }, 8);
  });

  it("the whole LM with cross-entropy over the answer tokens (tied or separate head)", () => {
    check(fc.record({ cfg: gradConfig, B: dim(2), seed: dataSeed }), ({ cfg, B, seed }) => {
      const params = randomParams(cfg, seed), lm = cfg.lm;
      const rng = new Rng(seed);
      const rows = Array.from({ length: B }, () => sequence(cfg, 2, 1 + rng.int(3), 1 + rng.int(3), 0, rng));
      const L = Math.max(...rows.map((r) => r.length));
      const ids = new Tensor("i32", [B, L], Int32Array.from(rows.flatMap((r) => [...r, ...new Array<number>(L - r.length).fill(cfg.tokens.pad)])));
      const seq = parseSequence(ids, cfg.tokens);
      const x = randT([B, L, lm.width], seed + 1, -2, 2);
      let logits: F32Tensor | null = null; // of the last forward, for the backward's CE gradient
      checkLayer(`lm + cross-entropy (tied ${lm.tieEmbeddings})`, {
        params, inputs: [["x", x]],
        forward: (tape) => {
          logits = lmForward(ref, params, lm, x, tape);
          return { aux: crossEntropy(logits, ids, seq)! };
        },
        backward: (ctx) => [lmBackward(ctx, lm, crossEntropyBackward(ref, logits!, ids, seq, 1), true)],
      }, seed);
    }, 6);
  });

  it("the LM with cross-entropy under a target emphasis (each sequence's weighted mean)", () => {
    check(fc.record({ cfg: gradConfig, B: dim(2), seed: dataSeed }), ({ cfg, B, seed }) => {
      const params = randomParams(cfg, seed), lm = cfg.lm;
      const rng = new Rng(seed);
      const rows = Array.from({ length: B }, () => sequence(cfg, 2, 1 + rng.int(3), 2 + rng.int(3), 0, rng));
      const L = Math.max(...rows.map((r) => r.length));
      const ids = new Tensor("i32", [B, L], Int32Array.from(rows.flatMap((r) => [...r, ...new Array<number>(L - r.length).fill(cfg.tokens.pad)])));
      const seq = parseSequence(ids, cfg.tokens);
      const emphasis = Float32Array.from({ length: B * L }, () => 0.25 + 3 * rng.uniform());
      const x = randT([B, L, lm.width], seed + 1, -2, 2);
      let logits: F32Tensor | null = null;
      checkLayer("lm + emphasised cross-entropy", {
        params, inputs: [["x", x]],
        forward: (tape) => {
          logits = lmForward(ref, params, lm, x, tape);
          return { aux: crossEntropy(logits, ids, seq, emphasis)! };
        },
        backward: (ctx) => [lmBackward(ctx, lm, crossEntropyBackward(ref, logits!, ids, seq, 1, emphasis), true)],
      }, seed);
    }, 4);
  });
});

describe("text guidance: backward = finite differences", () => {
  it("g = text_proj(prompt mean of the input embeddings) into the embedding table and text_proj", () => {
    check(fc.record({ cfg: gradConfig, B: fc.integer({ min: 1, max: 3 }), seed: dataSeed }), ({ cfg: drawn, B, seed }) => {
      const cfg = withConfig(drawn, { vision: { moeLayers: [0] } });
      const params = randomParams(cfg, seed);
      const input = batch(cfg, B, cfg.vision.depthPatch * cfg.projector.depthPool, seed + 1);
      const seq = parseSequence(input.ids, cfg.tokens), L = input.ids.dim(1);
      const T = scope(params, "moe.text_proj"), E = params.get("lm.embed.weight")!;
      checkLayer("text guidance", {
        params, inputs: [],
        forward: () => ({ y: ref.linear(promptMean(ref, ref.embedding(E, input.ids), seq), T("weight"), T("bias")) }),
        backward: (ctx, dg) => {
          const s = promptMean(ref, ref.embedding(E, input.ids), seq);
          embeddingBackward(ctx, textGuidanceBackward(ctx, dg!, s, seq, L)!, input.ids);
          return [];
        },
      }, seed, 12);
    }, 6);
  });
});

// ---------------------------------------------------------------- the tape
describe("the tape", () => {
  it("recording leaves every forward bit unchanged (whole model, both backends) and lists one entry per layer call", () => {
    check(fc.record({ cfg: smallConfig, B: fc.integer({ min: 1, max: 2 }), seed: dataSeed }), ({ cfg, B, seed }) => {
      const params = randomParams(cfg, seed);
      const D = cfg.vision.depthPatch * cfg.projector.depthPool;
      const input = { ...batch(cfg, B, D, seed + 1), task: Array.from({ length: B }, (_, b) => b % cfg.moe.tasks) };
      for (const be of [ref, wasm]) {
        const plain = forward(be, params, cfg, input, { acts: true });
        const tape = new Tape();
        const rec = forward(be, params, cfg, input, { acts: true, tape });
        for (const [name, t] of plain.acts!) assertSameBits(`${be.name} ${name}`, rec.acts!.get(name)!.data, t.data);
        expect(rec.losses).toEqual(plain.losses);
        const kinds = tape.kinds();
        expect(kinds[0]).toBe("embed");
        expect(kinds[kinds.length - 1]).toBe("model");
        expect(kinds.filter((k) => k === "attn").length).toBe(cfg.vision.layers);
        expect(kinds.filter((k) => k === "lmBlock").length).toBe(cfg.lm.layers);
        expect(kinds.filter((k) => k === "moe").length).toBe(cfg.vision.moeLayers.length);
      }
    }, 10);
  });

  it("a backward that does not mirror its forward fails at once, naming both kinds", () => {
    const tape = new Tape();
    tape.push("encode", { shape: [1, 1, 1, 1] });
    expect(() => tape.pop("lmHead")).toThrow(/expected a 'lmHead' entry, got 'encode'/);
    expect(() => tape.pop("model")).toThrow(/tape is empty/);
  });
});
