/**
 * What a golden file holds (spec section 8), derived from the config and the input shapes alone:
 * the input tensors, and every `act.*` tensor in forward order with its shape and dtype. Both the
 * writer and `verifyGolden` use this list, so a port's file is checked against the spec, not against
 * whatever our forward happens to return. No math.
 * Legend: B batch · D slices (before depth patching) · S=1+n^2 · C width · T tasks · k top-k ·
 * L text tokens (Lseq) · V vocab.
 */
import type { DType } from "../tensor.js";
import type { ModelConfig } from "../model/config.js";
import { imageTokens } from "../model/projector.js";

export const GOLDEN_SPEC = "tgh-moe/1";
export const INPUT_VOLUME = "input.volume";
export const INPUT_IDS = "input.ids";

export interface TensorSlot {
  name: string;
  shape: readonly number[];
  dtype: DType;
}

/** Every act.* of section 8 in forward order, for inputs volume [B, 1, D, H, W] and ids [B, L]. */
export function actSlots(cfg: ModelConfig, B: number, D: number, L: number): TensorSlot[] {
  const v = cfg.vision;
  const n = v.image / v.patch, S = 1 + n * n, C = v.width, Dt = D / v.depthPatch;
  const k = cfg.moe.topK;
  const out: TensorSlot[] = [{ name: "act.embed", shape: [B, Dt, S, C], dtype: "f32" }];
  if (v.moeLayers.length > 0) out.push({ name: "act.text_guide", shape: [B, C], dtype: "f32" });
  for (let l = 0; l < v.layers; l++) {
    if (v.moeLayers.includes(l)) {
      const m = `act.blocks.${l}.moe`;
      out.push(
        { name: `${m}.pi`, shape: [B, cfg.moe.tasks], dtype: "f32" },
        { name: `${m}.group`, shape: [B], dtype: "i32" },
        { name: `${m}.topk_idx`, shape: [B, Dt * S, k], dtype: "i32" },
        { name: `${m}.topk_w`, shape: [B, Dt * S, k], dtype: "f32" },
      );
    }
    out.push({ name: `act.blocks.${l}`, shape: [B, Dt, S, C], dtype: "f32" });
  }
  out.push(
    { name: "act.projector", shape: [B, imageTokens(cfg, D), cfg.lm.width], dtype: "f32" },
    { name: "act.lm.logits", shape: [B, L, cfg.lm.vocab], dtype: "f32" },
  );
  return out;
}

/** Names in a golden file that are neither inputs nor activations are weights. */
export function isWeightName(name: string): boolean {
  return !name.startsWith("act.") && !name.startsWith("input.");
}
