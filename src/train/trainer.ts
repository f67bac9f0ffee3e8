/**
 * The training loop's one step: draw micro-batches with the trainer's seeded RNG, forward with a
 * tape and backward each (every loss scaled by 1/micro-batches; their gradients merged in
 * micro-batch order, on one thread or data parallel: parallel.ts), clip to the global norm, AdamW
 * at the scheduled rate. Its whole state (weights, moments, step, RNG) is what a
 * checkpoint holds, so a resumed run continues bit for bit. Not a data loader, not a CLI.
 * Legend: B batch · D,H,W volume · L text tokens.
 */
import type { Backend } from "../backend/backend.js";
import { ShapeError, ValueError, fmtShape } from "../errors.js";
import type { ModelConfig } from "../model/config.js";
import { checkParams, type Params } from "../model/params.js";
import { Rng } from "../rng.js";
import { Tensor, type F32Tensor } from "../tensor.js";
import { ADAMW_DEFAULTS, AdamW, clipGradNorm } from "./adamw.js";
import { trainableBy, type FreezeSpec } from "./freeze.js";
import { Grads } from "./grads.js";
import { DataParallel, microBatch, type MicroResult } from "./parallel.js";
import { lrAt, type Schedule } from "./schedule.js";

/** One training example: a volume [c, D, H, W] (c = 1 or c_in), its section 6 sequence (unpadded), its task. */
export interface Sample {
  volume: F32Tensor;
  ids: readonly number[];
  task: number;
  cover?: Uint8Array; // patch cover marks of its slices [D * n^2] (ForwardInput.cover), for the patch finding loss
  emphasis?: Float32Array; // how much the target ids[pos] counts within the sequence [ids.length] (ForwardInput.emphasis); absent: 1
}

/** Everything that defines a run besides the model (stored in checkpoints as JSON). */
export interface TrainOptions {
  seed: number; // RNG seed of the sample draws
  batchSize: number; // samples per micro-batch
  accum: number; // micro-batches per update (gradient accumulation)
  schedule: Schedule;
  clip: number; // max global gradient norm (spec: 1.0)
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  alpha: number; // weight of mean(L_bal) (spec: 0.01)
  beta: number; // weight of mean(L_task) (spec: 0.1)
  /** Weight of the patch finding loss (src/model/patch-loss.ts; every sample then needs its cover marks). Absent: 0. */
  patchLoss?: number;
  freeze: FreezeSpec;
  /**
   * During the first `steps` updates only the parameters `freeze` here also leaves trainable learn
   * (the recipe's stage 0 keeps the encoder and projector still while the language model learns to
   * write: see src/recipe/stages.ts). The held parameters then join over `ramp` updates, their
   * learning rate scaled by 1/ramp, 2/ramp, ..., 1 (AdamW's first steps move every weight by about the
   * learning rate at once, which undoes what the language model learned to read). Absent or null: no
   * warm-up freeze.
   */
  warmFreeze?: { steps: number; freeze: FreezeSpec; ramp?: number } | null;
  /**
   * Draw the samples of a micro-batch `perVolume` at a time from one volume (a random sample, then
   * perVolume - 1 more among the samples with the same volume), and encode each distinct volume
   * once (ForwardInput.volumeOf). For an encoder that does not read the text (stage 1): the volume
   * is the costly part of a sample, and its questions and report share it. Absent: 1 (independent
   * draws, one volume per sample).
   */
  perVolume?: number;
  /**
   * Learning-rate scales by parameter group: a parameter's rate is the schedule's times the scale of
   * the first pattern (freeze.ts globs) that matches its name (1 when none does). Absent: 1 for all.
   */
  lrScale?: readonly { match: string; scale: number }[];
}

/** Spec section 7's optimizer and loss settings; the schedule and batch are the caller's. */
export function trainOptions(o: Partial<TrainOptions> & { schedule: Schedule }): TrainOptions {
  return {
    seed: 0, batchSize: 1, accum: 1, clip: 1.0, ...ADAMW_DEFAULTS, alpha: 0.01, beta: 0.1, freeze: {}, ...o,
  };
}

