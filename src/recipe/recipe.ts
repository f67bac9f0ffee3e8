/**
 * The training recipe of spec section 7 as one deterministic run: data pool and tokenizer, then the
 * phases of a variant (src/recipe/stages.ts), each a Trainer (src/train/) with its own seed,
 * schedule and freezing, the parameters passed on by transfer and upcycling. Every phase is
 * resumable from its checkpoints bit for bit: the recipe's position is stored in the checkpoint's
 * training options. Not the CLI (src/cli/train.ts) and not the math (src/model/, src/train/).
 */
import type { Backend } from "../backend/backend.js";
import { ValueError } from "../errors.js";
import { preset, type ModelConfig, type PresetName } from "../model/config.js";
import { initParams, streamSeed, type Params } from "../model/params.js";
import type { PreprocessPreset } from "../preprocess/index.js";
import { BpeTokenizer } from "../tokenizer/bpe.js";
import { trainBpe } from "../tokenizer/train.js";
import { resumeTrainer, type CheckpointState } from "../train/checkpoint.js";
import { Trainer, trainOptions, type Sample, type StepReport, type TrainOptions } from "../train/trainer.js";
import { corpus, focusExamples, FOCUS_TEMPLATES, loadPool, mixedExamples, presetFor, SIDE_TEMPLATES, sideExamples, sliceExamples, taskExamples, type PoolStudy } from "./data.js";
import { advance, phaseConfig, phaseFreeze, phaseWarmFreeze, phasesOf, recipeConfig, type PhaseName, type Variant } from "./stages.js";

/** Updates, samples per update and peak learning rate of one stage. */
export interface StageSettings {
  steps: number;
  batch: number;
  peak: number;
  /** Stage 1 only: the batch's samples come perVolume at a time from one study, each volume encoded once (Trainer perVolume). Absent: 1. */
  perVolume?: number;
  /**
   * Micro-batches per update: the batch is split into `accum` micro-batches of batch/accum samples
   * whose gradients are merged in a fixed order (Trainer accum); they run data parallel on up to
   * `accum` threads with the same bits on any thread count. Absent: 1 (one micro-batch).
   */
  accum?: number;
  /**
   * The language model's and projector's learning rate as a fraction of the stage's (absent: 1).
   * Stage 2 at 0.2: the new experts, routers and task gates learn at the full rate while what stage
   * 1 taught the language model to read moves less.
   */
  lmScale?: number;
}
export type StageKey = "stage0" | "stage1" | "stage2";

