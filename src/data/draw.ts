/** Seeded draws used by the data generator (uniform ranges, choices, shuffles) over src/rng.ts `Rng`. */
import type { Rng } from "../rng.js";

/** Uniform in [lo, hi). */
export function uni(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.uniform();
}

/** Uniform integer in [lo, hi] (both included). */
export function intIn(rng: Rng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo + 1);
}

/** True with probability p. */
export function chance(rng: Rng, p: number): boolean {
  return rng.uniform() < p;
}

/** One element, uniformly. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}

/** One index drawn with the given (unnormalised, non-negative) weights. */
export function pickWeighted(rng: Rng, weights: readonly number[]): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let x = rng.uniform() * total;
  for (let i = 0; i < weights.length; i++) {
    x -= weights[i];
    if (x < 0) return i;
  }
  return weights.length - 1;
}

/** A shuffled copy (Fisher-Yates, from the last position down). */
export function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
