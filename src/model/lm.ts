/**
 * The decoder-only language model (spec section 6): pre-RMSNorm blocks, causal attention with 1D
 * rotary positions and grouped-query heads, SwiGLU MLP, final RMSNorm, tied head; plus the sequence
 * layout `<bos> <img> Z_1..Z_m </img> prompt <sep> answer <eos>` (image splice, prompt, CE targets).
 * One forward for training (a tape) and generation (a KV cache, src/model/decode.ts).
 * Legend: B batch · L text tokens · n positions of one call · V vocab · NH heads · KV kv heads · dh head size · F mlp width.
 */
import type { Backend } from "../backend/backend.js";
import { exp, log } from "../detmath.js";
import { ShapeError, ValueError, fmtShape } from "../errors.js";
import { Tensor, fromInts, type F32Tensor, type I32Tensor } from "../tensor.js";
import type { LmConfig, TokenIds } from "./config.js";
import { rowOf } from "./layout.js";
import { getParam, scope, type ParamScope, type Params } from "./params.js";
import type { Tape } from "./tape.js";
import type { KvLayer, KvStore, SequenceLayout } from "./types.js";

/**
 * Where things are in a right-padded batch of sequences [B, L] (types.ts:SequenceLayout). Pinned: the
 * prompt is every non-special token strictly between the first `</img>` and the first `<sep>` after
 * it (or the end); CE targets are the tokens after `<sep>` up to and including the first `<eos>`,
 * stopping at `<pad>`.
 */
export function parseSequence(ids: I32Tensor, tokens: TokenIds): SequenceLayout {
  if (ids.rank !== 2) throw new ShapeError(`parseSequence: ids: expected [B, L], got ${fmtShape(ids.shape)}`);
  const [B, L] = ids.shape;
  const specials = new Set(Object.values(tokens));
  const out: SequenceLayout = { imagePos: [], promptMask: new Tensor("f32", [B, L]), promptCount: new Tensor("f32", [B]), targets: [] };
  for (let b = 0; b < B; b++) {
    const row = rowOf(ids, b);
    const end = row.indexOf(tokens.imgEnd);
    if (end < 0) throw new ValueError(`parseSequence: ids: sample ${b} has no </img> token (id ${tokens.imgEnd})`);
    let sep = row.indexOf(tokens.sep, end + 1);
    if (sep < 0) sep = L;
    let count = 0;
    for (let p = end + 1; p < sep; p++) {
      if (specials.has(row[p])) continue;
      out.promptMask.data[b * L + p] = 1;
      count++;
    }
    out.promptCount.data[b] = Math.max(count, 1);
    out.imagePos.push([]);
    row.forEach((id, p) => id === tokens.image && out.imagePos[b].push(p));
    for (let p = sep + 1; p < L && row[p] !== tokens.pad; p++) {
      out.targets.push({ b, pos: p });
      if (row[p] === tokens.eos) break;
    }
  }
  return out;
}

/** s = masked mean of the input embeddings e [B, L, d] over the prompt tokens -> [B, d]. */
export function promptMean(be: Backend, e: F32Tensor, seq: SequenceLayout): F32Tensor {
  const [B, L, d] = e.shape;
  const sum = be.matmul(seq.promptMask.reshape([B, 1, L]), e).reshape([B, d]);
  return be.divRows(sum, seq.promptCount);
}

/** e [B, L, d] with row imagePos[b][i] replaced by z[b, i] (z [B, m, d]). */
export function spliceImage(e: F32Tensor, seq: SequenceLayout, z: F32Tensor): F32Tensor {
  const [B, L, d] = e.shape, m = z.dim(1);
  const out = e.clone();
  for (let b = 0; b < B; b++) {
    const pos = seq.imagePos[b];
    if (pos.length !== m) throw new ShapeError(`spliceImage: ids: sample ${b} holds ${pos.length} image tokens, expected m=${m}`);
    pos.forEach((p, i) => out.data.set(z.data.subarray((b * m + i) * d, (b * m + i + 1) * d), (b * L + p) * d));
  }
  return out;
}

/** The weights of one LM block under "lm.blocks.<l>" (spec section 6; no biases), for lmBlock and the backward. */
export function lmBlockWeights(P: ParamScope) {
  return {
    norm1: P.at("norm1"), q: P.at("attn.q"), k: P.at("attn.k"), v: P.at("attn.v"), o: P.at("attn.o"),
    norm2: P.at("norm2"), gate: P.at("mlp.gate"), up: P.at("mlp.up"), down: P.at("mlp.down"),
  };
}

/**
 * Causal GQA self-attention with rotary q, k; h [B, n, d] -> [B, n, d] (after the o projection), at
 * positions pos [n]. With kv (a KvCache's layer), k and v of the n positions are appended and the
 * queries read every cached key: causal with the cache's offset, query i sees keys 0 .. length+i.
 */
export function lmAttention(be: Backend, P: ParamScope, h: F32Tensor, lm: LmConfig, pos: I32Tensor, tape?: Tape, kv?: KvLayer): F32Tensor {
  if (tape && kv) throw new ValueError("lmAttention: expected a tape (training) or a KV cache (generation), got both");
  const W = lmBlockWeights(P);
  const q = be.rope(be.linear(h, W.q("weight")), pos, { heads: lm.heads, base: lm.ropeBase }); // [B, n, NH*dh]
  const k = be.rope(be.linear(h, W.k("weight")), pos, { heads: lm.kvHeads, base: lm.ropeBase }); // [B, n, KV*dh]
  const v = be.linear(h, W.v("weight")); // [B, n, KV*dh]
  const all = kv ? kv.append(k, v) : { k, v }; // [B, length+n, KV*dh]
  const a = be.attention(q, all.k, all.v, { heads: lm.heads, kvHeads: lm.kvHeads, causal: true });
  tape?.push("lmAttn", { h, q, k, v, a, pos });
  return be.linear(a, W.o("weight"));
}

