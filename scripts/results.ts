/**
 * The ablation grid of docs/RESULTS.md: variants (a) dense, (a2) dense-stage2, (b) token-moe, (c) tgh, (d) one-stage,
 * each over several seeds, trained with `tgh-moe train` at a stated budget and scored with
 * `tgh-moe eval --json` on the test split; prints the tables (mean ± sample std over seeds).
 * Compute is shared where the recipe allows: per seed, one tgh run gives (c) and its stage 1
 * checkpoint is (a); (a2) and (b) resume from that stage 1 checkpoint, (d) from its stage 0 checkpoint.
 * The first tgh run turns --budget-minutes into step counts; every other run uses those counts.
 * `--recipe="..."` adds training flags to every run (stage 1's warm-ups and shares, stage 2's answer
 * caps): the variants resumed from the tgh run's stage 1 get the same stage 2 settings as (c).
 * The grid resumes: a job whose output is in --dir is not run again, and a tgh run starts from
 * the furthest of its stage checkpoints found there (seed<s>-tgh.stage0/1.safetensors).
 *
 *   npx tsx scripts/results.ts --budget-minutes 5 --seeds 0,1,2 --count 12 --parallel 2 --dir scratch/results
 *   npx tsx scripts/results.ts --steps 60,150,100 ...     (explicit step counts: no calibration, seeds in parallel)
 *   npx tsx scripts/results.ts --steps 1200,600,600 --count 50 --recipe="--focus-warmup 150 --focus-share 0.25,0 --closed-text"
 *   ... --variants dense,token-moe       (only these variants and tgh: their jobs and tables)
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { resultsTable, summarize, summarizeValues } from "../src/eval/metrics.js";
import { pairedDifference } from "../src/eval/paired.js";
import type { EvalResult } from "../src/recipe/evaluate.js";

const { values: a } = parseArgs({
  options: {
    "budget-minutes": { type: "string", default: "5" }, seeds: { type: "string", default: "0,1,2" },
    count: { type: "string", default: "12" }, parallel: { type: "string", default: "2" },
    studies: { type: "string" }, dir: { type: "string", default: "scratch/results" },
    steps: { type: "string" }, // "s0,s1,s2": skip the calibration
    recipe: { type: "string", default: "" },
    variants: { type: "string", default: "dense,dense-stage2,token-moe,tgh,one-stage" }, // tgh is always in
  },
});
const seeds = a.seeds!.split(",").map(Number), dir = a.dir!, parallel = Number(a.parallel);
const recipe = a.recipe!.split(/\s+/).filter(Boolean), threads = String(Math.max(1, Math.floor(availableParallelism() / parallel)));
const ALL_VARIANTS = [["dense", "(a) dense (stage 1)"], ["dense-stage2", "(a2) dense, stage 2 too"], ["token-moe", "(b) token-level MoE"], ["tgh", "(c) TGH-MoE, two stages"], ["one-stage", "(d) TGH-MoE, one stage"]] as const;
const wanted = new Set([...a.variants!.split(","), "tgh"]);
for (const v of wanted) if (!ALL_VARIANTS.some(([x]) => x === v)) throw new Error(`results: --variants: unknown variant ${v}; expected some of ${ALL_VARIANTS.map(([x]) => x).join(",")}`);
const VARIANTS = ALL_VARIANTS.filter(([v]) => wanted.has(v));

function run(args: string[], log: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("npx", ["tsx", "src/cli.ts", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    p.on("close", async (code) => {
      await writeFile(log, out);
      if (code === 0) resolve();
      else reject(new Error(`${args.join(" ")}: exit ${code}; see ${log}`));
    });
  });
}

/** Runs jobs with at most `parallel` at once; a job starts when its dependencies have finished. */
async function schedule(jobs: { id: string; deps: string[]; run: () => Promise<void> }[]): Promise<void> {
  const done = new Map<string, Promise<void>>();
  let active = 0;
  const waiters: (() => void)[] = [];
  const slot = async () => {
    while (active >= parallel) await new Promise<void>((r) => waiters.push(r));
    active++;
  };
  const free = () => {
    active--;
    waiters.shift()?.();
  };
  for (const j of jobs) {
    done.set(j.id, (async () => {
      await Promise.all(j.deps.map((d) => done.get(d)!));
      await slot();
      const t0 = Date.now();
      console.error(`start ${j.id}`);
      try {
        await j.run();
      } finally {
        free();
      }
      console.error(`done  ${j.id} (${Math.round((Date.now() - t0) / 1000)} s)`);
    })());
  }
  await Promise.all(done.values());
}

