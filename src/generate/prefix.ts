/**
 * The prompt side of generation: the token ids `<bos> <img> <image>*m </img> prompt <sep>` and
 * their input embeddings with the image spliced in. The vision encoder runs here, once per
 * (volume, prompt), because its MoE layers are guided by the prompt (g = text_proj(mean of the
 * prompt embeddings)). The same ops in the same order as model.ts:forward, so the bits agree.
 * Legend: B batch · D,H,W volume · S=1+n^2 · C width · L text tokens · d = lm width · m image tokens.
 */
import type { Backend } from "../backend/backend.js";
import { DTypeError, ShapeError, ValueError, fmtShape } from "../errors.js";
import { Tensor, type F32Tensor, type I32Tensor } from "../tensor.js";
import { textGuided, type ModelConfig } from "../model/config.js";
import { CONTEXT_TOKENS } from "../model/limits.js";
import type { BpeTokenizer } from "../tokenizer/bpe.js";
import { encode } from "../model/encoder.js";
import { parseSequence, promptMean, spliceImage } from "../model/lm.js";
import type { MoeTrace } from "../model/moe.js";
import { getParam, scope, type Params } from "../model/params.js";
import { imageTokens, project } from "../model/projector.js";
import { embedSlices } from "../model/vit.js";

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

/** Checks volume [B, 1 or c_in, D, H, W] against the config (model.ts:checkInput's rule); returns m. */
export function checkVolume(cfg: ModelConfig, volume: F32Tensor, op: string): number {
  if (!(volume instanceof Tensor) || volume.dtype !== "f32") {
    throw new DTypeError(`${op}: volume: expected a Tensor<f32> [B, 1, D, H, W] or a NIfTI volume, got ${String((volume as { dtype?: unknown })?.dtype ?? typeof volume)}`);
  }
  const v = cfg.vision, dp = v.depthPatch * cfg.projector.depthPool;
  const [, ch, D, H, W] = volume.shape;
  if (volume.rank !== 5 || (ch !== 1 && ch !== v.cIn) || H !== v.image || W !== v.image || D === 0 || D % dp !== 0) {
    throw new ShapeError(`${op}: volume: expected [B, 1, D, ${v.image}, ${v.image}] with D a multiple of depth_patch*depth_pool=${dp}, got ${fmtShape(volume.shape)}`);
  }
  return imageTokens(cfg, D);
}

export interface VisionResult {
  z: F32Tensor; // [B, m, d] projector output (act.projector)
  x: F32Tensor; // [B, L, d] input embeddings of ids with z spliced at the <image> positions
  routing: MoeTrace[]; // one per MoE layer, in block order
}

/**
 * volume [B, 1, D, H, W], ids [B, L] (a prompt sequence) -> the projector's tokens, the LM input
 * and the routing trace. `task` [B] fixes the hard routing group (as labels do in training).
 */
export function encodePrefix(be: Backend, params: Params, cfg: ModelConfig, volume: F32Tensor, ids: I32Tensor, task?: Int32Array | null): VisionResult {
  const B = volume.dim(0);
  if (ids.rank !== 2 || ids.dim(0) !== B) throw new ShapeError(`encodePrefix: ids: expected [B=${B}, L], got ${fmtShape(ids.shape)}`);
  if (task && (task.length !== B || task.some((t) => t < 0 || t >= cfg.moe.tasks))) {
    throw new ValueError(`encodePrefix: task: expected ${B} task indices in [0, ${cfg.moe.tasks}), got [${Array.from(task).join(", ")}]`);
  }
  const seq = parseSequence(ids, cfg.tokens);
  const x0 = embedSlices(be, scope(params, "vision"), cfg.vision, volume); // [B, D, S, C]
  const e = be.embedding(getParam(params, "lm.embed.weight"), ids); // [B, L, d]
  let g: F32Tensor | null = null;
  if (textGuided(cfg)) {
    const T = scope(params, "moe.text_proj");
    g = be.linear(promptMean(be, e, seq), T("weight"), T("bias")); // g = W_s s + b_s [B, C]
  }
  const enc = encode(be, params, cfg, x0, { g, labels: task ?? null });
  const z = project(be, params, cfg, enc.x); // [B, m, d]
  return { z, x: spliceImage(e, seq, z), routing: enc.traces };
}
