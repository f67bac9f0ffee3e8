/**
 * TGH-MoE (moe.ts:moe) as ONNX nodes, dropless: level 1 pi = softmax(fc2(act(fc1 g))) and the
 * group argmax pi (ArgMax: the first maximum, ties to the lower index); level 2 per group t on every
 * token, G = softmax(W_r[t] [u ; g]), TopK (ONNX: equal values ordered by the lower index, our rule)
 * and renormalization; then per expert the token rows that chose it (NonZero), their MLP once over
 * all of them (Gather), and ScatterND(reduction "add") of w * F(u) into the routed sum, experts in
 * index order within each group as in moe.ts:dispatch. The shared experts run on every token.
 * Legend: B batch · M tokens per sample · N = B*M rows · C width · E experts · T tasks · k top-k.
 */
import type { ModelConfig } from "../model/config.js";
import type { ParamScope } from "../model/params.js";
import type { Graph } from "./graph.js";
import { activation, linear, mlp } from "./ops.js";
import type { ActOutput } from "./vision.js";

/**
 * u [B, M, C] (= LN2(x)), guide g [B, C] (null: moe.guidance "none", one group, router on u alone)
 * -> y [N, C] = a_shared sum_s F_s(u) + a_routed routed, and the trace outputs when asked.
 */
