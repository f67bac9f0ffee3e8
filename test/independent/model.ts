/**
 * Independent float64 forward pass of TGH-MoE (inference, hard task routing by argmax pi), written from
 * /work/shared/SPEC.md sections 1-6 alone as a cross-check of the golden files. Not the library's model.
 *
 * Choices the spec leaves open, pinned here BEFORE comparing with src/model/ (see the oracle test):
 *  1. Text guidance (spec 4 / 8): the prompt is the ids strictly between the first `</img>` and the first
 *     `<sep>` after it; ids equal to any `tokens.*` special (bos, eos, pad, img_start, img_end, image,
 *     sep) are masked out ("no image tokens, no specials"); s is the plain mean of the remaining rows
 *     of lm.embed.weight (no embedding scale). An empty prompt would give s = 0.
 *  2. Padding in the LM (spec 6 names only the causal mask): no key-padding mask; `<pad>` positions
 *     are embedded and attended like any token and keep their index as rotary position. With right
 *     padding after `<eos>` this changes only the logits at pad positions (the test reports them apart).
 *  3. GQA (spec 6 says only "kv_heads divides heads"): query head h uses kv head floor(h / (NH/KV)),
 *     the LLaMA/Qwen `repeat_kv` (repeat_interleave) convention the spec names as its family.
 *  4. act.embed = after `pre_norm` (spec 8: "input of block 0"; CLIP applies ln_pre after pos_embed).
 *  5. Rotary "dhw": the angle exponent uses the global pair index j in [0, dh/2) (spec 0 formula);
 *     sections only choose the position. Volume-block rope is applied per head of q and k.
 *  6. Depth patching t > 1: W3[:, :, tau] = W2 / t, i.e. the 2D conv of the sum over t slices / t;
 *     token depth position = index of the depth patch.
 *  7. Routing is done in float64 here (spec says float32): top-k and argmax differ only on near ties,
 *     and the golden file records its margins.
 */
import { activation, addScaled, argmax, attention, layerNorm, linear, rmsNorm, rope, softmax, topk, type F64 } from "./ops.js";

export interface OracleConfig {
  vision: {
    image: number; patch: number; c_in: number; width: number; heads: number; layers: number; volume_layers: number;
    mlp_ratio: number; act: string; norm_eps: number; depth_patch: number; rope: "depth" | "dhw"; rope_base: number;
    rope_sections: number[]; moe_layers: number[];
  };
  moe: {
    tasks: number; experts: number; top_k: number; shared_experts: number; a_shared: number; a_routed: number;
    task_routing: "hard" | "soft"; renormalize: boolean; expert_init: string;
  };
  projector: { depth_pool: number; act: string };
  lm: {
    vocab: number; width: number; heads: number; kv_heads: number; layers: number; mlp_hidden: number; norm_eps: number;
    rope_base: number; tie_embeddings: boolean;
  };
  tokens: { bos: number; eos: number; pad: number; img_start: number; img_end: number; image: number; sep: number };
  /** Not a file key: switches to the REJECTED reading of each open point, so the test can show that
   *  the golden file tells them apart. Absent = every pinned choice above. */
  alt?: Partial<Alternatives>;
}

/** The other plausible readings of the spec (each `true` = the alternative, not the pinned choice). */
export interface Alternatives {
  padKeyMask: boolean; // choice 2: mask `<pad>` keys in LM attention
  tileKv: boolean; // choice 3: query head h reads kv head h % KV
  interleavedRope: boolean; // spec 0: GPT-J pairs (2j, 2j+1) instead of rotate-half
  embedBeforePreNorm: boolean; // choice 4: record act.embed before pre_norm (blocks still see it normed)
  promptWithDelimiters: boolean; // choice 1: average </img> and <sep> into s too
  routerInputGU: boolean; // spec 4: router input [g ; u] instead of [u ; g]
  mergeColumnFirst: boolean; // spec 5: merge order (2r,2c), (2r+1,2c), (2r,2c+1), (2r+1,2c+1)
  noVolumeRope: boolean; // spec 3: volume blocks without rotary
}
const alt = (cfg: OracleConfig, key: keyof Alternatives): boolean => cfg.alt?.[key] ?? false;

export type Weights = ReadonlyMap<string, F64>;

/** Every activation the golden file names (spec 8), as float64 arrays in the same row-major layouts. */
export type Activations = Map<string, F64 | Int32Array>;

