/**
 * How far a golden file's discrete decisions are from a tie: the smallest gap between the largest
 * and second-largest task probability pi (the group), and between consecutive gate values G among
 * the top k+1 of every token in every evaluated group (the top-k indices and their order). A port
 * whose float32 error stays well below these gaps must reproduce every index. Diagnostics only.
 * Legend: B batch · M = D*S tokens per sample · C width · E experts · T tasks · k top-k.
 */
import type { Backend } from "../backend/backend.js";
import { Tensor, type F32Tensor, type I32Tensor } from "../tensor.js";
import type { ModelConfig } from "../model/config.js";
import { ropePositions } from "../model/encoder.js";
import { moeWeights, route } from "../model/moe.js";
import { scope, type Params } from "../model/params.js";
import { attentionSublayer, blockWeights } from "../model/vit.js";

export interface RoutingMargins {
  /** min over MoE layers and samples of pi_(1) - pi_(2) (Infinity with one task). */
  task: number;
  /** min over MoE layers, evaluated (sample, group) pairs and tokens of G_(j) - G_(j+1), j = 1..k
   *  (sorted descending; with k = E only the order gaps exist). */
  token: number;
}

/** Sorted-descending consecutive gaps of row[0..n) among the first `upto` + 1 values. */
function minGap(row: Float32Array, upto: number): number {
  const s = Array.from(row).sort((a, b) => b - a);
  let gap = Infinity;
  for (let j = 0; j < Math.min(upto, s.length - 1); j++) gap = Math.min(gap, s[j] - s[j + 1]);
  return gap;
}

/** Margins of a forward pass's acts (the act.* map of `forward(..., {acts: true})` or of a file). */
export function routingMargins(be: Backend, params: Params, cfg: ModelConfig, acts: ReadonlyMap<string, Tensor>): RoutingMargins {
  const v = cfg.vision, { tasks: T, topK: k, taskRouting } = cfg.moe;
  const out: RoutingMargins = { task: Infinity, token: Infinity };
  if (v.moeLayers.length === 0) return out;
  const g = acts.get("act.text_guide") as F32Tensor; // [B, C]
  for (const l of v.moeLayers) {
    const x = acts.get(l === 0 ? "act.embed" : `act.blocks.${l - 1}`) as F32Tensor; // [B, D, S, C]
    const [B, D, S, C] = x.shape, M = D * S;
    const P = scope(params, `vision.blocks.${l}`), W = blockWeights(P);
    const volume = l >= v.layers - v.volumeLayers;
    const xs = volume ? x.reshape([B, M, C]) : x.reshape([B * D, S, C]);
    const h = attentionSublayer(be, P, xs, v, volume ? ropePositions(v, D) : undefined);
    const u = be.layerNorm(h, W.ln2("weight"), W.ln2("bias"), v.normEps).reshape([B, M, C]);
    const pi = acts.get(`act.blocks.${l}.moe.pi`) as F32Tensor; // [B, T]
    const group = acts.get(`act.blocks.${l}.moe.group`) as I32Tensor; // [B]
    for (let b = 0; b < B; b++) {
      out.task = Math.min(out.task, minGap(pi.data.subarray(b * T, (b + 1) * T), 1));
      const ub = new Tensor("f32", [M, C], u.data.slice(b * M * C, (b + 1) * M * C));
      const gb = new Tensor("f32", [M, C]);
      for (let i = 0; i < M; i++) gb.data.set(g.data.subarray(b * C, (b + 1) * C), i * C);
      const groups = taskRouting === "soft" ? Array.from({ length: T }, (_, t) => t) : [group.data[b]];
      for (const t of groups) {
        const { G } = route(be, moeWeights(W.moe).router(t)("weight"), ub, gb, k, cfg.moe.renormalize); // [M, E]
        const E = G.dim(1);
        for (let i = 0; i < M; i++) out.token = Math.min(out.token, minGap(G.data.subarray(i * E, (i + 1) * E), k));
      }
    }
  }
  return out;
}