export interface StepReport {
  step: number; // the update just made (0-based)
  lr: number;
  loss: number; // mean over micro-batches of the total loss
  ce: number | null; // mean over micro-batches that have targets
  balance: number | null; // mean over micro-batches of mean(L_bal) (null without MoE layers)
  task: number | null; // mean over micro-batches of mean(L_task) (null without task terms)
  patch?: number; // mean over micro-batches of L_patch (with patchLoss)
  gradNorm: number; // before clipping
}

export class Trainer {
  readonly optimizer: AdamW;
  rng: Rng; // replaced when a run resumes (src/train/checkpoint.ts)
  step = 0;
  private readonly trainable: (name: string) => boolean;
  private readonly warmTrainable: (name: string) => boolean;
  private readonly groupScale: ((name: string) => number) | null;
  private parallel: DataParallel | null = null;

  constructor(readonly be: Backend, readonly cfg: ModelConfig, readonly params: Params, readonly opts: TrainOptions) {
    checkParams(params, cfg);
    be.keepResident(params.values()); // weights copied into the kernels' memory once per update, not per product (also refreshes them)
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1 || !Number.isInteger(opts.accum) || opts.accum < 1) {
      throw new ValueError(`Trainer: expected positive integers batchSize and accum, got ${opts.batchSize}, ${opts.accum}`);
    }
    if (opts.warmFreeze && !(Number.isInteger(opts.warmFreeze.steps) && opts.warmFreeze.steps >= 0)) {
      throw new ValueError(`Trainer: warmFreeze.steps: expected an integer >= 0, got ${opts.warmFreeze.steps}`);
    }
    const k = opts.perVolume ?? 1;
    if (!(Number.isInteger(k) && k >= 1 && opts.batchSize % k === 0)) throw new ValueError(`Trainer: perVolume: expected an integer >= 1 dividing batchSize=${opts.batchSize}, got ${k}`);
    if (opts.warmFreeze?.ramp !== undefined && !(Number.isInteger(opts.warmFreeze.ramp) && opts.warmFreeze.ramp >= 0)) {
      throw new ValueError(`Trainer: warmFreeze.ramp: expected an integer >= 0, got ${opts.warmFreeze.ramp}`);
    }
    this.optimizer = new AdamW({ beta1: opts.beta1, beta2: opts.beta2, eps: opts.eps, weightDecay: opts.weightDecay }, be);
    this.rng = new Rng(opts.seed);
    this.trainable = trainableBy(opts.freeze);
    const warm = opts.warmFreeze ? trainableBy(opts.warmFreeze.freeze) : () => true;
    this.warmTrainable = (name) => this.trainable(name) && warm(name);
    this.groupScale = opts.lrScale?.length ? lrScaleOf(opts.lrScale) : null;
  }

  /** What trains at the current update (the warm-up freeze applies while step < its steps). */
  private trainableNow(): (name: string) => boolean {
    const w = this.opts.warmFreeze;
    return w && this.step < w.steps ? this.warmTrainable : this.trainable;
  }

  /** The learning-rate scale of each parameter: its group's (lrScale) times the ramp while the held ones join (null: 1 for all). */
  private scales(): ((name: string) => number) | null {
    const w = this.opts.warmFreeze, ramp = w?.ramp ?? 0, group = this.groupScale;
    const joining = !!w && ramp > 0 && this.step >= w.steps && this.step < w.steps + ramp;
    if (!joining) return group;
    const k = Math.fround((this.step - w.steps + 1) / ramp);
    return (name) => (this.warmTrainable(name) ? 1 : k) * (group ? group(name) : 1);
  }

  /** One update: accum micro-batches of batchSize samples drawn (with replacement) from `data`. */
  trainStep(data: readonly Sample[]): StepReport {
    if (data.length === 0) throw new ValueError("Trainer.trainStep: data: expected at least one sample");
    const { accum, batchSize } = this.opts, k = this.opts.perVolume ?? 1;
    if (k === 1) return this.update(Array.from({ length: accum }, () => Array.from({ length: batchSize }, () => data[this.rng.int(data.length)])));
    const groups = samplesByVolume(data);
    const draw = (): Sample[] => {
      const first = data[this.rng.int(data.length)], same = groups.get(first.volume)!;
      return [first, ...Array.from({ length: k - 1 }, () => same[this.rng.int(same.length)])];
    };
    return this.update(Array.from({ length: accum }, () => Array.from({ length: batchSize / k }, draw).flat()));
  }

  /**
   * Spreads the micro-batches of each update over `threads` threads (data parallel: Node workers,
   * each running whole forward and backward passes); the update's bits are those of one thread.
   * An update of one micro-batch still runs on this thread (its kernels use the backend's threads).
   * Returns the threads it got: 1 where workers cannot run (said once) or the backend is not wasm.
   */
  async useThreads(threads: number): Promise<number> {
    this.parallel?.close();
    this.parallel = this.be.name === "wasm" ? await DataParallel.start(this.cfg, this.params, threads) : null;
    return this.parallel?.threads ?? 1;
  }

  /** Stops the data-parallel workers, if any. */
  close(): void {
    this.parallel?.close();
    this.parallel = null;
  }

  /**
   * One update over the given micro-batches (the caller chose the samples; the RNG is not used).
   * Each micro-batch's gradients start from zero and are merged in micro-batch order (Grads.merge),
   * whichever thread computed them: one micro-batch gives the bits of accumulating in place.
   */
  update(microBatches: readonly (readonly Sample[])[]): StepReport {
    const trainable = this.trainableNow(), n = microBatches.length;
    const grads = new Grads(this.params, trainable);
    let loss = 0, ce = 0, ceCount = 0, bal = 0, balCount = 0, task = 0, taskCount = 0, patch = 0;
    const each = (r: MicroResult) => {
      grads.merge(r.grads);
      loss += r.total / n;
      if (r.patch != null) patch += r.patch / n;
      if (r.ce !== null) (ce += r.ce, ceCount++);
      if (r.balance !== null) (bal += r.balance, balCount++);
      if (r.task !== null) (task += r.task, taskCount++);
    };
    const pad = this.cfg.tokens.pad, shared = (this.opts.perVolume ?? 1) > 1;
    const batches = microBatches.map((mb) => (shared ? collateShared(mb, pad) : collate(mb, pad)));
    const o = { scale: 1 / n, alpha: this.opts.alpha, beta: this.opts.beta, ...(this.opts.patchLoss ? { patchLoss: this.opts.patchLoss } : {}) };
    if (this.parallel && n > 1) this.parallel.run(batches, trainable, o, each);
    else batches.forEach((b, i) => each(microBatch(this.be, this.params, this.cfg, i, b, trainable, o)));
    const gradNorm = clipGradNorm(grads, this.opts.clip);
    const lr = lrAt(this.step, this.opts.schedule);
    this.optimizer.update(this.params, grads, lr, this.scales() ?? undefined);
    this.be.weightsChanged(this.params.values()); // resident copies are stale: copied again on next use
    return {
      step: this.step++, lr, loss, ce: ceCount ? ce / ceCount : null,
      balance: balCount ? bal / balCount : null, task: taskCount ? task / taskCount : null, ...(this.opts.patchLoss ? { patch } : {}), gradNorm,
    };
  }
}

