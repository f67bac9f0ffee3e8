/**
 * The model configuration's types (SPEC section 9, camelCase names): a leaf with no code, so that
 * config.ts (mapping, validation, presets), presets.ts (the preset data) and limits.ts import them
 * without importing each other in a circle.
 */
import type { Activation } from "../backend/backend.js";

export type RopeMode = "depth" | "dhw";
export type TaskRouting = "hard" | "soft";
export type ExpertInit = "upcycle" | "zero_out";
/** "text" (the spec): task gate + per-group routers on [u ; g]; "none" (ablation): one group, router on u alone, no task level. */
export type Guidance = "text" | "none";

export interface VisionConfig {
  image: number; // H = W of a slice
  patch: number; // p
  cIn: number; // channels each slice is replicated to (CLIP: 3)
  width: number; // C
  heads: number; // NH
  layers: number; // blocks, slice blocks first
  volumeLayers: number; // the last L3 blocks attend over the whole volume
  mlpRatio: number; // MLP hidden = mlpRatio * C
  act: Activation;
  normEps: number;
  depthPatch: number; // t: slices per depth patch (1: none)
  rope: RopeMode;
  ropeBase: number;
  ropeSections: readonly number[]; // [sd, sr, sc], sum dh/2 (used by rope "dhw")
  moeLayers: readonly number[]; // blocks whose MLP is a TGH-MoE ([] = dense model)
}
export interface MoeConfig {
  tasks: number; // T
  experts: number; // E routed experts per task group
  topK: number; // k
  sharedExperts: number;
  aShared: number;
  aRouted: number;
  taskRouting: TaskRouting;
  renormalize: boolean;
  expertInit: ExpertInit;
  /** Absent = "text". Stored in files (key `guidance`) only when "none", so spec configs are unchanged. */
  guidance?: Guidance;
}
export interface ProjectorConfig {
  depthPool: number; // consecutive slices averaged
  act: Activation;
}
export interface LmConfig {
  vocab: number; // V
  width: number; // d_lm
  heads: number;
  kvHeads: number;
  layers: number;
  mlpHidden: number; // F
  normEps: number;
  ropeBase: number;
  tieEmbeddings: boolean;
}
export interface TokenIds {
  bos: number; eos: number; pad: number; imgStart: number; imgEnd: number; image: number; sep: number;
}
export interface ModelConfig {
  vision: VisionConfig;
  moe: MoeConfig;
  projector: ProjectorConfig;
  lm: LmConfig;
  tokens: TokenIds;
}
export type PresetName = "tiny" | "small" | "m3d" | "phi3v";
