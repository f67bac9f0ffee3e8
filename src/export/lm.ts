/**
 * The language model (lm.ts:lmForward with a decode.ts:KvCache) as one ONNX graph for prefill and
 * decode steps: ids [B, n] and the image tokens z [B, m, d] in, the keys (after rotary) and values of
 * the P positions seen so far in, logits [B, n, V] and the caches with the n new positions out.
 * Positions P .. P+n-1, causal with the offset; 1D rotary from tables of our rope kernel; GQA;
 * SwiGLU; final RMSNorm; the head tied to lm.embed.weight (or lm.head.weight).
 * Prefill: P = 0 (empty past tensors) and the whole prompt sequence; a step: the last token.
 * Legend: B batch · n new positions · P cached positions · d lm width · NH heads · KV kv heads ·
 * dh head size · F mlp width · V vocab · m image tokens.
 */
import type { Backend } from "../backend/backend.js";
import type { ModelConfig } from "../model/config.js";
import { CONTEXT_TOKENS } from "../model/limits.js";
import { getParam, scope, type Params } from "../model/params.js";
import { Tensor } from "../tensor.js";
import type { Graph, ValueSpec } from "./graph.js";
import { attention, linear, mergeHeads, rmsNorm, rope, splitHeads } from "./ops.js";
import { embedTokens, spliceImage } from "./text.js";
import { ropeTables } from "./vision.js";

/** Names of the cache inputs and outputs of layer l. */
export const pastKey = (l: number) => `past.${l}.key`;
export const pastValue = (l: number) => `past.${l}.value`;
export const presentKey = (l: number) => `present.${l}.key`;
export const presentValue = (l: number) => `present.${l}.value`;

/** Declares the inputs and outputs and builds the graph. */
export function lmGraph(g: Graph, params: Params, cfg: ModelConfig, be: Backend): void {
  const lm = cfg.lm, d = lm.width, dh = d / lm.heads, KV = lm.kvHeads;
  const ids = g.input({ name: "ids", type: "int64", dims: ["batch", "tokens"] });
  const z = g.input({ name: "image", type: "float", dims: ["batch", "image_tokens", d] });
  const cache = (name: string, len: string): ValueSpec => ({ name, type: "float", dims: ["batch", KV, len, dh] });
  const past = Array.from({ length: lm.layers }, (_, l) => [g.input(cache(pastKey(l), "past")), g.input(cache(pastValue(l), "past"))]);

  let x = spliceImage(g, cfg, ids, embedTokens(g, params, ids), z); // [B, n, d]
  // positions P .. P+n-1 and the causal mask [n, P+n] (true where key j > query position)
  const P = g.op("Gather", [g.op("Shape", [past[0][0]]), g.ints([2], [])], { axis: 0 });
  const n = g.op("Gather", [g.op("Shape", [ids]), g.ints([1], [])], { axis: 0 });
  const total = g.op("Add", [P, n]);
  const pos = g.op("Range", [P, total, g.ints([1], [])]); // [n]
  const keys = g.op("Range", [g.ints([0], []), total, g.ints([1], [])]); // [P+n]
  const mask = g.op("Greater", [g.op("Unsqueeze", [keys, g.ints([0])]), g.op("Unsqueeze", [pos, g.ints([1])])]);
  const t = ropeTables(be, new Tensor("i32", [CONTEXT_TOKENS], Int32Array.from({ length: CONTEXT_TOKENS }, (_, i) => i)), dh, lm.ropeBase);
  const cos = g.op("Gather", [g.constF32("lm.rope.cos", [CONTEXT_TOKENS, dh / 2], t.cos), pos], { axis: 0 });
  const sin = g.op("Gather", [g.constF32("lm.rope.sin", [CONTEXT_TOKENS, dh / 2], t.sin), pos], { axis: 0 });

  for (let l = 0; l < lm.layers; l++) {
    const B = scope(params, `lm.blocks.${l}`);
    const h = rmsNorm(g, x, B.at("norm1"), lm.normEps);
    const q = rope(g, linear(g, h, B.at("attn.q"), "weight", false), cos, sin, lm.heads, dh);
    const k = rope(g, linear(g, h, B.at("attn.k"), "weight", false), cos, sin, KV, dh);
    const v = linear(g, h, B.at("attn.v"), "weight", false);
    const kAll = g.op("Concat", [past[l][0], splitHeads(g, k, KV, dh)], { axis: 2 }, presentKey(l)); // [B, KV, P+n, dh]
    const vAll = g.op("Concat", [past[l][1], splitHeads(g, v, KV, dh)], { axis: 2 }, presentValue(l));
    const a = attention(g, splitHeads(g, q, lm.heads, dh), kAll, vAll, { heads: lm.heads, kvHeads: KV, dh, mask });
    const x1 = g.op("Add", [x, linear(g, mergeHeads(g, a, d), B.at("attn.o"), "weight", false)]);
    const h2 = rmsNorm(g, x1, B.at("norm2"), lm.normEps);
    const gate = linear(g, h2, B.at("mlp.gate"), "weight", false), up = linear(g, h2, B.at("mlp.up"), "weight", false);
    const ff = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up]); // silu(gate) * up
    x = g.op("Add", [x1, linear(g, ff, B.at("mlp.down"), "weight", false)]);
  }
  const h = rmsNorm(g, x, scope(params, "lm").at("norm"), lm.normEps);
  const head = lm.tieEmbeddings ? "lm.embed.weight" : "lm.head.weight";
  const logits = g.op("MatMul", [h, g.op("Transpose", [g.weight(head, getParam(params, head))], { perm: [1, 0] })]);
  g.output(logits, { name: "logits", type: "float", dims: ["batch", "tokens", lm.vocab] });
  for (let l = 0; l < lm.layers; l++) {
    g.output(presentKey(l), cache(presentKey(l), "total"));
    g.output(presentValue(l), cache(presentValue(l), "total"));
  }
}
