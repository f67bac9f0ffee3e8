/**
 * The train command's options that change the recipe: the flags that set stage settings, what a
 * resume may change, and the reproduce line that spells a run out. Not the command (./train.ts).
 */
import { canonicalRecipe, type RecipeOptions, type StageKey, type StageSettings } from "../recipe/recipe.js";
import type { PhaseName } from "../recipe/stages.js";
import { decimal, integer, UsageError } from "./command.js";

/** --stage1-batch N --per-volume K (absent: the recipe's). */
export function withStage1Batch(o: RecipeOptions, batch: unknown, perVolume: unknown): RecipeOptions {
  if (batch === undefined && perVolume === undefined) return o;
  const b = typeof batch === "string" ? integer("train", "stage1-batch", batch, 1, 4096) : o.stages.stage1.batch;
  const k = typeof perVolume === "string" ? integer("train", "per-volume", perVolume, 1, 4096) : (o.stages.stage1.perVolume ?? 1);
  if (b % k !== 0) throw new UsageError(`tgh-moe train: --per-volume: expected a divisor of the stage 1 batch ${b}, got ${k}`);
  const { perVolume: _, ...stage1 } = o.stages.stage1;
  return { ...o, stages: { ...o.stages, stage1: { ...stage1, batch: b, ...(k > 1 ? { perVolume: k } : {}) } } };
}

/** The command that makes the same bits from scratch (batch flags always spelled out: the defaults differ per preset). */
export function reproduceLine(o: RecipeOptions, dtype: string, out: string): string {
  const { stage0, stage1, stage2 } = o.stages;
  const lmScale = stage2.lmScale ?? 1;
  return [
    `tgh-moe train --preset ${o.preset} --seed ${o.seed} --variant ${o.variant} --studies ${o.studies} --data-seed ${o.dataSeed}`,
    `--vision-warmup ${o.visionWarmup ?? 0}${o.visionWarmup ? ` --vision-ramp ${o.visionRamp ?? 0}` : ""} --volume-warmup ${o.volumeWarmup ?? 0}${o.volumeWarmup ? ` --volume-ramp ${o.volumeRamp ?? 0}` : ""}${o.alignWarmup ? ` --align-warmup ${o.alignWarmup} --align-ramp ${o.alignRamp ?? 0}` : ""}${o.focusWarmup ? ` --focus-warmup ${o.focusWarmup}` : ""}${(o.focusSideRepeat ?? 1) > 1 ? ` --focus-side-repeat ${o.focusSideRepeat}` : ""}${o.sideWarmup ? ` --side-warmup ${o.sideWarmup}${o.sideClosed ? " --side-closed" : ""}` : ""}${o.focusShare || o.stage2FocusShare !== undefined ? ` --focus-share ${o.focusShare ?? 0}${o.stage2FocusShare !== undefined ? `,${o.stage2FocusShare}` : ""}` : ""}${o.closedText ? " --closed-text" : ""}${o.answerCap !== 4 || o.stage2AnswerCap !== undefined ? ` --answer-cap ${o.answerCap}${o.stage2AnswerCap !== undefined ? `,${o.stage2AnswerCap}` : ""}` : ""}${o.stage2FocusCap !== undefined ? ` --stage2-focus-cap ${o.stage2FocusCap}` : ""}${o.stage2Focus ? ` --stage2-focus ${o.stage2Focus.join(",")}` : ""}${o.mirror ? "" : " --no-mirror"}${o.sliceQuestions ? "" : " --no-slice-questions"}${(o.sliceStack ?? 1) > 1 ? ` --slice-stack ${o.sliceStack}` : ""}${(o.sliceSideRepeat ?? 1) > 1 ? ` --slice-side-repeat ${o.sliceSideRepeat}` : ""}${o.patchLoss ? ` --patch-loss ${o.patchLoss}` : ""}${o.stage1PatchLoss ? ` --stage1-patch-loss ${o.stage1PatchLoss}` : ""}${(o.reportEmphasis ?? 1) !== 1 ? ` --report-emphasis ${o.reportEmphasis}` : ""}`,
    `--stage0-batch ${stage0.batch} --stage1-batch ${stage1.batch} --per-volume ${stage1.perVolume ?? 1} --accum ${[stage0, stage1, stage2].map((x) => x.accum ?? 1).join(",")}${lmScale !== 1 ? ` --stage2-lm-scale ${lmScale}` : ""}`,
    `--stage0-steps ${stage0.steps} --stage1-steps ${stage1.steps} --stage2-steps ${stage2.steps} --lr ${stage0.peak},${stage1.peak},${stage2.peak} --dtype ${dtype} --out ${out}`,
  ].join(" ");
}

