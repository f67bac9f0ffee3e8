/**
 * `npm run fuzz [-- options]`: mutates valid NIfTI, safetensors, checkpoint and PNG inputs and checks
 * that every case ends in a result or a typed error within the time and memory limits (docs/FUZZ.md).
 *
 *   npm run fuzz                                  # 20000 cases of each format, seed 1
 *   npm run fuzz -- --format niigz,png --cases 5000 --seed 7
 *   npm run fuzz -- --replay build/fuzz/png-s1-42.png --format png
 * Exit code 0: no finding; 1: findings (saved under --out with their plans); 2: bad options.
 */
import { cpus } from "node:os";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { campaign, summary } from "./campaign.js";
import { FuzzPool } from "./pool.js";
import { FORMATS } from "./seeds.js";

const { values } = parseArgs({
  options: {
    format: { type: "string", default: FORMATS.join(",") },
    cases: { type: "string", default: "20000" },
    seed: { type: "string", default: "1" },
    workers: { type: "string", default: String(Math.max(1, Math.min(2, cpus().length))) },
    "time-limit": { type: "string", default: "2000" },
    "mem-limit": { type: "string", default: "256" },
    out: { type: "string", default: "build/fuzz" },
    replay: { type: "string" },
    json: { type: "boolean" },
  },
});
const int = (name: string, text: string, lo: number): number => {
  const x = Number(text);
  if (!Number.isInteger(x) || x < lo) {
    process.stderr.write(`fuzz: --${name}: expected an integer >= ${lo}, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return x;
};
const formats = values.format.split(",").filter(Boolean);
for (const f of formats) {
  if (!(FORMATS as readonly string[]).includes(f) && !f.startsWith("selftest-")) {
    process.stderr.write(`fuzz: --format: expected some of ${FORMATS.join(", ")}, got ${JSON.stringify(f)}\n`);
    process.exit(2);
  }
}
const limits = { workers: int("workers", values.workers, 1), timeLimitMs: int("time-limit", values["time-limit"], 1), memLimitMB: int("mem-limit", values["mem-limit"], 1) };

if (values.replay !== undefined) {
  const pool = new FuzzPool({ ...limits, workers: 1 });
  const r = await pool.run(formats[0], new Uint8Array(readFileSync(values.replay)));
  await pool.close();
  process.stdout.write(`${JSON.stringify(r, null, 1)}\n`);
  process.exit(r.status === "ok" || r.status === "typed" ? 0 : 1);
}

const stats = await campaign({
  formats, cases: int("cases", values.cases, 1), seed: int("seed", values.seed, 0), ...limits, outDir: values.out,
  onFormat: (s) => {
    process.stdout.write(`${summary(s)}\n`);
    for (const f of s.findings.slice(0, 10)) process.stdout.write(`  finding: case ${f.index}: ${f.result.status} ${f.result.name}: ${f.result.message.split("\n")[0].slice(0, 300)}${f.file ? ` (saved: ${f.file})` : ""}\n`);
  },
});
if (values.json) process.stdout.write(`${JSON.stringify(stats.map((s) => ({ ...s, findings: s.findings.length })))}\n`);
process.exit(stats.some((s) => s.findings.length > 0) ? 1 : 0);
