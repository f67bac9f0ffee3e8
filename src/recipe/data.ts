/**
 * The recipe's data: a pool of synthetic studies of one split (rendered once, windowed to the model
 * input), the tokenizer corpus, and the training examples of each stage as section 6 sequences:
 * slices with captions (stage 0), reports and questions mixed (stages 1 and 2). Not the sampler
 * (the Trainer draws from these lists with its seeded RNG) and not the data generator (src/data/).
 * Legend: D,H,W volume · L text tokens.
 */
import { formatAnswer, formatQuestion, makeSample, OPEN, SIDES, splitOf, type FindingKind, type Question, type Sample as Study, type SplitName } from "../data/index.js";
import { ValueError } from "../errors.js";
import { promptSequence } from "../generate/prefix.js";
import type { ModelConfig } from "../model/config.js";
import { PATCH_KINDS } from "../model/patch-loss.js";
import { imageTokens } from "../model/projector.js";
import { preprocessPreset, windowScale, type PreprocessPreset } from "../preprocess/index.js";
import { Tensor, type F32Tensor } from "../tensor.js";
import type { BpeTokenizer } from "../tokenizer/bpe.js";
import type { Sample } from "../train/trainer.js";
import { reportEmphasis, sequenceEmphasis } from "./emphasis.js";

export { reportEmphasis } from "./emphasis.js";

/** Task labels of the MoE (spec section 4, T = 2). */
export const TASK = { report: 0, vqa: 1 } as const;

/** The report prompts of training (the first one is the evaluation prompt). */
export const REPORT_PROMPTS = [
  "Describe the findings of this chest CT.",
  "Write the radiology report for this scan.",
  "Generate a report for this CT volume.",
] as const;
/** The stage 0 prompt: a slice and its caption. */
export const SLICE_PROMPT = "Describe this slice.";
/** The stage 0 prompt of a stack of slices (several images in one sequence): their captions in order. */
export const STACK_PROMPT = "Describe these slices.";

/** One study of the pool: its texts and truth, and its model input [1, D, H, W] in [0, 1]. */
export interface PoolStudy {
  study: Omit<Study, "volumeHU">;
  volume: F32Tensor; // [1, D, H, W]
  /** Which finding kinds cover each patch of each slice [D * n^2] (bit k: PATCH_KINDS[k]); loadPool's `patch` option. */
  cover?: Uint8Array;
}

/**
 * The first `count` studies of `split` in index order (dataset seed `dataSeed`, default ratios),
 * rendered on the preset's grid and windowed as the preset says (no resampling: the grid is the
 * model's). `onProgress(done, count)` after each study.
 */
export function loadPool(dataSeed: number, split: SplitName, count: number, pre: PreprocessPreset, onProgress?: (done: number, count: number) => void, patch = 0): PoolStudy[] {
  if (pre.resample.mode !== "shape") throw new ValueError(`loadPool: preset: expected resample mode "shape", got ${pre.resample.mode}`);
  const out: PoolStudy[] = [];
  for (let index = 0; out.length < count; index++) {
    if (splitOf(dataSeed, index) !== split) continue;
    const { volumeHU, masks, ...study } = makeSample(dataSeed, index, pre.grid, { masks: patch > 0 });
    const volume = new Tensor("f32", [1, ...pre.grid], windowScale(volumeHU, pre.window.lo, pre.window.hi));
    out.push({ study, volume, ...(masks ? { cover: patchCover(study.findings, masks, pre.grid, patch) } : {}) });
    onProgress?.(out.length, count);
  }
  return out;
}

/**
 * Which kinds cover each p x p patch of each slice [D * (W/p)^2]: bit k of a patch is set when a
 * finding of kind PATCH_KINDS[k] covers at least half of one of its voxels (the finding's core, as
 * in docs/DATA.md's visibility table). `masks` are the findings' per-voxel coverage [D, H, W].
 */
