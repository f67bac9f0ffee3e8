/**
 * `tgh-moe train`: the two-stage recipe of spec section 7 (src/recipe/) as one command, with a time
 * budget or explicit step counts, live progress on stderr, resumable stage checkpoints, and the
 * final model checkpoint (weights + config + tokenizer + preprocessing preset) plus a JSON log of
 * how it was made. Not the recipe itself (src/recipe/recipe.ts).
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { makeCheckpoint } from "../api.js";
import { createBackend } from "../backend/index.js";
import { makeFolder, writeAtomic } from "../io/fs.js";
import { PRESET_NAMES, type PresetName } from "../model/config.js";
import { paramCount } from "../model/params.js";
import { stepsForBudget, timeStages, withSteps } from "../recipe/budget.js";
import { checkRecipe } from "../recipe/check.js";
import { answerCapOf, canonicalRecipe, defaultRecipe, focusCapOf, focusShareOf, focusTemplatesOf, phaseSettings, prepareData, recipeMark, runRecipe, type RecipeOptions, type StageKey } from "../recipe/recipe.js";
import { phasesOf, VARIANTS, type PhaseName, type Variant } from "../recipe/stages.js";
import { loadCheckpoint, saveCheckpoint, trainerState } from "../train/checkpoint.js";
import { backendOption, decimal, defineCommand, EXIT, integer, oneOf, required, UsageError } from "./command.js";
import { formatDuration, Progress } from "./progress.js";
import { explicitSteps, keepStarted, reproduceLine, stage1Warmup, stepsOf, withAccum, withPeaks, withStage, withStage1Batch, withStage1Warmup } from "./train-options.js";

export default defineCommand({
  name: "train",
  usage: "train --preset small --seed S --out FILE.safetensors [--budget-minutes M | --stage0-steps N --stage1-steps N --stage2-steps N] [options]",
  help: `
Trains TGH-MoE with the recipe of spec section 7 on the synthetic CT benchmark (docs/TRAINING.md):
BPE tokenizer on the train split's texts; stage 0, the 2D model on single slices and their captions;
transfer to 3D; stage 1, task-shared dense (slice blocks and patch embedding frozen); stage 2, the
MoE layers upcycled, shared experts frozen, routed experts, routers, task gates and text_proj
trained with L = L_ce + 0.01 mean(L_bal) + 0.1 mean(L_task). Deterministic from --seed and the step
counts: the same command gives the same bits.

options:
  --preset NAME          model preset: ${PRESET_NAMES.join(", ")} (default small)
  --seed S               seed of the weights, upcycling and sample draws (default 0)
  --out FILE             the trained model (safetensors: weights, config, tokenizer, preset)
  --budget-minutes M     fit the whole run in M minutes: each stage is timed for a few updates and
                         the step counts are derived (20% / 60% / 20%); printed and logged, pass
                         them back with --stageK-steps to reproduce the bits on any machine
  --stage0-steps N       updates of stage 0 (2D slices); likewise --stage1-steps, --stage2-steps
  --lr A,B,C             peak learning rates of stages 0, 1, 2 (default 1e-3,5e-4,5e-4)
  --variant V            ${VARIANTS.join(", ")} (default tgh): dense stops after stage 1;
                         dense-stage2 runs stage 2 on the dense model (the MLPs of moe_layers
                         train in place of the experts); token-moe routes tokens without text
                         guidance or task level; one-stage upcycles right after the transfer and
                         trains stages 1+2 at once
  --studies N            training studies in the pool (default 800 for small)
  --vision-warmup N      stage 0's first N updates train the language model only (default 300 for
                         small; 0: encoder and projector train from the first update)
  --vision-ramp N        after the warm-up, the encoder's learning rate rises over N updates
                         (default 200 for small)
  --volume-warmup N      stage 1's first N updates train the language model only, the volume
                         blocks and projector held (default 0: off)
  --volume-ramp N        after it, their learning rate rises over N updates
  --align-warmup N       stage 1's first N updates train the volume blocks and projector only, the
                         language model held, so that its loss falls only through the image
                         tokens (feature alignment; default 0: off; not with --volume-warmup)
  --align-ramp N         after it, the language model's learning rate rises over N updates
  --focus-warmup N       stage 1's first N updates draw only the questions the 2D model answers
                         about slices (presence, side, contrast), each answer as frequent as the
                         others, so that only reading the volume lowers their loss (default 0: off)
  --focus-side-repeat N  those questions that ask a side (effusion, nodule) appear N times, in the
                         warm-up and in --focus-share's samples (default 1)
  --side-warmup N        after --focus-warmup, stage 1's next N updates draw only those side
                         questions, answers balanced (default 0: off)
  --side-closed          those updates also draw the closed side questions (asked of every study,
                         "neither side" where there is no finding)
  --focus-share S        after it, stages 1 and 2 draw about this share of their samples from those
                         questions, the rest from the reports and all questions (default 0);
                         S1,S2 gives stages 1 and 2 their own shares
  --answer-cap N         a question whose answer is rare appears up to N times in stages 1 and 2,
                         so that every answer of a question is about as frequent (default 4; 1:
                         the answers as generated); N1,N2 gives stages 1 and 2 their own caps
  --stage2-focus-cap N   stage 2's cap for the questions of --focus-warmup (presence, side, contrast;
                         default: stage 2's answer cap): keep those balanced while the others are not
  --stage2-focus T,...   the questions stage 2's focus share draws, among effusion-present,
                         nodule-present, cyst-present, effusion-side, nodule-side, contrast
                         (default: all); leave out what the model does not read, so that it keeps
                         the majority answer there instead of answers balanced by the focus share
  --closed-text          stages 1 and 2 train the closed (A-D) questions to answer with the
                         option's text alone ("left", not "B. left"): the model no longer has to
                         look the letter up; the scoring reads the text as that option
  --slice-stack N        stage 0's images are stacks of N consecutive slices, each encoded alone,
                         read together by the language model (their captions in order, the
                         questions about the stack; default 1: single slices)
  --slice-side-repeat N  stage 0's side questions ("Which side is the pleural effusion on?", "Which
                         lung has a nodule?") appear N times (default 1)
  --patch-loss W         stage 0 also trains the encoder to mark, at each patch token, which
                         findings cover the patch (channels 0-2: nodule, effusion, cyst), with
                         weight W (default 0: off; docs/TRAINING.md)
  --stage1-patch-loss W  the same in stage 1, on the 3D encoder's depth patches (default 0: off)
  --report-emphasis W    stage 2's reports count the sentences that say what the volume shows
                         (findings, organs without findings, the impression) W times within
                         each report's mean loss (default 1: off; docs/TRAINING.md)
  --no-slice-questions   stage 0 trains on captions only; by default it also asks each slice the
                         volume's presence, side and contrast questions, answered from the
                         findings on that slice (--slice-questions: on, the default)
  --stage0-batch N       images per stage 0 update (default 16 for small, 8 for tiny)
  --stage1-batch N       samples per stage 1 update (default 32 for small, 4 for tiny)
  --per-volume K         stage 1 draws its samples K at a time from one study and encodes each
                         volume once (K divides --stage1-batch; default 8 for small, 1 for tiny)
  --accum A,B,C          micro-batches per update of stages 0, 1, 2 (default 1,1,1): each
                         update's batch is split into that many parts whose
                         gradients are merged in a fixed order, run data parallel on up to that
                         many of --threads; the bits depend on A,B,C, not on the threads
  --stage2-lm-scale X    stage 2 trains the language model and projector at X times its rate (the
                         experts, routers and task gates at the full rate; default 1)
  --no-mirror            do not add the left-right mirrored copy of every example (sides swapped
                         in its texts); mirroring is on by default
  --data-seed S          master seed of the synthetic dataset (default 2026)
  --resume FILE          continue a run from one of its checkpoints (FILE.<stage>.safetensors,
                         FILE.resume.safetensors); --variant may change at a stage boundary,
                         --lr for the stages the checkpoint has not started
  --state-dir DIR        where the resumable checkpoints go (default: next to --out)
  --checkpoint-every N   also write the resumable checkpoint every N updates (default 100; 0: off)
  --dtype F16|F32        storage of the final weights (default F16: half the size)
  --backend NAME         wasm (default) or reference
  --log FILE             the JSON log (default: --out with .json instead of .safetensors)
  --quiet                no progress on stderr

example (the shipped checkpoint, docs/TRAINING.md):
  tgh-moe train --preset small --seed 0 --focus-warmup 150 --side-warmup 450 --side-closed \\
    --focus-side-repeat 4 --focus-share 0.25 --closed-text --answer-cap 4,1 --stage2-focus-cap 4 \\
    --patch-loss 4 --stage1-patch-loss 4 \\
    --stage0-steps 1200 --stage1-steps 900 --stage2-steps 600 --out checkpoints/tgh-moe-small.safetensors`,
  options: {
    preset: { type: "string", default: "small" },
    seed: { type: "string", default: "0" },
    out: { type: "string" },
    "budget-minutes": { type: "string" },
    "stage0-steps": { type: "string" },
    "stage1-steps": { type: "string" },
    "stage2-steps": { type: "string" },
    lr: { type: "string" },
    variant: { type: "string" },
    studies: { type: "string" },
    "vision-warmup": { type: "string" },
    "vision-ramp": { type: "string" },
    "volume-warmup": { type: "string" },
    "align-warmup": { type: "string" },
    "align-ramp": { type: "string" },
    "focus-warmup": { type: "string" },
    "focus-side-repeat": { type: "string" },
    "side-warmup": { type: "string" },
    "side-closed": { type: "boolean" },
    "focus-share": { type: "string" },
    "closed-text": { type: "boolean" },
    "answer-cap": { type: "string" },
    "stage2-focus-cap": { type: "string" },
    "stage2-focus": { type: "string" },
    "report-emphasis": { type: "string" },
    "slice-stack": { type: "string" },
    "slice-side-repeat": { type: "string" },
    "patch-loss": { type: "string" },
    "stage1-patch-loss": { type: "string" },
    "volume-ramp": { type: "string" },
    "no-mirror": { type: "boolean" },
    "slice-questions": { type: "boolean" },
    "no-slice-questions": { type: "boolean" },
    "stage0-batch": { type: "string" },
    "stage1-batch": { type: "string" },
    "per-volume": { type: "string" },
    accum: { type: "string" },
    "stage2-lm-scale": { type: "string" },
    "data-seed": { type: "string" },
    resume: { type: "string" },
    "state-dir": { type: "string" },
    "checkpoint-every": { type: "string", default: "100" },
    dtype: { type: "string", default: "F16" },
    backend: { type: "string", default: "wasm" },
    log: { type: "string" },
    quiet: { type: "boolean" },
  },
  positionals: [0, 0],
  async run(v, _p, io) {
    const started = Date.now();
    const out = required("train", "out", v.out);
    const dtype = oneOf("train", "dtype", v.dtype, ["F16", "F32"] as const);
    const backend = backendOption("train", v.backend);
    const every = integer("train", "checkpoint-every", v["checkpoint-every"], 0, 1e9);
    const progress = new Progress(io, { quiet: v.quiet === true });
    const resume = v.resume ? await loadCheckpoint(v.resume) : undefined;
    let o: RecipeOptions = resume ? recipeMark(resume).options : defaultRecipe(oneOf("train", "preset", v.preset, PRESET_NAMES as PresetName[]), integer("train", "seed", v.seed, 0, 0xffffffff));
    if (v.variant) o = { ...o, variant: oneOf("train", "variant", v.variant, VARIANTS as Variant[]) };
    if (resume && !phasesOf(o.variant).includes(recipeMark(resume).phase)) {
      throw new UsageError(`tgh-moe train: --variant ${o.variant}: the checkpoint is at ${recipeMark(resume).phase}, which this variant does not have`);
    }
    const fresh = ["studies", "data-seed", "vision-warmup", "vision-ramp", "slice-stack", "slice-side-repeat", "patch-loss", "no-mirror", "slice-questions", "no-slice-questions", "stage0-batch", "stage1-batch", "per-volume"] as const;
    const ignored = resume ? fresh.filter((f) => v[f] !== undefined && v[f] !== false) : [];
    if (ignored.length > 0) throw new UsageError(`tgh-moe train: --${ignored[0]} is set when a run starts from scratch and cannot be given with --resume (the checkpoint keeps its run's value)`);
    if (!resume) {
      if (v.studies) o = { ...o, studies: integer("train", "studies", v.studies, 1, 1e6) };
      if (v["data-seed"]) o = { ...o, dataSeed: integer("train", "data-seed", v["data-seed"], 0, 0xffffffff) };
      if (v["vision-warmup"]) o = { ...o, visionWarmup: integer("train", "vision-warmup", v["vision-warmup"], 0, 1e9) };
      if (v["vision-ramp"]) o = { ...o, visionRamp: integer("train", "vision-ramp", v["vision-ramp"], 0, 1e9) };
      if (v["slice-stack"]) o = { ...o, sliceStack: integer("train", "slice-stack", v["slice-stack"], 1, 4096) };
      if (v["slice-side-repeat"]) o = { ...o, sliceSideRepeat: integer("train", "slice-side-repeat", v["slice-side-repeat"], 1, 1000) };
      if (v["patch-loss"]) o = { ...o, patchLoss: decimal("train", "patch-loss", v["patch-loss"], 0, 100, true) };
      if (v["no-mirror"]) o = { ...o, mirror: false };
      if (v["slice-questions"] && v["no-slice-questions"]) throw new UsageError("tgh-moe train: give --slice-questions or --no-slice-questions, not both");
      if (v["slice-questions"]) o = { ...o, sliceQuestions: true };
      if (v["no-slice-questions"]) o = { ...o, sliceQuestions: false };
      if (v["stage0-batch"]) o = withStage(o, "stage0", { batch: integer("train", "stage0-batch", v["stage0-batch"], 1, 4096) });
      o = withStage1Batch(o, v["stage1-batch"], v["per-volume"]);
    }
    const before = o;
    o = withStage1Warmup(o, v);
    if (resume && recipeMark(resume).phase !== "stage0" && JSON.stringify(stage1Warmup(before)) !== JSON.stringify(stage1Warmup(o))) {
      throw new UsageError(`tgh-moe train: the checkpoint is at ${recipeMark(resume).phase}, so stage 1's warm-up must stay ${JSON.stringify(stage1Warmup(before))}, got ${JSON.stringify(stage1Warmup(o))}`);
    }
    if (resume && recipeMark(resume).phase === "stage2") {
      const stage2 = (x: RecipeOptions) => [focusShareOf(x, "stage2"), answerCapOf(x, "stage2"), focusCapOf(x, "stage2"), focusTemplatesOf(x, "stage2").join(",")];
      const was = stage2(before), now = stage2(o);
      if (JSON.stringify(was) !== JSON.stringify(now)) throw new UsageError(`tgh-moe train: the checkpoint is at stage2, so stage 2's focus share, answer cap, focus cap and focus templates must stay ${JSON.stringify(was)}, got ${JSON.stringify(now)}`);
    }
    const atPhase = resume ? recipeMark(resume).phase : null;
    if ((atPhase === "stage2" || atPhase === "stage12") && (before.reportEmphasis ?? 1) !== (o.reportEmphasis ?? 1)) {
      throw new UsageError(`tgh-moe train: the checkpoint is at ${atPhase}, so --report-emphasis must stay ${before.reportEmphasis ?? 1}, got ${o.reportEmphasis}`);
    }
    if (v.accum !== undefined) o = withAccum(o, v.accum);
    if (v.lr !== undefined) o = withPeaks(o, v.lr);
    if (v["stage2-lm-scale"] !== undefined) {
      const x = Number(v["stage2-lm-scale"]);
      if (!(x >= 0 && x <= 1)) throw new UsageError(`tgh-moe train: --stage2-lm-scale: expected a number in [0, 1], got ${JSON.stringify(v["stage2-lm-scale"])}`);
      o = withStage(o, "stage2", { lmScale: x });
    }
    if (resume) keepStarted(before, o, recipeMark(resume).phase);
    o = canonicalRecipe(o);
    checkRecipe(o); // before rendering the data: a batch that --accum does not divide fails now
    const given = explicitSteps(v);
    if (given) o = withSteps(o, { ...stepsOf(o), ...given });
    const budget = v["budget-minutes"] === undefined ? null : Number(v["budget-minutes"]);
    if (budget !== null && !(budget > 0)) throw new UsageError(`tgh-moe train: --budget-minutes: expected a positive number, got ${JSON.stringify(v["budget-minutes"])}`);
    if (budget !== null && resume) throw new UsageError("tgh-moe train: --budget-minutes cannot be combined with --resume (the step counts are in the checkpoint)");
    if (budget !== null && given && Object.keys(given).length === 3) throw new UsageError("tgh-moe train: give either --budget-minutes or all three --stageK-steps, not both");
    if (budget === null && !given && !resume) throw new UsageError("tgh-moe train: give --budget-minutes M or the step counts --stage0-steps N --stage1-steps N --stage2-steps N");
    const be = await createBackend(backend);

    progress.line(`train: ${o.preset}, variant ${o.variant}, seed ${o.seed}, ${o.studies} training studies of dataset ${o.dataSeed}`);
    const t0 = Date.now();
    const d = prepareData(o, (done, n) => progress.count(`data: ${done}/${n} studies rendered`, done, n));
    const timings: Record<string, number> = { data: (Date.now() - t0) / 1000 };
    progress.line(`tokenizer: ${d.tok.vocabSize} tokens (BPE on the pool's texts) = lm.vocab; TGH-MoE ${o.preset}: ${(paramCount(d.cfg) / 1e6).toFixed(2)} M parameters`);

    let msPerUpdate: Record<StageKey, number> | null = null;
    if (budget !== null) {
      const t1 = Date.now();
      msPerUpdate = await timeStages(be, d, o, 2, undefined, be.threads);
      timings.calibration = (Date.now() - t1) / 1000;
      const left = budget * 60 - (Date.now() - started) / 1000;
      const trainSeconds = left * 0.95 - 15; // the final save, and the slower first updates
      if (trainSeconds <= 0) throw new UsageError(`tgh-moe train: --budget-minutes ${budget}: no time left for training after data and calibration`);
      o = withSteps(o, { ...stepsForBudget(trainSeconds, msPerUpdate), ...(given ?? {}) });
      progress.line(`budget: ${formatDuration(trainSeconds)} of training at ${msPerUpdateText(msPerUpdate)} -> --stage0-steps ${o.stages.stage0.steps} --stage1-steps ${o.stages.stage1.steps} --stage2-steps ${o.stages.stage2.steps}`);
    }
    checkRecipe(o);

    const stateDir = v["state-dir"] ?? dirname(out);
    await makeFolder(stateDir);
    await makeFolder(dirname(out));
    const base = join(stateDir, basename(out).replace(/\.safetensors$/, ""));
    const curve: Record<string, number[][]> = {};
    const phaseStart = new Map<PhaseName, number>();
    const tokJson = d.tok.serialize();
    const result = await runRecipe(be, d, o, {
      onProgress: (p) => progress.training(p),
      onStep(phase, r, t) {
        if (!phaseStart.has(phase)) phaseStart.set(phase, Date.now());
        const s = phaseSettings(o, phase).steps;
        if (t.step % 10 === 0 || t.step === 1 || t.step === s) (curve[phase] ??= []).push([t.step, r.loss, r.ce ?? NaN, r.balance ?? NaN, r.task ?? NaN].map(round4));
      },
      async onPhaseEnd(phase, t) {
        timings[phase] = (Date.now() - (phaseStart.get(phase) ?? Date.now())) / 1000;
        const file = `${base}.${phase}.safetensors`;
        await saveCheckpoint(file, trainerState(t, tokJson));
        progress.line(`${phase}: done (${t.step} updates, ${formatDuration(timings[phase])}); checkpoint ${file}`);
      },
      periodic: every > 0 ? { every, run: (_phase, t) => saveCheckpoint(`${base}.resume.safetensors`, trainerState(t, tokJson)) } : undefined,
      threads: be.threads,
    }, resume);
    if (!result) return EXIT.internal;

    const bytes = makeCheckpoint({
      cfg: result.cfg, params: result.params, tokenizer: d.tok, preprocess: d.pre, dtype,
      metadata: { description: `TGH-MoE ${o.preset}, recipe variant ${o.variant}, seed ${o.seed} (tgh-moe train; docs/TRAINING.md)`, recipe: JSON.stringify(o) },
    });
    await writeAtomic(out, bytes);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const logFile = v.log ?? out.replace(/\.safetensors$/, "") + ".json";
    const log = {
      command: `tgh-moe train ${process.argv.slice(3).join(" ")}`.trim(),
      reproduce: reproduceLine(o, dtype, out),
      options: o, output: { file: out, bytes: bytes.length, sha256, dtype }, tokenizerVocab: d.tok.vocabSize,
      msPerUpdate, seconds: { ...timings, total: (Date.now() - started) / 1000 }, resumedFrom: v.resume ?? null,
      node: process.version, finished: new Date().toISOString(), curve: { columns: ["step", "loss", "ce", "balance", "task"], ...curve },
    };
    await writeAtomic(logFile, `${JSON.stringify(log, null, 1)}\n`);
    progress.line(`wrote ${out} (${(bytes.length / 1e6).toFixed(1)} MB, sha256 ${sha256.slice(0, 16)}...) and ${logFile} in ${formatDuration((Date.now() - started) / 1000)}`);
    return EXIT.ok;
  },
});

/** "stage0 412 ms/update, stage1 ..." */
function msPerUpdateText(ms: Record<StageKey, number>): string {
  return Object.entries(ms).map(([k, x]) => `${k} ${Math.round(x)} ms/update`).join(", ");
}

function round4(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : -1;
}