await mkdir(dir, { recursive: true });
const ck = (s: number, what: string) => join(dir, `seed${s}-${what}`);
const common = (s: number) => ["--preset", "small", "--seed", String(s), ...(a.studies ? ["--studies", a.studies] : []), "--checkpoint-every", "0", "--state-dir", dir, "--threads", threads, "--quiet"];
/** The tgh run's start: the furthest stage checkpoint already in dir, else from scratch. */
const tghStart = (s: number) => [1, 0].map((k) => `${ck(s, "tgh")}.stage${k}.safetensors`).find(existsSync);
/** A job that is skipped when its output exists (the grid resumes). */
const job = (id: string, deps: string[], out: string, go: () => Promise<void>) => ({ id, deps, run: () => (existsSync(out) ? Promise.resolve() : go()) });
let steps: string[] | null = a.steps ? a.steps.split(",") : null;
const stepArgs = () => ["--stage0-steps", steps![0], "--stage1-steps", steps![1], "--stage2-steps", steps![2]];
const evalJob = (s: number, variant: string, file: string, dep: string) => job(`eval ${variant} ${s}`, [dep], ck(s, `eval-${variant}.json`),
  () => run(["eval", "--checkpoint", file, "--preset", "small", "--count", a.count!, "--threads", threads, "--json", "--quiet"], ck(s, `eval-${variant}.json`)));
if (!steps && seeds.some((s) => tghStart(s))) throw new Error(`results: ${dir} holds stage checkpoints of a tgh run: give their --steps`);
const jobs = [];
for (const s of seeds) {
  const first = s === seeds[0] && !steps;
  jobs.push(job(`tgh ${s}`, s === seeds[0] || steps ? [] : [`tgh ${seeds[0]}`], `${ck(s, "tgh")}.safetensors`, async () => {
    const start = tghStart(s), from = start ? ["--resume", start, ...stepArgs()] : [...common(s), ...(first ? ["--budget-minutes", a["budget-minutes"]!] : stepArgs())];
    await run(["train", ...from, ...recipe, "--threads", threads, "--out", `${ck(s, "tgh")}.safetensors`], `${ck(s, "tgh")}.log`);
    if (first) {
      const o = JSON.parse(await readFile(`${ck(s, "tgh")}.json`, "utf8")).options;
      steps = [o.stages.stage0.steps, o.stages.stage1.steps, o.stages.stage2.steps].map(String);
    }
  }));
  const resumed = (variant: string, from: string, extra: string[]) => job(`${variant} ${s}`, [`tgh ${s}`], `${ck(s, variant)}.safetensors`,
    () => run(["train", "--resume", `${ck(s, "tgh")}.${from}.safetensors`, ...stepArgs(), "--variant", variant, ...extra, "--threads", threads, "--out", `${ck(s, variant)}.safetensors`], `${ck(s, variant)}.log`));
  // each variant's training job (tgh's is above; dense is tgh's stage 1) and its evaluation
  const train = { "token-moe": resumed("token-moe", "stage1", recipe), "dense-stage2": resumed("dense-stage2", "stage1", recipe), "one-stage": resumed("one-stage", "stage0", recipe) };
  for (const [v] of VARIANTS) {
    if (v in train) jobs.push(train[v as keyof typeof train]);
    const trained = v === "dense" ? ck(s, "tgh") + ".stage1" : ck(s, v);
    jobs.push(evalJob(s, v, `${trained}.safetensors`, v === "dense" ? `tgh ${s}` : `${v} ${s}`));
  }
}
const t0 = Date.now();
await schedule(jobs);

