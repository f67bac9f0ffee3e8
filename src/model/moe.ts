/**
 * TGH-MoE (spec section 4): task gate (level 1), per-group token router (level 2), shared + routed
 * experts with dropless gather -> expert MLP -> weighted scatter-add dispatch, the balance and task
 * losses, and the routing trace. Backend ops only; index bookkeeping in plain JS, never per-token math.
 * Legend: B batch · M = D*S tokens per sample · C width · E experts · T tasks · k top-k.
 */
import type { Backend } from "../backend/backend.js";
import { ValueError } from "../errors.js";
import { log } from "../detmath.js";
import { Tensor, fromInts, transpose, type F32Tensor, type I32Tensor } from "../tensor.js";
import type { ModelConfig } from "./config.js";
import { concatLast } from "./layout.js";
import type { ParamScope } from "./params.js";
import type { ExpertSlots, GroupSaved, Tape } from "./tape.js";
import type { BalanceTerm } from "./types.js";
import { mlp } from "./vit.js";

/** Per MoE layer, a first-class output: task probabilities, chosen group, per-token top-k. */
export interface MoeTrace {
  layer: number;
  pi: F32Tensor; // [B, T] (guidance "none": [B, 1] of ones, one group)
  group: I32Tensor; // [B]: the group that routed the sample (soft routing: argmax pi)
  topkIdx: I32Tensor; // [B, M, k] expert indices within the group, descending gate
  topkW: F32Tensor; // [B, M, k] their weights w_ie
}
export interface MoeResult {
  y: F32Tensor; // [B, M, C]: a_shared * sum_s F_shared_s(u) + a_routed * sum_e w_e F_{t,e}(u)
  trace: MoeTrace;
  balance: BalanceTerm[];
  /** mean over the batch of -log pi[label] (only with labels). */
  task: number | null;
}

/**
 * The weights of one MoE layer under "vision.blocks.<l>.moe" (spec section 4), for the forward here
 * and src/train/moe-backward.ts: task gate fc1 [C, C] and fc2 [T, C], router t [E, 2C] (or [E, C]),
 * shared expert s, routed expert (t, e) (each an MLP: vit.ts:mlpWeights).
 */
export function moeWeights(P: ParamScope) {
  return {
    gateFc1: P.at("task_gate.fc1"), gateFc2: P.at("task_gate.fc2"),
    router: (t: number) => P.at(`router.${t}`),
    shared: (s: number) => P.at(`shared.${s}`),
    expert: (t: number, e: number) => P.at(`experts.${t}.${e}`),
  };
}

/** Level 1: pi = softmax(W_t2 act(W_t1 g + b_t1) + b_t2), g [B, C] -> [B, T]. */
export function taskGate(be: Backend, P: ParamScope, g: F32Tensor, cfg: ModelConfig, tape?: Tape): F32Tensor {
  const { gateFc1, gateFc2 } = moeWeights(P);
  const z = be.linear(g, gateFc1("weight"), gateFc1("bias"));
  const h = be.act(cfg.vision.act, z);
  const pi = be.softmax(be.linear(h, gateFc2("weight"), gateFc2("bias")));
  tape?.push("taskGate", { g, z, h, pi });
  return pi;
}

/**
 * Level 2 within one group: h = W_r [u ; g] (u, g [N, C] -> [N, E]), G = softmax(h), K = top_k(G)
 * (ties to the lower index), w = G_K / sum(G_K) (renormalize) or G_K. g null (guidance "none"): h = W_r u.
 */
export function route(be: Backend, Wr: F32Tensor, u: F32Tensor, g: F32Tensor | null, k: number, renormalize: boolean, tape?: Tape): { G: F32Tensor; idx: I32Tensor; w: F32Tensor } {
  const ug = g ? concatLast(u, g) : u; // [N, 2C] or [N, C]
  const G = be.softmax(be.linear(ug, Wr)); // [N, E]
  const top = be.topk(G, k); // [N, k]
  const sum = renormalize ? be.sum(top.values) : null;
  const w = sum ? be.divRows(top.values, sum) : top.values;
  tape?.push("route", { ug, G, idx: top.indices, top: top.values, sum, w });
  return { G, idx: top.indices, w };
}

