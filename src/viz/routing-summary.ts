/**
 * The routing of one sample in numbers: per MoE layer the group, the task probabilities and the
 * share of the vision tokens whose first expert is e, and its one-line form. What `tgh-moe run
 * --json`, `tgh-moe route-map` and the demo print; the picture is ./routing-map.ts.
 * Legend: E experts · T tasks · k top-k · M vision tokens per sample.
 */
import { taskName } from "../generate.js";
import type { MoeTrace } from "../model/moe.js";

/** One MoE layer's routing of sample 0: the group, pi, and the share of the M tokens whose top-1 expert is e. */
export interface RoutingSummary {
  layer: number;
  group: string;
  groupIndex: number;
  pi: number[]; // [T]
  tokens: number; // M
  top1Share: number[]; // [E], sums to 1
}

export function routingSummary(traces: readonly MoeTrace[], experts: number): RoutingSummary[] {
  return traces.map((t) => {
    const [, M, k] = t.topkIdx.shape, T = t.pi.dim(1);
    const count = new Array<number>(experts).fill(0);
    for (let i = 0; i < M; i++) count[t.topkIdx.data[i * k]]++;
    const g = t.group.data[0];
    return { layer: t.layer, group: taskName(g), groupIndex: g, pi: Array.from(t.pi.data.subarray(0, T)), tokens: M, top1Share: count.map((c) => c / M) };
  });
}

/** "block 4: group report, pi report 0.62 vqa 0.38, top-1 of 512 tokens e0 31% e1 12% e2 40% e3 17%" */
export function formatRouting(r: RoutingSummary): string {
  const pi = r.pi.map((p, t) => `${taskName(t)} ${p.toFixed(2)}`).join(" ");
  const share = r.top1Share.map((s, e) => `e${e} ${Math.round(100 * s)}%`).join(" ");
  return `block ${r.layer}: group ${r.group}, pi ${pi}, top-1 of ${r.tokens} tokens ${share}`;
}