// ------------------------------------------------------------------------------------------ tables
const results = new Map<string, EvalResult[]>();
for (const [v] of VARIANTS) {
  results.set(v, await Promise.all(seeds.map(async (s) => JSON.parse(await readFile(ck(s, `eval-${v}.json`), "utf8")) as EvalResult)));
}
const cols = [
  ["bleu1", "BLEU-1"], ["bleu4", "BLEU-4"], ["rougeL", "ROUGE-L"], ["meteor", "METEOR"], ["findingsF1", "finding F1"],
  ["closedAccuracy", "closed acc."], ["openExactMatch", "open EM"], ["imageSwapChanged", "swap changed"],
].map(([key, title]) => ({ key, title }));
const rows = VARIANTS.map(([v, label]) => ({ label, metrics: summarize(definedMetrics(results.get(v)!.map((r) => r.metrics))) }));
const how = a.steps ? "given" : `from a ${a["budget-minutes"]} min budget (the calibrating tgh run)`;
const lines = [
  `steps ${steps!.join(", ")} (stage 0, 1, 2; ${how}), ${a.studies ?? "the preset's"} training studies${recipe.length ? `, recipe flags ${recipe.join(" ")}` : ""}; seeds ${seeds.join(", ")}; ${results.get("tgh")![0].counts.studies} test studies each; grid wall time ${Math.round((Date.now() - t0) / 60000)} min`,
  "", resultsTable(rows, cols, { scale: 100, digits: 1 }, "variant"),
];
// reading: the question types a blind model cannot answer above its majority, and the swap on them
const READ = [["effusion", "presence", "open"], ["effusion", "side", "closed"], ["nodule", "presence", "open"], ["nodule", "side", "closed"]] as const;
const row = (r: EvalResult, [f, aspect, form]: (typeof READ)[number]) => r.questions.find((x) => x.finding === f && x.aspect === aspect && x.form === form)!;
lines.push("", "Question types that need the image: accuracy, and answers changed by the image swap (%; mean ± sd over seeds)", "");
lines.push(`| variant | ${READ.map(([f, aspect, form]) => `${f} ${aspect} (${form}) | changed`).join(" | ")} |`, `| :--- |${READ.map(() => " ---: | ---: |").join("")}`);
for (const [v, label] of VARIANTS) {
  const rs = results.get(v)!;
  lines.push(`| ${label} | ${READ.map((t) => `${fmt(rs.map((r) => row(r, t).model))} | ${fmt(rs.map((r) => row(r, t).swapChanged ?? 0))}`).join(" | ")} |`);
}
lines.push(`| majority answer | ${READ.map((t) => `${fmt([row(results.get("tgh")![0], t).majority])} | -`).join(" | ")} |`);
// paired per study: the share of its questions answered right, mean over seeds, (c) minus each other variant
const perStudy = (v: string) => {
  const rs = results.get(v)!;
  return rs[0].studies.map((_, i) => rs.reduce((acc, r) => acc + r.studies[i].right / r.studies[i].asked, 0) / rs.length);
};
lines.push("", "Paired per study (questions answered right, mean over seeds): (c) minus each variant, with a 95% bootstrap interval over studies", "");
lines.push("| comparison | mean difference (points) | 95% CI | studies (c) better / worse / equal |", "| :--- | ---: | :---: | :---: |");
for (const [v, label] of VARIANTS.filter(([v]) => v !== "tgh")) {
  const p = pairedDifference(perStudy("tgh"), perStudy(v), { seed: 0 });
  lines.push(`| (c) - ${label} | ${(100 * p.mean).toFixed(1)} | [${(100 * p.lo).toFixed(1)}, ${(100 * p.hi).toFixed(1)}] | ${p.wins} / ${p.losses} / ${p.ties} |`);
}
lines.push("", `Blind baselines on the same questions (from the first run's evaluation): closed majority ${fmt([results.get("tgh")![0].metrics.closedMajority ?? 0])}, closed text-only ${fmt([results.get("tgh")![0].metrics.closedTextOnly ?? 0])}, open majority ${fmt([results.get("tgh")![0].metrics.openMajority ?? 0])}, open text-only ${fmt([results.get("tgh")![0].metrics.openTextOnly ?? 0])}`, "");
for (const [v, label] of VARIANTS) {
  const rs = results.get(v)!;
  for (const layer of rs[0].routing) {
    const per = rs.map((r) => r.routing.find((x) => x.layer === layer.layer)!);
    const gate = layer.gateAccuracy ? Object.keys(layer.gateAccuracy).map((t) => `${t} ${fmt(per.map((p) => p.gateAccuracy![t]))}`).join(", ") : "no task level";
    const experts = [...new Set(per.flatMap((p) => Object.values(p.top1).flatMap((x) => Object.keys(x))))].sort();
    const tasks = Object.keys(layer.top1);
    lines.push(`${label}, MoE layer ${layer.layer}: task gate picks the task's group: ${gate}`, "");
    lines.push(`| task | ${experts.join(" | ")} |`, `| :--- |${experts.map(() => " ---: |").join("")}`);
    for (const t of tasks) lines.push(`| ${t} | ${experts.map((e) => fmt(per.map((p) => p.top1[t]?.[e] ?? 0))).join(" | ")} |`);
    lines.push("");
  }
}
/** The metrics every run defines (a null, such as precision with no finding named, drops that metric from the table). */
function definedMetrics(runs: Record<string, number | null>[]): Record<string, number>[] {
  const keys = Object.keys(runs[0]).filter((k) => runs.every((r) => r[k] !== null));
  return runs.map((r) => Object.fromEntries(keys.map((k) => [k, r[k] as number])));
}
function fmt(xs: number[]): string {
  const s = summarizeValues(xs);
  return s.std === null ? (100 * s.mean).toFixed(1) : `${(100 * s.mean).toFixed(1)} ± ${(100 * s.std).toFixed(1)}`;
}
const md = lines.join("\n");
await writeFile(join(dir, "results.md"), md);
console.log(md);