function w(W: Weights, name: string): F64 {
  const t = W.get(name);
  if (!t) throw new Error(`oracle: missing weight ${name}`);
  return t;
}

/** Spec 1-3 embedding: volume [B,1,D,H,W] -> X [B, D', S, C] after pre_norm (D' = D / depth_patch). */
export function embed(cfg: OracleConfig, W: Weights, vol: F64, B: number, D: number): { x: F64; raw: F64; Dt: number } {
  const { image, patch: p, c_in, width: C, depth_patch: t, norm_eps } = cfg.vision;
  const n = image / p, S = 1 + n * n, Dt = D / t;
  if (!Number.isInteger(Dt) || !Number.isInteger(n)) throw new Error("oracle: D % depth_patch or image % patch != 0");
  const kern = w(W, "vision.patch_embed.weight"); // [C, c_in, p, p]; every channel sees the same slice
  const cls = w(W, "vision.class_embed"), pos = w(W, "vision.pos_embed");
  const x = new Float64Array(B * Dt * S * C);
  for (let b = 0; b < B; b++) {
    for (let d = 0; d < Dt; d++) {
      const row0 = (b * Dt + d) * S;
      for (let c = 0; c < C; c++) x[row0 * C + c] = cls[c] + pos[c];
      for (let r = 0; r < n; r++) {
        for (let cc = 0; cc < n; cc++) {
          const j = 1 + r * n + cc;
          for (let o = 0; o < C; o++) {
            let acc = 0;
            for (let ci = 0; ci < c_in; ci++) {
              for (let ki = 0; ki < p; ki++) {
                for (let kj = 0; kj < p; kj++) {
                  let px = 0; // mean over the t slices of this depth patch (W3 = W2 / t)
                  for (let tau = 0; tau < t; tau++) px += vol[((b * D + d * t + tau) * image + r * p + ki) * image + cc * p + kj];
                  acc += kern[((o * c_in + ci) * p + ki) * p + kj] * (px / t);
                }
              }
            }
            x[(row0 + j) * C + o] = acc + pos[j * C + o];
          }
        }
      }
    }
  }
  const rows = B * Dt * S;
  return { x: layerNorm(x, rows, C, w(W, "vision.pre_norm.weight"), w(W, "vision.pre_norm.bias"), norm_eps), raw: x, Dt };
}

/** Block MLP / expert: fc2(act(fc1 u)). u: [rows, C]. */
function mlp(cfg: OracleConfig, W: Weights, pre: string, u: F64, rows: number): F64 {
  const C = cfg.vision.width, Hd = C * cfg.vision.mlp_ratio;
  const h = activation(cfg.vision.act, linear(u, rows, C, w(W, `${pre}.fc1.weight`), w(W, `${pre}.fc1.bias`), Hd));
  return linear(h, rows, Hd, w(W, `${pre}.fc2.weight`), w(W, `${pre}.fc2.bias`), C);
}

/** Rotary position of pair j of token (d, jTok) in a volume block (spec 3). */
function volumePos(cfg: OracleConfig, S: number, n: number): (row: number, j: number) => number {
  const [sd, sr] = cfg.vision.rope_sections;
  return (row, j) => {
    const d = Math.floor(row / S), tok = row % S;
    if (cfg.vision.rope === "depth" || j < sd) return d;
    const r1 = tok === 0 ? 0 : Math.floor((tok - 1) / n) + 1, c1 = tok === 0 ? 0 : ((tok - 1) % n) + 1;
    return j < sd + sr ? r1 : c1;
  };
}

/** Attention sublayer over nSeq sequences of T tokens each; x updated in place. */
function attnSublayer(cfg: OracleConfig, W: Weights, pre: string, x: F64, nSeq: number, T: number, volume: boolean, S: number): void {
  const { width: C, heads: NH, norm_eps, rope_base } = cfg.vision;
  const dh = C / NH, n = cfg.vision.image / cfg.vision.patch;
  const rows = nSeq * T;
  const qkv = linear(layerNorm(x, rows, C, w(W, `${pre}.ln1.weight`), w(W, `${pre}.ln1.bias`), norm_eps), rows, C, w(W, `${pre}.attn.qkv.weight`), w(W, `${pre}.attn.qkv.bias`), 3 * C);
  const out = new Float64Array(rows * C);
  for (let s = 0; s < nSeq; s++) {
    const q = new Float64Array(T * C), k = new Float64Array(T * C), v = new Float64Array(T * C);
    for (let i = 0; i < T; i++) {
      for (let c = 0; c < C; c++) {
        const base = (s * T + i) * 3 * C;
        q[i * C + c] = qkv[base + c];
        k[i * C + c] = qkv[base + C + c];
        v[i * C + c] = qkv[base + 2 * C + c];
      }
    }
    if (volume && !alt(cfg, "noVolumeRope")) {
      const posOf = volumePos(cfg, S, n), il = alt(cfg, "interleavedRope");
      rope(q, T, NH, dh, rope_base, posOf, il);
      rope(k, T, NH, dh, rope_base, posOf, il);
    }
    out.set(attention(q, k, v, T, NH, NH, dh, false), s * T * C);
  }
  addScaled(x, linear(out, rows, C, w(W, `${pre}.attn.proj.weight`), w(W, `${pre}.attn.proj.bias`), C));
}

