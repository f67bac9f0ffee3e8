/**
 * The public model object: load a checkpoint (bytes, URL, or a path in Node), then `generate`,
 * `choose` and `encode`; and `makeCheckpoint`, which writes one. The same code runs in Node and in browsers.
 * A checkpoint is one safetensors file: every weight under its spec name, and in `__metadata__`
 * `config` (section 9 JSON), `tokenizer` (BpeTokenizer JSON), optionally `preprocess` (a preset of
 * src/preprocess/presets.ts). Training checkpoints load too; their `optim.*` tensors are skipped.
 *
 *   const m = await loadModel();                                  // the shipped checkpoint; or a path, bytes, new URL(...)
 *   const out = await m.generate({ volume: readNifti(bytes), prompt: "Describe the findings." });
 *   out.text; out.task.name; out.routing; out.timings; out.warnings
 * Legend: B batch · D,H,W volume · m image tokens · d = lm width.
 */
import type { Backend } from "./backend/backend.js";
import { createBackend, type BackendName } from "./backend/index.js";
import { FormatError, TghError, ValueError } from "./errors.js";
import { checkTokenizer, generate, taskIndex, type GenerateOptions, type GenerateResult } from "./generate.js";
import { choose, type ChooseOptions, type ChooseResult } from "./generate/choose.js";
import { encodePrefix, promptBatch, promptTokens } from "./generate/prefix.js";
import {
  loadChecked, loadCheckedSource, parseHeader, readHeaderSource, writeSafetensors,
  type Expected, type SafetensorsHeader, type StDType,
} from "./io/safetensors.js";
import { openFileSource } from "./io/fs.js";
import type { ByteSource } from "./io/source.js";
import { CONTEXT_TOKENS, configTotals } from "./model/limits.js";
import { imageTokens } from "./model/projector.js";
import { fromSpecJson, toSpecJson, validateConfig, type ModelConfig } from "./model/config.js";
import { checkVolume } from "./model/model.js";
import type { MoeTrace } from "./model/moe.js";
import { checkParams, paramSpecs, type Params } from "./model/params.js";
import { preprocess, validatePreset, type PreprocessPreset, type VolumeLike } from "./preprocess/index.js";
import { inputWarnings } from "./preprocess/sanity.js";
import { defaultCheckpointUrl } from "./shipped.js";
import { Tensor, type F32Tensor } from "./tensor.js";
import { BpeTokenizer } from "./tokenizer/bpe.js";

/** `__metadata__.format` of a checkpoint written by makeCheckpoint. */
export const MODEL_FORMAT = "tgh-moe-model/1";
/** Formats loadModel accepts: makeCheckpoint's and the trainer's (src/train/checkpoint.ts CHECKPOINT_FORMAT). */
export const LOADABLE_FORMATS: readonly string[] = [MODEL_FORMAT, "tgh-moe-checkpoint/1"];
const SPEC = "tgh-moe/1";

/** A checkpoint: bytes, a URL (fetched; file: URLs read from disk in Node), or a path (Node; elsewhere fetched as a URL). */
export type ModelSource = Uint8Array | ArrayBuffer | URL | string;
/** A preprocessed volume [B, 1, D, H, W], or a CT volume in HU (e.g. readNifti's output) to preprocess. */
export type VolumeInput = F32Tensor | VolumeLike;

export interface LoadModelOptions {
  /** A Backend, or the name of one. Default "wasm". */
  backend?: Backend | BackendName;
  /** Preprocessing for VolumeLike inputs, instead of the checkpoint's own preset. */
  preprocess?: PreprocessPreset;
  /** Name used in error messages. Default: the path or URL, or "checkpoint". */
  file?: string;
}

export interface ModelGenerateOptions extends Omit<GenerateOptions, "volume"> {
  /** One volume: a Tensor [1, 1, D, H, W] already preprocessed, or a NIfTI volume (HU) preprocessed with the model's preset. */
  volume: VolumeInput;
}
export interface ModelGenerateResult extends GenerateResult {
  /** Input sanity (src/preprocess/sanity.ts) and the reader's own warnings; [] for a preprocessed Tensor. */
  warnings: string[];
}
export interface ModelChooseOptions extends Omit<ChooseOptions, "volume"> {
  volume: VolumeInput; // as in ModelGenerateOptions
}
export interface ModelChooseResult extends ChooseResult {
  warnings: string[]; // as ModelGenerateResult.warnings
}
/** A volume ready for the model, and what was worth knowing about the input. */
export interface PreparedInput {
  volume: F32Tensor; // [1, 1, D, H, W]
  warnings: string[];
}

