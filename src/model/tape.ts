/**
 * The training tape: what each layer's forward keeps for its backward, in forward order (llm.c's
 * `acts`, one typed entry per layer call). Inference passes no tape and keeps nothing. Not the
 * backward itself (that is src/train/); no arithmetic here.
 *
 * The one rule that makes it a tape: a forward function pushes its own entry last, after its callees
 * pushed theirs; its backward pops its own entry first, then runs the callees' backwards in reverse
 * call order. The backward of the whole model thus consumes the tape exactly in reverse, and `pop`
 * checks every entry's kind, so a backward that drifts from its forward fails at once, by name.
 * Recording only keeps references to tensors the forward computes anyway: no computed bit changes.
 */
import { TghError } from "../errors.js";
import type { F32Tensor, I32Tensor } from "../tensor.js";
import type { Losses, RopeSpec, SequenceLayout } from "./types.js";

// vit.ts (backward: src/train/vit-backward.ts)
export interface EmbedSaved {
  volume: F32Tensor; // [B, 1 or cIn, D, H, W]
  x: F32Tensor; // [B, D/t, S, C], the tokens before pre_norm
}
export interface AttnSaved {
  x: F32Tensor; // [N, T, C] sublayer input
  u: F32Tensor; // ln1(x)
  q: F32Tensor; // [N, T, C], after rotary (what attention saw)
  k: F32Tensor;
  v: F32Tensor;
  a: F32Tensor; // attention output, before the projection
  rope?: RopeSpec;
}
export interface MlpSaved {
  u: F32Tensor; // [..., C] input
  z: F32Tensor; // [..., hid] fc1(u), the pre-activation
  h: F32Tensor; // act(z)
}
export interface MlpSublayerSaved {
  x: F32Tensor; // [N, T, C] sublayer input (ln2's input)
}

// encoder.ts (backward: src/train/model-backward.ts, moe-backward.ts)
export interface EncodeSaved {
  shape: readonly number[]; // [B, D, S, C]
}
export interface MoeSublayerSaved {
  x: F32Tensor; // the sublayer input (ln2's input), as the block views it
}

// moe.ts (backward: src/train/moe-backward.ts)
export interface TaskGateSaved {
  g: F32Tensor; // [B, C]
  z: F32Tensor; // [B, C] fc1(g), the pre-activation
  h: F32Tensor; // act(z)
  pi: F32Tensor; // [B, T]
}
export interface RouteSaved {
  ug: F32Tensor; // [N, 2C] the router input [u ; g] (guidance "none": [N, C], u alone)
  G: F32Tensor; // [N, E] gates
  idx: I32Tensor; // [N, k] top-k experts
  top: F32Tensor; // [N, k] their gates G_K
  sum: F32Tensor | null; // [N] sum of G_K (renormalize) or null
  w: F32Tensor; // [N, k] slot weights
}
/** One expert that received tokens: the slots (q = i*k + j) that chose it, in increasing q. */
export interface ExpertSlots {
  e: number;
  local: I32Tensor; // [n_e] token i (within the group) of each slot
  slots: I32Tensor; // [n_e] slot ids q
  target: I32Tensor; // [n_e] global output row of each slot
  ye: F32Tensor; // [n_e, C] F_e(u_i)
  we: F32Tensor; // [n_e] the slot weights used
}
export interface DispatchSaved {
  experts: ExpertSlots[]; // in expert order
}
/** One task group of one MoE call. */
export interface GroupSaved {
  t: number;
  rows: I32Tensor; // [N] global rows (b*M + i) routed to the group
  sampleOfRow: I32Tensor; // [N] their sample b
  piAt: I32Tensor | null; // [N*k] soft routing: flat index b*T + t into pi of every slot; hard: null
  w: F32Tensor; // [N, k] w_ie (before the soft-routing factor pi)
}
export interface MoeSaved {
  U: F32Tensor; // [B*M, C] = u
  g: F32Tensor | null; // [B, C] (null: guidance "none")
  pi: F32Tensor; // [B, T]
  labels: Int32Array | null;
  groups: GroupSaved[]; // in group order
}

// projector.ts (backward: src/train/model-backward.ts:projectBackward)
export interface ProjectSaved {
  xShape: readonly number[]; // [B, D, S, C], the encoder output merged
}