/** L_bal = E * sum_e f_e P_e: f_e share of the N*k slots that went to e, P_e mean gate of e. */
export function balanceLoss(be: Backend, G: F32Tensor, idx: I32Tensor): number {
  const [N, E] = G.shape, k = idx.dim(1);
  const count = new Float64Array(E);
  for (const e of idx.data) count[e]++;
  const P = be.mean(transpose(G)); // [E]
  let s = 0;
  for (let e = 0; e < E; e++) s += (count[e] / (N * k)) * P.data[e];
  return E * s;
}

/**
 * Dropless dispatch within one group: for each expert, gather the rows that chose it (in token
 * order), run its MLP once over them, scatter-add w * F(u) into `out` at the rows' global indices.
 * u [N, C]; rows [N] global row of each token; idx, slotW [N, k]; out [R, C] (accumulated in place).
 */
export function dispatch(be: Backend, expert: (e: number) => ParamScope, u: F32Tensor, rows: Int32Array,
  idx: I32Tensor, slotW: F32Tensor, out: F32Tensor, cfg: ModelConfig, tape?: Tape): void {
  const [N, k] = idx.shape;
  const flatW = slotW.reshape([N * k, 1]);
  const experts: ExpertSlots[] = [];
  for (const [e, slots] of slotsByExpert(idx, cfg.moe.experts).entries()) {
    if (slots.length === 0) continue;
    const local = fromInts([slots.length], slots.map((q) => Math.floor(q / k)));
    const ye = mlp(be, expert(e), be.gatherRows(u, local), cfg.vision.act, tape); // [n_e, C]
    const slotIds = fromInts([slots.length], slots);
    const we = be.gatherRows(flatW, slotIds).reshape([slots.length]);
    const target = fromInts([slots.length], Array.from(local.data, (i) => rows[i]));
    be.scatterAddRows(out, ye, target, we);
    if (tape) experts.push({ e, local, slots: slotIds, target, ye, we });
  }
  tape?.push("dispatch", { experts });
}

/** For each expert, the slot ids q = i*k + j with idx[i, j] = e, in increasing q. */
function slotsByExpert(idx: I32Tensor, E: number): number[][] {
  const slots: number[][] = Array.from({ length: E }, () => []);
  for (let q = 0; q < idx.size; q++) slots[idx.data[q]].push(q);
  return slots;
}

/**
 * The TGH-MoE MLP of one block (spec section 4) on u = LN2(x) [B, M, C] with text guidance g [B, C]:
 *
 *   y_i = a_shared sum_s F_shared_s(u_i) + a_routed sum_t c_bt sum_{e in K_i} w_ie F_{t,e}(u_i)
 *
 * pi = taskGate(g) (level 1); t ranges over the group of sample b (hard: c_bt = 1 for t = t_b, the
 * label while training, else argmax pi) or over every group (soft: c_bt = pi[b, t]); K_i and w_ie
 * come from the group's router (level 2). `labels` [B] also define the task loss.
 * Ablation (moe.guidance "none", g null): no task level, every token in one group (pi = 1, group 0),
 * the router reads u alone, labels are ignored and there is no task loss.
 */
export function moe(be: Backend, P: ParamScope, u: F32Tensor, g: F32Tensor | null, cfg: ModelConfig, layer: number, labels?: Int32Array | null, tape?: Tape): MoeResult {
  const [B, M, C] = u.shape;
  if (cfg.moe.guidance === "none") return tokenMoe(be, P, u, cfg, layer, tape);
  if (!g) throw new ValueError(`moe: g: expected the text guidance [${B}, ${C}] (moe.guidance is "text")`);
  checkLabels(labels, B, cfg.moe.tasks);
  const U = u.reshape([B * M, C]);
  const pi = taskGate(be, P, g, cfg, tape); // [B, T]
  const group = chooseGroups(be, pi, cfg, labels); // [B] t_b
  const trace = emptyTrace(layer, pi, group, M, cfg.moe.topK);
  const routed = new Tensor("f32", [B * M, C]); // sum_t c_bt sum_{e in K_i} w_ie F_{t,e}(u_i)
  const balance: BalanceTerm[] = [];
  const groups: GroupSaved[] = [];
  for (let t = 0; t < cfg.moe.tasks; t++) {
    const tokens = groupTokens(group, t, M, cfg.moe.taskRouting);
    if (!tokens) continue;
    const { G, idx, w } = routedGroup(be, P, U, g, pi, tokens, t, cfg, routed, groups, tape);
    balance.push({ layer, group: t, tokens: tokens.rows.length, value: balanceLoss(be, G, idx) });
    recordTrace(trace, tokens.samples, t, idx, w);
  }
  const y = mixExperts(be, sharedExperts(be, P, U, cfg, tape), routed, cfg);
  tape?.push("moe", { U, g, pi, labels: labels ?? null, groups });
  return { y: y.reshape([B, M, C]), trace, balance, task: labels ? taskLoss(pi, labels) : null };
}

