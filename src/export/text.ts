/**
 * The token side of the graphs, from the ids alone: the prompt mask of lm.ts:parseSequence (the
 * non-special tokens strictly between the first `</img>` and the first `<sep>` after it), the text
 * guidance g = text_proj(prompt mean of the input embeddings), and the image splice of
 * lm.ts:spliceImage (the i-th `<image>` position takes row i of the projector's output).
 * Legend: B batch · L text tokens · d lm width · C vision width · m image tokens.
 */
import type { ModelConfig } from "../model/config.js";
import type { Params } from "../model/params.js";
import { getParam, scope } from "../model/params.js";
import type { Graph } from "./graph.js";
import { linear } from "./ops.js";

/** e = embedding(ids): Gather of lm.embed.weight [V, d] by ids [B, L] (int64) -> [B, L, d]. */
export function embedTokens(g: Graph, params: Params, ids: string): string {
  return g.op("Gather", [g.weight("lm.embed.weight", getParam(params, "lm.embed.weight")), ids], { axis: 0 });
}

/**
 * The prompt mask [B, L] (float 0/1) from ids [B, L]: after the first </img>, before the first <sep>
 * after it (CumSum of the <sep>s seen so far is 0), and not a special token. Assumes a well-formed
 * sequence (a </img> present), as parseSequence requires.
 */
export function promptMask(g: Graph, cfg: ModelConfig, ids: string): string {
  const eq = (id: number) => g.op("Equal", [ids, g.ints([id], [])]);
  const L = g.op("Gather", [g.op("Shape", [ids]), g.ints([1], [])], { axis: 0 });
  const pos = g.op("Range", [g.ints([0], []), L, g.ints([1], [])]); // [L]
  const end = g.op("ArgMax", [g.op("Cast", [eq(cfg.tokens.imgEnd)], { to: 6 })], { axis: 1, keepdims: 1 }); // [B, 1], first </img>
  const after = g.op("Greater", [pos, end]); // [B, L]
  const seps = g.op("Cast", [g.op("And", [eq(cfg.tokens.sep), after])], { to: 7 }); // int64
  const before = g.op("Equal", [g.op("CumSum", [seps, g.ints([1], [])]), g.ints([0], [])]);
  const special = Object.values(cfg.tokens).map(eq).reduce((a, b) => g.op("Or", [a, b]));
  const keep = g.op("And", [g.op("And", [after, before]), g.op("Not", [special])]);
  return g.op("Cast", [keep], { to: 1 }); // float
}

/** s = (mask e) / max(1, count) [B, d] (lm.ts:promptMean: a matmul, then a float32 division), g = W_s s + b_s [B, C] (act.text_guide). */
export function textGuide(g: Graph, params: Params, cfg: ModelConfig, ids: string, e: string, out: string): string {
  const mask = promptMask(g, cfg, ids); // [B, L]
  const count = g.op("Max", [g.op("ReduceSum", [mask, g.ints([1])], { keepdims: 1 }), g.float(1)]); // [B, 1]
  const sum = g.op("Squeeze", [g.op("MatMul", [g.op("Unsqueeze", [mask, g.ints([1])]), e]), g.ints([1])]); // [B, d]
  const s = g.op("Div", [sum, count]);
  const y = linear(g, s, scope(params, "moe.text_proj"));
  return g.op("Identity", [y], {}, out);
}

/**
 * x = e with the positions holding <image> replaced by the rows of z [B, m, d] in order: the
 * index of each position is (number of <image> up to it) - 1, clamped at 0 where it is not one.
 */
export function spliceImage(g: Graph, cfg: ModelConfig, ids: string, e: string, z: string): string {
  const isImage = g.op("Equal", [ids, g.ints([cfg.tokens.image], [])]); // [B, L]
  const count = g.op("CumSum", [g.op("Cast", [isImage], { to: 7 }), g.ints([1], [])]);
  const index = g.op("Max", [g.op("Sub", [count, g.ints([1], [])]), g.ints([0], [])]); // [B, L]
  const rows = g.op("GatherND", [z, g.op("Unsqueeze", [index, g.ints([2])])], { batch_dims: 1 }); // [B, L, d]
  return g.op("Where", [g.op("Unsqueeze", [isImage, g.ints([2])]), rows, e]);
}