/** --accum A,B,C: micro-batches per update of stages 0, 1 and 2 (each divides its stage's batch; checkRecipe). */
export function withAccum(o: RecipeOptions, text: string): RecipeOptions {
  const a = text.split(",").map(Number);
  if (a.length !== 3 || a.some((x) => !(Number.isInteger(x) && x >= 1 && x <= 4096))) throw new UsageError(`tgh-moe train: --accum: expected three integers >= 1 for stages 0, 1, 2 (e.g. 2,2,2), got ${JSON.stringify(text)}`);
  const { stage0, stage1, stage2 } = o.stages;
  return { ...o, stages: { stage0: { ...stage0, accum: a[0] }, stage1: { ...stage1, accum: a[1] }, stage2: { ...stage2, accum: a[2] } } };
}

/** The stages a phase has started (their settings are in the checkpoint's weights and optimizer). */
const STARTED: Record<PhaseName, StageKey[]> = { stage0: ["stage0"], stage1: ["stage0", "stage1"], stage12: ["stage0", "stage1", "stage2"], stage2: ["stage0", "stage1", "stage2"] };

/**
 * On --resume only the settings of stages the checkpoint has not started may change (--lr, --accum,
 * --stage2-lm-scale), so that the run is still the one its reproduce line gives from scratch.
 */
export function keepStarted(before: RecipeOptions, after: RecipeOptions, phase: PhaseName): void {
  for (const k of STARTED[phase]) {
    const x = JSON.stringify(canonicalRecipe(before).stages[k]), y = JSON.stringify(canonicalRecipe(after).stages[k]);
    if (x !== y) throw new UsageError(`tgh-moe train: the checkpoint is at ${phase}, so ${k}'s settings must stay ${x}, got ${y} (only stages not yet started may change on --resume)`);
  }
}