export function patchCover(findings: readonly { kind: FindingKind }[], masks: readonly Float32Array[], [D, H, W]: readonly number[], p: number): Uint8Array {
  if (!(H % p === 0 && W % p === 0)) throw new ValueError(`patchCover: patch: expected a divisor of the slice ${H} x ${W}, got ${p}`);
  const n = W / p, out = new Uint8Array(D * (H / p) * n);
  findings.forEach((f, i) => {
    const bit = 1 << PATCH_KINDS.indexOf(f.kind), mask = masks[i];
    for (let k = 0; k < D; k++) {
      for (let j = 0; j < H; j++) {
        for (let x = 0; x < W; x++) if (mask[(k * H + j) * W + x] >= 0.5) out[(k * (H / p) + Math.floor(j / p)) * n + Math.floor(x / p)] |= bit;
      }
    }
  });
  return out;
}

/** Cover marks [D * n * n] mirrored left-right (each slice's patch columns reversed), as mirrorVolume mirrors the image. */
export function mirrorCover(cover: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(cover.length);
  for (let row = 0; row < cover.length; row += n) for (let c = 0; c < n; c++) out[row + c] = cover[row + n - 1 - c];
  return out;
}

/** A study as the examples see it: its volume and texts, and with `mirror` also mirrored (sides swapped in the texts); its cover marks when the pool has them. */
interface View {
  volume: F32Tensor;
  text: (t: string) => string;
  marks: { cover?: Uint8Array };
}
function viewsOf({ volume, cover }: PoolStudy, cfg: ModelConfig, mirror: boolean): View[] {
  const out: View[] = [{ volume, text: (t) => t, marks: cover ? { cover } : {} }];
  if (mirror) out.push({ volume: mirrorVolume(volume), text: mirrorText, marks: cover ? { cover: mirrorCover(cover, cfg.vision.image / cfg.vision.patch) } : {} });
  return out;
}

/** Every text the tokenizer is trained on: reports, questions (with options), answers, captions, prompts. */
export function corpus(pool: readonly PoolStudy[], stack = 1): string[] {
  const texts: string[] = [...REPORT_PROMPTS, SLICE_PROMPT, ...(stack > 1 ? [STACK_PROMPT] : [])];
  for (const { study } of pool) {
    texts.push(study.report, ...study.captions);
    for (const q of study.questions) texts.push(formatQuestion(q), formatAnswer(q));
  }
  return texts;
}

/** `<bos> <img> <image>*m </img> prompt <sep> answer <eos>` for a prompt and an answer text. */
export function trainingSequence(cfg: ModelConfig, tok: BpeTokenizer, m: number, prompt: string, answer: string): number[] {
  return [...promptSequence(cfg, m, tok.encode(prompt)), ...tok.encode(answer), cfg.tokens.eos];
}

/** A text with the words "left" and "right" swapped (whole words: the side of a mirrored patient). */
export function mirrorText(text: string): string {
  return text.replace(/\b(left|right)\b/g, (w) => (w === "left" ? "right" : "left"));
}

/** A volume [..., H, W] mirrored left-right (the last axis reversed): the patient's sides swap on the image. */
export function mirrorVolume(v: F32Tensor): F32Tensor {
  const W = v.dim(-1), out = new Tensor("f32", v.shape);
  for (let row = 0; row < v.size; row += W) {
    for (let x = 0; x < W; x++) out.data[row + x] = v.data[row + W - 1 - x];
  }
  return out;
}

/**
 * Stage 0: every slice of every study alone ([1, 1, H, W]), its caption as the answer; task 0. A
 * slice that shows a finding appears `findingRepeat` times: most slices show none, and a 2D model
 * that never learns to name what it sees has nothing to hand on to the 3D one. With `mirror`, every
 * slice also appears mirrored with "left" and "right" swapped in its caption: the same picture with
 * the other side named, so that naming the side pays only by looking.
 *
 * With `stack` > 1 the images are stacks of `stack` consecutive slices ([1, stack, H, W]; the 2D
 * encoder still sees each slice alone, the language model reads stack x m tokens, as a 2D model
 * shown several images): the captions in order, "1: ...; 2: ...", under STACK_PROMPT, and the
 * questions asked of the stack's slices together (sliceQuestions). The 3D model hands its language
 * model (D / depth_patch / depth_pool) groups of image tokens; a 2D model that has only ever read one
 * image of m tokens does not find a finding among four such groups (measured, docs/RESULTS.md).
 *
 * With `questions` the slice questions (sliceQuestions) follow each caption; the side questions
 * appear `sideRepeat` times: about one example in thirteen is a side question, too few for the 2D
 * model to learn sides in stage 0 (measured, docs/RESULTS.md).
 */
