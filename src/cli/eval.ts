/**
 * `tgh-moe eval`: a checkpoint on a split of the synthetic benchmark: greedy decoding with the KV
 * cache, report / closed-QA / open-QA metrics and the routing per task, as a table or JSON.
 * Not the runner (src/recipe/evaluate.ts) nor the metrics (src/eval/).
 */
import { SPLITS, type SplitName } from "../data/index.js";
import { markdownTable } from "../eval/metrics.js";
import { preprocessPreset, PREPROCESS_PRESET_NAMES } from "../preprocess/index.js";
import { EVAL_DEFAULTS, evaluate, expertKeys, type EvalResult } from "../recipe/evaluate.js";
import { backendOption, defineCommand, EXIT, integer, oneOf, UsageError } from "./command.js";
import { DEFAULT_CHECKPOINT, openModel } from "./inputs.js";
import { Progress } from "./progress.js";

export default defineCommand({
  name: "eval",
  usage: "eval [--checkpoint FILE] [--split test] [--count N] [--json] [options]",
  help: `
Evaluates a model on the synthetic CT benchmark (docs/EVAL.md, docs/TRAINING.md): for each of the
first N studies of the split (dataset seed --data-seed, rendered on the checkpoint's preset grid),
greedy decoding with the KV cache of the report ("${"Describe the findings of this chest CT."}") and
of every question. Scores: BLEU-1/4, ROUGE-L, METEOR and finding-level precision / recall / F1
(extractFindings, strict keys; lenient F1 too) for reports; accuracy for closed questions; exact
match and token F1 for open ones. Routing per MoE layer and true task: the share of tokens whose
top-1 expert is g<group>.e<expert>, and how often the task gate picks the task's own group.

Blind baselines and the image-swap test (docs/EVAL.md): each question type (finding x aspect x
closed/open) is scored beside the majority answer and a text-only predictor (the answer most often
right for the exact prompt in ${EVAL_DEFAULTS.baselineStudies} training studies), and every question is asked again with
the volume of another study whose true answer differs: the share of answers that change. Each
closed question is also answered by choice ("chosen"): the option the model finds likeliest, in
either form the answer parser reads ("B. left" or "left"), so letter and text always agree.

options:
  --checkpoint FILE     model (default ${DEFAULT_CHECKPOINT} in the package root)
  --split NAME          ${SPLITS.join(", ")} (default ${EVAL_DEFAULTS.split})
  --count N             studies (default ${EVAL_DEFAULTS.count}); each has one report and about a dozen questions
  --data-seed S         dataset master seed (default ${EVAL_DEFAULTS.dataSeed}, the one the recipe trains on)
  --max-tokens N        report budget (default ${EVAL_DEFAULTS.maxReportTokens}); answers get ${EVAL_DEFAULTS.maxAnswerTokens}
  --preset NAME         preprocessing preset if the checkpoint has none (${PREPROCESS_PRESET_NAMES.join(", ")})
  --backend NAME        wasm (default) or reference
  --no-swap             skip the image-swap test (about half the decoding time)
  --no-choose           skip the answers by choice among the options
  --json                one JSON object {checkpoint, split, counts, metrics, questions, routing, studies, examples}
  --quiet               no progress on stderr`,
  options: {
    checkpoint: { type: "string" },
    split: { type: "string", default: EVAL_DEFAULTS.split },
    count: { type: "string", default: String(EVAL_DEFAULTS.count) },
    "data-seed": { type: "string", default: String(EVAL_DEFAULTS.dataSeed) },
    "max-tokens": { type: "string", default: String(EVAL_DEFAULTS.maxReportTokens) },
    preset: { type: "string" },
    backend: { type: "string", default: "wasm" },
    json: { type: "boolean" },
    "no-swap": { type: "boolean" },
    "no-choose": { type: "boolean" },
    quiet: { type: "boolean" },
  },
  positionals: [0, 0],
  async run(v, _p, io) {
    const split = oneOf("eval", "split", v.split, SPLITS as SplitName[]);
    const count = integer("eval", "count", v.count, 1, 100_000);
    const dataSeed = integer("eval", "data-seed", v["data-seed"], 0, 0xffffffff);
    const maxReportTokens = integer("eval", "max-tokens", v["max-tokens"], 1, 4096);
    const backend = backendOption("eval", v.backend);
    const presetName = v.preset === undefined ? undefined : oneOf("eval", "preset", v.preset, PREPROCESS_PRESET_NAMES);
    const progress = new Progress(io, { quiet: v.quiet === true });
    const { model, file } = await openModel("eval", v.checkpoint, backend, presetName, progress);
    const pre = presetName ? preprocessPreset(presetName) : model.preprocess;
    if (!pre) throw new UsageError(`tgh-moe eval: ${file} stores no preprocessing preset; give --preset`);
    const r = await evaluate(model, pre, {
      split, count, dataSeed, maxReportTokens, maxAnswerTokens: EVAL_DEFAULTS.maxAnswerTokens,
      swap: v["no-swap"] !== true, choose: v["no-choose"] !== true, baselineStudies: EVAL_DEFAULTS.baselineStudies,
      onProgress: (done, total) => progress.count(`eval: ${done}/${total} prompts`, done, total),
    });
    if (v.json) io.out(JSON.stringify({ checkpoint: file, split, dataSeed, ...r }, null, 1));
    else io.out(evalTables(file, split, r));
    return EXIT.ok;
  },
});

/** A share as a percentage, "-" when undefined. */
const pct = (x: number | null, digits = 1) => (x === null ? "-" : (100 * x).toFixed(digits));

/** The metrics table, the per-question-type table and one routing table per MoE layer (markdown). */
export function evalTables(file: string, split: string, r: EvalResult): string {
  const c = r.counts;
  const out = [`${file} on ${c.studies} ${split} studies: ${c.reports} reports, ${c.closed} closed and ${c.open} open questions (${c.swapped} also asked on a swapped volume)`, ""];
  out.push(markdownTable(["metric", "value"], Object.entries(r.metrics).map(([k, x]) => [k, x === null ? "undefined" : pct(x, 2)])));
  out.push("Per question type (%): model (generated; closed also chosen among the options), majority answer, text-only, and the image swap (answers changed / right for the other study, of n swapped)", "");
  out.push(markdownTable(["finding", "aspect", "form", "n", "model", "chosen", "majority", "text-only", "swap n", "changed", "right"], r.questions.map((q) => [
    q.finding, q.aspect, q.form, String(q.n), pct(q.model), pct(q.chosen), pct(q.majority), pct(q.textOnly), String(q.swapN), pct(q.swapChanged), pct(q.swapRight),
  ])));
  for (const layer of r.routing) {
    const experts = expertKeys(layer);
    const tasks = Object.keys(layer.top1);
    out.push(`MoE layer ${layer.layer}: share of tokens by top-1 expert (%)${layer.gateAccuracy ? "; task gate picks the task's group: " + tasks.map((t) => `${t} ${(100 * layer.gateAccuracy![t]).toFixed(1)}%`).join(", ") : " (no task level)"}`, "");
    out.push(markdownTable(["task", ...experts], tasks.map((t) => [t, ...experts.map((e) => (100 * (layer.top1[t][e] ?? 0)).toFixed(1))])));
  }
  return out.join("\n");
}
