/**
 * The checks of a recipe's options, with errors that name the option, the expected and the actual
 * value (the CLI runs them before rendering any data, and on resumed checkpoints).
 */
import { ValueError } from "../errors.js";
import { FOCUS_TEMPLATES } from "./data.js";
import type { RecipeOptions } from "./recipe.js";

/** Checks a recipe's options (CLI and resumed checkpoints). */
export function checkRecipe(o: RecipeOptions): void {
  for (const k of ["stage0", "stage1", "stage2"] as const) {
    const s = o.stages[k];
    if (!Number.isInteger(s.steps) || s.steps < 0 || !Number.isInteger(s.batch) || s.batch < 1 || !(s.peak > 0)) {
      throw new ValueError(`recipe: ${k}: expected steps >= 0, batch >= 1 (integers) and peak > 0, got ${JSON.stringify(s)}`);
    }
    if (s.lmScale !== undefined && !(s.lmScale >= 0 && s.lmScale <= 1)) throw new ValueError(`recipe: ${k}: lmScale: expected a number in [0, 1], got ${s.lmScale}`);
    const a = s.accum ?? 1;
    if (!(Number.isInteger(a) && a >= 1 && s.batch % a === 0)) throw new ValueError(`recipe: ${k}: accum: expected an integer >= 1 dividing the batch ${s.batch}, got ${JSON.stringify(s.accum)}`);
    const k2 = s.perVolume ?? 1;
    if (!(Number.isInteger(k2) && k2 >= 1 && (s.batch / a) % k2 === 0) || (k !== "stage1" && k2 !== 1)) {
      throw new ValueError(`recipe: ${k}: perVolume: expected ${k === "stage1" ? "an integer >= 1 dividing the micro-batch (batch / accum)" : "1 (only stage 1's encoder does not read the text)"}, got ${JSON.stringify(s.perVolume)} (batch ${s.batch}, accum ${a})`);
    }
  }
  for (const k of ["patchLoss", "stage1PatchLoss"] as const) {
    const x = o[k];
    if (x !== undefined && !(x >= 0 && x <= 100)) throw new ValueError(`recipe: ${k}: expected a number in [0, 100], got ${x}`);
  }
  if (o.reportEmphasis !== undefined && !(o.reportEmphasis > 0 && o.reportEmphasis <= 100)) throw new ValueError(`recipe: reportEmphasis: expected a number in (0, 100], got ${o.reportEmphasis}`);
  if (o.sliceStack !== undefined && !(Number.isInteger(o.sliceStack) && o.sliceStack >= 1)) throw new ValueError(`recipe: sliceStack: expected an integer >= 1, got ${o.sliceStack}`);
  if (o.focusSideRepeat !== undefined && !(Number.isInteger(o.focusSideRepeat) && o.focusSideRepeat >= 1)) throw new ValueError(`recipe: focusSideRepeat: expected an integer >= 1, got ${o.focusSideRepeat}`);
  if (o.sliceSideRepeat !== undefined && !(Number.isInteger(o.sliceSideRepeat) && o.sliceSideRepeat >= 1)) throw new ValueError(`recipe: sliceSideRepeat: expected an integer >= 1, got ${o.sliceSideRepeat}`);
  for (const k of ["visionWarmup", "visionRamp", "volumeWarmup", "volumeRamp", "alignWarmup", "alignRamp", "focusWarmup", "sideWarmup"] as const) {
    const x = o[k];
    if (x !== undefined && !(Number.isInteger(x) && x >= 0)) throw new ValueError(`recipe: ${k}: expected an integer >= 0, got ${x}`);
  }
  for (const k of ["answerCap", "stage2AnswerCap", "stage2FocusCap"] as const) {
    const x = o[k];
    if (x !== undefined && !(Number.isInteger(x) && x >= 1)) throw new ValueError(`recipe: ${k}: expected an integer >= 1, got ${x}`);
  }
  for (const k of ["focusShare", "stage2FocusShare"] as const) {
    const x = o[k];
    if (x !== undefined && !(x >= 0 && x < 1)) throw new ValueError(`recipe: ${k}: expected a number in [0, 1), got ${x}`);
  }
  if (o.stage2Focus !== undefined) {
    const bad = o.stage2Focus.find((t, i) => !FOCUS_TEMPLATES.includes(t) || o.stage2Focus!.indexOf(t) !== i);
    if (o.stage2Focus.length === 0 || bad !== undefined) throw new ValueError(`recipe: stage2Focus: expected distinct templates among ${FOCUS_TEMPLATES.join(", ")}, got ${JSON.stringify(o.stage2Focus)}`);
  }
  if (o.sideClosed && !((o.sideWarmup ?? 0) > 0)) throw new ValueError(`recipe: sideClosed: expected a side phase (sideWarmup > 0) for the closed side questions, got sideWarmup ${o.sideWarmup ?? 0}`);
  if ((o.volumeWarmup ?? 0) > 0 && (o.alignWarmup ?? 0) > 0) throw new ValueError(`recipe: volumeWarmup and alignWarmup: expected at most one of the two stage 1 warm-ups, got ${o.volumeWarmup} and ${o.alignWarmup}`);
  if (!Number.isInteger(o.studies) || o.studies < 1) throw new ValueError(`recipe: studies: expected a positive integer, got ${o.studies}`);
}