export function sliceExamples(pool: readonly PoolStudy[], cfg2d: ModelConfig, tok: BpeTokenizer, findingRepeat = 1, mirror = false, questions = false, stack = 1, sideRepeat = 1): Sample[] {
  const m = imageTokens(cfg2d, stack);
  const out: Sample[] = [];
  const nn = (cfg2d.vision.image / cfg2d.vision.patch) ** 2;
  for (const p of pool) {
    const { study } = p, [, D, H, W] = p.volume.shape;
    if (D % stack !== 0) throw new ValueError(`sliceExamples: stack: expected a divisor of the ${D} slices, got ${stack}`);
    const views = viewsOf(p, cfg2d, mirror);
    for (let k = 0; k < D; k += stack) {
      const ks = Array.from({ length: stack }, (_, i) => k + i);
      const shows = study.findings.some((f) => f.slices.some((x) => ks.includes(x)));
      const caption = stack === 1 ? study.captions[k] : ks.map((x, i) => `${i + 1}: ${study.captions[x]}`).join("; ");
      views.forEach(({ volume: v, text, marks: all }) => {
        const image = new Tensor("f32", [1, stack, H, W], v.data.subarray(k * H * W, (k + stack) * H * W));
        const marks = all.cover ? { cover: all.cover.subarray(k * nn, (k + stack) * nn) } : {};
        const examples: Sample[] = [{ volume: image, ids: trainingSequence(cfg2d, tok, m, stack === 1 ? SLICE_PROMPT : STACK_PROMPT, text(caption)), task: TASK.report, ...marks }];
        if (questions) {
          for (const [q, a] of sliceQuestions(study, k, stack)) {
            const example = { volume: image, ids: trainingSequence(cfg2d, tok, m, q, text(a)), task: TASK.vqa, ...marks };
            for (let r = 0; r < (SIDE_QUESTIONS.has(q) ? sideRepeat : 1); r++) examples.push(example);
          }
        }
        for (let r = 0; r < (shows ? findingRepeat : 1); r++) out.push(...examples);
      });
    }
  }
  return out;
}

const PRESENT: Record<FindingKind, string> = { effusion: OPEN.effusionPresent, nodule: OPEN.nodulePresent, cyst: OPEN.cystPresent };
const SIDE_OF: Partial<Record<FindingKind, string>> = { effusion: OPEN.effusionSide, nodule: OPEN.noduleSide };
const SIDE_QUESTIONS = new Set(Object.values(SIDE_OF));

/**
 * Stage 0's questions about slice k, in the words of the volume's open questions (the 2D model
 * stands for a pretrained 2D model that answers questions about images): for each kind of finding
 * the slice shows, "is there ...?" -> "yes" and, for effusions and nodules, the side ("left",
 * "right", "both"); one kind it does not show (rotating with k) -> "no", on every slice that shows
 * a finding and every other slice that shows none; the contrast question on every fourth slice.
 * With `stack` > 1: the same about slices k .. k+stack-1 together, rotating with the stack's index.
 */
export function sliceQuestions(study: Pick<Study, "findings" | "contrast">, k0: number, stack = 1): [string, string][] {
  const on = study.findings.filter((f) => f.slices.some((x) => x >= k0 && x < k0 + stack));
  const k = Math.floor(k0 / stack);
  const kinds: FindingKind[] = ["effusion", "nodule", "cyst"];
  const qa: [string, string][] = [];
  for (const kind of kinds) {
    if (!on.some((f) => f.kind === kind)) continue;
    qa.push([PRESENT[kind], "yes"]);
    const sides = SIDES.filter((s) => on.some((f) => f.kind === kind && f.side === s));
    if (SIDE_OF[kind]) qa.push([SIDE_OF[kind]!, sides.length === 2 ? "both" : sides[0]]);
  }
  const absent = kinds.filter((kind) => !on.some((f) => f.kind === kind));
  if (absent.length > 0 && (on.length > 0 || k % 2 === 0)) qa.push([PRESENT[absent[k % absent.length]], "no"]);
  if (k % 4 === 0) qa.push([OPEN.contrast, study.contrast ? "yes" : "no"]);
  return qa;
}

