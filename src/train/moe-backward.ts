/**
 * Backward of TGH-MoE (src/model/moe.ts and encoder.ts:moeSublayer). What is differentiated, and
 * what is not (pinned):
 * - Top-k is a discrete choice: gradients flow through the selected gate values G_K (hence w_ie)
 *   into the router, the text guidance g and u, never through which experts were chosen.
 * - Hard task routing is a discrete choice too: pi gets gradient only from the task loss. Soft
 *   routing weights every group's slots by pi[b, t], so pi also gets sum_slots dslot * w.
 * - L_bal = E sum_e f_e P_e: f_e (a count of slots) is a constant; P_e = mean_i G_ie carries the
 *   gradient, dG_ie = coef * E * f_e / N for every token i of the group.
 * - L_task = mean_b -log pi[b, label_b]: dpi[b, label_b] = -coef / (B pi[b, label_b]).
 * - Ablation moe.guidance "none": one group, router on u alone, no task gate: the same backward
 *   without the task gate and without dg.
 * Legend: B batch · M = D*S tokens per sample · C width · E experts · T tasks · k top-k · N tokens of a group.
 */
import { actBackward, softmaxBackward } from "../backend/grad.js";
import type { ModelConfig } from "../model/config.js";
import type { GroupSaved } from "../model/tape.js";
import { Tensor, fromInts, type F32Tensor } from "../tensor.js";
import type { Ctx } from "./grads.js";
import { splitLast } from "../model/layout.js";
import { moeWeights } from "../model/moe.js";
import type { ParamScope } from "../model/params.js";
import { blockWeights } from "../model/vit.js";
import { linearBackward, linearBackwardDx, mulRows, rowDot, subRows, trains } from "./ops.js";
import { layerNormInputBackward, mlpBackward } from "./vit-backward.js";

/** Weights of one MoE layer's auxiliary losses in the total loss (alpha / #terms, beta / #terms, times the loss scale). */
export interface AuxCoef {
  balance: number;
  task: number;
}

/**
 * y = x + moe(LN2(x), g) in the block whose weights are under P: dy has x's shape. Adds the gradient of g into `dg` [B, C]
 * (when given); returns dx when `needDx`.
 */
export function moeSublayerBackward(ctx: Ctx, P: ParamScope, cfg: ModelConfig, dy: F32Tensor, coef: AuxCoef, dg: F32Tensor | null, needDx: boolean): F32Tensor | null {
  const s = ctx.tape.pop("moeSublayer");
  const W = blockWeights(P);
  const needDu = needDx || trains(ctx, W.ln2);
  const du = moeBackward(ctx, W.moe, cfg, dy.reshape([dy.size / cfg.vision.width, cfg.vision.width]), coef, dg, needDu);
  return du ? layerNormInputBackward(ctx, W.ln2, du, s.x, cfg.vision.normEps, needDx ? dy : null) : null;
}

/**
 * y = a_shared sum_s F_s(u) + a_routed sum_t c_t sum_{e in K} w_e F_{t,e}(u), backwards: the shared
 * experts get a_shared dy; each group's dispatch gets a_routed dy (groups in reverse); then the task
 * gate gets dpi (soft routing and the task loss). Returns du [B*M, C] when `needDu`.
 */
export function moeBackward(ctx: Ctx, P: ParamScope, cfg: ModelConfig, dY: F32Tensor, coef: AuxCoef, dg: F32Tensor | null, needDu: boolean): F32Tensor | null {
  const { be } = ctx;
  const s = ctx.tape.pop("moe");
  const [B, T] = s.pi.shape;
  const du = sharedExpertsBackward(ctx, P, cfg, be.scale(dY, cfg.moe.aShared), needDu ? new Tensor("f32", s.U.shape) : null); // [B*M, C]
  const dRouted = be.scale(dY, cfg.moe.aRouted);
  const dpi = new Tensor("f32", [B * T, 1]); // soft routing and the task loss add here
  for (let i = s.groups.length - 1; i >= 0; i--) {
    const grp = s.groups[i];
    const r = groupBackward(ctx, P, cfg, grp, dRouted, s.pi, dpi, coef.balance, needDu, dg !== null);
    if (du && r.du) be.scatterAddRows(du, r.du, grp.rows); // u_t = U[rows]
    if (dg && r.dg) be.scatterAddRows(dg, r.dg, grp.sampleOfRow); // g_t = g[sampleOfRow]
  }
  if (cfg.moe.guidance === "none") return du; // no task gate on the tape, no task loss
  const labels = coef.task !== 0 ? s.labels : null; // the task loss is on
  if (labels) taskLossBackward(ctx, s.pi, labels, coef.task, dpi);
  taskGateBackward(ctx, P, cfg, cfg.moe.taskRouting === "soft" || labels ? dpi.reshape([B, T]) : null, dg);
  return du;
}

/** sum_s F_shared_s(u), backwards: every shared expert (in reverse) gets dy; du += F_s'(dy) when du is given. */
function sharedExpertsBackward(ctx: Ctx, P: ParamScope, cfg: ModelConfig, dy: F32Tensor, du: F32Tensor | null): F32Tensor | null {
  for (let i = cfg.moe.sharedExperts - 1; i >= 0; i--) {
    const d = mlpBackward(ctx, moeWeights(P).shared(i), cfg.vision.act, dy, du !== null);
    if (du && d) du = ctx.be.add(du, d);
  }
  return du;
}

/** L_task = mean_b -log pi[b, label_b]: dpi[b, label_b] += -coef / (B pi[b, label_b]) (dpi [B*T, 1]). */
function taskLossBackward(ctx: Ctx, pi: F32Tensor, labels: Int32Array, coef: number, dpi: F32Tensor): void {
  const [B, T] = pi.shape;
  const labelAt = fromInts([B], Array.from(labels, (t, b) => b * T + t));
  const d = new Tensor("f32", [B, 1], Float32Array.from(labels, (t, b) => -coef / (B * pi.data[b * T + t])));
  ctx.be.scatterAddRows(dpi, d, labelAt);
}

