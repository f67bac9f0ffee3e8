/**
 * `verifyGolden`: checks ANY golden file (ours or a port's) against this implementation, relying only
 * on the spec's names and the metadata (never on how we made ours): spec string, config (section 9),
 * strict weights (every name of the config, its shape, nothing unknown), inputs, every act.* of
 * section 8 (extra act.* / input.* names are reported and skipped); then recomputes the act.* from the weights and inputs and compares them in forward order.
 * A malformed file throws FormatError naming the field; a numeric mismatch is a failing report.
 */
import type { Backend } from "../backend/backend.js";
import { createBackend, type BackendName } from "../backend/index.js";
import { FormatError, TghError, fmtShape } from "../errors.js";
import { loadChecked, parseHeader, type Expected } from "../io/safetensors.js";
import { configOfMetadata, type ModelConfig } from "../model/config.js";
import { forward } from "../model/model.js";
import { paramSpecs, type Params } from "../model/params.js";
import type { F32Tensor, I32Tensor, Tensor } from "../tensor.js";
import { BpeTokenizer } from "../tokenizer/bpe.js";
import { compareTensor, formatCheck, type TensorCheck } from "./compare.js";
import { GOLDEN_SPEC, INPUT_IDS, INPUT_VOLUME, actSlots, isWeightName } from "./layout.js";
import { tokenIdsOf } from "./inputs.js";

export interface VerifyOptions {
  /** Backend that recomputes the acts: a name or a Backend. Default "wasm". */
  backend?: BackendName | Backend;
  /** Label for messages (the file name). Default "golden". */
  file?: string;
  /**
   * Recomputes the act.* another way (the exported ONNX graphs: src/export/verify.ts) instead of our
   * forward; `recomputedOn` names it in the report. Same checks, same comparison, same report.
   */
  recompute?: (input: RecomputeInput) => Promise<Map<string, Tensor>>;
  recomputedOn?: string;
}

/** What a recompute hook gets: the file's config, weights and inputs, already checked. */
export interface RecomputeInput {
  cfg: ModelConfig;
  params: Params;
  volume: F32Tensor;
  ids: I32Tensor;
}

/** The tokenizer cross-check: metadata `tokenizer` re-encodes metadata `prompt` to the prompt ids. */
export interface TokenizerCheck {
  checked: boolean;
  pass: boolean;
  note: string;
}

export interface VerifyReport {
  file: string;
  backend: string;
  atol: number;
  rtol: number;
  config: ModelConfig;
  /** Metadata `backend` of the file (who computed it), "" if absent. */
  producedBy: string;
  /** Every act.* of spec section 8 in forward order. */
  tensors: TensorCheck[];
  /** act.* / input.* names of the file that section 8 does not define (a port's extras): not checked. */
  ignored: string[];
  tokenizer: TokenizerCheck;
  /** The first act.* in forward order that fails, null if none. */
  firstDivergence: string | null;
  pass: boolean;
}

/** Loads, recomputes, compares. Throws FormatError on a malformed file; never throws on a mismatch. */
export async function verifyGolden(bytes: Uint8Array, o: VerifyOptions = {}): Promise<VerifyReport> {
  const file = o.file ?? "golden";
  const be = o.recompute ? null : typeof o.backend === "object" ? o.backend : await createBackend(o.backend ?? "wasm");
  const { cfg, meta, expected, ignored } = readLayout(bytes, file);
  const atol = tolerance(meta, "atol", file), rtol = tolerance(meta, "rtol", file);
  const loaded = loadChecked(bytes, expected, { file });
  const params: Params = new Map();
  for (const name of paramSpecs(cfg).keys()) params.set(name, loaded.get(name) as F32Tensor);
  const volume = loaded.get(INPUT_VOLUME) as F32Tensor, ids = loaded.get(INPUT_IDS) as I32Tensor;

  let acts: Map<string, Tensor>;
  try {
    acts = be ? forward(be, params, cfg, { volume, ids }, { acts: true }).acts! : await o.recompute!({ cfg, params, volume, ids });
  } catch (e) {
    if (e instanceof TghError && be) throw new FormatError(`${file}: inputs: they do not fit the config: ${e.message}`);
    throw e;
  }
  const tensors = actSlots(cfg, volume.dim(0), volume.dim(2), ids.dim(1)).map((s) =>
    compareTensor(s.name, acts.get(s.name)!, loaded.get(s.name)!, atol, rtol));
  const tokenizer = checkTokenizer(meta, cfg, ids, file);
  const firstDivergence = tensors.find((t) => !t.pass)?.name ?? null;
  return {
    file, backend: be?.name ?? o.recomputedOn ?? "recompute", atol, rtol, config: cfg, producedBy: meta.get("backend") ?? "", tensors, ignored, tokenizer, firstDivergence,
    pass: firstDivergence === null && (!tokenizer.checked || tokenizer.pass),
  };
}