export interface EncodeRequest {
  volume: VolumeInput;
  /** The prompt guiding the MoE layers; one per sample, or one for all. */
  prompt: string | readonly string[];
  /** Task group for hard routing (index or name); default the task gate's argmax. */
  task?: number | string;
}
export interface EncodeResult {
  tokens: F32Tensor; // [B, m, d] the projector's output, what the LM reads at the <image> positions
  routing: MoeTrace[]; // one per MoE layer
  warnings: string[]; // as ModelGenerateResult.warnings
}

/** What a checkpoint holds, parsed and checked. */
export interface ModelContents {
  cfg: ModelConfig;
  params: Params;
  tokenizer: BpeTokenizer;
  preprocess: PreprocessPreset | null;
}

export class TghModel implements ModelContents {
  constructor(
    readonly cfg: ModelConfig,
    readonly params: Params,
    readonly tokenizer: BpeTokenizer,
    readonly preprocess: PreprocessPreset | null,
    readonly backend: Backend,
  ) {}

  /** Generates the answer to `prompt` about one volume (see src/generate.ts for every option). */
  async generate(o: ModelGenerateOptions): Promise<ModelGenerateResult> {
    const input = this.prepareInput(o.volume, "generate");
    return { ...(await generate(this, { ...o, volume: input.volume })), warnings: input.warnings };
  }

  /**
   * Chooses among candidate answers to `prompt` about one volume: the candidate the model finds
   * likeliest (log-likelihood of its tokens and <eos>; src/generate/choose.ts), e.g. the options of
   * a multiple-choice question. Synchronous: one encoding, one prefill, one short pass per candidate.
   */
  choose(o: ModelChooseOptions): ModelChooseResult {
    const input = this.prepareInput(o.volume, "choose");
    return { ...choose(this, { ...o, volume: input.volume }), warnings: input.warnings };
  }

  /** The vision features the language model reads, and the routing, for volumes and prompts. */
  encode(r: EncodeRequest): EncodeResult {
    const { volume, warnings } = this.prepareInput(r.volume, "encode");
    const m = checkVolume(this.cfg, volume, "encode");
    const B = volume.dim(0);
    const prompts = typeof r.prompt === "string" ? new Array<string>(B).fill(r.prompt) : [...r.prompt];
    if (prompts.length !== B || prompts.some((p) => typeof p !== "string")) {
      throw new ValueError(`encode: prompt: expected a string or ${B} strings (one per volume), got ${JSON.stringify(r.prompt)}`);
    }
    const ids = promptBatch(this.cfg, m, prompts.map((p) => promptTokens(this.tokenizer, m, p, "encode")));
    const task = r.task === undefined ? null : new Int32Array(B).fill(taskIndex(this.cfg, r.task));
    const out = encodePrefix(this.backend, this.params, this.cfg, volume, ids, task);
    return { tokens: out.z, routing: out.routing, warnings };
  }

  /** A Tensor is used as given; a VolumeLike (HU) is preprocessed with the model's preset -> [1, 1, D, H, W]. */
  prepareVolume(volume: VolumeInput, op = "prepareVolume"): F32Tensor {
    return this.prepareInput(volume, op).volume;
  }

  /** prepareVolume, plus warnings: the reader's (`volume.meta.warnings`) and input sanity against the preset. */
  prepareInput(volume: VolumeInput, op = "prepareInput"): PreparedInput {
    if (volume instanceof Tensor) return { volume, warnings: [] };
    if (!volume || !(volume.data instanceof Float32Array) || !Array.isArray(volume.shape)) {
      throw new ValueError(`${op}: volume: expected a Tensor [1, 1, D, H, W] or a NIfTI volume {data, shape, spacing, affine}, got ${typeof volume}`);
    }
    if (!this.preprocess) {
      throw new ValueError(`${op}: volume: the checkpoint has no preprocess preset; pass a preprocessed Tensor [1, 1, D, H, W] or loadModel(src, { preprocess })`);
    }
    const prepared = preprocess(volume, this.preprocess).data; // checks the shape and spacing first
    const read = (volume as { meta?: { warnings?: unknown } }).meta?.warnings;
    const warnings = [...(Array.isArray(read) ? read.map(String) : []), ...inputWarnings(volume, this.preprocess)];
    return { volume: prepared, warnings };
  }
}

/**
 * Reads, checks and returns the model; a bad checkpoint throws FormatError and gives no model.
 * Without a source (or with undefined): the shipped checkpoint (src/shipped.ts).
 */
