/**
 * The Backend ops of the model written as standard ONNX nodes (opset 17): linear, the norms, the
 * activations, rotary (rotate-half, from precomputed cos/sin tables), attention (GQA, optional
 * causal mask with an offset) and the MLP. Each mirrors the op of src/backend/backend.ts it stands
 * for; where the order of float operations can differ from our kernels it is said. No model layout.
 * Legend: N rows · T tokens · C width · NH heads · KV kv heads · dh head size · half = dh/2.
 */
import type { Activation } from "../backend/backend.js";
import { ValueError } from "../errors.js";
import type { ParamScope } from "../model/params.js";
import type { Graph } from "./graph.js";

/** y = x W^T (+ b): MatMul with the transposed weight (W stays [out, in] under its name; ORT folds the Transpose). */
export function linear(g: Graph, x: string, W: ParamScope, key = "weight", bias = true): string {
  const w = g.weight(W.key(key), W(key));
  const y = g.op("MatMul", [x, g.op("Transpose", [w], { perm: [1, 0] })]);
  return bias ? g.op("Add", [y, g.weight(W.key("bias"), W("bias"))]) : y;
}

/** LayerNormalization over the last axis (biased variance, eps inside the root): ln = (x - mean) / sqrt(var + eps) * w + b. */
export function layerNorm(g: Graph, x: string, W: ParamScope, eps: number): string {
  return g.op("LayerNormalization", [x, g.weight(W.key("weight"), W("weight")), g.weight(W.key("bias"), W("bias"))], { axis: -1, epsilon: { float: eps } });
}

/** RMSNorm in standard ops: x * (1 / sqrt(mean(x^2) + eps)) * w. */
export function rmsNorm(g: Graph, x: string, W: ParamScope, eps: number): string {
  const ms = g.op("ReduceMean", [g.op("Mul", [x, x])], { axes: [-1], keepdims: 1 });
  const r = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [ms, g.float(eps)])])]);
  return g.op("Mul", [g.op("Mul", [x, r]), g.weight(W.key("weight"), W("weight"))]);
}

/** gelu_tanh = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); quick_gelu = x sigmoid(1.702 x); silu = x sigmoid(x). */
export function activation(g: Graph, name: Activation, x: string): string {
  if (name === "silu") return g.op("Mul", [x, g.op("Sigmoid", [x])]);
  if (name === "quick_gelu") return g.op("Mul", [x, g.op("Sigmoid", [g.op("Mul", [x, g.float(1.702)])])]);
  if (name === "gelu_tanh") {
    const x3 = g.op("Mul", [g.op("Mul", [x, x]), x]);
    const inner = g.op("Mul", [g.op("Add", [x, g.op("Mul", [x3, g.float(0.044715)])]), g.float(Math.sqrt(2 / Math.PI))]);
    return g.op("Mul", [g.op("Mul", [x, g.float(0.5)]), g.op("Add", [g.op("Tanh", [inner]), g.float(1)])]);
  }
  throw new ValueError(`export: act: expected gelu_tanh, quick_gelu or silu, got ${String(name)}`);
}

/** F(u) = fc2(act(fc1(u))), the block MLP, every expert and the projector (vit.ts:mlp). */
export function mlp(g: Graph, P: ParamScope, u: string, act: Activation): string {
  return linear(g, activation(g, act, linear(g, u, P.at("fc1"))), P.at("fc2"));
}

/** x [N, T, H*dh] -> [N, H, T, dh] (heads as contiguous slices of the width). */
export function splitHeads(g: Graph, x: string, heads: number, dh: number): string {
  return g.op("Transpose", [g.op("Reshape", [x, g.ints([0, 0, heads, dh])])], { perm: [0, 2, 1, 3] });
}
/** [N, H, T, dh] -> [N, T, H*dh]. */
export function mergeHeads(g: Graph, x: string, width: number): string {
  return g.op("Reshape", [g.op("Transpose", [x], { perm: [0, 2, 1, 3] }), g.ints([0, 0, width])]);
}

/**
 * Rotary, rotate-half, on x [N, T, H*dh] with cos, sin [T, half] (the angle tables of our rope
 * kernel, so the angles are the same bits): x'[j] = x[j] cos - x[j+half] sin,
 * x'[j+half] = x[j+half] cos + x[j] sin, per head.
 */
export function rope(g: Graph, x: string, cos: string, sin: string, heads: number, dh: number): string {
  const half = dh / 2;
  const xh = g.op("Reshape", [x, g.ints([0, 0, heads, dh])]); // [N, T, H, dh]
  const [x1, x2] = g.node("Split", [xh, g.ints([half, half])], { axis: -1 }, 2);
  const c = g.op("Unsqueeze", [cos, g.ints([1])]), s = g.op("Unsqueeze", [sin, g.ints([1])]); // [T, 1, half]
  const y1 = g.op("Sub", [g.op("Mul", [x1, c]), g.op("Mul", [x2, s])]);
  const y2 = g.op("Add", [g.op("Mul", [x2, c]), g.op("Mul", [x1, s])]);
  return g.op("Reshape", [g.op("Concat", [y1, y2], { axis: -1 }), g.ints([0, 0, heads * dh])]);
}

export interface AttentionShape {
  heads: number;
  kvHeads: number;
  dh: number;
  /** A boolean [n, T] value, true where query i must not see key j (the causal mask), or none. */
  mask?: string;
}

/**
 * softmax(q k^T * (1/sqrt(dh)) [masked to -inf]) v on q [N, NH, n, dh], k, v [N, KV, T, dh]
 * -> [N, NH, n, dh]. GQA: query head h reads kv head floor(h / (NH/KV)) (the kv heads are repeated
 * in place, LLaMA's repeat_kv order). The scale multiplies the dot product, as in our kernel.
 */
export function attention(g: Graph, q: string, k: string, v: string, a: AttentionShape): string {
  const group = a.heads / a.kvHeads;
  const repeat = (x: string) => group === 1 ? x
    : g.op("Reshape", [g.op("Concat", new Array<string>(group).fill(g.op("Unsqueeze", [x, g.ints([2])])), { axis: 2 }), g.ints([0, a.heads, -1, a.dh])]);
  const kr = repeat(k), vr = repeat(v);
  let s = g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [kr], { perm: [0, 1, 3, 2] })]), g.float(1 / Math.sqrt(a.dh))]); // [N, NH, n, T]
  if (a.mask) s = g.op("Where", [a.mask, g.float(-Infinity), s]);
  return g.op("MatMul", [g.op("Softmax", [s], { axis: -1 }), vr]);
}
