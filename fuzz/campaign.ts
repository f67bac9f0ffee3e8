/**
 * A fuzz campaign: for each format, cases 0..n-1 of a seed (./mutate.ts) run on a worker pool
 * (./pool.ts), counted by outcome; every finding (an untyped error, a disagreement between the
 * bytes and file readers, a timeout, a memory blow-up, a crash) is saved with its plan so it can be
 * replayed. Used by `npm run fuzz` (./run.ts) and by the seeded subset in test/fuzz.test.ts.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bombNeeds } from "./bomb-cases.js";
import { prepareBombs } from "./bombs.js";
import { applyPlan, planOf, type Plan } from "./mutate.js";
import { FuzzPool, type CaseResult } from "./pool.js";
import { buildSeeds, EXTENSION, type Format, type FormatSeeds } from "./seeds.js";

export interface CampaignOptions {
  formats: readonly string[]; // FORMATS, or a selftest-* target
  cases: number; // per format
  seed: number;
  workers: number;
  timeLimitMs: number;
  memLimitMB: number;
  /** Wall time after which a case is a hang (default: the pool's). */
  hangMs?: number;
  /** Run a case past a limit a second time before it counts (default true: a busy machine or a cold worker costs extra). */
  retry?: boolean;
  /** Where findings are saved (null: not saved). */
  outDir: string | null;
  onFormat?: (s: FormatStats) => void;
}

export interface Finding {
  format: string;
  index: number;
  result: CaseResult;
  file: string | null;
  plan: Plan | null;
}

export interface FormatStats {
  format: string;
  cases: number;
  ok: number;
  typed: Record<string, number>; // error class -> count
  findings: Finding[];
  retried: number; // cases past a limit once that passed when run again
  wallS: number;
  casesPerS: number;
  slowest: { index: number; wallMs: number; cpuMs: number };
  largest: { index: number; peakMB: number };
}

export async function campaign(o: CampaignOptions): Promise<FormatStats[]> {
  const seeds = o.formats.some((f) => !f.startsWith("selftest")) ? buildSeeds() : null;
  const pool = new FuzzPool({ workers: o.workers, timeLimitMs: o.timeLimitMs, memLimitMB: o.memLimitMB, hangMs: o.hangMs });
  const all: FormatStats[] = [];
  try {
    for (const format of o.formats) {
      const stats = await runFormat(pool, format, seeds?.[format as Format] ?? null, o);
      all.push(stats);
      o.onFormat?.(stats);
    }
  } finally {
    await pool.close();
  }
  return all;
}

async function runFormat(pool: FuzzPool, format: string, seeds: FormatSeeds | null, o: CampaignOptions): Promise<FormatStats> {
  const s: FormatStats = {
    format, cases: o.cases, ok: 0, typed: {}, findings: [], retried: 0, wallS: 0, casesPerS: 0,
    slowest: { index: -1, wallMs: 0, cpuMs: 0 }, largest: { index: -1, peakMB: 0 },
  };
  const t0 = performance.now();
  const plans = seeds ? Array.from({ length: o.cases }, (_, i) => planOf(format as Format, o.seed, i)) : [];
  for (const p of plans) if (p.bomb) await prepareBombs(bombNeeds(format as Format, p.bomb));
  const one = async (index: number) => {
    const c = seeds ? { plan: plans[index], bytes: applyPlan(format as Format, seeds, plans[index]) } : { plan: null, bytes: new Uint8Array(0) };
    let r = await pool.run(format, c.bytes);
    if ((r.status === "timeout" || r.status === "memory") && o.retry !== false) {
      // a worker's first cases and a busy machine cost extra: a finding must repeat on a fresh run
      const again = await pool.run(format, c.bytes);
      if (again.status === "ok" || again.status === "typed") (r = again), s.retried++;
    }
    if (r.wallMs > s.slowest.wallMs) s.slowest = { index, wallMs: r.wallMs, cpuMs: r.cpuMs };
    if (r.peakMB > s.largest.peakMB) s.largest = { index, peakMB: r.peakMB };
    if (r.status === "ok") s.ok++;
    else if (r.status === "typed") s.typed[r.name] = (s.typed[r.name] ?? 0) + 1;
    else s.findings.push(save(o, format, index, c.plan, c.bytes, r));
  };
  const inflight = new Set<Promise<void>>();
  for (let next = 0; next < o.cases || inflight.size > 0; ) {
    while (inflight.size < o.workers && next < o.cases) {
      const p: Promise<void> = one(next++).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.race(inflight);
  }
  s.wallS = (performance.now() - t0) / 1000;
  s.casesPerS = o.cases / s.wallS;
  return s;
}

function save(o: CampaignOptions, format: string, index: number, plan: Plan | null, bytes: Uint8Array, result: CaseResult): Finding {
  let file: string | null = null;
  if (o.outDir !== null) {
    mkdirSync(o.outDir, { recursive: true });
    const ext = EXTENSION[format as Format] ?? "bin";
    file = join(o.outDir, `${format}-s${o.seed}-${index}.${ext}`);
    writeFileSync(file, bytes);
    writeFileSync(`${file}.json`, `${JSON.stringify({ format, seed: o.seed, index, result, plan }, null, 1)}\n`);
  }
  return { format, index, result, file, plan };
}

/** One line per format: cases, rate, outcomes, findings, the slowest and the largest case. */
export function summary(s: FormatStats): string {
  const typed = Object.entries(s.typed).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");
  const errors = Object.values(s.typed).reduce((a, b) => a + b, 0);
  return `${s.format}: ${s.cases} cases in ${s.wallS.toFixed(1)} s (${s.casesPerS.toFixed(0)} cases/s): ${s.ok} read, ${errors} typed errors (${typed || "none"}); ` +
    `${s.findings.length} findings; slowest case ${s.slowest.index} ${s.slowest.wallMs.toFixed(0)} ms wall / ${s.slowest.cpuMs.toFixed(0)} ms CPU; ` +
    `most memory case ${s.largest.index} ${s.largest.peakMB.toFixed(0)} MB${s.retried ? `; ${s.retried} cases passed on a second run` : ""}`;
}
