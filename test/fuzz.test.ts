/**
 * The fuzzer (fuzz/, docs/FUZZ.md) as a test: first that its harness catches each kind of finding
 * (a hang, a memory blow-up, a crash, an untyped error: fuzz/targets.ts selftest-*), then a seeded
 * subset of the full run, 50 cases of each format, which must end in results or typed errors only,
 * within 2 s of CPU and 256 MB each. The full run (20000 cases per format) is `npm run fuzz`.
 */
import { describe, expect, it } from "vitest";
import { campaign, summary } from "../fuzz/campaign.js";
import { applyPlan, planOf } from "../fuzz/mutate.js";
import { buildSeeds, FORMATS } from "../fuzz/seeds.js";
import { SELFTESTS } from "../fuzz/targets.js";
import { SEED } from "./util/prop.js";

describe("fuzz harness", () => {
  it("catches a hang, a memory blow-up, a crash and an untyped error, each as a finding", async () => {
    const stats = await campaign({ formats: SELFTESTS, cases: 1, seed: 0, workers: 2, timeLimitMs: 2000, memLimitMB: 256, hangMs: 8000, retry: false, outDir: null });
    const status = Object.fromEntries(stats.map((s) => [s.format, s.findings.map((f) => f.result.status)]));
    expect(status).toEqual({
      "selftest-hang": ["timeout"], "selftest-memory": ["memory"], "selftest-crash": ["crash"], "selftest-untyped": ["untyped"],
    });
  }, 120_000);

  it("a case is rebuilt from (format, seed, index) alone: same plan, same bytes", () => {
    const seeds = buildSeeds();
    for (const format of FORMATS) {
      const a = planOf(format, 7, 123), b = planOf(format, 7, 123);
      expect(b).toEqual(a);
      expect(Buffer.compare(applyPlan(format, seeds[format], a), applyPlan(format, seeds[format], b))).toBe(0);
    }
  });
});

describe("fuzz: a seeded subset (50 cases per format)", () => {
  it("every case ends in a result or a typed error, within the limits; both kinds of outcome occur", async () => {
    const stats = await campaign({ formats: FORMATS, cases: 50, seed: SEED, workers: 2, timeLimitMs: 2000, memLimitMB: 256, outDir: null });
    for (const s of stats) {
      const errors = Object.values(s.typed).reduce((a, b) => a + b, 0);
      expect(s.findings.map((f) => `${f.index}: ${f.result.status} ${f.result.message.slice(0, 300)}`), summary(s)).toEqual([]);
      expect(s.ok, `${s.format}: some mutated files still read`).toBeGreaterThan(0);
      expect(errors, `${s.format}: most mutated files are refused`).toBeGreaterThan(0);
    }
  }, 600_000);
});