/** Samples -> one batch: volumes stacked [B, c, D, H, W], ids right-padded with `pad` [B, L], task labels (cover marks and target emphasis when the samples have them). */
export function collate(samples: readonly Sample[], pad: number): { volume: F32Tensor; ids: Tensor<"i32">; task: number[]; cover?: Uint8Array; emphasis?: Float32Array } {
  const ids = stackIds(samples, pad);
  return { volume: stackVolumes(samples), ids, task: samples.map((s) => s.task), ...stackCover(samples), ...stackEmphasis(samples, ids.dim(1)) };
}

/** The samples' target emphasis [B, L] when any sample has one (1 for the others and on padding; {} when none has). */
function stackEmphasis(samples: readonly Sample[], L: number): { emphasis?: Float32Array } {
  if (!samples.some((s) => s.emphasis)) return {};
  const out = new Float32Array(samples.length * L).fill(1);
  samples.forEach((s, b) => {
    if (!s.emphasis) return;
    if (s.emphasis.length !== s.ids.length) throw new ShapeError(`collate: emphasis: expected one value per token id (${s.ids.length}), got ${s.emphasis.length}`);
    out.set(s.emphasis, b * L);
  });
  return { emphasis: out };
}

/** The samples' cover marks, concatenated in order, when every sample has them ({} when none has). */
function stackCover(samples: readonly Sample[]): { cover?: Uint8Array } {
  const have = samples.filter((s) => s.cover).length;
  if (have === 0) return {};
  if (have < samples.length) throw new ValueError(`collate: cover: expected cover marks on every sample of the batch or none, got ${have} of ${samples.length}`);
  const out = new Uint8Array(samples.reduce((t, s) => t + s.cover!.length, 0));
  let at = 0;
  for (const s of samples) (out.set(s.cover!, at), (at += s.cover!.length));
  return { cover: out };
}