/** --volume-warmup, --volume-ramp, --align-warmup, --align-ramp, --focus-warmup, --focus-side-repeat, --side-warmup, --side-closed, --focus-share, --closed-text, --answer-cap, --stage2-focus, --stage1-patch-loss: how stage 1 starts and what stages 1 and 2 draw (may change on a resume from stage 0; stage 2's own share, cap and focus templates, and --report-emphasis, also on one from stage 1). */
export function withStage1Warmup(o: RecipeOptions, v: Record<string, unknown>): RecipeOptions {
  const keys = [["volume-warmup", "volumeWarmup"], ["volume-ramp", "volumeRamp"], ["align-warmup", "alignWarmup"], ["align-ramp", "alignRamp"], ["focus-warmup", "focusWarmup"], ["side-warmup", "sideWarmup"]] as const;
  for (const [flag, key] of keys) if (v[flag] !== undefined) o = { ...o, [key]: integer("train", flag, v[flag] as string, 0, 1e9) };
  if (v["focus-side-repeat"] !== undefined) o = { ...o, focusSideRepeat: integer("train", "focus-side-repeat", v["focus-side-repeat"] as string, 1, 1000) };
  if (v["focus-share"] !== undefined) {
    const x = String(v["focus-share"]).split(",").map(Number);
    if (x.length > 2 || !x.every((s) => s >= 0 && s < 1)) throw new UsageError(`tgh-moe train: --focus-share: expected S or S1,S2 (stages 1 and 2), numbers in [0, 1), got ${JSON.stringify(v["focus-share"])}`);
    const { stage2FocusShare: _, ...rest } = o;
    o = { ...rest, focusShare: x[0], ...(x.length === 2 ? { stage2FocusShare: x[1] } : {}) };
  }
  if (v["closed-text"]) o = { ...o, closedText: true };
  if (v["side-closed"]) {
    if (!((o.sideWarmup ?? 0) > 0)) throw new UsageError(`tgh-moe train: --side-closed: expected with --side-warmup N > 0 (the side phase it adds to), got --side-warmup ${o.sideWarmup ?? 0}`);
    o = { ...o, sideClosed: true };
  }
  if (v["answer-cap"] !== undefined) {
    const x = String(v["answer-cap"]).split(",").map(Number);
    if (x.length > 2 || !x.every((c) => Number.isInteger(c) && c >= 1 && c <= 1000)) throw new UsageError(`tgh-moe train: --answer-cap: expected N or N1,N2 (stages 1 and 2), integers in [1, 1000], got ${JSON.stringify(v["answer-cap"])}`);
    const { stage2AnswerCap: _, ...rest } = o;
    o = { ...rest, answerCap: x[0], ...(x.length === 2 ? { stage2AnswerCap: x[1] } : {}) };
  }
  if (v["stage2-focus-cap"] !== undefined) o = { ...o, stage2FocusCap: integer("train", "stage2-focus-cap", v["stage2-focus-cap"] as string, 1, 1000) };
  if (v["stage2-focus"] !== undefined) o = { ...o, stage2Focus: String(v["stage2-focus"]).split(",") };
  if (v["stage1-patch-loss"] !== undefined) o = { ...o, stage1PatchLoss: decimal("train", "stage1-patch-loss", v["stage1-patch-loss"] as string, 0, 100, true) };
  if (v["report-emphasis"] !== undefined) o = { ...o, reportEmphasis: decimal("train", "report-emphasis", v["report-emphasis"] as string, 0, 100, false) };
  return o;
}

/** The settings of stage 1's warm-up and of what stage 1 draws, absent ones as 0 (stage 2's own focus share and answer cap: focusShareOf, answerCapOf). */
export function stage1Warmup(o: RecipeOptions): number[] {
  return [o.volumeWarmup ?? 0, o.volumeRamp ?? 0, o.alignWarmup ?? 0, o.alignRamp ?? 0, o.focusWarmup ?? 0, o.focusSideRepeat ?? 1, o.sideWarmup ?? 0, o.sideClosed ? 1 : 0, o.focusShare ?? 0, o.closedText ? 1 : 0, o.answerCap, o.stage1PatchLoss ?? 0];
}

/** The options with some settings of one stage replaced. */
export function withStage(o: RecipeOptions, k: StageKey, change: Partial<StageSettings>): RecipeOptions {
  return { ...o, stages: { ...o.stages, [k]: { ...o.stages[k], ...change } } };
}

/** --lr A,B,C: the peak learning rates of stages 0, 1 and 2. */
export function withPeaks(o: RecipeOptions, text: string): RecipeOptions {
  const p = text.split(",").map(Number);
  if (p.length !== 3 || p.some((x) => !(x > 0 && x < 1))) throw new UsageError(`tgh-moe train: --lr: expected three peak learning rates in (0, 1) for stages 0, 1, 2 (e.g. 1e-3,5e-4,5e-4), got ${JSON.stringify(text)}`);
  const { stage0, stage1, stage2 } = o.stages;
  return { ...o, stages: { stage0: { ...stage0, peak: p[0] }, stage1: { ...stage1, peak: p[1] }, stage2: { ...stage2, peak: p[2] } } };
}

export function explicitSteps(v: Record<string, unknown>): Partial<Record<StageKey, number>> | null {
  const out: Partial<Record<StageKey, number>> = {};
  for (const k of ["stage0", "stage1", "stage2"] as const) {
    const x = v[`${k}-steps`];
    if (typeof x === "string") out[k] = integer("train", `${k}-steps`, x, 0, 1e9);
  }
  return Object.keys(out).length ? out : null;
}

export function stepsOf(o: RecipeOptions): Record<StageKey, number> {
  return { stage0: o.stages.stage0.steps, stage1: o.stages.stage1.steps, stage2: o.stages.stage2.steps };
}
