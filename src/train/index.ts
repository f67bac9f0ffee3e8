/** Training: backward passes, gradients and freezing, AdamW, the schedule, the step loop, checkpoints. */
export { Grads, type Ctx } from "./grads.js";
export { globToRegExp, stageSpec, trainableBy, trainableNames, type FreezeSpec, type Stage } from "./freeze.js";
export { backwardPlan, lossAndGrads, modelBackward, type BackwardPlan, type LossAndGradsOptions } from "./model-backward.js";
export { ADAMW_DEFAULTS, AdamW, clipGradNorm, decays, type AdamWConfig } from "./adamw.js";
export { lrAt, type Schedule } from "./schedule.js";
export { Trainer, collate, trainOptions, type Sample, type StepReport, type TrainOptions } from "./trainer.js";
export {
  CHECKPOINT_FORMAT, checkpointBytes, loadCheckpoint, parseCheckpoint, resumeTrainer, saveCheckpoint, trainerState,
  type CheckpointState,
} from "./checkpoint.js";