/** Everything that defines a recipe run (stored in every checkpoint it writes). */
export interface RecipeOptions {
  preset: PresetName;
  seed: number; // weights, upcycling and every phase's sample draws
  dataSeed: number; // master seed of the synthetic dataset (src/data/)
  studies: number; // training studies in the pool (the first of the train split)
  variant: Variant;
  stages: Record<StageKey, StageSettings>;
  reportRepeat: number; // each report appears this many times among the stage 1/2 examples
  answerCap: number; // questions with a rare answer appear up to this many times (data.ts answerRepeats; 1: off)
  stage2AnswerCap?: number; // stage 2's cap when it differs from answerCap (absent: answerCap)
  stage2FocusCap?: number; // stage 2's cap for the focus questions (data.ts isFocus) when it differs from its answer cap
  findingSliceRepeat: number; // stage 0 slices that show a finding appear this many times
  // The two below are absent when off (canonicalRecipe), so that runs made before them keep their bytes.
  visionWarmup?: number; // stage 0's first updates train the language model only (stages.ts VISION_WARMUP_FREEZE)
  visionRamp?: number; // after the warm-up the encoder's learning rate rises linearly over this many updates
  volumeWarmup?: number; // stage 1's first updates train the language model only (stages.ts VOLUME_WARMUP_FREEZE)
  volumeRamp?: number; // after it, the volume blocks' and projector's learning rate rises linearly over this many updates
  alignWarmup?: number; // stage 1's first updates train the volume blocks and projector only, the language model held (stages.ts ALIGN_WARMUP_FREEZE)
  alignRamp?: number; // after it, the language model's learning rate rises linearly over this many updates
  focusWarmup?: number; // stage 1's first updates draw only the 2D model's questions, answers balanced (data.ts focusExamples)
  focusSideRepeat?: number; // the focus examples' side questions appear this many times (data.ts focusExamples); absent: 1
  sideWarmup?: number; // after the focus warm-up, stage 1's next updates draw only the focus examples' side questions (data.ts focusExamples)
  sideClosed?: boolean; // those updates also draw the closed side questions (data.ts sideExamples)
  focusShare?: number; // after it, this share of the samples of stages 1 and 2 are focus examples (mixedExamples)
  stage2FocusShare?: number; // stage 2's share when it differs from focusShare (absent: focusShare)
  stage2Focus?: string[]; // the focus templates stage 2's share draws (data.ts FOCUS_TEMPLATES; absent: all of them)
  closedText?: boolean; // stages 1 and 2 train closed questions to answer with the option text alone, no letter (data.ts answerTarget)
  mirror?: boolean; // every example also appears mirrored left-right with "left" and "right" swapped in its texts (data.ts)
  sliceStack?: number; // stage 0's images are stacks of this many consecutive slices (data.ts sliceExamples); absent: 1
  sliceSideRepeat?: number; // stage 0's side questions appear this many times (data.ts sliceExamples); absent: 1
  sliceQuestions?: boolean; // stage 0 also asks each slice the volume's presence, side and contrast questions (data.ts sliceQuestions)
  patchLoss?: number; // weight of stage 0's patch finding loss (src/model/patch-loss.ts); absent: 0 (off)
  stage1PatchLoss?: number; // its weight in stage 1 (and the one-stage variant's stage); absent: 0 (off)
  reportEmphasis?: number; // stage 2's (and the one-stage variant's) weight of the report sentences that say what the volume shows (emphasis.ts reportEmphasis); absent: 1 (off)
  warmup: number; // warm-up as a fraction of a phase's updates
  vocab: number; // BPE vocabulary target (at most the preset's lm.vocab)
}

/** Defaults for a preset (step counts are the caller's, or derived from a time budget: ./budget.ts). */
export function defaultRecipe(presetName: PresetName, seed: number): RecipeOptions {
  const small = presetName !== "tiny";
  return {
    preset: presetName, seed, dataSeed: 2026, studies: small ? 800 : 8, variant: "tgh",
    stages: {
      stage0: { steps: small ? 1200 : 300, batch: small ? 16 : 8, peak: 1e-3 },
      // small: study batches of 32 sequences, 8 per volume (4 volumes per update, each encoded once)
      stage1: small ? { steps: 600, batch: 32, peak: 5e-4, perVolume: 8 } : { steps: 600, batch: 4, peak: 5e-4 },
      stage2: { steps: small ? 600 : 500, batch: 4, peak: 5e-4 },
    },
    reportRepeat: 6, answerCap: 4, findingSliceRepeat: 3, visionWarmup: small ? 300 : 10, visionRamp: small ? 200 : 4, mirror: true, sliceQuestions: true,
    warmup: 0.05, vocab: small ? 2048 : 512,
  };
}