/**
 * How many copies of each question balance its answers: within a template and form, an answer
 * given n times gets round(n_max / n) copies, at most `cap`, so that answering every question with
 * its most frequent answer (the best policy of a model that does not look) stops paying.
 */
export function answerRepeats(questions: readonly Question[], cap: number): number[] {
  const counts = new Map<string, number>();
  const key = (q: Question) => `${q.template}|${q.kind}`;
  for (const q of questions) counts.set(`${key(q)}|${q.answerText}`, (counts.get(`${key(q)}|${q.answerText}`) ?? 0) + 1);
  const most = new Map<string, number>();
  for (const q of questions) most.set(key(q), Math.max(most.get(key(q)) ?? 0, counts.get(`${key(q)}|${q.answerText}`)!));
  return questions.map((q) => Math.min(cap, Math.max(1, Math.round(most.get(key(q))! / counts.get(`${key(q)}|${q.answerText}`)!))));
}

/**
 * The text a question is trained to answer: formatAnswer ("B. left" for closed questions), or with
 * `closedText` the option text alone ("left"), which the answer parser also reads as that option
 * (src/eval/qa.ts parseChoice, rule 3): the model then never has to look a letter up.
 */
export function answerTarget(q: Question, closedText = false): string {
  return closedText && q.kind === "closed" ? q.answerText : formatAnswer(q);
}

/**
 * Stages 1 and 2: per study its report (one of REPORT_PROMPTS, chosen by the study index) with
 * task 0, repeated `reportRepeat` times, and every question (formatQuestion -> answerTarget) with
 * task 1, repeated as answerRepeats says (at most `answerCap` copies, `focusCap` for the focus
 * questions, isFocus; 1: no balancing). With
 * `mirror`, each study appears a second time mirrored left-right, every text with its sides swapped.
 * With `emphasis` != 1 the reports carry their target emphasis (reportEmphasis).
 */
export function taskExamples(pool: readonly PoolStudy[], cfg: ModelConfig, tok: BpeTokenizer, reportRepeat = 4, answerCap = 1, mirror = false, closedText = false, focusCap = answerCap, emphasis = 1): Sample[] {
  const all = pool.flatMap((p) => p.study.questions), capped = answerRepeats(all, answerCap), focused = answerRepeats(all, focusCap);
  const repeats = all.map((q, i) => (isFocus(q) ? focused[i] : capped[i]));
  const out: Sample[] = [];
  let i = 0;
  for (const p of pool) {
    const { study } = p, m = imageTokens(cfg, p.volume.dim(1));
    for (const { volume: v, text, marks } of viewsOf(p, cfg, mirror)) {
      for (let r = 0; r < reportRepeat; r++) {
        const prompt = REPORT_PROMPTS[(study.index + r) % REPORT_PROMPTS.length];
        const ids = trainingSequence(cfg, tok, m, prompt, text(study.report));
        out.push({ volume: v, ids, task: TASK.report, ...marks, ...(emphasis !== 1 ? { emphasis: sequenceEmphasis(ids.length, reportEmphasis(tok, text(study.report), emphasis)) } : {}) });
      }
      study.questions.forEach((q, j) => {
        const example: Sample = { volume: v, ids: trainingSequence(cfg, tok, m, text(formatQuestion(q)), text(answerTarget(q, closedText))), task: TASK.vqa, ...marks };
        for (let r = 0; r < repeats[i + j]; r++) out.push(example);
      });
    }
    i += study.questions.length;
  }
  return out;
}

/** The open questions stage 0 also asks of single slices (sliceQuestions): their words are the 2D model's. */
export const FOCUS_TEMPLATES: readonly string[] = ["effusion-present", "nodule-present", "cyst-present", "effusion-side", "nodule-side", "contrast"];

