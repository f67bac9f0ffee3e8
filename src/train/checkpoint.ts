/**
 * Training checkpoints: one safetensors file holding the weights under their spec names, the AdamW
 * state (`optim.m.<name>`, `optim.v.<name>` F32 and `optim.step.<name>` I32 [1]) and, in
 * `__metadata__`, the format, the config (section 9 JSON), the training options, the update count,
 * the RNG state and the tokenizer. Bytes <-> state work anywhere; the file functions (Node) write
 * atomically: a temporary file is written and flushed to disk, then renamed over the old one, so a
 * crash at any moment leaves either the previous checkpoint or the new one, never a torn file.
 */
import { FormatError, ValueError } from "../errors.js";
import { readBytes, writeAtomic } from "../io/fs.js";
import { readSafetensors, writeSafetensors } from "../io/safetensors.js";
import { fromSpecJson, toSpecJson, type ModelConfig } from "../model/config.js";
import { checkParams, paramSpecs, type Params } from "../model/params.js";
import { Rng } from "../rng.js";
import { Tensor, type F32Tensor } from "../tensor.js";
import type { Backend } from "../backend/backend.js";
import { Trainer, type TrainOptions } from "./trainer.js";

export const CHECKPOINT_FORMAT = "tgh-moe-checkpoint/1";

/** What a checkpoint holds. */
export interface CheckpointState {
  cfg: ModelConfig;
  params: Params;
  options: TrainOptions;
  step: number; // updates done
  rng: Uint32Array; // the trainer's RNG state (4 x uint32)
  m: Map<string, F32Tensor>;
  v: Map<string, F32Tensor>;
  steps: Map<string, number>; // AdamW's per-parameter step counts
  tokenizer: string | null; // BpeTokenizer.serialize(), when the run has one
}

/** The state of a trainer now (tensors shared, not copied: serialise before training on). */
export function trainerState(t: Trainer, tokenizer: string | null = null): CheckpointState {
  return {
    cfg: t.cfg, params: t.params, options: t.opts, step: t.step, rng: t.rng.state(),
    m: t.optimizer.m, v: t.optimizer.v, steps: t.optimizer.steps, tokenizer,
  };
}

/** A trainer that continues the checkpointed run exactly. */
export function resumeTrainer(be: Backend, s: CheckpointState): Trainer {
  const t = new Trainer(be, s.cfg, s.params, s.options);
  t.step = s.step;
  t.rng = new Rng(s.rng);
  for (const [name, m] of s.m) t.optimizer.m.set(name, m);
  for (const [name, v] of s.v) t.optimizer.v.set(name, v);
  for (const [name, n] of s.steps) t.optimizer.steps.set(name, n);
  return t;
}

export function checkpointBytes(s: CheckpointState): Uint8Array {
  checkParams(s.params, s.cfg);
  const tensors = new Map<string, Tensor>(s.params);
  for (const [name, n] of s.steps) {
    if (!s.params.has(name) || !s.m.has(name) || !s.v.has(name)) throw new ValueError(`checkpoint: optimizer state of ${name}: incomplete or not a parameter`);
    tensors.set(`optim.m.${name}`, s.m.get(name)!);
    tensors.set(`optim.v.${name}`, s.v.get(name)!);
    tensors.set(`optim.step.${name}`, new Tensor("i32", [1], Int32Array.of(n)));
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    spec: "tgh-moe/1",
    config: JSON.stringify(toSpecJson(s.cfg)),
    train: JSON.stringify(s.options),
    step: String(s.step),
    rng: JSON.stringify(Array.from(s.rng)),
  };
  if (s.tokenizer !== null) metadata.tokenizer = s.tokenizer;
  return writeSafetensors(tensors, { metadata });
}

export function parseCheckpoint(bytes: Uint8Array, file = "checkpoint"): CheckpointState {
  const { tensors, metadata } = readSafetensors(bytes, { file });
  const meta = (key: string): string => {
    const v = metadata.get(key);
    if (v === undefined) throw new FormatError(`${file}: __metadata__.${key}: missing`);
    return v;
  };
  if (meta("format") !== CHECKPOINT_FORMAT) throw new FormatError(`${file}: __metadata__.format: expected ${CHECKPOINT_FORMAT}, got ${meta("format")}`);
  const cfg = fromSpecJson(meta("config"));
  const params: Params = new Map();
  for (const name of paramSpecs(cfg).keys()) {
    const t = tensors.get(name);
    if (!t || t.dtype !== "f32") throw new FormatError(`${file}: ${name}: missing or not a float tensor`);
    params.set(name, t as F32Tensor);
  }
  checkParams(params, cfg);
  const m = new Map<string, F32Tensor>(), v = new Map<string, F32Tensor>(), steps = new Map<string, number>();
  for (const [key, t] of tensors) {
    const hit = /^optim\.step\.(.+)$/.exec(key);
    if (!hit) continue;
    const name = hit[1];
    const mt = tensors.get(`optim.m.${name}`), vt = tensors.get(`optim.v.${name}`);
    if (!params.has(name) || !mt || !vt || mt.dtype !== "f32" || vt.dtype !== "f32" || t.dtype !== "i32") {
      throw new FormatError(`${file}: optim.*.${name}: expected optim.m, optim.v (F32) and optim.step (I32) of a parameter`);
    }
    m.set(name, mt as F32Tensor);
    v.set(name, vt as F32Tensor);
    steps.set(name, t.data[0]);
  }
  const rng = Uint32Array.from(JSON.parse(meta("rng")) as number[]);
  if (rng.length !== 4) throw new FormatError(`${file}: __metadata__.rng: expected 4 uint32, got ${meta("rng")}`);
  return {
    cfg, params, options: JSON.parse(meta("train")) as TrainOptions, step: Number(meta("step")), rng, m, v, steps,
    tokenizer: metadata.get("tokenizer") ?? null,
  };
}

/**
 * Writes the checkpoint at `path` atomically (src/io/fs.ts writeAtomic: a temporary file written and
 * fsynced, renamed over `path`, the folder fsynced; on any error `path` is untouched).
 */
export async function saveCheckpoint(path: string, s: CheckpointState): Promise<void> {
  await writeAtomic(path, checkpointBytes(s));
}

export async function loadCheckpoint(path: string): Promise<CheckpointState> {
  return parseCheckpoint(await readBytes(path), path);
}