// lm.ts (backward: src/train/lm-backward.ts)
export interface LmAttnSaved {
  h: F32Tensor; // [B, L, d] input (norm1's output)
  q: F32Tensor; // [B, L, NH*dh] after rotary
  k: F32Tensor; // [B, L, KV*dh] after rotary
  v: F32Tensor;
  a: F32Tensor; // attention output, before the o projection
  pos: I32Tensor; // [L]
}
export interface LmBlockSaved {
  x: F32Tensor; // [B, L, d] block input
  x1: F32Tensor; // after the attention residual
  h2: F32Tensor; // norm2(x1)
  gate: F32Tensor; // [B, L, F]
  up: F32Tensor;
  ff: F32Tensor; // silu(gate) * up
}
export interface LmHeadSaved {
  x: F32Tensor; // [B, L, d] last block's output
  h: F32Tensor; // final norm's output
}

// model.ts:forward, the last entry (backward: src/train/model-backward.ts:modelBackward)
export interface ModelSaved {
  ids: I32Tensor; // [B, L]
  seq: SequenceLayout;
  s: F32Tensor | null; // [B, d_lm] prompt mean (null without MoE layers)
  logits: F32Tensor; // [B, L, V]
  losses: Losses;
  alpha: number;
  beta: number;
  volumeOf: Int32Array | null; // [B] the volume row of each sequence, or null (one volume per sequence)
  volumes: number; // U, the volume rows encoded
  patch: { dz: Float32Array; weight: number } | null; // dL_patch/dz [U, D, n^2, K] and its weight gamma (patch-loss.ts), or null
  emphasis: Float32Array | null; // [B, L] target emphasis (ForwardInput.emphasis), or null
}

/** Entry kinds, each with the function that pushes it and what it keeps. */
export interface TapeEntries {
  embed: EmbedSaved; // vit.ts:embedSlices
  attn: AttnSaved; // vit.ts:attentionSublayer
  mlp: MlpSaved; // vit.ts:mlp (dense MLPs, shared and routed experts, the projector)
  mlpSublayer: MlpSublayerSaved; // vit.ts:mlpSublayer
  taskGate: TaskGateSaved; // moe.ts:taskGate
  route: RouteSaved; // moe.ts:route
  dispatch: DispatchSaved; // moe.ts:dispatch
  moe: MoeSaved; // moe.ts:moe
  moeSublayer: MoeSublayerSaved; // encoder.ts:moeSublayer
  encode: EncodeSaved; // encoder.ts:encode
  project: ProjectSaved; // projector.ts:project
  lmAttn: LmAttnSaved; // lm.ts:lmAttention
  lmBlock: LmBlockSaved; // lm.ts:lmBlock
  lmHead: LmHeadSaved; // lm.ts:lmForward
  model: ModelSaved; // model.ts:forward
}
export type TapeKind = keyof TapeEntries;

export class Tape {
  private readonly entries: { kind: TapeKind; saved: unknown }[] = [];

  push<K extends TapeKind>(kind: K, saved: TapeEntries[K]): void {
    this.entries.push({ kind, saved });
  }

  /** The last entry, which must be of this kind (the backward runs in exact reverse). */
  pop<K extends TapeKind>(kind: K): TapeEntries[K] {
    const top = this.entries.pop();
    if (!top) throw new TghError(`tape: expected a '${kind}' entry, but the tape is empty`);
    if (top.kind !== kind) throw new TghError(`tape: expected a '${kind}' entry, got '${top.kind}' (${this.entries.length} left): the backward does not mirror its forward`);
    return top.saved as TapeEntries[K];
  }

  get length(): number {
    return this.entries.length;
  }

  /** Entry kinds in forward order (diagnostics and tests). */
  kinds(): TapeKind[] {
    return this.entries.map((e) => e.kind);
  }

  /** Every entry of one kind still on the tape, in forward order, without consuming it (tests: e.g. all top-k choices). */
  entriesOf<K extends TapeKind>(kind: K): TapeEntries[K][] {
    return this.entries.filter((e) => e.kind === kind).map((e) => e.saved as TapeEntries[K]);
  }
}