/**
 * Token-level MoE without text guidance (ablation): y = a_shared sum_s F_s(u) + a_routed sum_{e in K}
 * w_e F_{0,e}(u), K = top_k(softmax(W_r u)) over all B*M tokens as one group. Tape entries mirror
 * moe() without the task gate: route, dispatch (group 0), shared MLPs, moe.
 */
function tokenMoe(be: Backend, P: ParamScope, u: F32Tensor, cfg: ModelConfig, layer: number, tape?: Tape): MoeResult {
  const [B, M, C] = u.shape, k = cfg.moe.topK;
  const U = u.reshape([B * M, C]);
  const rows = Int32Array.from(range(B * M));
  const { G, idx, w } = route(be, moeWeights(P).router(0)("weight"), U, null, k, cfg.moe.renormalize, tape);
  const routed = new Tensor("f32", [B * M, C]);
  dispatch(be, expertScope(P, 0), U, rows, idx, w, routed, cfg, tape);
  const sampleOfRow = rows.map((r) => Math.floor(r / M));
  const groups: GroupSaved[] = tape ? [{ t: 0, rows: fromInts([B * M], rows), sampleOfRow: fromInts([B * M], sampleOfRow), piAt: null, w }] : [];
  const y = mixExperts(be, sharedExperts(be, P, U, cfg, tape), routed, cfg);
  const pi = new Tensor("f32", [B, 1], new Float32Array(B).fill(1));
  tape?.push("moe", { U, g: null, pi, labels: null, groups });
  const trace: MoeTrace = { layer, pi, group: new Tensor("i32", [B]), topkIdx: idx.reshape([B, M, k]), topkW: w.reshape([B, M, k]) };
  return { y: y.reshape([B, M, C]), trace, balance: [{ layer, group: 0, tokens: B * M, value: balanceLoss(be, G, idx) }], task: null };
}

/** sum_s F_shared_s(u) over the shared experts, in order (u [N, C] -> [N, C]); null without shared experts. */
export function sharedExperts(be: Backend, P: ParamScope, u: F32Tensor, cfg: ModelConfig, tape?: Tape): F32Tensor | null {
  let sum: F32Tensor | null = null;
  for (let s = 0; s < cfg.moe.sharedExperts; s++) {
    const F = mlp(be, moeWeights(P).shared(s), u, cfg.vision.act, tape);
    sum = sum ? be.add(sum, F) : F;
  }
  return sum;
}

/** y = a_shared shared + a_routed routed (shared null: a_routed routed). */
function mixExperts(be: Backend, shared: F32Tensor | null, routed: F32Tensor, cfg: ModelConfig): F32Tensor {
  const y = be.scale(routed, cfg.moe.aRouted);
  return shared ? be.add(be.scale(shared, cfg.moe.aShared), y) : y;
}

/** The parameters of the routed experts of group t, by expert. */
function expertScope(P: ParamScope, t: number): (e: number) => ParamScope {
  return (e) => moeWeights(P).expert(t, e);
}

/** The tokens of one task group: its samples, their rows b*M + i in U, and the sample of each row. */
interface GroupTokens {
  samples: number[];
  rows: Int32Array; // [N]
  sampleOfRow: number[]; // [N]
}

/** Hard: the samples whose group is t (null when none); soft: every sample. */
function groupTokens(group: I32Tensor, t: number, M: number, routing: ModelConfig["moe"]["taskRouting"]): GroupTokens | null {
  const samples = range(group.size).filter((b) => routing === "soft" || group.data[b] === t);
  if (samples.length === 0) return null;
  const sampleOfRow = samples.flatMap((b) => new Array<number>(M).fill(b));
  const rows = Int32Array.from(samples.flatMap((b) => range(M).map((i) => b * M + i)));
  return { samples, rows, sampleOfRow };
}

