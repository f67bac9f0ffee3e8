/**
 * A time budget -> step counts. Each phase of the plan is timed for a few updates on throwaway
 * weights (the same shapes and batch as the real run), then the remaining time is split across
 * stages by fixed shares. The counts are printed and stored: passing them back explicitly
 * (--stage0-steps ...) reproduces the run bit for bit on any machine; the budget itself cannot.
 */
import type { Backend } from "../backend/backend.js";
import { initParams } from "../model/params.js";
import { phaseExamples, phaseTrainer, withThreads, type RecipeData, type RecipeOptions, type StageKey } from "./recipe.js";
import { phaseConfig } from "./stages.js";

/** Shares of the training time per stage (stage 2's share is unused by the dense variant). */
export const STAGE_SHARES: Record<StageKey, number> = { stage0: 0.2, stage1: 0.6, stage2: 0.2 };

/** Milliseconds per update of each stage (data parallel on `threads`, as the run): one warm-up update, then the mean of `timed` updates. */
export async function timeStages(be: Backend, d: RecipeData, o: RecipeOptions, timed = 2, now = () => performance.now(), threads = 1): Promise<Record<StageKey, number>> {
  const out = {} as Record<StageKey, number>;
  for (const stage of ["stage0", "stage1", "stage2"] as const) {
    const variant = o.variant === "token-moe" ? "token-moe" : "tgh";
    const probe: RecipeOptions = { ...o, variant, stages: { ...o.stages, [stage]: { ...o.stages[stage], steps: timed + 1 } } };
    const t = await withThreads(phaseTrainer(be, d, probe, stage, initParams(phaseConfig(d.cfg, stage, variant), o.seed + 1)), threads);
    try {
      const data = phaseExamples(d, probe, stage);
      t.trainStep(data);
      const t0 = now();
      for (let k = 0; k < timed; k++) t.trainStep(data);
      out[stage] = (now() - t0) / timed;
    } finally {
      t.close();
    }
  }
  return out;
}

/** Step counts that fill `seconds` of training at the measured speeds (at least 1 update per stage). */
export function stepsForBudget(seconds: number, msPerUpdate: Record<StageKey, number>): Record<StageKey, number> {
  const out = {} as Record<StageKey, number>;
  for (const k of ["stage0", "stage1", "stage2"] as const) out[k] = Math.max(1, Math.floor((seconds * 1000 * STAGE_SHARES[k]) / msPerUpdate[k]));
  return out;
}

/** The options with the step counts of a budget. */
export function withSteps(o: RecipeOptions, steps: Record<StageKey, number>): RecipeOptions {
  const stages = { ...o.stages };
  for (const k of ["stage0", "stage1", "stage2"] as const) stages[k] = { ...stages[k], steps: steps[k] };
  return { ...o, stages };
}