/** Spec string, config, and the name -> {shape, dtype} every tensor of the file must have. */
function readLayout(bytes: Uint8Array, file: string): { cfg: ModelConfig; meta: Map<string, string>; expected: Map<string, Expected>; ignored: string[] } {
  const header = parseHeader(bytes, file);
  const meta = header.metadata;
  const spec = meta.get("spec");
  if (spec !== GOLDEN_SPEC) {
    throw new FormatError(`${file}: __metadata__.spec: expected ${JSON.stringify(GOLDEN_SPEC)}, got ${spec === undefined ? "nothing" : JSON.stringify(spec)}`);
  }
  const cfg = configOfMetadata(meta.get("config"), file, "the section 9 JSON");
  const info = new Map(header.tensors.map((t) => [t.name, t]));
  const vol = info.get(INPUT_VOLUME)?.shape, idsShape = info.get(INPUT_IDS)?.shape;
  if (!vol || vol.length !== 5) throw new FormatError(`${file}: ${INPUT_VOLUME}: expected a tensor [B, 1, D, H, W], got ${vol ? fmtShape(vol) : "nothing"}`);
  if (!idsShape || idsShape.length !== 2) throw new FormatError(`${file}: ${INPUT_IDS}: expected a tensor [B, Lseq], got ${idsShape ? fmtShape(idsShape) : "nothing"}`);
  const [B, ch, D] = vol;
  const dp = cfg.vision.depthPatch * cfg.projector.depthPool;
  if (D === 0 || D % dp !== 0) throw new FormatError(`${file}: ${INPUT_VOLUME}: depth D=${D} is not a positive multiple of depth_patch*depth_pool=${dp}`);
  const expected = new Map<string, Expected>();
  for (const [name, shape] of paramSpecs(cfg)) expected.set(name, { shape, dtype: "f32" }); // stored F32, F16 or BF16
  const image = cfg.vision.image;
  expected.set(INPUT_VOLUME, { shape: [B, ch === cfg.vision.cIn ? ch : 1, D, image, image], dtype: "f32" });
  expected.set(INPUT_IDS, { shape: [B, idsShape[1]], dtype: "i32" });
  // acts must be stored F32 (a float16 activation would hide errors); indices I32 or I64
  for (const s of actSlots(cfg, B, D, idsShape[1])) expected.set(s.name, { shape: s.shape, dtype: s.dtype === "f32" ? "F32" : "i32" });
  // extra act.* / input.* tensors are tolerated (loaded as they are, not checked); extra weights are not
  const ignored = header.tensors.filter((t) => !expected.has(t.name) && !isWeightName(t.name)).map((t) => t.name);
  for (const name of ignored) expected.set(name, { shape: info.get(name)!.shape, dtype: info.get(name)!.dtype });
  return { cfg, meta, expected, ignored };
}

function tolerance(meta: Map<string, string>, key: "atol" | "rtol", file: string): number {
  const text = meta.get(key);
  const x = text === undefined || text.trim() === "" ? NaN : Number(text);
  if (!Number.isFinite(x) || x < 0) throw new FormatError(`${file}: __metadata__.${key}: expected a non-negative number, got ${text === undefined ? "nothing" : JSON.stringify(text)}`);
  return x;
}

