/**
 * The plain data the model's layers hand each other and return: the rotary spec of the volume
 * blocks, where things are in a batch of sequences, the loss terms. Types only, no code; a leaf
 * that the forward files (src/model/) and the training state (tape.ts) both import.
 * Legend: B batch · L text tokens · T tokens.
 */
import type { F32Tensor, I32Tensor } from "../tensor.js";

/** Rotary position of the volume blocks: pos [T] (one axis) or [T, 3], and the pairs per axis. */
export interface RopeSpec {
  pos: I32Tensor;
  sections: readonly number[];
  base: number;
}

/**
 * Where things are in a right-padded batch of sequences [B, L]. Pinned: the prompt is every
 * non-special token strictly between the first `</img>` and the first `<sep>` after it (or the end);
 * CE targets are the tokens after `<sep>` up to and including the first `<eos>`, stopping at `<pad>`.
 */
export interface SequenceLayout {
  imagePos: number[][]; // per sample, the positions holding tokens.image, in order
  promptMask: F32Tensor; // [B, L]: 1 on prompt tokens
  promptCount: F32Tensor; // [B]: their number, at least 1 (an empty prompt gives s = 0)
  targets: { b: number; pos: number }[]; // token ids[b, pos] is predicted by logits[b, pos - 1]
}

/** L_bal of one layer and group over the N tokens routed to it. */
export interface BalanceTerm {
  layer: number;
  group: number;
  tokens: number;
  value: number;
}

/** The loss terms of one forward (model.ts:forward). */
export interface Losses {
  /** Cross-entropy on the answer tokens and <eos>, mean over those targets; null when there are none. */
  ce: number | null;
  balance: BalanceTerm[]; // per MoE layer and task group that received tokens
  task: { layer: number; value: number }[]; // per MoE layer, only with labels
  /** The patch finding loss L_patch (src/model/patch-loss.ts), when the forward was asked for it. */
  patch?: number;
  /** (ce ?? 0) + alpha * mean(balance) + beta * mean(task) [+ gamma * patch] (a mean over no terms is 0). */
  total: number;
}

/** One layer of a KV cache, as lm.ts:lmAttention reads it: append k, v [B, n, KV*dh] -> all of the layer's [B, length+n, KV*dh]. */
export interface KvLayer {
  append(k: F32Tensor, v: F32Tensor): { k: F32Tensor; v: F32Tensor };
}

/** A KV cache as lm.ts:lmForward drives it (decode.ts:KvCache): positions held, layers, the input check, advance. */
export interface KvStore {
  readonly length: number;
  layer(l: number): KvLayer;
  check(x: F32Tensor, op: string): void;
  advance(n: number): void;
}
