/**
 * The learning-rate schedule of spec section 7: linear warm-up, then cosine decay to a floor. A pure
 * function of the update index (cos from src/detmath.ts: the same bits in every engine).
 */
import { cos } from "../detmath.js";
import { ValueError } from "../errors.js";

export interface Schedule {
  /** Peak learning rate, reached at the end of warm-up (e.g. 3e-4). */
  peak: number;
  /** Warm-up updates (0: none). */
  warmup: number;
  /** Updates of the whole run (warm-up included); after it the rate stays at the floor. */
  total: number;
  /** Final learning rate (e.g. peak / 10). */
  floor: number;
}

/**
 * Learning rate of update s (0-based):
 *   s < warmup:           peak (s + 1) / warmup
 *   warmup <= s < total:  floor + (peak - floor) (1 + cos(pi (s - warmup) / (total - warmup))) / 2
 *   s >= total:           floor
 */
export function lrAt(s: number, sc: Schedule): number {
  if (!Number.isInteger(s) || s < 0) throw new ValueError(`lrAt: s: expected an integer >= 0, got ${s}`);
  checkSchedule(sc);
  if (s < sc.warmup) return (sc.peak * (s + 1)) / sc.warmup;
  if (s >= sc.total) return sc.floor;
  const progress = (s - sc.warmup) / (sc.total - sc.warmup);
  return sc.floor + ((sc.peak - sc.floor) * (1 + cos(Math.PI * progress))) / 2;
}

export function checkSchedule(sc: Schedule): void {
  const ok = sc.peak >= 0 && sc.floor >= 0 && sc.floor <= sc.peak && Number.isFinite(sc.peak) &&
    Number.isInteger(sc.warmup) && sc.warmup >= 0 && Number.isInteger(sc.total) && sc.total >= sc.warmup;
  if (!ok) throw new ValueError(`schedule: expected 0 <= floor <= peak and integers 0 <= warmup <= total, got ${JSON.stringify(sc)}`);
}