export function moeGraph(g: Graph, P: ParamScope, cfg: ModelConfig, layer: number, u: string, M: number, guide: string | null, trace: boolean): { y: string; outputs: ActOutput[] } {
  const { tasks, experts: E, topK: k, taskRouting } = cfg.moe;
  const C = cfg.vision.width;
  const U = g.op("Reshape", [u, g.ints([-1, C])]); // [N, C]
  const name = (s: string) => `act.blocks.${layer}.moe.${s}`;

  // level 1: pi [B, T] and the group of every sample and row
  let pi: string, group: string, ug: string, T: number;
  if (guide) {
    T = tasks;
    const h = activation(g, cfg.vision.act, linear(g, guide, P.at("task_gate.fc1")));
    pi = g.op("Softmax", [linear(g, h, P.at("task_gate.fc2"))], { axis: -1 });
    group = g.op("ArgMax", [pi], { axis: 1, keepdims: 0 }); // [B] int64
    const gTok = g.op("Expand", [g.op("Unsqueeze", [guide, g.ints([1])]), g.op("Shape", [u])]); // [B, M, C]
    ug = g.op("Reshape", [g.op("Concat", [u, gTok], { axis: -1 }), g.ints([-1, 2 * C])]); // [N, 2C]
  } else {
    T = 1;
    const B = g.op("Slice", [g.op("Shape", [u]), g.ints([0]), g.ints([1])]);
    pi = g.op("ConstantOfShape", [g.op("Concat", [B, g.ints([1])], { axis: 0 })], { value: { scalar: 1 } });
    group = g.op("Cast", [g.op("Squeeze", [g.op("Mul", [pi, g.float(0)]), g.ints([1])])], { to: 7 });
    ug = U;
  }
  const rowGroup = g.op("Reshape", [g.op("Expand", [g.op("Unsqueeze", [group, g.ints([1])]), g.op("Slice", [g.op("Shape", [u]), g.ints([0]), g.ints([2])])]), g.ints([-1])]); // [N]

  // level 2 and dispatch, group by group
  let routed = g.op("ConstantOfShape", [g.op("Shape", [U])], { value: { scalar: 0 } }); // [N, C]
  let idxOut = "", wOut = "";
  for (let t = 0; t < T; t++) {
    const G = g.op("Softmax", [g.op("MatMul", [ug, g.op("Transpose", [g.weight(P.key(`router.${t}.weight`), P(`router.${t}.weight`))], { perm: [1, 0] })])], { axis: -1 }); // [N, E]
    const [vals, idx] = g.node("TopK", [G, g.ints([k])], { axis: -1, largest: 1, sorted: 1 }, 2); // [N, k]
    const w = cfg.moe.renormalize ? g.op("Div", [vals, g.op("ReduceSum", [vals, g.ints([-1])], { keepdims: 1 })]) : vals;
    const mine = g.op("Equal", [rowGroup, g.ints([t], [])]); // [N]: rows whose sample is routed to t
    const active = taskRouting === "soft" || !guide ? null : mine;
    // soft routing weighs group t's slots by pi[b, t]; hard routing uses the rows of group t only
    const piRow = taskRouting === "soft" && guide
      ? g.op("Reshape", [g.op("Expand", [g.op("Slice", [pi, g.ints([t]), g.ints([t + 1]), g.ints([1])]), g.op("Slice", [g.op("Shape", [u]), g.ints([0]), g.ints([2])])]), g.ints([-1, 1])])
      : null;
    const slotW = piRow ? g.op("Mul", [w, piRow]) : w;
    for (let e = 0; e < E; e++) {
      const chose = g.op("Equal", [idx, g.ints([e], [])]); // [N, k]
      let sel = g.op("Cast", [g.op("ReduceMax", [g.op("Cast", [chose], { to: 6 })], { axes: [-1], keepdims: 0 })], { to: 9 }); // [N] bool
      if (active) sel = g.op("And", [sel, active]);
      const rows = g.op("Transpose", [g.op("NonZero", [sel])], { perm: [1, 0] }); // [n_e, 1]
      const flat = g.op("Reshape", [rows, g.ints([-1])]); // [n_e]
      const we = g.op("Gather", [g.op("ReduceSum", [g.op("Where", [chose, slotW, g.float(0)]), g.ints([-1])], { keepdims: 0 }), flat], { axis: 0 }); // [n_e]
      const ye = mlp(g, P.at(`experts.${t}.${e}`), g.op("Gather", [U, flat], { axis: 0 }), cfg.vision.act); // [n_e, C]
      routed = g.op("ScatterND", [routed, rows, g.op("Mul", [ye, g.op("Unsqueeze", [we, g.ints([1])])])], { reduction: "add" });
    }
    // the trace keeps each sample's own group (soft routing: the argmax group)
    const m2 = g.op("Unsqueeze", [mine, g.ints([1])]);
    idxOut = t === 0 ? idx : g.op("Where", [m2, idx, idxOut]);
    wOut = t === 0 ? w : g.op("Where", [m2, w, wOut]);
  }

  let shared: string | null = null;
  for (let s = 0; s < cfg.moe.sharedExperts; s++) {
    const F = mlp(g, P.at(`shared.${s}`), U, cfg.vision.act);
    shared = shared ? g.op("Add", [shared, F]) : F;
  }
  const r = g.op("Mul", [routed, g.float(cfg.moe.aRouted)]);
  const y = shared ? g.op("Add", [g.op("Mul", [shared, g.float(cfg.moe.aShared)]), r]) : r;

  const outputs: ActOutput[] = [];
  if (trace) {
    g.op("Identity", [pi], {}, name("pi"));
    g.op("Cast", [group], { to: 6 }, name("group"));
    g.op("Reshape", [g.op("Cast", [idxOut], { to: 6 }), g.op("Concat", [g.op("Slice", [g.op("Shape", [u]), g.ints([0]), g.ints([2])]), g.ints([k])], { axis: 0 })], {}, name("topk_idx"));
    g.op("Reshape", [wOut, g.op("Concat", [g.op("Slice", [g.op("Shape", [u]), g.ints([0]), g.ints([2])]), g.ints([k])], { axis: 0 })], {}, name("topk_w"));
    outputs.push(
      { name: name("pi"), type: "float", dims: ["batch", T] },
      { name: name("group"), type: "int32", dims: ["batch"] },
      { name: name("topk_idx"), type: "int32", dims: ["batch", M, k] },
      { name: name("topk_w"), type: "float", dims: ["batch", M, k] },
    );
  }
  return { y, outputs };
}