/**
 * Level 2 and dispatch of group t: routes u_t = U[rows] with g_t = g[sample] through router t,
 * weights the slots by c_bt (soft: pi[b, t]) and adds c_bt w_ie F_{t,e}(u_i) into `routed` (a_routed
 * comes in mixExperts).
 */
function routedGroup(be: Backend, P: ParamScope, U: F32Tensor, g: F32Tensor, pi: F32Tensor, tokens: GroupTokens, t: number,
  cfg: ModelConfig, routed: F32Tensor, groups: GroupSaved[], tape?: Tape): { G: F32Tensor; idx: I32Tensor; w: F32Tensor } {
  const { rows, sampleOfRow } = tokens, N = rows.length, k = cfg.moe.topK;
  const ut = be.gatherRows(U, fromInts([N], rows)); // [N, C]
  const gt = be.gatherRows(g, fromInts([N], sampleOfRow)); // [N, C]
  const { G, idx, w } = route(be, moeWeights(P).router(t)("weight"), ut, gt, k, cfg.moe.renormalize, tape);
  const piAt = cfg.moe.taskRouting === "soft" ? groupSlots(pi, sampleOfRow, t, k) : null;
  const slotW = piAt ? be.mul(w, groupWeights(be, pi, piAt, k)) : w;
  dispatch(be, expertScope(P, t), ut, rows, idx, slotW, routed, cfg, tape);
  if (tape) groups.push({ t, rows: fromInts([N], rows), sampleOfRow: fromInts([N], sampleOfRow), piAt, w });
  return { G, idx, w };
}

/** Labels, when given, are B task ids in [0, T). */
function checkLabels(labels: Int32Array | null | undefined, B: number, T: number): void {
  if (labels && (labels.length !== B || labels.some((t) => !Number.isInteger(t) || t < 0 || t >= T))) {
    throw new ValueError(`moe: task: expected ${B} task ids in [0, ${T}), got [${Array.from(labels).join(", ")}]`);
  }
}

/** t_b: the label under hard routing while training, else argmax pi (ties: lower index). */
function chooseGroups(be: Backend, pi: F32Tensor, cfg: ModelConfig, labels?: Int32Array | null): I32Tensor {
  const B = pi.dim(0);
  const argmax = be.topk(pi, 1).indices.reshape([B]);
  return cfg.moe.taskRouting === "hard" && labels ? fromInts([B], labels) : argmax;
}

function emptyTrace(layer: number, pi: F32Tensor, group: I32Tensor, M: number, k: number): MoeTrace {
  const B = group.size;
  return { layer, pi, group, topkIdx: new Tensor("i32", [B, M, k]), topkW: new Tensor("f32", [B, M, k]) };
}

/** The trace keeps, per sample, the top-k of its own group t_b (soft routing: the argmax group). */
function recordTrace(trace: MoeTrace, samples: number[], t: number, idx: I32Tensor, w: F32Tensor): void {
  const [, M, k] = trace.topkIdx.shape, n = M * k;
  samples.forEach((b, j) => {
    if (trace.group.data[b] !== t) return;
    trace.topkIdx.data.set(idx.data.subarray(j * n, (j + 1) * n), b * n);
    trace.topkW.data.set(w.data.subarray(j * n, (j + 1) * n), b * n);
  });
}

/** [N*k]: the flat index b*T + t into pi of every slot of every row (soft routing). */
function groupSlots(pi: F32Tensor, sampleOfRow: number[], t: number, k: number): I32Tensor {
  const T = pi.dim(1);
  const at = sampleOfRow.flatMap((b) => new Array<number>(k).fill(b * T + t));
  return fromInts([at.length], at);
}

/** [N, k] with pi[sample(row), t] in every slot (soft routing's group weight). */
function groupWeights(be: Backend, pi: F32Tensor, at: I32Tensor, k: number): F32Tensor {
  return be.gatherRows(pi.reshape([pi.size, 1]), at).reshape([at.size / k, k]);
}

/** mean_b -log pi[b, label_b], in float64 with the deterministic log. */
export function taskLoss(pi: F32Tensor, labels: Int32Array): number {
  const T = pi.dim(1);
  let s = 0;
  labels.forEach((t, b) => (s -= log(pi.data[b * T + t])));
  return s / labels.length;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