/**
 * One task group (tokens rows, slot weights w [N, k], slotW = w (hard) or w * pi[b, t] (soft)):
 *   dispatch': per expert (reverse order), dY_e = dRouted[target]; dye = we * dY_e; dwe = <dY_e, ye>;
 *   du_e = F_e'(dye) scattered to the tokens; dslot[slots] = dwe;  soft: dw = dslot * pi_bt and
 *   dpi[b, t] += sum dslot * w;  then the router's backward gives d[u ; g].
 */
function groupBackward(ctx: Ctx, P: ParamScope, cfg: ModelConfig, grp: GroupSaved, dRouted: F32Tensor, pi: F32Tensor, dpi: F32Tensor,
  balance: number, needDu: boolean, needDg: boolean): { du: F32Tensor | null; dg: F32Tensor | null } {
  const { be } = ctx;
  const C = cfg.vision.width, k = cfg.moe.topK, N = grp.rows.size;
  const d = ctx.tape.pop("dispatch");
  const dUt = needDu ? new Tensor("f32", [N, C]) : null;
  const dSlot = new Tensor("f32", [N * k, 1]);
  for (let i = d.experts.length - 1; i >= 0; i--) {
    const x = d.experts[i];
    const dYe = be.gatherRows(dRouted, x.target); // [n_e, C]
    be.scatterAddRows(dSlot, rowDot(be, dYe, x.ye).reshape([x.slots.size, 1]), x.slots); // dwe
    const du = mlpBackward(ctx, moeWeights(P).expert(grp.t, x.e), cfg.vision.act, mulRows(dYe, x.we), dUt !== null);
    if (dUt && du) be.scatterAddRows(dUt, du, x.local);
  }
  let dw = dSlot.reshape([N, k]);
  if (grp.piAt) {
    const gw = be.gatherRows(pi.reshape([pi.size, 1]), grp.piAt).reshape([N, k]); // pi[b, t] per slot
    be.scatterAddRows(dpi, be.mul(dw, grp.w).reshape([N * k, 1]), grp.piAt);
    dw = be.mul(dw, gw);
  }
  const guided = cfg.moe.guidance !== "none";
  const dug = routeBackward(ctx, moeWeights(P).router(grp.t), dw, balance, needDu || (needDg && guided));
  if (!dug) return { du: dUt, dg: null };
  if (!guided) return { du: dUt ? be.add(dUt, dug) : null, dg: null }; // the router input was u alone
  const [du, dgt] = splitLast(dug, 2); // the router input was [u ; g]
  return { du: dUt ? be.add(dUt, du) : null, dg: needDg ? dgt : null };
}

/**
 * h = W_r [u ; g], G = softmax(h), K = top_k(G), w = G_K / sum G_K (or G_K):
 *   dG_K = (dw - <dw, w>) / sum G_K (or dw), scattered to the chosen experts' columns of dG;
 *   balance: dG_ie += coef E f_e / N;  dh = softmax'(dG);  dW_r += dh^T [u ; g];  d[u ; g] = dh W_r.
 */
function routeBackward(ctx: Ctx, R: ParamScope, dw: F32Tensor, balance: number, needInput: boolean): F32Tensor | null {
  const { be } = ctx;
  const s = ctx.tape.pop("route");
  if (!needInput && !trains(ctx, R)) return null;
  const [N, E] = s.G.shape, k = s.idx.dim(1);
  const dtop = s.sum ? be.divRows(subRows(dw, rowDot(be, dw, s.w)), s.sum) : dw;
  const dG = new Tensor("f32", [N * E, 1]);
  const flat = fromInts([N * k], Array.from(s.idx.data, (e, q) => Math.floor(q / k) * E + e)); // (i, idx[i, j]) in G
  be.scatterAddRows(dG, dtop.reshape([N * k, 1]), flat);
  let dGate = dG.reshape([N, E]);
  if (balance !== 0) {
    const count = new Float64Array(E);
    for (const e of s.idx.data) count[e]++;
    // L_bal = E sum_e (count_e / (N k)) mean_i G_ie  ->  dG_ie = coef E count_e / (N k N)
    dGate = be.addBias(dGate, new Tensor("f32", [E], Float32Array.from(count, (c) => (balance * E * c) / (N * k * N))));
  }
  const dh = softmaxBackward(be, s.G, dGate);
  return linearBackward(ctx, dh, s.ug, R, needInput);
}

/**
 * pi = softmax(fc2(act(fc1(g)))): dz2 = softmax'(dpi); dh = dz2 W2; dz = dh act'(z); dg += dz W1.
 * dpi null: pi received no gradient (hard routing without a task loss), so neither does the gate.
 */
function taskGateBackward(ctx: Ctx, P: ParamScope, cfg: ModelConfig, dpi: F32Tensor | null, dg: F32Tensor | null): void {
  const s = ctx.tape.pop("taskGate");
  const { gateFc1, gateFc2 } = moeWeights(P);
  if (!dpi || (!dg && !trains(ctx, gateFc1, gateFc2))) return;
  const { be } = ctx;
  const dz2 = softmaxBackward(be, s.pi, dpi);
  const dh = linearBackwardDx(ctx, dz2, s.h, gateFc2);
  const dz = actBackward(be, cfg.vision.act, s.z, dh);
  const dgi = linearBackward(ctx, dz, s.g, gateFc1, dg !== null);
  if (dg && dgi) dg.data.set(be.add(dg, dgi).data);
}
