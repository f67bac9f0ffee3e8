/** Paired per-study comparison with a seeded bootstrap interval: known means, coverage of a constant shift, determinism. */
import { describe, expect, it } from "vitest";
import { ValueError } from "../src/errors.js";
import { pairedDifference } from "../src/eval/paired.js";
import { assertClose } from "./util/close.js";

describe("pairedDifference", () => {
  it("the mean is the mean per-study difference; wins, losses and ties count studies", () => {
    const r = pairedDifference([1, 0.5, 0.2, 0.7], [0.5, 0.5, 0.4, 0.1]);
    assertClose("r.mean", r.mean, (0.5 + 0 - 0.2 + 0.6) / 4, { atol: 5e-13, rtol: 0 });
    expect([r.wins, r.losses, r.ties]).toEqual([2, 1, 1]);
    expect(r.lo).toBeLessThanOrEqual(r.mean);
    expect(r.hi).toBeGreaterThanOrEqual(r.mean);
  });

  it("a constant difference has a zero-width interval at that difference", () => {
    const a = [0.3, 0.9, 0.1, 0.5, 0.6], b = a.map((x) => x - 0.25);
    const r = pairedDifference(a, b);
    assertClose("r.lo", r.lo, 0.25, { atol: 5e-13, rtol: 0 });
    assertClose("r.hi", r.hi, 0.25, { atol: 5e-13, rtol: 0 });
  });

  it("the interval of a noisy difference is about +-1.96 standard errors, and the same seed gives the same bits", () => {
    // differences alternate +1 / -1 around 0: sd 1, standard error 1/sqrt(400) = 0.05
    const a = Array.from({ length: 400 }, (_, i) => (i % 2 ? 1 : -1)), b = a.map(() => 0);
    const r = pairedDifference(a, b, { seed: 7 });
    expect(r.mean).toBe(0);
    expect(r.lo).toBeGreaterThan(-0.13);
    expect(r.lo).toBeLessThan(-0.07);
    expect(r.hi).toBeGreaterThan(0.07);
    expect(r.hi).toBeLessThan(0.13);
    expect(pairedDifference(a, b, { seed: 7 })).toEqual(r);
  });

  it("rejects lists of different lengths and non-finite values", () => {
    expect(() => pairedDifference([1], [1, 2])).toThrow(ValueError);
    expect(() => pairedDifference([], [])).toThrow(ValueError);
    expect(() => pairedDifference([NaN], [0])).toThrow(ValueError);
  });
});