/**
 * When the file carries `tokenizer` (section 6) and `prompt` as a JSON array of B strings: the
 * tokenizer's specials are the config's tokens, and encoding prompt[b] gives exactly the ids strictly
 * between </img> and <sep> of row b. Anything else is noted, not failed (the spec does not require it).
 */
function checkTokenizer(meta: Map<string, string>, cfg: ModelConfig, ids: I32Tensor, file: string): TokenizerCheck {
  const text = meta.get("tokenizer");
  if (text === undefined) return { checked: false, pass: true, note: "no __metadata__.tokenizer: not checked" };
  let tok: BpeTokenizer;
  try {
    tok = BpeTokenizer.deserialize(text);
  } catch (e) {
    if (e instanceof TghError) throw new FormatError(`${file}: __metadata__.${e.message}`);
    throw e;
  }
  const got = tokenIdsOf(tok), want = cfg.tokens;
  const bad = (Object.keys(want) as (keyof typeof want)[]).filter((k) => got[k] !== want[k]);
  if (bad.length > 0) return { checked: true, pass: false, note: `tokenizer specials differ from config tokens: ${bad.map((k) => `${k} ${got[k]} vs ${want[k]}`).join(", ")}` };
  if (tok.vocabSize > cfg.lm.vocab) return { checked: true, pass: false, note: `tokenizer has ${tok.vocabSize} ids, more than lm.vocab=${cfg.lm.vocab}` };
  let prompts: unknown;
  try {
    prompts = JSON.parse(meta.get("prompt") ?? "null");
  } catch {
    prompts = null;
  }
  const [B, L] = ids.shape;
  if (!Array.isArray(prompts) || prompts.length !== B || !prompts.every((p) => typeof p === "string")) {
    return { checked: true, pass: true, note: `specials match; __metadata__.prompt is not a JSON array of ${B} strings: prompts not re-encoded` };
  }
  for (let b = 0; b < B; b++) {
    const row = Array.from(ids.data.subarray(b * L, (b + 1) * L));
    const start = row.indexOf(want.imgEnd) + 1;
    let end = row.indexOf(want.sep, start);
    if (end < 0) end = L;
    const mine = Array.from(tok.encode(prompts[b] as string));
    const theirs = row.slice(start, end);
    if (start === 0 || mine.join() !== theirs.join()) {
      return { checked: true, pass: false, note: `prompt ${b} ${JSON.stringify(prompts[b])} encodes to [${mine.join(", ")}], input.ids holds [${theirs.join(", ")}]` };
    }
  }
  return { checked: true, pass: true, note: `specials match; ${B} prompts re-encode to input.ids` };
}

/** The report as text: a header line, one line per act.* in forward order, the tokenizer line, a summary. */
export function formatReport(r: VerifyReport): string[] {
  const w = Math.max(...r.tensors.map((t) => t.name.length), 10);
  const lines = [`verify ${r.file}: spec ${GOLDEN_SPEC}, recomputed on ${r.backend}${r.producedBy ? ` (file made on ${r.producedBy})` : ""}, atol ${r.atol}, rtol ${r.rtol}`];
  for (const t of r.tensors) lines.push(`  ${formatCheck(t, w)}`);
  if (r.ignored.length > 0) lines.push(`  ${"ignored".padEnd(w)} not in spec section 8, not checked: ${r.ignored.join(", ")}`);
  lines.push(`  ${"tokenizer".padEnd(w)} ${r.tokenizer.note}${r.tokenizer.checked ? (r.tokenizer.pass ? "  pass" : "  FAIL") : ""}`);
  const failed = r.tensors.filter((t) => !t.pass).length;
  if (r.pass) lines.push(`PASS: all ${r.tensors.length} act.* tensors within atol + rtol*|ref|, groups and top-k indices equal`);
  else if (r.firstDivergence) lines.push(`FAIL: first divergence at ${r.firstDivergence}; ${failed} of ${r.tensors.length} act.* tensors fail`);
  else lines.push("FAIL: every act.* matches but the tokenizer check fails");
  return lines;
}