/** x = x + Attn(RMSNorm1(x)); x = x + down(silu(gate(h)) * up(h)), h = RMSNorm2(x). kv as in lmAttention. */
export function lmBlock(be: Backend, P: ParamScope, x: F32Tensor, lm: LmConfig, pos: I32Tensor, tape?: Tape, kv?: KvLayer): F32Tensor {
  const W = lmBlockWeights(P);
  const x1 = be.add(x, lmAttention(be, P, be.rmsNorm(x, W.norm1("weight"), lm.normEps), lm, pos, tape, kv));
  const h2 = be.rmsNorm(x1, W.norm2("weight"), lm.normEps);
  const gate = be.linear(h2, W.gate("weight")), up = be.linear(h2, W.up("weight")); // [B, n, F]
  const ff = be.swiglu(gate, up);
  tape?.push("lmBlock", { x, x1, h2, gate, up, ff });
  return be.add(x1, be.linear(ff, W.down("weight")));
}

/**
 * Input embeddings x [B, n, d] -> logits [B, n, V] (or [B, 1, V] with logits "last"), at positions
 * start .. start+n-1. Without a cache start = 0 and x is the whole sequence: right padding needs no
 * mask, causality alone keeps the pads (which come last) out of every real token. With a cache
 * (generation: prefill, then one token per step) start = cache.length, every layer appends its
 * keys and values, and the logits are those of the same positions in one call over the whole
 * sequence, bit for bit (every op computes a row or a query independently of the rows it is given;
 * test/generate-kv.test.ts). A tape (training) takes neither a cache nor "last".
 */
export function lmForward(be: Backend, params: Params, lm: LmConfig, x: F32Tensor, tape?: Tape, cache?: KvStore, logits: "all" | "last" = "all"): F32Tensor {
  if (tape && (cache || logits !== "all")) throw new ValueError(`lmForward: tape: expected no KV cache and logits "all" with a tape (training runs whole sequences)`);
  cache?.check(x, "lmForward");
  const n = x.dim(1), start = cache?.length ?? 0;
  const pos = fromInts([n], Array.from({ length: n }, (_, i) => start + i));
  for (let l = 0; l < lm.layers; l++) x = lmBlock(be, scope(params, `lm.blocks.${l}`), x, lm, pos, tape, cache?.layer(l));
  cache?.advance(n);
  if (logits === "last" && n > 1) x = lastRow(x);
  const h = be.rmsNorm(x, getParam(params, "lm.norm.weight"), lm.normEps);
  tape?.push("lmHead", { x, h });
  return be.linear(h, getParam(params, lm.tieEmbeddings ? "lm.embed.weight" : "lm.head.weight"));
}

/** The last row of every sample: x [B, n, d] -> [B, 1, d]. */
function lastRow(x: F32Tensor): F32Tensor {
  const [B, n, d] = x.shape;
  const out = new Tensor("f32", [B, 1, d]);
  for (let b = 0; b < B; b++) out.data.set(x.data.subarray(((b + 1) * n - 1) * d, (b + 1) * n * d), b * d);
  return out;
}

/**
 * Weight of each CE target: a mean over the sequences that have targets of each sequence's mean
 * token loss (spec section 7), so a one-word answer weighs as much as a long report:
 * w_t = 1 / (sequences with targets x targets of t's sequence). The weights sum to 1.
 * With `emphasis` [B, L] (a training option: some targets of a sequence count f times), each
 * sequence's mean is weighted: w_t = f_t / (sequences with targets x sum of f over t's sequence),
 * f_t = emphasis[b, pos]; every sequence still weighs the same, and all f = 1 gives the same bits.
 */
export function targetWeights(seq: SequenceLayout, emphasis?: Float32Array | null): Float64Array {
  const L = seq.promptMask.dim(1), f = ({ b, pos }: { b: number; pos: number }) => (emphasis ? emphasis[b * L + pos] : 1);
  const perSeq = new Map<number, number>();
  for (const t of seq.targets) perSeq.set(t.b, (perSeq.get(t.b) ?? 0) + f(t));
  return Float64Array.from(seq.targets, (t) => f(t) / (perSeq.size * perSeq.get(t.b)!));
}

/** Sum over the targets of w_t * -log softmax(logits[b, pos-1])[ids[b, pos]] (targetWeights), log-sum-exp in float64; null without targets. */
export function crossEntropy(logits: F32Tensor, ids: I32Tensor, seq: SequenceLayout, emphasis?: Float32Array | null): number | null {
  if (seq.targets.length === 0) return null;
  const [, L, V] = logits.shape;
  const w = targetWeights(seq, emphasis);
  let total = 0;
  seq.targets.forEach(({ b, pos }, t) => {
    const row = logits.data.subarray((b * L + pos - 1) * V, (b * L + pos) * V);
    let m = -Infinity;
    for (const z of row) m = Math.max(m, z);
    let s = 0;
    for (const z of row) s += exp(z - m);
    total += w[t] * (m + log(s) - row[ids.data[b * L + pos]]);
  });
  return total;
}