/** The options with the switches that are off left out (how they are stored; absent reads as off). */
export function canonicalRecipe(o: RecipeOptions): RecipeOptions {
  const { preset, seed, dataSeed, studies, variant, stages, reportRepeat, answerCap, stage2AnswerCap, stage2FocusCap, findingSliceRepeat, visionWarmup, visionRamp, volumeWarmup, volumeRamp, alignWarmup, alignRamp, focusWarmup, focusSideRepeat, sideWarmup, sideClosed, focusShare, stage2FocusShare, stage2Focus, closedText, mirror, sliceQuestions, sliceStack, sliceSideRepeat, patchLoss, stage1PatchLoss, reportEmphasis, warmup, vocab } = o;
  const canonical = ({ accum, lmScale, ...x }: StageSettings): StageSettings => ({ ...x, ...((accum ?? 1) !== 1 ? { accum } : {}), ...((lmScale ?? 1) !== 1 ? { lmScale } : {}) });
  return {
    preset, seed, dataSeed, studies, variant, stages: { stage0: canonical(stages.stage0), stage1: canonical(stages.stage1), stage2: canonical(stages.stage2) }, reportRepeat, answerCap,
    ...(stage2AnswerCap !== undefined && stage2AnswerCap !== answerCap ? { stage2AnswerCap } : {}),
    ...(stage2FocusCap !== undefined && stage2FocusCap !== (stage2AnswerCap ?? answerCap) ? { stage2FocusCap } : {}), findingSliceRepeat,
    ...(visionWarmup ? { visionWarmup } : {}), ...(visionWarmup && visionRamp ? { visionRamp } : {}),
    ...(volumeWarmup ? { volumeWarmup } : {}), ...(volumeWarmup && volumeRamp ? { volumeRamp } : {}),
    ...(alignWarmup ? { alignWarmup } : {}), ...(alignWarmup && alignRamp ? { alignRamp } : {}), ...(focusWarmup ? { focusWarmup } : {}), ...((focusSideRepeat ?? 1) > 1 ? { focusSideRepeat } : {}), ...(sideWarmup ? { sideWarmup } : {}), ...(sideWarmup && sideClosed ? { sideClosed } : {}), ...(focusShare ? { focusShare } : {}), ...(stage2FocusShare !== undefined && stage2FocusShare !== (focusShare ?? 0) ? { stage2FocusShare } : {}), ...(stage2Focus && !sameTemplates(stage2Focus, FOCUS_TEMPLATES) ? { stage2Focus: inTemplateOrder(stage2Focus) } : {}), ...(closedText ? { closedText } : {}), ...(mirror ? { mirror } : {}), ...(sliceQuestions ? { sliceQuestions } : {}),
    ...((sliceStack ?? 1) > 1 ? { sliceStack } : {}), ...((sliceSideRepeat ?? 1) > 1 ? { sliceSideRepeat } : {}), ...(patchLoss ? { patchLoss } : {}), ...(stage1PatchLoss ? { stage1PatchLoss } : {}), ...((reportEmphasis ?? 1) !== 1 ? { reportEmphasis } : {}), warmup, vocab,
  };
}

/** The position of a run, kept in the checkpoint's training options under `recipe`. */
export interface RecipeMark {
  options: RecipeOptions;
  phase: PhaseName;
}
export type RecipeTrainOptions = TrainOptions & { recipe: RecipeMark };

/** Reads the recipe position of a training checkpoint, or throws. */
export function recipeMark(s: CheckpointState): RecipeMark {
  const mark = (s.options as Partial<RecipeTrainOptions>).recipe;
  if (!mark || !mark.options || !mark.phase) throw new ValueError("resume: the checkpoint was not written by the recipe (no recipe position in its training options)");
  return mark;
}

/**
 * Settings of a phase. stage12 runs the updates of stages 1 and 2 together at stage 1's rate and
 * stage 2's batch: the MoE model's encoder reads the text, so each sample encodes its own volume,
 * and stage 2's batch encodes as many volumes per update as stage 1's (batch / perVolume). The
 * one-stage variant so encodes as many volumes as the two stages, on fewer questions.
 */
export function phaseSettings(o: RecipeOptions, phase: PhaseName): StageSettings {
  if (phase !== "stage12") return o.stages[phase];
  const { perVolume: _, ...stage1 } = o.stages.stage1, { batch, accum } = o.stages.stage2;
  return { ...stage1, batch, ...(accum !== undefined ? { accum } : {}), steps: o.stages.stage1.steps + o.stages.stage2.steps };
}

/** The data of a run: the pool, the tokenizer trained on its texts, the model config. */
export interface RecipeData {
  pre: PreprocessPreset;
  pool: PoolStudy[];
  tok: BpeTokenizer;
  cfg: ModelConfig; // the final 3D config (TGH-MoE, guidance "text")
  examples: Map<string, Sample[]>; // by examplesOf's key
}

