/**
 * The transferred 3D encoder (spec section 3): slice blocks on [B*D, S, C], then volume blocks on
 * [B, D*S, C] (token d*S + j) with rotary depth positions on q and k; MoE blocks swap their MLP for
 * TGH-MoE. The same code is the 2D encoder when volume_layers = 0.
 * Legend: B batch · D depth (after depth patching) · n=W/p · S=1+n^2 · C width · T tasks.
 */
import type { Backend } from "../backend/backend.js";
import { ValueError } from "../errors.js";
import { Tensor, type F32Tensor } from "../tensor.js";
import type { ModelConfig, VisionConfig } from "./config.js";
import { moe, type MoeResult, type MoeTrace } from "./moe.js";
import { scope, type ParamScope, type Params } from "./params.js";
import type { Tape } from "./tape.js";
import type { BalanceTerm, RopeSpec } from "./types.js";
import { attentionSublayer, blockWeights, mlpSublayer } from "./vit.js";

export interface EncodeOptions {
  /** Text guidance g [B, C] (required when the config has MoE layers). */
  g?: F32Tensor | null;
  /** Task labels [B] (hard routing follows them; task loss). */
  labels?: Int32Array | null;
  /** When given, receives `act.blocks.<l>` [B, D, S, C] and the per-layer `act.blocks.<l>.moe.*`. */
  acts?: Map<string, Tensor>;
  /** When given, records what the backward needs (training). */
  tape?: Tape;
}
export interface EncodeResult {
  x: F32Tensor; // [B, D, S, C], the output of the last block (no final norm)
  traces: MoeTrace[];
  balance: BalanceTerm[];
  task: { layer: number; value: number }[];
}

/**
 * Rotary positions of the D*S volume tokens. "depth": pos [D*S] = d. "dhw": pos [D*S, 3] =
 * (d, r+1, c+1) for patch (r, c) and (d, 0, 0) for the class token, sections rope_sections.
 */
export function ropePositions(v: VisionConfig, D: number): RopeSpec {
  const n = v.image / v.patch, S = 1 + n * n;
  const dh = v.width / v.heads;
  if (v.rope === "depth") {
    const pos = new Tensor("i32", [D * S]);
    for (let i = 0; i < D * S; i++) pos.data[i] = Math.floor(i / S);
    return { pos, sections: [dh / 2], base: v.ropeBase };
  }
  const pos = new Tensor("i32", [D * S, 3]);
  for (let d = 0; d < D; d++) {
    for (let j = 0; j < S; j++) {
      const o = (d * S + j) * 3;
      pos.data[o] = d;
      pos.data[o + 1] = j === 0 ? 0 : Math.floor((j - 1) / n) + 1;
      pos.data[o + 2] = j === 0 ? 0 : ((j - 1) % n) + 1;
    }
  }
  return { pos, sections: v.ropeSections, base: v.ropeBase };
}

/**
 * The MLP sublayer of a TGH-MoE block: x + TGH-MoE(LN2(x), g), with x viewed per sample as
 * [B, D*S, C] for routing (x itself is [B*D, S, C] in a slice block, [B, D*S, C] in a volume block).
 */
export function moeSublayer(be: Backend, P: ParamScope, x: F32Tensor, g: F32Tensor | null, cfg: ModelConfig, layer: number, B: number,
  labels?: Int32Array | null, tape?: Tape): { x: F32Tensor; r: MoeResult } {
  const C = cfg.vision.width;
  const W = blockWeights(P);
  const u = be.layerNorm(x, W.ln2("weight"), W.ln2("bias"), cfg.vision.normEps).reshape([B, x.size / (B * C), C]);
  const r = moe(be, W.moe, u, g, cfg, layer, labels, tape);
  tape?.push("moeSublayer", { x });
  return { x: be.add(x, r.y.reshape(x.shape)), r };
}

/** x [B, D, S, C] (act.embed) through every block -> [B, D, S, C]. */
export function encode(be: Backend, params: Params, cfg: ModelConfig, x: F32Tensor, o: EncodeOptions = {}): EncodeResult {
  const v = cfg.vision;
  const [B, D, S, C] = x.shape;
  const rope = v.volumeLayers > 0 ? ropePositions(v, D) : undefined;
  const res: EncodeResult = { x, traces: [], balance: [], task: [] };
  for (let l = 0; l < v.layers; l++) {
    const P = scope(params, `vision.blocks.${l}`);
    const volume = l >= v.layers - v.volumeLayers;
    const xs = volume ? x.reshape([B, D * S, C]) : x.reshape([B * D, S, C]);
    let h = attentionSublayer(be, P, xs, v, volume ? rope : undefined, o.tape);
    if (v.moeLayers.includes(l)) {
      if (!o.g && cfg.moe.guidance !== "none") throw new ValueError(`encode: g: block ${l} is a TGH-MoE block and needs the text guidance g [B, C]`);
      const { x: y, r } = moeSublayer(be, P, h, o.g ?? null, cfg, l, B, o.labels, o.tape);
      h = y;
      res.traces.push(r.trace);
      res.balance.push(...r.balance);
      if (r.task !== null) res.task.push({ layer: l, value: r.task });
      if (o.acts) putTrace(o.acts, r.trace);
    } else {
      h = mlpSublayer(be, P, h, v, o.tape);
    }
    x = h.reshape([B, D, S, C]);
    o.acts?.set(`act.blocks.${l}`, x);
  }
  o.tape?.push("encode", { shape: [B, D, S, C] });
  res.x = x;
  return res;
}

/** The section 8 names of one MoE layer's trace. */
function putTrace(acts: Map<string, Tensor>, t: MoeTrace): void {
  const b = `act.blocks.${t.layer}.moe`;
  acts.set(`${b}.pi`, t.pi);
  acts.set(`${b}.group`, t.group);
  acts.set(`${b}.topk_idx`, t.topkIdx);
  acts.set(`${b}.topk_w`, t.topkW);
}