export async function loadModel(src?: ModelSource, o: LoadModelOptions = {}): Promise<TghModel> {
  const from = src ?? (await defaultCheckpointUrl());
  const file = o.file ?? (typeof from === "string" ? from : from instanceof URL ? from.href : "checkpoint");
  const path = await nodePath(from);
  let c: ModelContents;
  if (path !== null) {
    // a file: header first (every check), then each weight straight into its own buffer
    const source = await openFileSource(path);
    try {
      c = await parseModelSource(source, file);
    } finally {
      await source.close();
    }
  } else {
    c = parseModel(await readSource(from), file);
  }
  const preset = o.preprocess ? checkPresetFits(c.cfg, o.preprocess, "loadModel: preprocess", ValueError) : c.preprocess;
  const backend = typeof o.backend === "object" ? o.backend : await createBackend(o.backend ?? "wasm");
  backend.keepResident(c.params.values()); // inference never writes the weights: copied into wasm memory once
  return new TghModel(c.cfg, c.params, c.tokenizer, preset, backend);
}

/** Parses checkpoint bytes (synchronous; loadModel without the I/O and the backend). */
export function parseModel(bytes: Uint8Array, file = "checkpoint"): ModelContents {
  const header = parseHeader(bytes, file);
  const h = checkModelHeader(header, bytes.length, file);
  return withParams(h, header, loadChecked(bytes, h.expected, { file, allowUnknown: true }), file);
}

/** parseModel on a ByteSource (a file): nothing past the header is read until the header passes every check. */
export async function parseModelSource(src: ByteSource, file = src.name): Promise<ModelContents> {
  const header = await readHeaderSource(src, { file });
  const h = checkModelHeader(header, src.size, file);
  return withParams(h, header, await loadCheckedSource(src, header, h.expected, { file, allowUnknown: true }), file);
}

interface ModelHeader extends Omit<ModelContents, "params"> {
  expected: Map<string, Expected>;
}

/**
 * Everything a checkpoint's header says, checked before any weight is read: format, spec, config
 * (with its bounds), tokenizer, preset, and that the file can hold the weights the config implies
 * (counted in closed form, so a hostile config costs nothing).
 */
function checkModelHeader(header: SafetensorsHeader, fileSize: number, file: string): ModelHeader {
  const meta = (key: string, required: boolean): string | undefined => {
    const v = header.metadata.get(key);
    if (v === undefined && required) throw new FormatError(`${file}: __metadata__.${key}: missing (a model checkpoint stores it; see makeCheckpoint)`);
    return v;
  };
  const format = meta("format", false), spec = meta("spec", false);
  if (format !== undefined && !LOADABLE_FORMATS.includes(format)) {
    throw new FormatError(`${file}: __metadata__.format: expected one of ${LOADABLE_FORMATS.join(", ")}, got ${JSON.stringify(format)}`);
  }
  if (spec !== undefined && spec !== SPEC) throw new FormatError(`${file}: __metadata__.spec: expected ${SPEC}, got ${JSON.stringify(spec)}`);
  const cfgText = meta("config", true)!, tokText = meta("tokenizer", true)!;
  const cfg = asFormat(file, "config", () => fromSpecJson(cfgText));
  const t = configTotals(cfg), dataBytes = fileSize - header.dataStart; // config limits already bound t.tensors
  if (2 * t.params > dataBytes) {
    throw new FormatError(`${file}: data buffer: the config implies ${t.params} parameters (at least ${2 * t.params} bytes as F16/BF16), the file holds ${dataBytes}`);
  }
  const tokenizer = asFormat(file, "tokenizer", () => BpeTokenizer.deserialize(tokText));
  asFormat(file, "tokenizer", () => checkTokenizer(cfg, tokenizer));
  const pre = meta("preprocess", false);
  const preprocess = pre === undefined ? null : checkPresetFits(cfg, asFormat(file, "preprocess", () => JSON.parse(pre) as unknown), `${file}: __metadata__.preprocess`, FormatError);
  const expected = new Map<string, Expected>();
  for (const [name, shape] of paramSpecs(cfg)) expected.set(name, { shape, dtype: "f32" });
  return { cfg, tokenizer, preprocess, expected };
}

function withParams(h: ModelHeader, header: SafetensorsHeader, tensors: Map<string, Tensor>, file: string): ModelContents {
  const extra = header.tensors.map((t) => t.name).filter((n) => !h.expected.has(n) && !n.startsWith("optim."));
  if (extra.length > 0) {
    throw new FormatError(`${file}: tensors: ${extra.length} not a parameter of this config (nor optim.*): ${extra.slice(0, 10).map((n) => JSON.stringify(n)).join(", ")}${extra.length > 10 ? ", ..." : ""}`);
  }
  return { cfg: h.cfg, params: tensors as Params, tokenizer: h.tokenizer, preprocess: h.preprocess };
}