/** Spec 4 inference: TGH-MoE sublayer for one sample's tokens (u = LN2(x): [N, C]), given g [C]. */
function moe(cfg: OracleConfig, W: Weights, pre: string, u: F64, N: number, g: F64, acts: Activations, b: number): F64 {
  const C = cfg.vision.width, { tasks: T, experts: E, top_k: k, shared_experts, a_shared, a_routed, renormalize } = cfg.moe;
  if (cfg.moe.task_routing !== "hard") throw new Error("oracle: only hard task routing (the golden-file mode)");
  const z = activation(cfg.vision.act, linear(g, 1, C, w(W, `${pre}.moe.task_gate.fc1.weight`), w(W, `${pre}.moe.task_gate.fc1.bias`), C));
  const pi = softmax(linear(z, 1, C, w(W, `${pre}.moe.task_gate.fc2.weight`), w(W, `${pre}.moe.task_gate.fc2.bias`), T));
  const t = argmax(pi);
  const key = `act.${pre.slice("vision.".length)}.moe`;
  (acts.get(`${key}.pi`) as F64).set(pi, b * T);
  (acts.get(`${key}.group`) as Int32Array)[b] = t;
  const out = new Float64Array(N * C);
  for (let s = 0; s < shared_experts; s++) addScaled(out, mlp(cfg, W, `${pre}.moe.shared.${s}`, u, N), a_shared);
  const ug = new Float64Array(N * 2 * C); // [u_i ; g]
  for (let i = 0; i < N; i++) {
    const gu = alt(cfg, "routerInputGU");
    ug.set(u.subarray(i * C, (i + 1) * C), i * 2 * C + (gu ? C : 0));
    ug.set(g, i * 2 * C + (gu ? 0 : C));
  }
  const h = linear(ug, N, 2 * C, w(W, `${pre}.moe.router.${t}.weight`), null, E);
  const experts = Array.from({ length: E }, (_, e) => mlp(cfg, W, `${pre}.moe.experts.${t}.${e}`, u, N)); // dropless
  const idxOut = acts.get(`${key}.topk_idx`) as Int32Array, wOut = acts.get(`${key}.topk_w`) as F64;
  for (let i = 0; i < N; i++) {
    const G = softmax(h.subarray(i * E, (i + 1) * E));
    const K = topk(G, k);
    let denom = 0;
    for (const e of K) denom += G[e];
    K.forEach((e, r) => {
      const wie = renormalize ? G[e] / denom : G[e];
      idxOut[(b * N + i) * k + r] = e;
      wOut[(b * N + i) * k + r] = wie;
      for (let c = 0; c < C; c++) out[i * C + c] += a_routed * wie * experts[e][i * C + c];
    });
  }
  return out;
}

/** Spec 2-4: the blocks; x [B, Dt, S, C] updated in place; act.blocks.<l> recorded. */
function encoder(cfg: OracleConfig, W: Weights, x: F64, B: number, Dt: number, g: F64, acts: Activations): void {
  const { width: C, layers: L, volume_layers: L3, norm_eps, moe_layers } = cfg.vision;
  const n = cfg.vision.image / cfg.vision.patch, S = 1 + n * n, N = Dt * S;
  for (let l = 0; l < L; l++) {
    const pre = `vision.blocks.${l}`, volume = l >= L - L3;
    attnSublayer(cfg, W, pre, x, volume ? B : B * Dt, volume ? N : S, volume, S);
    const u = layerNorm(x, B * N, C, w(W, `${pre}.ln2.weight`), w(W, `${pre}.ln2.bias`), norm_eps);
    if (moe_layers.includes(l)) {
      for (let b = 0; b < B; b++) {
        const ub = u.subarray(b * N * C, (b + 1) * N * C);
        const delta = moe(cfg, W, pre, ub, N, g.subarray(b * C, (b + 1) * C), acts, b);
        addScaled(x.subarray(b * N * C, (b + 1) * N * C), delta);
      }
    } else {
      addScaled(x, mlp(cfg, W, `${pre}.mlp`, u, B * N));
    }
    acts.set(`act.blocks.${l}`, x.slice());
  }
}

