/**
 * Paired comparison of two models on the same studies: the mean over studies of a per-study
 * difference (model A minus model B), with a seeded percentile-bootstrap confidence interval
 * (resampling studies with replacement). Plain arithmetic; the per-study values are the caller's.
 *
 *   d_i = a_i - b_i;  mean = sum d_i / n;  CI = [q_{(1-level)/2}, q_{(1+level)/2}] of the means of
 *   `resamples` bootstrap samples of d (sorted means, nearest-rank quantiles).
 */
import { ValueError } from "../errors.js";
import { Rng } from "../rng.js";

export interface PairedDifference {
  n: number;
  mean: number;
  lo: number;
  hi: number;
  level: number;
  /** Studies where A is better, worse, equal. */
  wins: number;
  losses: number;
  ties: number;
}

export function pairedDifference(a: readonly number[], b: readonly number[], o: { level?: number; resamples?: number; seed?: number } = {}): PairedDifference {
  if (a.length !== b.length || a.length === 0) throw new ValueError(`pairedDifference: expected two equally long non-empty lists, got ${a.length} and ${b.length}`);
  const level = o.level ?? 0.95, resamples = o.resamples ?? 10_000;
  const d = a.map((x, i) => x - b[i]);
  if (d.some((x) => !Number.isFinite(x))) throw new ValueError("pairedDifference: values: expected finite numbers");
  const n = d.length, mean = d.reduce((s, x) => s + x, 0) / n;
  const rng = new Rng(o.seed ?? 0);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[rng.int(n)];
    means[r] = s / n;
  }
  means.sort();
  const at = (q: number) => means[Math.min(resamples - 1, Math.max(0, Math.ceil(q * resamples) - 1))];
  return {
    n, mean, lo: at((1 - level) / 2), hi: at((1 + level) / 2), level,
    wins: d.filter((x) => x > 0).length, losses: d.filter((x) => x < 0).length, ties: d.filter((x) => x === 0).length,
  };
}