export interface CheckpointContents {
  cfg: ModelConfig;
  params: Params;
  tokenizer: BpeTokenizer;
  /** Stored so that NIfTI inputs are preprocessed as in training. Default none. */
  preprocess?: PreprocessPreset | null;
  /** Storage dtype of every weight: "F32" (default), "F16" or "BF16" (rounded to nearest even). */
  dtype?: "F32" | "F16" | "BF16";
  /** Extra `__metadata__` entries (e.g. a description); the reserved keys cannot be set here. */
  metadata?: Readonly<Record<string, string>>;
}

/** The checkpoint bytes loadModel reads. Deterministic: same contents -> same bytes. */
export function makeCheckpoint(c: CheckpointContents): Uint8Array {
  validateConfig(c.cfg);
  checkParams(c.params, c.cfg);
  checkTokenizer(c.cfg, c.tokenizer);
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.metadata ?? {})) {
    if (["format", "spec", "config", "tokenizer", "preprocess"].includes(k)) throw new ValueError(`makeCheckpoint: metadata: ${k} is reserved`);
    metadata[k] = v;
  }
  Object.assign(metadata, { format: MODEL_FORMAT, spec: SPEC, config: JSON.stringify(toSpecJson(c.cfg)), tokenizer: c.tokenizer.serialize() });
  if (c.preprocess) metadata.preprocess = JSON.stringify(checkPresetFits(c.cfg, c.preprocess, "makeCheckpoint: preprocess", ValueError));
  const dtype: StDType = c.dtype ?? "F32";
  if (!["F32", "F16", "BF16"].includes(dtype)) throw new ValueError(`makeCheckpoint: dtype: expected F32, F16 or BF16, got ${String(dtype)}`);
  const dtypes = new Map([...c.params.keys()].map((name) => [name, dtype]));
  return writeSafetensors(c.params, { metadata, dtypes });
}

/** validatePreset, plus: its grid is an input the config accepts ([D, image, image], D a multiple of depth_patch*depth_pool). */
function checkPresetFits(cfg: ModelConfig, preset: unknown, where: string, E: typeof ValueError | typeof FormatError): PreprocessPreset {
  let p: PreprocessPreset;
  try {
    p = validatePreset(preset, where);
  } catch (e) {
    throw e instanceof ValueError && E !== ValueError ? new E(e.message) : e;
  }
  const [D, H, W] = p.grid, v = cfg.vision, dp = v.depthPatch * cfg.projector.depthPool;
  if (H !== v.image || W !== v.image || D % dp !== 0) {
    throw new E(`${where}: grid: expected [D, ${v.image}, ${v.image}] with D a multiple of depth_patch*depth_pool=${dp}, got [${p.grid.join(", ")}]`);
  }
  // the image tokens (and at least one prompt token) must fit the context: this bounds D
  const perGroup = imageTokens(cfg, dp), maxD = Math.floor((CONTEXT_TOKENS - 5) / perGroup) * dp;
  if (D > maxD) {
    throw new E(`${where}: grid: D=${D} gives ${imageTokens(cfg, D)} image tokens; the context of ${CONTEXT_TOKENS} tokens allows D up to ${maxD}`);
  }
  return p;
}

/** Runs f; a ValueError or FormatError (or a JSON SyntaxError) becomes a FormatError naming the metadata key. */
function asFormat<T>(file: string, key: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ValueError || e instanceof FormatError || e instanceof SyntaxError) {
      throw new FormatError(`${file}: __metadata__.${key}: ${e.message}`);
    }
    throw e;
  }
}

const isNode = typeof process !== "undefined" && !!process.versions?.node;

/** The file path a source names in Node (a path, or a file: URL), else null. */
async function nodePath(src: ModelSource): Promise<string | null> {
  if (!isNode) return null;
  if (typeof src === "string" && !/^[a-z][a-z0-9+.-]*:\/\//i.test(src)) return src;
  const url = src instanceof URL ? src : typeof src === "string" && src.startsWith("file:") ? new URL(src) : null;
  if (url?.protocol !== "file:") return null;
  const { fileURLToPath } = await import("node:url");
  return fileURLToPath(url);
}

async function readSource(src: ModelSource): Promise<Uint8Array> {
  if (src instanceof Uint8Array) return src;
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (typeof src !== "string" && !(src instanceof URL)) {
    throw new ValueError(`loadModel: src: expected a Uint8Array, an ArrayBuffer, a URL or a path, got ${typeof src}`);
  }
  const url = src instanceof URL ? src : new URL(src, (globalThis as { location?: { href: string } }).location?.href);
  const res = await fetch(url);
  if (!res.ok) throw new TghError(`loadModel: fetching ${url.href} failed: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