/** Spec 4 text guidance: g = W_s mean(embed[prompt ids]) + b_s  -> [B, C]. */
export function textGuide(cfg: OracleConfig, W: Weights, ids: Int32Array, B: number, Lseq: number): F64 {
  const dl = cfg.lm.width, C = cfg.vision.width, tok = cfg.tokens;
  const specials = new Set(Object.values(tok));
  const emb = w(W, "lm.embed.weight"), s = new Float64Array(B * dl);
  for (let b = 0; b < B; b++) {
    const row = Array.from(ids.subarray(b * Lseq, (b + 1) * Lseq));
    const start = row.indexOf(tok.img_end), end = row.indexOf(tok.sep, start + 1);
    if (start < 0 || end < 0) throw new Error(`oracle: sample ${b} lacks </img> ... <sep>`);
    let count = 0;
    const wide = alt(cfg, "promptWithDelimiters") ? 1 : 0;
    for (let i = start + 1 - wide; i < end + wide; i++) {
      if (specials.has(row[i]) && !wide) continue;
      for (let c = 0; c < dl; c++) s[b * dl + c] += emb[row[i] * dl + c];
      count++;
    }
    for (let c = 0; c < dl; c++) s[b * dl + c] /= Math.max(count, 1);
  }
  return linear(s, B, dl, w(W, "moe.text_proj.weight"), w(W, "moe.text_proj.bias"), C);
}

/** Spec 5: final vision tokens [B, Dt, S, C] -> [B, m, d_lm], m = (Dt/dp) (n/2)^2. */
export function projector(cfg: OracleConfig, W: Weights, x: F64, B: number, Dt: number): { z: F64; m: number } {
  const C = cfg.vision.width, n = cfg.vision.image / cfg.vision.patch, S = 1 + n * n, dp = cfg.projector.depth_pool;
  const h2 = n / 2, Dp = Dt / dp, dl = cfg.lm.width, m = Dp * h2 * h2;
  if (!Number.isInteger(h2) || !Number.isInteger(Dp)) throw new Error("oracle: n odd or D % depth_pool != 0");
  const merged = new Float64Array(B * m * 4 * C); // [B, Dp, n/2, n/2, 4C]
  const order = alt(cfg, "mergeColumnFirst") ? [[0, 0], [1, 0], [0, 1], [1, 1]] : [[0, 0], [0, 1], [1, 0], [1, 1]];
  for (let b = 0; b < B; b++)
    for (let d = 0; d < Dt; d++)
      for (let r = 0; r < h2; r++)
        for (let c = 0; c < h2; c++)
          order.forEach(([dr, dc], q) => {
            const src = ((b * Dt + d) * S + 1 + (2 * r + dr) * n + (2 * c + dc)) * C;
            const dst = (((b * Dp + Math.floor(d / dp)) * h2 + r) * h2 + c) * 4 * C + q * C;
            for (let ch = 0; ch < C; ch++) merged[dst + ch] += x[src + ch] / dp;
          });
  const h = activation(cfg.projector.act, linear(merged, B * m, 4 * C, w(W, "projector.fc1.weight"), w(W, "projector.fc1.bias"), dl));
  return { z: linear(h, B * m, dl, w(W, "projector.fc2.weight"), w(W, "projector.fc2.bias"), dl), m };
}

