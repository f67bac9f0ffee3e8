/**
 * The stages of the training recipe (spec section 7) as data: which model each trains (2D, dense
 * 3D, TGH-MoE), what is frozen, and how the parameters pass from one stage to the next (transfer
 * to 3D, upcycling). The ablation variants are plans over the same stages. No loop here.
 * Legend: D,H,W volume · C width · E experts · T tasks.
 */
import { ValueError } from "../errors.js";
import { preset, specialsAtEnd, withConfig, type ModelConfig, type PresetName } from "../model/config.js";
import type { Params } from "../model/params.js";
import { transferTo3d } from "../model/transfer.js";
import { upcycle } from "../model/upcycle.js";
import type { BpeTokenizer } from "../tokenizer/bpe.js";
import { stageSpec, type FreezeSpec } from "../train/freeze.js";

/**
 * (c) tgh: stages 0, 1, 2; (a) dense: stages 0, 1; (a2) dense-stage2: stages 0, 1, 2 with stage 2 on
 * the dense model (the MLPs of moe_layers train where the experts would: the same data and updates
 * without the MoE); (b) token-moe: stage 2 without text guidance or task level; (d) one-stage:
 * upcycle after the transfer, one stage.
 */
export type Variant = "tgh" | "dense" | "dense-stage2" | "token-moe" | "one-stage";
export const VARIANTS: readonly Variant[] = ["tgh", "dense", "dense-stage2", "token-moe", "one-stage"];

/** stage0: 2D on slices; stage1: dense 3D, task-shared; stage2: TGH-MoE, task-specific; stage12: (d)'s single 3D stage. */
export type PhaseName = "stage0" | "stage1" | "stage2" | "stage12";

/** The model of the whole recipe: the preset with the tokenizer's vocabulary and special ids (V = its size). */
export function recipeConfig(name: PresetName, tok: BpeTokenizer): ModelConfig {
  const cfg = preset(name);
  if (tok.vocabSize > cfg.lm.vocab) throw new ValueError(`recipeConfig: tokenizer: ${tok.vocabSize} tokens exceed the preset's lm.vocab=${cfg.lm.vocab}`);
  return withConfig(cfg, { lm: { vocab: tok.vocabSize }, tokens: specialsAtEnd(tok.vocabSize) });
}

/** Stage 0's model: no volume blocks, single slices (depth_patch = depth_pool = 1), dense. */
export function config2d(cfg: ModelConfig): ModelConfig {
  return withConfig(cfg, { vision: { volumeLayers: 0, depthPatch: 1, moeLayers: [] }, projector: { depthPool: 1 } });
}
/** Stage 1's model: the 3D config with every MLP dense. */
export function configDense(cfg: ModelConfig): ModelConfig {
  return withConfig(cfg, { vision: { moeLayers: [] } });
}
/** Stage 2's model: TGH-MoE in moe_layers; token-moe: the same experts, one group, no text guidance. */
export function configMoe(cfg: ModelConfig, variant: Variant): ModelConfig {
  return variant === "token-moe" ? withConfig(cfg, { moe: { guidance: "none" } }) : withConfig(cfg, {});
}

/** The model a phase trains. */
export function phaseConfig(cfg: ModelConfig, phase: PhaseName, variant: Variant): ModelConfig {
  if (phase === "stage0") return config2d(cfg);
  if (phase === "stage1" || variant === "dense-stage2") return configDense(cfg);
  return configMoe(cfg, variant);
}

/** The phases of a variant, in order. */
export function phasesOf(variant: Variant): PhaseName[] {
  if (variant === "dense") return ["stage0", "stage1"];
  if (variant === "one-stage") return ["stage0", "stage12"];
  return ["stage0", "stage1", "stage2"];
}

/**
 * What trains in a phase (src/train/freeze.ts stageSpec): stage12 trains the union of stages 1
 * and 2 on the MoE model, i.e. stage 1's freezing (slice blocks and the patch embedding frozen).
 * dense-stage2's stage 2 trains what stage 2 trains with the MLPs of moe_layers in place of the
 * experts. `cfg` is the recipe's model (its moe_layers as the preset has them).
 */