/** The samples' volumes stacked [B, c, D, H, W] (all of one shape). */
function stackVolumes(samples: readonly Sample[]): F32Tensor {
  const shape = samples[0].volume.shape;
  for (const s of samples) {
    if (fmtShape(s.volume.shape) !== fmtShape(shape)) throw new ShapeError(`collate: volume: expected every sample ${fmtShape(shape)}, got ${fmtShape(s.volume.shape)}`);
  }
  const n = samples[0].volume.size, volume = new Tensor("f32", [samples.length, ...shape]);
  samples.forEach((s, b) => volume.data.set(s.volume.data, b * n));
  return volume;
}

/** The samples' ids right-padded with `pad` [B, L]. */
function stackIds(samples: readonly Sample[], pad: number): Tensor<"i32"> {
  const B = samples.length, L = Math.max(...samples.map((s) => s.ids.length));
  const ids = new Tensor("i32", [B, L], new Int32Array(B * L).fill(pad));
  samples.forEach((s, b) => ids.data.set(s.ids, b * L));
  return ids;
}

/** name -> the scale of the first matching pattern (1 when none matches). */
function lrScaleOf(groups: readonly { match: string; scale: number }[]): (name: string) => number {
  const tests = groups.map((g) => {
    if (!(g.scale >= 0 && Number.isFinite(g.scale))) throw new ValueError(`Trainer: lrScale: ${g.match}: expected a finite scale >= 0, got ${g.scale}`);
    return { test: trainableBy({ train: [g.match] }), scale: g.scale };
  });
  return (name) => tests.find((t) => t.test(name))?.scale ?? 1;
}

/** The samples of each volume (by identity), cached per data list. */
const byVolume = new WeakMap<readonly Sample[], Map<F32Tensor, Sample[]>>();
function samplesByVolume(data: readonly Sample[]): Map<F32Tensor, Sample[]> {
  let m = byVolume.get(data);
  if (!m) {
    m = new Map();
    for (const s of data) {
      const same = m.get(s.volume);
      if (same) same.push(s);
      else m.set(s.volume, [s]);
    }
    byVolume.set(data, m);
  }
  return m;
}

/** As collate, with each distinct volume (by identity) stacked once [U, c, D, H, W] and volumeOf [B] naming each sample's. */
export function collateShared(samples: readonly Sample[], pad: number): ReturnType<typeof collate> & { volumeOf: Int32Array } {
  const distinct: Sample[] = [], row = new Map<F32Tensor, number>();
  const volumeOf = Int32Array.from(samples, (s) => {
    if (!row.has(s.volume)) row.set(s.volume, distinct.push(s) - 1);
    return row.get(s.volume)!;
  });
  const ids = stackIds(samples, pad);
  return { volume: stackVolumes(distinct), ids, task: samples.map((s) => s.task), volumeOf, ...stackCover(distinct), ...stackEmphasis(samples, ids.dim(1)) };
}