/** Spec 6: the language model over ids [B, Lseq] with image tokens spliced in -> logits [B, Lseq, V]. */
export function languageModel(cfg: OracleConfig, W: Weights, ids: Int32Array, B: number, Lseq: number, z: F64, m: number): F64 {
  const { vocab: V, width: dl, heads: NH, kv_heads: KV, layers, mlp_hidden: F, norm_eps, rope_base, tie_embeddings } = cfg.lm;
  const dh = dl / NH, emb = w(W, "lm.embed.weight");
  const logits = new Float64Array(B * Lseq * V);
  for (let b = 0; b < B; b++) {
    const x = new Float64Array(Lseq * dl);
    let next = 0;
    for (let i = 0; i < Lseq; i++) {
      const id = ids[b * Lseq + i];
      if (id === cfg.tokens.image) x.set(z.subarray((b * m + next++) * dl, (b * m + next) * dl), i * dl);
      else x.set(emb.subarray(id * dl, (id + 1) * dl), i * dl);
    }
    if (next !== m) throw new Error(`oracle: sample ${b} has ${next} image tokens, projector gives ${m}`);
    const padMask = alt(cfg, "padKeyMask");
    const keyMask = padMask ? Array.from(ids.subarray(b * Lseq, (b + 1) * Lseq), (id) => id !== cfg.tokens.pad) : undefined;
    for (let l = 0; l < layers; l++) {
      const pre = `lm.blocks.${l}`;
      const hn = rmsNorm(x, Lseq, dl, w(W, `${pre}.norm1.weight`), norm_eps);
      const q = linear(hn, Lseq, dl, w(W, `${pre}.attn.q.weight`), null, NH * dh);
      const k = linear(hn, Lseq, dl, w(W, `${pre}.attn.k.weight`), null, KV * dh);
      const v = linear(hn, Lseq, dl, w(W, `${pre}.attn.v.weight`), null, KV * dh);
      const il = alt(cfg, "interleavedRope");
      rope(q, Lseq, NH, dh, rope_base, (row) => row, il);
      rope(k, Lseq, KV, dh, rope_base, (row) => row, il);
      const a = attention(q, k, v, Lseq, NH, KV, dh, true, keyMask, alt(cfg, "tileKv"));
      addScaled(x, linear(a, Lseq, NH * dh, w(W, `${pre}.attn.o.weight`), null, dl));
      const h2 = rmsNorm(x, Lseq, dl, w(W, `${pre}.norm2.weight`), norm_eps);
      const gate = activation("silu", linear(h2, Lseq, dl, w(W, `${pre}.mlp.gate.weight`), null, F));
      const up = linear(h2, Lseq, dl, w(W, `${pre}.mlp.up.weight`), null, F);
      for (let i = 0; i < gate.length; i++) gate[i] *= up[i];
      addScaled(x, linear(gate, Lseq, F, w(W, `${pre}.mlp.down.weight`), null, dl));
    }
    const xf = rmsNorm(x, Lseq, dl, w(W, "lm.norm.weight"), norm_eps);
    logits.set(linear(xf, Lseq, dl, w(W, tie_embeddings ? "lm.embed.weight" : "lm.head.weight"), null, V), b * Lseq * V);
  }
  return logits;
}

/** Spec 1-4: embed + blocks; returns act.embed, act.blocks.*, routing traces, and the final x. */
export function visionForward(cfg: OracleConfig, W: Weights, vol: F64, volShape: readonly number[], g: F64): { acts: Activations; x: F64; Dt: number } {
  const [B, , D] = volShape;
  const { x, raw, Dt } = embed(cfg, W, vol, B, D);
  const acts: Activations = new Map();
  acts.set("act.embed", alt(cfg, "embedBeforePreNorm") ? raw : x.slice());
  const N = Dt * (1 + (cfg.vision.image / cfg.vision.patch) ** 2), { tasks: T, top_k: k } = cfg.moe;
  for (const l of cfg.vision.moe_layers) {
    acts.set(`act.blocks.${l}.moe.pi`, new Float64Array(B * T));
    acts.set(`act.blocks.${l}.moe.group`, new Int32Array(B));
    acts.set(`act.blocks.${l}.moe.topk_idx`, new Int32Array(B * N * k));
    acts.set(`act.blocks.${l}.moe.topk_w`, new Float64Array(B * N * k));
  }
  encoder(cfg, W, x, B, Dt, g, acts);
  return { acts, x, Dt };
}

/** The whole inference forward pass: every act.* of spec 8. volume: [B,1,D,H,W], ids: [B, Lseq]. */
export function forward(cfg: OracleConfig, W: Weights, vol: F64, volShape: readonly number[], ids: Int32Array, Lseq: number): Activations {
  const B = volShape[0];
  const g = textGuide(cfg, W, ids, B, Lseq);
  const { acts, x, Dt } = visionForward(cfg, W, vol, volShape, g);
  acts.set("act.text_guide", g);
  const { z, m } = projector(cfg, W, x, B, Dt);
  acts.set("act.projector", z);
  acts.set("act.lm.logits", languageModel(cfg, W, ids, B, Lseq, z, m));
  return acts;
}