export function prepareData(o: RecipeOptions, onPool?: (done: number, count: number) => void): RecipeData {
  const pre = presetFor(o.preset);
  const pool = loadPool(o.dataSeed, "train", o.studies, pre, onPool, o.patchLoss || o.stage1PatchLoss ? preset(o.preset).vision.patch : 0);
  const tok = trainBpe(corpus(pool, o.sliceStack ?? 1), o.vocab);
  const cfg = recipeConfig(o.preset, tok);
  return { pre, pool, tok, cfg, examples: new Map() };
}

/** The answer cap of a phase's task examples (stage 2: stage2AnswerCap when given). */
export function answerCapOf(o: RecipeOptions, phase: PhaseName): number {
  return phase === "stage2" ? (o.stage2AnswerCap ?? o.answerCap ?? 1) : (o.answerCap ?? 1);
}

/** The answer cap of a phase's focus questions (stage 2: stage2FocusCap when given). */
export function focusCapOf(o: RecipeOptions, phase: PhaseName): number {
  return phase === "stage2" ? (o.stage2FocusCap ?? answerCapOf(o, phase)) : answerCapOf(o, phase);
}

/** The weight of the patch finding loss in a phase (stage 0: patchLoss; stages 1 and 1+2: stage1PatchLoss; stage 2: none). */
export function patchLossOf(o: RecipeOptions, phase: PhaseName): number {
  return phase === "stage0" ? (o.patchLoss ?? 0) : phase === "stage2" ? 0 : (o.stage1PatchLoss ?? 0);
}

/** The report emphasis of a phase (stage 2 and stage 1+2: reportEmphasis; stages 0 and 1: 1, off). */
export function reportEmphasisOf(o: RecipeOptions, phase: PhaseName): number {
  return phase === "stage2" || phase === "stage12" ? (o.reportEmphasis ?? 1) : 1;
}

/** The templates in FOCUS_TEMPLATES's order (unknown names last, for checkRecipe to name). */
function inTemplateOrder(ts: readonly string[]): string[] {
  const rank = (t: string) => (FOCUS_TEMPLATES.includes(t) ? FOCUS_TEMPLATES.indexOf(t) : FOCUS_TEMPLATES.length);
  return [...ts].sort((a, b) => rank(a) - rank(b));
}

/** Whether two template lists hold the same templates (order aside). */
function sameTemplates(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t) => b.includes(t));
}

/** The focus templates a phase's share draws (stage 2: stage2Focus when given; FOCUS_TEMPLATES's order). */
export function focusTemplatesOf(o: RecipeOptions, phase: PhaseName): readonly string[] {
  const pick = phase === "stage2" ? o.stage2Focus : undefined;
  return pick ? FOCUS_TEMPLATES.filter((t) => pick.includes(t)) : FOCUS_TEMPLATES;
}

/** The share of focus examples a phase draws after stage 1's warm-up (stage 2: stage2FocusShare when given). */
export function focusShareOf(o: RecipeOptions, phase: PhaseName): number {
  return phase === "stage0" ? 0 : phase === "stage2" ? (o.stage2FocusShare ?? o.focusShare ?? 0) : (o.focusShare ?? 0);
}

/**
 * The examples a phase draws from at update `step` (each list built once per run): stage 1's first
 * focusWarmup updates draw the focus examples, its next sideWarmup updates their side questions
 * alone (with sideClosed, the closed side questions too); with a focus share (focusShareOf),
 * stages 1 and 2 then draw the task and focus examples mixed (mixedExamples); otherwise the task
 * examples.
 */
export function phaseExamples(d: RecipeData, o: RecipeOptions, phase: PhaseName, step = Infinity): Sample[] {
  const first = phase === "stage1" || phase === "stage12", focusEnd = o.focusWarmup ?? 0, sideEnd = focusEnd + (o.sideWarmup ?? 0);
  const share = focusShareOf(o, phase), cap = `${answerCapOf(o, phase)}/${focusCapOf(o, phase)}/${reportEmphasisOf(o, phase)}`;
  const focus = focusTemplatesOf(o, phase), from = focus.length === FOCUS_TEMPLATES.length ? "" : ` ${focus.join(",")}`;
  const key = phase === "stage0" ? "slices" : first && step < focusEnd ? "focus" : first && step < sideEnd ? (o.sideClosed ? "sides-closed" : "sides") : share > 0 ? `mixed ${cap} ${share}${from}` : `tasks ${cap}`;
  return examplesOf(d, o, key);
}

