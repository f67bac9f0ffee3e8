/**
 * The ablation grid of docs/RESULTS.md: variants (a) dense, (b) token-moe, (c) tgh, (d) one-stage,
 * each over several seeds, trained with `tgh-moe train` at a stated budget and scored with
 * `tgh-moe eval --json` on the test split; prints the tables (mean ± sample std over seeds).
 * Compute is shared where the recipe allows: per seed, one tgh run gives (c) and its stage 1
 * checkpoint is (a); (b) resumes from that stage 1 checkpoint, (d) from its stage 0 checkpoint.
 * The first tgh run turns --budget-minutes into step counts; every other run uses those counts.
 *
 *   npx tsx scripts/results.ts --budget-minutes 5 --seeds 0,1,2 --count 12 --parallel 2 --dir scratch/results
 *   npx tsx scripts/results.ts --steps 60,150,100 ...     (explicit step counts: no calibration, seeds in parallel)
 */
import { spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { resultsTable, summarize, summarizeValues } from "../src/eval/metrics.js";
import { pairedDifference } from "../src/eval/paired.js";
import type { EvalResult } from "../src/recipe/evaluate.js";

const { values: a } = parseArgs({
  options: {
    "budget-minutes": { type: "string", default: "5" }, seeds: { type: "string", default: "0,1,2" },
    count: { type: "string", default: "12" }, parallel: { type: "string", default: "2" },
    studies: { type: "string", default: "200" }, dir: { type: "string", default: "scratch/results" },
    steps: { type: "string" }, // "s0,s1,s2": skip the calibration
  },
});
const seeds = a.seeds!.split(",").map(Number), dir = a.dir!, parallel = Number(a.parallel);
const VARIANTS = [["dense", "(a) dense (stage 1)"], ["token-moe", "(b) token-level MoE"], ["tgh", "(c) TGH-MoE, two stages"], ["one-stage", "(d) TGH-MoE, one stage"]] as const;

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
const common = (s: number) => ["--preset", "small", "--seed", String(s), "--studies", a.studies!, "--checkpoint-every", "0", "--state-dir", dir, "--quiet"];
let steps: string[] | null = a.steps ? a.steps.split(",") : null;
const stepArgs = () => ["--stage0-steps", steps![0], "--stage1-steps", steps![1], "--stage2-steps", steps![2]];
const evalJob = (s: number, variant: string, file: string, dep: string) => ({
  id: `eval ${variant} ${s}`, deps: [dep],
  run: () => run(["eval", "--checkpoint", file, "--preset", "small", "--count", a.count!, "--json", "--quiet"], ck(s, `eval-${variant}.json`)),
});
const jobs = [];
for (const s of seeds) {
  const first = s === seeds[0] && !steps;
  jobs.push({
    id: `tgh ${s}`, deps: s === seeds[0] || steps ? [] : [`tgh ${seeds[0]}`],
    run: async () => {
      await run(["train", ...common(s), ...(first ? ["--budget-minutes", a["budget-minutes"]!] : stepArgs()), "--out", `${ck(s, "tgh")}.safetensors`], `${ck(s, "tgh")}.log`);
      if (first) {
        const o = JSON.parse(await readFile(`${ck(s, "tgh")}.json`, "utf8")).options;
        steps = [o.stages.stage0.steps, o.stages.stage1.steps, o.stages.stage2.steps].map(String);
      }
    },
  });
  jobs.push({ id: `token-moe ${s}`, deps: [`tgh ${s}`], run: () => run(["train", ...common(s), ...stepArgs(), "--variant", "token-moe", "--resume", `${ck(s, "tgh")}.stage1.safetensors`, "--out", `${ck(s, "token-moe")}.safetensors`], `${ck(s, "token-moe")}.log`) });
  jobs.push({ id: `one-stage ${s}`, deps: [`tgh ${s}`], run: () => run(["train", ...common(s), ...stepArgs(), "--variant", "one-stage", "--resume", `${ck(s, "tgh")}.stage0.safetensors`, "--out", `${ck(s, "one-stage")}.safetensors`], `${ck(s, "one-stage")}.log`) });
  jobs.push(evalJob(s, "dense", `${ck(s, "tgh")}.stage1.safetensors`, `tgh ${s}`));
  jobs.push(evalJob(s, "tgh", `${ck(s, "tgh")}.safetensors`, `tgh ${s}`));
  jobs.push(evalJob(s, "token-moe", `${ck(s, "token-moe")}.safetensors`, `token-moe ${s}`));
  jobs.push(evalJob(s, "one-stage", `${ck(s, "one-stage")}.safetensors`, `one-stage ${s}`));
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
  `steps ${steps!.join(", ")} (stage 0, 1, 2; ${how}), ${a.studies} training studies; seeds ${seeds.join(", ")}; ${a.count} test studies each; grid wall time ${Math.round((Date.now() - t0) / 60000)} min`,
  "", resultsTable(rows, cols, { scale: 100, digits: 1 }, "variant"),
];
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
