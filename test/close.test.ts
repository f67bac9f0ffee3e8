/**
 * The closeness rule every numeric test uses (test/util/close.ts) can fail: on a transposed matrix,
 * on a NaN, on an infinity, on one value just outside atol + rtol|expected|, and only there.
 */
import { describe, expect, it } from "vitest";
import { fromArray } from "../src/tensor.js";
import { assertClose, closeness, shaped } from "./util/close.js";

const TOL = { atol: 1e-6, rtol: 1e-5 };
const m23 = () => fromArray([2, 3], [1, 2, 3, 4, 5, 6]);

describe("assertClose", () => {
  it("passes on equal values and on differences inside atol + rtol|expected|, at the boundary included", () => {
    assertClose("same", m23(), m23(), TOL);
    const e = [100, -2, 0];
    assertClose("inside", [100 + 0.5e-6 + 1e-3 * 0.999, -2 - 1e-6, 1e-6], e, { atol: 1e-6, rtol: 1e-5 });
    assertClose("boundary", [0.5], [0.25], { atol: 0.25, rtol: 0 }); // |d| = atol exactly (binary fractions)
    assertClose("NaN matches NaN, inf matches inf", [NaN, Infinity, -Infinity], [NaN, Infinity, -Infinity], TOL);
    assertClose("scalars", 2.5, 2.5, { atol: 0, rtol: 0 });
  });

  it("fails on a transposed matrix: same values, same length, other shape", () => {
    const a = m23(), t = fromArray([3, 2], [1, 4, 2, 5, 3, 6]);
    expect(() => assertClose("transposed", t, a, TOL)).toThrow(/transposed \[2,3\]: shape mismatch: got \[3,2\]/);
    // the same numbers as a and only the shape label changed: still a failure
    expect(() => assertClose("relabelled", shaped([3, 2], a.data), a, TOL)).toThrow(/shape mismatch/);
    // a square transpose keeps the shape: the values fail
    const sq = shaped([2, 2], [1, 2, 3, 4]), sqT = shaped([2, 2], [1, 3, 2, 4]);
    expect(() => assertClose("square transposed", sqT, sq, TOL)).toThrow(/tolerance mismatch.*first bad index 1 \[0,1\]/);
    expect(() => assertClose("rows", [[1, 2, 3]], [1, 2, 3], TOL)).toThrow(/shape mismatch: got \[1,3\]/);
    expect(() => assertClose("scalar vs list", 1, [1], TOL)).toThrow(/shape mismatch/);
  });

  it("fails on a NaN on either side, and on an infinity that is not the same infinity", () => {
    expect(() => assertClose("nan actual", [1, NaN, 3], [1, 2, 3], TOL)).toThrow(/nan actual \[3\]: NaN mismatch.*first bad index 1/);
    expect(() => assertClose("nan expected", [1, 2, 3], [1, 2, NaN], TOL)).toThrow(/NaN mismatch.*first bad index 2/);
    expect(() => assertClose("inf", [Infinity], [-Infinity], TOL)).toThrow(/infinity mismatch/);
    expect(() => assertClose("inf vs big", [Infinity], [3e38], { atol: 1e40, rtol: 0 })).toThrow(/infinity mismatch/);
    // NaN is reported before a tolerance failure that comes earlier in the data
    expect(() => assertClose("order", [9, NaN], [1, 2], TOL)).toThrow(/NaN mismatch/);
  });

  it("fails on one value just outside the tolerance, naming it, maxdiff and five pairs", () => {
    const e = Array.from({ length: 17 }, (_, i) => i - 8);
    const a = e.slice();
    a[11] = e[11] + 1e-6 + 1e-5 * Math.abs(e[11]) + 1e-9; // just outside
    expect(() => assertClose("outside", a, e, TOL)).toThrow(/outside \[17\]: tolerance mismatch; maxdiff 3\.10\de-5 .*first bad index 11 \[11\]: \[11\] 3\.0000\d+ vs 3, \[12\] 4 vs 4/);
    expect(() => assertClose("rtol 0", [1 + 2e-6], [1], { atol: 1e-6, rtol: 0 })).toThrow(/tolerance mismatch/);
    expect(() => assertClose("atol 0", [1e-7], [0], { atol: 0, rtol: 1 })).toThrow(/tolerance mismatch/);
  });

  it("closeness reports the share of the tolerance used and skips what keep leaves out", () => {
    const c = closeness([1.5, 10], [1, 2], { atol: 1, rtol: 0 }, (i) => i === 0);
    expect([c.kind, c.worst, c.maxdiff]).toEqual([null, 0.5, 0.5]);
    expect(closeness([1.5, 10], [1, 2], { atol: 1, rtol: 0 }).kind).toBe("tolerance");
    expect(() => shaped([2, 2], [1, 2, 3])).toThrow(/holds 4 values, got 3/);
  });
});