/** The focus templates that ask a finding's side. */
export const SIDE_TEMPLATES: readonly string[] = ["effusion-side", "nodule-side"];

/** Whether a question is one of the focus questions (an open question of FOCUS_TEMPLATES). */
export function isFocus(q: Question): boolean {
  return q.kind === "open" && FOCUS_TEMPLATES.includes(q.template);
}

/**
 * Stage 1's focus examples (the recipe's focusWarmup): only the open questions of FOCUS_TEMPLATES,
 * which the 2D model already answers about a slice, each answer of a question type repeated until it
 * is as frequent as the type's most frequent one (answerRepeats without a cap), mirrored with
 * `mirror`. Nothing here can be learnt from the words: no new answer form, and no answer more
 * frequent than another, so the loss falls only by reading the volume. The side questions
 * (effusion, nodule) then appear `sideRepeat` times (the recipe's focusSideRepeat). `templates`
 * narrows the questions to some of FOCUS_TEMPLATES (SIDE_TEMPLATES: the recipe's sideWarmup).
 */
export function focusExamples(pool: readonly PoolStudy[], cfg: ModelConfig, tok: BpeTokenizer, mirror = false, sideRepeat = 1, templates: readonly string[] = FOCUS_TEMPLATES): Sample[] {
  return balancedExamples(pool, cfg, tok, mirror, (q) => isFocus(q) && templates.includes(q.template), (q) => (SIDE_TEMPLATES.includes(q.template) ? sideRepeat : 1));
}

/**
 * The side phase with closed questions too (the recipe's sideClosed): every question of
 * SIDE_TEMPLATES, open (asked where the finding is) and closed (asked of every study, "neither
 * side" where there is none; answered with the option text under `closedText`), answers balanced
 * within each template and form as in focusExamples, mirrored with `mirror`.
 */
export function sideExamples(pool: readonly PoolStudy[], cfg: ModelConfig, tok: BpeTokenizer, mirror = false, closedText = false): Sample[] {
  return balancedExamples(pool, cfg, tok, mirror, (q) => SIDE_TEMPLATES.includes(q.template), () => 1, closedText);
}

/** The questions `pick` keeps, each answer balanced (answerRepeats, no cap) and `copies(q)` times more, mirrored with `mirror`. */
function balancedExamples(pool: readonly PoolStudy[], cfg: ModelConfig, tok: BpeTokenizer, mirror: boolean, pick: (q: Question) => boolean, copies: (q: Question) => number, closedText = false): Sample[] {
  const asked = pool.map((p) => p.study.questions.filter(pick));
  const repeats = answerRepeats(asked.flat(), Number.MAX_SAFE_INTEGER);
  const out: Sample[] = [];
  let i = 0;
  pool.forEach((p, s) => {
    const m = imageTokens(cfg, p.volume.dim(1));
    for (const { volume: v, text, marks } of viewsOf(p, cfg, mirror)) {
      asked[s].forEach((q, j) => {
        const example: Sample = { volume: v, ids: trainingSequence(cfg, tok, m, text(formatQuestion(q)), text(answerTarget(q, closedText))), task: TASK.vqa, ...marks };
        for (let r = 0; r < repeats[i + j] * copies(q); r++) out.push(example);
      });
    }
    i += asked[s].length;
  });
  return out;
}

/**
 * The task examples with the focus examples added, each focus example repeated so that they make up
 * about `share` of the list (share in [0, 1); the repeats are round(share / (1 - share) * tasks /
 * focus), at least 1): a uniform draw then takes a focus example with probability ~share.
 */
export function mixedExamples(tasks: readonly Sample[], focus: readonly Sample[], share: number): Sample[] {
  if (!(share >= 0 && share < 1)) throw new ValueError(`mixedExamples: share: expected a number in [0, 1), got ${share}`);
  if (share === 0 || focus.length === 0) return [...tasks];
  const r = Math.max(1, Math.round((share / (1 - share)) * (tasks.length / focus.length)));
  return [...tasks, ...Array.from({ length: r }, () => focus).flat()];
}

/** The preprocessing preset of a model preset name (the grid of the training data). */
export function presetFor(name: string): PreprocessPreset {
  return preprocessPreset(name);
}
