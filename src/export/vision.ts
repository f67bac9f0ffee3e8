/**
 * The vision encoder and projector as ONNX nodes, for one volume grid (D slices of image x image):
 * slice embedding (vit.ts:embedSlices), slice and volume blocks with rotary depth positions
 * (encoder.ts:encode), the TGH-MoE blocks (./moe.ts), and the projector (projector.ts). Every
 * `act.*` of the golden files is a graph output under its golden name.
 * Legend: B batch · D slices (after depth patching) · p patch · n=W/p · S=1+n^2 · C width · NH heads ·
 * dh head size · m image tokens · d lm width.
 */
import type { Backend } from "../backend/backend.js";
import type { ModelConfig } from "../model/config.js";
import { ropePositions } from "../model/encoder.js";
import { inflateDepth } from "../model/inflate.js";
import { scope, type ParamScope, type Params } from "../model/params.js";
import { Tensor, type I32Tensor } from "../tensor.js";
import type { Graph } from "./graph.js";
import { attention, layerNorm, linear, mergeHeads, mlp, rope, splitHeads } from "./ops.js";
import { moeGraph } from "./moe.js";

export interface VisionGraphOptions {
  /** Slices of the input volume (before depth patching). */
  depth: number;
  /** Also output the routing trace act.blocks.<l>.moe.{pi, group, topk_idx, topk_w}. */
  trace: boolean;
  /** Computes the rotary angle tables (our rope kernel on unit vectors, so the angles are its bits). */
  backend: Backend;
}

/** A graph output to declare: value name = golden name, type, dims. */
export interface ActOutput {
  name: string;
  type: "float" | "int32";
  dims: (number | string)[];
}

/**
 * cos, sin [T, half] of rotary positions pos ([T] or [T, 3] with sections): our rope kernel applied
 * to x[t] = (1, ..., 1, 0, ..., 0) gives out[j] = cos a_tj, out[j + half] = sin a_tj exactly.
 */
export function ropeTables(be: Backend, pos: I32Tensor, dh: number, base: number, sections?: readonly number[]): { cos: Float32Array; sin: Float32Array } {
  const T = pos.dim(0), half = dh / 2;
  const x = new Tensor("f32", [1, T, dh]);
  for (let t = 0; t < T; t++) x.data.fill(1, t * dh, t * dh + half);
  const y = be.rope(x, pos, { heads: 1, base, ...(sections ? { sections: [...sections] } : {}) }).data;
  const cos = new Float32Array(T * half), sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    cos.set(y.subarray(t * dh, t * dh + half), t * half);
    sin.set(y.subarray(t * dh + half, (t + 1) * dh), t * half);
  }
  return { cos, sin };
}

/**
 * volume [B, 1 or c_in, D, H, W] -> act.embed [B, D/t, S, C]: the channel replicated to c_in
 * (Expand), a strided Conv with the depth-inflated kernel W3 = W2 / t (no bias), class token
 * first, + pos_embed, pre_norm.
 */
function embed(g: Graph, P: ParamScope, cfg: ModelConfig, volume: string, out: string): string {
  const v = cfg.vision, C = v.width, n = v.image / v.patch, t = v.depthPatch;
  const w2 = P("patch_embed.weight");
  const kernel = t === 1 ? g.weight(P.key("patch_embed.weight"), w2) // [C, c_in, p, p] -> viewed [C, c_in, 1, p, p]
    : g.constF32(`${P.key("patch_embed.weight")}.inflated`, [C, v.cIn, t, v.patch, v.patch], inflateDepth(w2, t).data);
  const w3 = t === 1 ? g.op("Reshape", [kernel, g.ints([C, v.cIn, 1, v.patch, v.patch])]) : kernel;
  const x = g.op("Expand", [volume, g.ints([1, v.cIn, 1, 1, 1])]);
  const conv = g.op("Conv", [x, w3], { kernel_shape: [t, v.patch, v.patch], strides: [t, v.patch, v.patch] }); // [B, C, D/t, n, n]
  const patches = g.op("Reshape", [g.op("Transpose", [conv], { perm: [0, 2, 3, 4, 1] }), g.ints([0, 0, n * n, C])]); // [B, D/t, n^2, C]
  const lead = g.op("Slice", [g.op("Shape", [patches]), g.ints([0]), g.ints([2])]); // [B, D/t]
  const cls = g.op("Expand", [g.op("Reshape", [g.weight(P.key("class_embed"), P("class_embed")), g.ints([1, 1, 1, C])]), g.op("Concat", [lead, g.ints([1, C])], { axis: 0 })]);
  const tokens = g.op("Concat", [cls, patches], { axis: 2 }); // [B, D/t, S, C]
  const x0 = g.op("Add", [tokens, g.weight(P.key("pos_embed"), P("pos_embed"))]);
  return g.op("Identity", [layerNorm(g, x0, P.at("pre_norm"), v.normEps)], {}, out);
}

