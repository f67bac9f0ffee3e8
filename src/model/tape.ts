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
import type { EncodeSaved, MoeSublayerSaved } from "./encoder.js";
import type { LmAttnSaved, LmBlockSaved, LmHeadSaved } from "./lm.js";
import type { ModelSaved } from "./model.js";
import type { DispatchSaved, MoeSaved, RouteSaved, TaskGateSaved } from "./moe.js";
import type { ProjectSaved } from "./projector.js";
import type { AttnSaved, EmbedSaved, MlpSaved, MlpSublayerSaved } from "./vit.js";

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
