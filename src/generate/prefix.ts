/**
 * The prompt side of generation: the token ids `<bos> <img> <image>*m </img> prompt <sep>` and
 * their input embeddings with the image spliced in. The vision encoder runs here, once per
 * (volume, prompt), because its MoE layers are guided by the prompt (g = text_proj(mean of the
 * prompt embeddings)); it is model.ts:forwardPrefix, the first half of forward, so the bits agree.
 * Legend: B batch · D,H,W volume · L text tokens · d = lm width · m image tokens.
 */
import type { Backend } from "../backend/backend.js";
import { ValueError } from "../errors.js";
import { Tensor, type F32Tensor, type I32Tensor } from "../tensor.js";
import type { ModelConfig } from "../model/config.js";
import { CONTEXT_TOKENS } from "../model/limits.js";
import { checkInput, forwardPrefix } from "../model/model.js";
import type { MoeTrace } from "../model/moe.js";
import type { Params } from "../model/params.js";
import type { BpeTokenizer } from "../tokenizer/bpe.js";

/** `<bos> <img> <image>*m </img> prompt <sep>` for m image tokens and the prompt's text ids. */
export function promptSequence(cfg: ModelConfig, m: number, prompt: ArrayLike<number>): number[] {
  const t = cfg.tokens;
  return [t.bos, t.imgStart, ...new Array<number>(m).fill(t.image), t.imgEnd, ...Array.from(prompt), t.sep];
}

/** The longest text token of a tokenizer, in UTF-8 bytes (cached): a prompt of n bytes has at least n / this tokens. */
const longest = new WeakMap<BpeTokenizer, number>();
function longestToken(tok: BpeTokenizer): number {
  let n = longest.get(tok);
  if (n === undefined) {
    n = 1;
    for (let id = 0; id < tok.vocabSize; id++) if (!tok.isSpecial(id)) n = Math.max(n, tok.tokenToBytes(id).length);
    longest.set(tok, n);
  }
  return n;
}

/**
 * The prompt's text ids, or a ValueError when its sequence for m image tokens does not fit the
 * context (CONTEXT_TOKENS). A prompt too long to fit whatever its tokens is refused before it is tokenized
 * (its UTF-8 bytes are at least its UTF-16 length; a token holds at most longestToken bytes).
 */
export function promptTokens(tokenizer: BpeTokenizer, m: number, prompt: string, op: string): Int32Array {
  if (typeof prompt !== "string") throw new ValueError(`${op}: prompt: expected a string, got ${typeof prompt}`);
  const room = CONTEXT_TOKENS - m - 4; // <bos> <img> </img> <sep>
  const per = longestToken(tokenizer);
  if (prompt.length > room * per) {
    throw new ValueError(`${op}: prompt: ${prompt.length} characters cannot fit the ${room} tokens the context of ${CONTEXT_TOKENS} leaves beside ${m} image tokens (a token holds at most ${per} bytes)`);
  }
  const ids = tokenizer.encode(prompt);
  if (ids.length > room) {
    throw new ValueError(`${op}: prompt: ${ids.length} tokens, more than the ${room} the context of ${CONTEXT_TOKENS} leaves beside ${m} image tokens`);
  }
  return ids;
}

/** Prompt sequences of B samples, right-padded with tokens.pad -> ids [B, L]. */
export function promptBatch(cfg: ModelConfig, m: number, prompts: readonly ArrayLike<number>[]): I32Tensor {
  const rows = prompts.map((p) => promptSequence(cfg, m, p));
  const L = Math.max(...rows.map((r) => r.length));
  const ids = new Tensor("i32", [rows.length, L]);
  ids.data.fill(cfg.tokens.pad);
  rows.forEach((r, b) => ids.data.set(r, b * L));
  return ids;
}

export interface VisionResult {
  z: F32Tensor; // [B, m, d] projector output (act.projector)
  x: F32Tensor; // [B, L, d] input embeddings of ids with z spliced at the <image> positions
  routing: MoeTrace[]; // one per MoE layer, in block order
}

/**
 * volume [B, 1, D, H, W], ids [B, L] (a prompt sequence) -> the projector's tokens, the LM input
 * and the routing trace: model.ts:forwardPrefix, without tape or activations. `task` [B] fixes the
 * hard routing group (as labels do in training).
 */
export function encodePrefix(be: Backend, params: Params, cfg: ModelConfig, volume: F32Tensor, ids: I32Tensor, task?: Int32Array | null): VisionResult {
  checkInput(cfg, volume, ids, null, "encodePrefix");
  const B = volume.dim(0);
  if (task && (task.length !== B || task.some((t) => t < 0 || t >= cfg.moe.tasks))) {
    throw new ValueError(`encodePrefix: task: expected ${B} task indices in [0, ${cfg.moe.tasks}), got [${Array.from(task).join(", ")}]`);
  }
  const p = forwardPrefix(be, params, cfg, volume, ids, { labels: task ?? null });
  return { z: p.z, x: p.x, routing: p.enc.traces };
}