export function phaseFreeze(cfg: ModelConfig, phase: PhaseName, variant: Variant = "tgh"): FreezeSpec {
  if (phase === "stage0") return stageSpec(cfg, 0);
  if (phase === "stage1" || phase === "stage12") return stageSpec(cfg, 1);
  if (variant === "dense-stage2") return { train: [...cfg.vision.moeLayers.map((l) => `vision.blocks.${l}.mlp.*`), "projector.*", "lm.*"] };
  return stageSpec(cfg, 2);
}

/**
 * Stage 0 starts with the encoder and projector still: only the language model learns for the first
 * `visionWarmup` updates. Trained together from the first update, the language model learns the
 * captions' wording long before the image helps, and its gradient meanwhile flattens the image
 * tokens into a constant (measured: the caption loss was the same with the slice as with another
 * study's slice); random but image-dependent features give it something to read first.
 */
export const VISION_WARMUP_FREEZE: FreezeSpec = { train: ["lm.*"] };

/**
 * Stage 1 (and the one-stage variant's stage 1+2) starts with the volume blocks still, for the same
 * reason one stage later: right after the transfer the language model meets image tokens of a new
 * kind (64 tokens that each pool 8 slices) and question forms the 2D model never answered, and its
 * large first gradients reach the volume blocks, which then flatten the tokens towards a constant
 * (measured: a transferred model whose answers did not depend on the volume stayed so when
 * everything trained from the first update, and read it when the language model learnt alone first).
 */
export const VOLUME_WARMUP_FREEZE: FreezeSpec = { train: ["lm.*"] };

/**
 * The other way round (LLaVA's first stage, feature alignment): stage 1 starts with the language
 * model still, so that the only way its loss can fall is through the image tokens. A language model
 * that learns alone first learns each question's most frequent answer (measured, docs/RESULTS.md);
 * a still one already answers the 2D model's slice questions from its image tokens, and the volume
 * blocks and projector learn to hand it tokens it reads.
 */
export const ALIGN_WARMUP_FREEZE: FreezeSpec = { freeze: ["lm.*"] };

export interface WarmupOptions {
  visionWarmup?: number;
  visionRamp?: number;
  volumeWarmup?: number;
  volumeRamp?: number;
  alignWarmup?: number;
  alignRamp?: number;
}

/** The warm-up freeze of a phase: stage 0 holds the encoder (visionWarmup), stage 1 and stage 1+2 the volume blocks (volumeWarmup) or the language model (alignWarmup); null when none. */
export function phaseWarmFreeze(phase: PhaseName, w: WarmupOptions): { steps: number; freeze: FreezeSpec; ramp?: number } | null {
  const stage1 = phase === "stage1" || phase === "stage12";
  const [steps, ramp, freeze] = phase === "stage0" ? [w.visionWarmup ?? 0, w.visionRamp ?? 0, VISION_WARMUP_FREEZE]
    : stage1 && (w.alignWarmup ?? 0) > 0 ? [w.alignWarmup!, w.alignRamp ?? 0, ALIGN_WARMUP_FREEZE]
    : stage1 ? [w.volumeWarmup ?? 0, w.volumeRamp ?? 0, VOLUME_WARMUP_FREEZE] : [0, 0, {}];
  if (steps <= 0) return null;
  return { steps, freeze, ...(ramp > 0 ? { ramp } : {}) };
}

/**
 * Parameters of the previous phase -> those of `next`: stage0 -> stage1 is the transfer to 3D (no
 * parameter added); stage1 -> stage2 upcycles; stage0 -> stage12 does both. `seed` seeds the new
 * tensors (routers, task gates, text_proj).
 */
export function advance(params: Params, cfg: ModelConfig, from: PhaseName, next: PhaseName, variant: Variant, seed: number): Params {
  const v = cfg.vision;
  const to3d = (p: Params) => transferTo3d(p, config2d(cfg), {
    volumeLayers: v.volumeLayers, depthPatch: v.depthPatch, depthPool: cfg.projector.depthPool, rope: v.rope, ropeSections: v.ropeSections,
  }).params;
  if (from === "stage0" && next === "stage1") return to3d(params);
  if (from === "stage1" && next === "stage2") return variant === "dense-stage2" ? new Map(params) : upcycle(params, configMoe(cfg, variant), seed);
  if (from === "stage0" && next === "stage12") return upcycle(to3d(params), configMoe(cfg, variant), seed);
  throw new ValueError(`advance: no transition from ${from} to ${next}`);
}