/** key: "slices", "focus [<templates>]", "sides", "sides-closed", "tasks <cap>/<focus cap>/<report emphasis>" or "mixed <cap>/<focus cap>/<report emphasis> <share> [<templates>]" (templates: comma-separated, absent: all). */
function examplesOf(d: RecipeData, o: RecipeOptions, key: string): Sample[] {
  if (!d.examples.has(key)) {
    const cfg = phaseConfig(d.cfg, key === "slices" ? "stage0" : "stage1", o.variant), mirror = o.mirror ?? false;
    const [kind, cap, share, from] = key.split(" "), [answerCap, focusCap, emphasis] = (cap ?? "").split("/").map(Number);
    d.examples.set(key, kind === "slices" ? sliceExamples(d.pool, cfg, d.tok, o.findingSliceRepeat ?? 1, mirror, o.sliceQuestions ?? false, o.sliceStack ?? 1, o.sliceSideRepeat ?? 1)
      : kind === "focus" ? focusExamples(d.pool, cfg, d.tok, mirror, o.focusSideRepeat ?? 1, cap ? cap.split(",") : FOCUS_TEMPLATES)
      : kind === "sides" ? focusExamples(d.pool, cfg, d.tok, mirror, 1, SIDE_TEMPLATES)
      : kind === "sides-closed" ? sideExamples(d.pool, cfg, d.tok, mirror, o.closedText ?? false)
      : kind === "tasks" ? taskExamples(d.pool, cfg, d.tok, o.reportRepeat, answerCap, mirror, o.closedText ?? false, focusCap, emphasis)
      : mixedExamples(examplesOf(d, o, `tasks ${cap}`), examplesOf(d, o, from ? `focus ${from}` : "focus"), Number(share)));
    if (kind.startsWith("sides") && d.examples.get(key)!.length === 0) throw new ValueError(`recipe: sideWarmup: expected training studies that ask a side question, got none among ${d.pool.length} studies`);
  }
  return d.examples.get(key)!;
}

/**
 * Runs the trainer's micro-batches data parallel on up to `threads` threads (at most the phase's
 * micro-batches per update; the bits do not depend on it). Returns the trainer.
 */
export async function withThreads(t: Trainer, threads: number): Promise<Trainer> {
  const n = Math.min(threads, t.opts.accum);
  if (n > 1) await t.useThreads(n);
  return t;
}

/** A fresh trainer for a phase over `params` (its own seed, schedule and freezing). */
export function phaseTrainer(be: Backend, d: RecipeData, o: RecipeOptions, phase: PhaseName, params: Params): Trainer {
  const s = phaseSettings(o, phase), cfg = phaseConfig(d.cfg, phase, o.variant), accum = s.accum ?? 1;
  const warmup = Math.min(s.steps, Math.max(1, Math.round(o.warmup * s.steps)));
  const warmFreeze = phaseWarmFreeze(phase, o);
  const opts: RecipeTrainOptions = {
    ...trainOptions({
      seed: streamSeed(o.seed, `recipe.${phase}`), batchSize: s.batch / accum, accum, freeze: phaseFreeze(d.cfg, phase, o.variant),
      schedule: { peak: s.peak, warmup, total: s.steps, floor: s.peak / 10 },
      ...(warmFreeze ? { warmFreeze } : {}), ...((s.perVolume ?? 1) > 1 ? { perVolume: s.perVolume } : {}),
      ...(patchLossOf(o, phase) ? { patchLoss: patchLossOf(o, phase) } : {}),
      ...((s.lmScale ?? 1) !== 1 ? { lrScale: [{ match: "lm.*", scale: s.lmScale! }, { match: "projector.*", scale: s.lmScale! }] } : {}),
    }),
    recipe: { options: o, phase },
  };
  return new Trainer(be, cfg, params, opts);
}