/** x [N, T, C] -> x + proj(attention(q, k, v)), q, k, v from ln1(x) (rotary on q, k when tables are given). */
function attentionSublayer(g: Graph, P: ParamScope, cfg: ModelConfig, x: string, tables?: { cos: string; sin: string }): string {
  const v = cfg.vision, C = v.width, dh = C / v.heads;
  const u = layerNorm(g, x, P.at("ln1"), v.normEps);
  let [q, k, val] = g.node("Split", [linear(g, u, P.at("attn.qkv")), g.ints([C, C, C])], { axis: -1 }, 3);
  if (tables) {
    q = rope(g, q, tables.cos, tables.sin, v.heads, dh);
    k = rope(g, k, tables.cos, tables.sin, v.heads, dh);
  }
  const a = attention(g, splitHeads(g, q, v.heads, dh), splitHeads(g, k, v.heads, dh), splitHeads(g, val, v.heads, dh), { heads: v.heads, kvHeads: v.heads, dh });
  return g.op("Add", [x, linear(g, mergeHeads(g, a, C), P.at("attn.proj"))]);
}

/**
 * The encoder (encoder.ts:encode) and projector on the graph's volume and guidance g [B, C] (or
 * null): returns the act.* outputs to declare, act.projector last.
 */
export function visionGraph(g: Graph, params: Params, cfg: ModelConfig, volume: string, guide: string | null, o: VisionGraphOptions): ActOutput[] {
  const v = cfg.vision, C = v.width, n = v.image / v.patch, S = 1 + n * n, D = o.depth / v.depthPatch, dh = C / v.heads;
  const outs: ActOutput[] = [];
  const f = (name: string, dims: (number | string)[]) => outs.push({ name, type: "float", dims });
  let x = embed(g, scope(params, "vision"), cfg, volume, "act.embed");
  f("act.embed", ["batch", D, S, C]);
  let tables: { cos: string; sin: string } | undefined;
  if (v.volumeLayers > 0) {
    const rp = ropePositions(v, D);
    const t = ropeTables(o.backend, rp.pos, dh, rp.base, rp.sections);
    tables = { cos: g.constF32("vision.rope.cos", [D * S, dh / 2], t.cos), sin: g.constF32("vision.rope.sin", [D * S, dh / 2], t.sin) };
  }
  for (let l = 0; l < v.layers; l++) {
    const P = scope(params, `vision.blocks.${l}`);
    const volumeBlock = l >= v.layers - v.volumeLayers;
    const xs = g.op("Reshape", [x, g.ints(volumeBlock ? [-1, D * S, C] : [-1, S, C])]);
    let h = attentionSublayer(g, P, cfg, xs, volumeBlock ? tables : undefined);
    const u = layerNorm(g, h, P.at("ln2"), v.normEps);
    if (v.moeLayers.includes(l)) {
      const r = moeGraph(g, P.at("moe"), cfg, l, g.op("Reshape", [u, g.ints([-1, D * S, C])]), D * S, guide, o.trace);
      outs.push(...r.outputs);
      h = g.op("Add", [h, g.op("Reshape", [r.y, g.ints(volumeBlock ? [-1, D * S, C] : [-1, S, C])])]);
    } else {
      h = g.op("Add", [h, mlp(g, P.at("mlp"), u, v.act)]);
    }
    x = g.op("Reshape", [h, g.ints([-1, D, S, C])], {}, `act.blocks.${l}`);
    f(`act.blocks.${l}`, ["batch", D, S, C]);
  }
  project(g, params, cfg, x, D);
  f("act.projector", ["batch", (D / cfg.projector.depthPool) * (n / 2) ** 2, cfg.lm.width]);
  return outs;
}

/** projector.ts:project: drop class tokens, merge 2x2 ((2r,2c),(2r,2c+1),(2r+1,2c),(2r+1,2c+1)), mean over depth_pool slices, MLP. */
function project(g: Graph, params: Params, cfg: ModelConfig, x: string, D: number): string {
  const C = cfg.vision.width, n = cfg.vision.image / cfg.vision.patch, h = n / 2, dp = cfg.projector.depthPool;
  const patches = g.op("Slice", [x, g.ints([1]), g.ints([1 + n * n]), g.ints([2])]); // [B, D, n^2, C]
  const grid = g.op("Reshape", [patches, g.ints([0, 0, h, 2, h, 2, C])]); // [B, D, n/2, 2, n/2, 2, C]
  const merged = g.op("Transpose", [grid], { perm: [0, 1, 2, 4, 3, 5, 6] }); // [B, D, n/2, n/2, 2, 2, C]
  const R = h * h * 4 * C;
  const pooled = g.op("ReduceMean", [g.op("Reshape", [merged, g.ints([0, D / dp, dp, R])])], { axes: [2], keepdims: 0 }); // [B, D/dp, R]
  const t = g.op("Reshape", [pooled, g.ints([0, (D / dp) * h * h, 4 * C])]); // [B, m, 4C]
  return g.op("Identity", [mlp(g, scope(params, "projector"), t, cfg.projector.act)], {}, "act.projector");
}