/** What runRecipe reports after every update (the CLI prints it: src/cli/progress.ts). */
export interface ProgressState {
  phase: string; // "stage1", ...
  index: number; // phase number, 1-based
  phases: number;
  step: number; // updates done in this phase
  total: number;
  report: StepReport;
  tokensPerSecond: number;
  etaSeconds: number; // of this phase
}

export interface RecipeHooks {
  onProgress?(p: ProgressState): void;
  onStep?(phase: PhaseName, r: StepReport, t: Trainer): void;
  /** After the last update of a phase (save a checkpoint, snapshot for tests). */
  onPhaseEnd?(phase: PhaseName, t: Trainer): Promise<void> | void;
  /** Every `every` updates within a phase (not at its end). */
  periodic?: { every: number; run(phase: PhaseName, t: Trainer): Promise<void> | void };
  /** Tests: stop (returning null) once this phase has made this many updates. */
  stopAt?: { phase: PhaseName; step: number };
  now?: () => number; // ms clock for tokens/s and ETA
  /** Threads for data-parallel micro-batches (withThreads); absent or 1: the calling thread runs them. */
  threads?: number;
}

/** The recipe from the start, or from a checkpoint it wrote. Returns the trained model of the last phase (null when stopped by `stopAt`). */
export async function runRecipe(be: Backend, d: RecipeData, o: RecipeOptions, hooks: RecipeHooks = {}, resume?: CheckpointState): Promise<{ cfg: ModelConfig; params: Params } | null> {
  const phases = phasesOf(o.variant);
  let i = 0, trainer: Trainer;
  if (resume) {
    const mark = recipeMark(resume);
    i = phases.indexOf(mark.phase);
    if (i < 0) throw new ValueError(`resume: the checkpoint is at ${mark.phase}, which variant ${o.variant} does not have`);
    trainer = resumeTrainer(be, resume);
  } else {
    trainer = phaseTrainer(be, d, o, phases[0], initParams(phaseConfig(d.cfg, phases[0], o.variant), o.seed));
  }
  for (;;) {
    const phase = phases[i];
    await withThreads(trainer, hooks.threads ?? 1);
    try {
      if (!(await trainPhase(d, o, hooks, phases, i, trainer))) return null;
      await hooks.onPhaseEnd?.(phase, trainer);
    } finally {
      trainer.close();
    }
    if (++i === phases.length) return { cfg: trainer.cfg, params: trainer.params };
    trainer = phaseTrainer(be, d, o, phases[i], advance(trainer.params, d.cfg, phase, phases[i], o.variant, o.seed));
  }
}

/** The updates of phase `phases[i]` from the trainer's step on; false when stopped by `stopAt`. */
async function trainPhase(d: RecipeData, o: RecipeOptions, hooks: RecipeHooks, phases: readonly PhaseName[], i: number, trainer: Trainer): Promise<boolean> {
  const now = hooks.now ?? (() => Date.now());
  const phase = phases[i], s = phaseSettings(o, phase), all = phaseExamples(d, o, phase);
  const tokensPerUpdate = (s.batch * all.reduce((n, x) => n + x.ids.length, 0)) / all.length;
  const t0 = now(), step0 = trainer.step;
  while (trainer.step < s.steps) {
    if (hooks.stopAt && hooks.stopAt.phase === phase && hooks.stopAt.step === trainer.step) return false;
    const r = trainer.trainStep(phaseExamples(d, o, phase, trainer.step));
    hooks.onStep?.(phase, r, trainer);
    const dt = (now() - t0) / 1000, done = trainer.step - step0;
    hooks.onProgress?.({
      phase, index: i + 1, phases: phases.length, step: trainer.step, total: s.steps, report: r,
      tokensPerSecond: dt > 0 ? (done * tokensPerUpdate) / dt : 0, etaSeconds: dt > 0 ? ((s.steps - trainer.step) * dt) / done : NaN,
    });
    if (hooks.periodic && trainer.step % hooks.periodic.every === 0 && trainer.step < s.steps) await hooks.periodic.run(phase, trainer);
  }
  return true;
}
