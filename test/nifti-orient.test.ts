/**
 * Orientation: one anatomical volume stored in each of the 48 axis orders / directions, described by
 * sform, by qform only, or (RAS order) by pixdim only, always reads back to the same canonical LPS
 * array, spacing and affine. The quaternion maths is checked against nifti-reader-js's own
 * (independent) qform implementation and by round trips. Data comparisons are exact.
 */
import fc from "fast-check";
import { NIFTI1 } from "nifti-reader-js";
import { describe, expect, it } from "vitest";
import { readNifti } from "../src/io/nifti.js";
import { affineToQuatern, axcodes, matmul4, nearestAxes, qformAffine, type Mat4 } from "../src/io/orient.js";
import { assertClose, assertSameBits } from "./util/close.js";
import { check, data, dataSeed, dim } from "./util/prop.js";
import { buildNifti, fileFromCanonical, signedPermutation, type FixtureFields } from "./nifti-fixtures.js";

/** The canonical affine for spacing [sd, sh, sw] and an origin: columns point L, P, S. */
function canonAffine(sd: number, sh: number, sw: number, o = [12, -40, 7]): Mat4 {
  return [[-sw, 0, 0, o[0]], [0, -sh, 0, o[1]], [0, 0, sd, o[2]], [0, 0, 0, 1]];
}
const rotZ = (deg: number): Mat4 => {
  const c = Math.cos((deg * Math.PI) / 180), s = Math.sin((deg * Math.PI) / 180);
  return [[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
};

describe("canonical LPS from every stored orientation", () => {
  // exact data; affine exact for sform (float32-representable entries), 2e-6 relative for qform
  // (the quaternion is stored in float32)
  const arb = fc.record({
    D: dim(4), H: dim(5), W: dim(6), k: fc.integer({ min: 0, max: 47 }), seed: dataSeed,
    source: fc.constantFrom("sform" as const, "qform" as const), version: fc.constantFrom(1 as const, 2 as const),
  });
  it("sform or qform, NIfTI-1 or NIfTI-2: same array, affine, spacing", () => {
    check(arb, ({ D, H, W, k, seed, source, version }) => {
      const canon = data(seed, D * H * W, -1000, 1000);
      const A = canonAffine(2.5, 0.75, 1.25);
      const { perm, flip } = signedPermutation(k);
      const f = fileFromCanonical(canon, [D, H, W], A, perm, flip);
      const fields = source === "sform"
        ? { sformCode: 1, srow: f.affine.slice(0, 3) }
        : qformFields(f.affine);
      const vol = readNifti(buildNifti({ version, dims: f.dims, values: f.values, ...fields }));
      expect(vol.meta.orientationSource).toBe(source);
      expect(vol.meta.sourceAxcodes).toBe(axcodes(f.affine));
      expect(vol.shape).toEqual([D, H, W]);
      assertSameBits(`perm ${perm} flip ${flip}`, vol.data, canon);
      assertClose("affine", vol.affine.flat(), A.flat(), { atol: source === "sform" ? 0 : 1e-4, rtol: 2e-6 });
      expect(vol.spacing).toEqual([2.5, 0.75, 1.25]);
    }, 96);
  });

  it("named cases: RAS, LPS, LAS (qfac -1), and sagittal PIR all give the LPS array", () => {
    const [D, H, W] = [3, 4, 5];
    const canon = Float32Array.from({ length: D * H * W }, (_, i) => i);
    const A = canonAffine(3, 2, 1);
    const cases: [string, number[], boolean[], [number, number, number], number][] = [
      // name, perm, flip, hand-written quaternion (b, c, d), qfac
      ["LPS", [0, 1, 2], [false, false, false], [0, 0, 1], 1], // 180 deg about z
      ["RAS", [0, 1, 2], [true, true, false], [0, 0, 0], 1],
      ["LAS", [0, 1, 2], [false, true, false], [0, 1, 0], -1], // R = diag(-1, 1, -1): 180 deg about y
    ];
    for (const [name, perm, flip, q, qfac] of cases) {
      const f = fileFromCanonical(canon, [D, H, W], A, perm, flip);
      expect(axcodes(f.affine)).toBe(name);
      const sform: Partial<FixtureFields> = { sformCode: 1, srow: f.affine.slice(0, 3) };
      const qform: Partial<FixtureFields> = { qformCode: 1, quatern: q, qoffset: [f.affine[0][3], f.affine[1][3], f.affine[2][3]], pixdim: [qfac, 1, 2, 3, 1, 1, 1, 1] };
      for (const fields of [sform, qform]) {
        const vol = readNifti(buildNifti({ dims: f.dims, values: f.values, ...fields }));
        assertSameBits(name, vol.data, canon);
        expect(vol.affine).toEqual(A);
      }
    }
    // sagittal slices: file i -> P, j -> I, k -> R (the canonical h, d reversed, w reversed)
    const f = fileFromCanonical(canon, [D, H, W], A, [1, 2, 0], [false, true, true]);
    expect(axcodes(f.affine)).toBe("PIR");
    expect(f.dims).toEqual([H, D, W]);
    assertSameBits("PIR", readNifti(buildNifti({ dims: f.dims, values: f.values, sformCode: 1, srow: f.affine.slice(0, 3) })).data, canon);
  });

  it("pixdim only (method 0): the file is taken as RAS with a diagonal affine", () => {
    const [D, H, W] = [2, 3, 4];
    const canon = data(5, D * H * W);
    const f = fileFromCanonical(canon, [D, H, W], canonAffine(4, 0.5, 0.25, [0, 0, 0]), [0, 1, 2], [true, true, false]);
    const vol = readNifti(buildNifti({ dims: f.dims, values: f.values, pixdim: [0, 0.25, 0.5, 4, 1, 1, 1, 1] }));
    expect(vol.meta.orientationSource).toBe("pixdim");
    expect(vol.meta.sourceAxcodes).toBe("RAS");
    assertSameBits("pixdim", vol.data, canon);
    // canonical index 0 along w is the file's last i: x = 0.25 * (W - 1)
    expect(vol.affine).toEqual([[-0.25, 0, 0, 0.75], [0, -0.5, 0, 1], [0, 0, 4, 0], [0, 0, 0, 1]]);
    expect(vol.spacing).toEqual([4, 0.5, 0.25]);
  });

  it("sform wins over qform; qform over pixdim", () => {
    const values = [1, 2];
    const both = readNifti(buildNifti({ dims: [2, 1, 1], values, sformCode: 1, srow: [[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0]], qformCode: 2 }));
    expect(both.meta.orientationSource).toBe("sform");
    expect(Array.from(both.data)).toEqual([1, 2]); // sform LPS: no flip (the qform RAS would flip)
    const q = readNifti(buildNifti({ dims: [2, 1, 1], values, qformCode: 1, pixdim: [1, 3, 1, 1, 1, 1, 1, 1] }));
    expect(q.meta.orientationSource).toBe("qform");
    expect(Array.from(q.data)).toEqual([2, 1]);
  });

  it("an oblique scan snaps to the nearest axes without resampling", () => {
    const [D, H, W] = [2, 3, 4];
    const canon = data(9, D * H * W);
    for (const deg of [20, -40]) {
      const A = matmul4(rotZ(deg), canonAffine(2, 1, 1));
      const f = fileFromCanonical(canon, [D, H, W], A, [1, 0, 2], [true, false, false]);
      const vol = readNifti(buildNifti({ dims: f.dims, values: f.values, sformCode: 1, srow: f.affine.slice(0, 3) }));
      assertSameBits(`oblique ${deg}`, vol.data, canon);
      assertClose("oblique affine", vol.affine.flat(), A.flat(), { atol: 1e-5, rtol: 1e-6 });
    }
  });

  it("xyzt_units: metres and microns become mm", () => {
    for (const [units, size] of [[1, 0.002], [3, 2000], [0, 2]] as const) {
      const vol = readNifti(buildNifti({ dims: [1, 1, 1], values: [0], pixdim: [1, size, size, size, 1, 1, 1, 1], xyztUnits: units }));
      assertClose("spacing", vol.spacing, [2, 2, 2], { atol: 0, rtol: 1e-6 });
      assertClose("affine", vol.affine.flat(), canonAffine(2, 2, 2, [0, 0, 0]).flat(), { atol: 0, rtol: 1e-6 });
    }
  });
});

/** qform fields that describe a (signed-permutation) affine, via affineToQuatern. */
function qformFields(A: Mat4) {
  const q = affineToQuatern(A)!;
  return {
    qformCode: 1, quatern: q.quatern, qoffset: [A[0][3], A[1][3], A[2][3]] as [number, number, number],
    pixdim: [q.qfac, ...q.pixdim, 1, 1, 1, 1],
  };
}

describe("quaternions (nifti1.h method 2)", () => {
  const unitQuat = fc.tuple(fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }),
    fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }))
    .filter(([a, b, c, d]) => a * a + b * b + c * c + d * d > 1e-3)
    .map(([a, b, c, d]) => {
      const n = Math.hypot(a, b, c, d) * (a < 0 ? -1 : 1);
      return [b / n, c / n, d / n] as [number, number, number];
    });
  it("qformAffine agrees with nifti-reader-js's qform affine", () => {
    // 1e-6 relative: both read the same float32 fields; formulas are written differently
    const arb = fc.record({ q: unitQuat, qfac: fc.constantFrom(1 as const, -1 as const),
      px: fc.constantFrom(0.5, 0.8, 1, 2.5), pz: fc.constantFrom(1, 3, 5) });
    check(arb, ({ q, qfac, px, pz }) => {
      const bytes = buildNifti({ dims: [1, 1, 1], values: [0], qformCode: 1, quatern: q, qoffset: [1, -2, 3], pixdim: [qfac, px, 1, pz, 1, 1, 1, 1] });
      const h = new NIFTI1();
      h.readHeader(bytes.slice(0, 348).buffer);
      const f32 = q.map(Math.fround) as [number, number, number];
      const ours = qformAffine(f32, [1, -2, 3], [Math.fround(px), 1, pz], qfac);
      if (1 - (f32[0] ** 2 + f32[1] ** 2 + f32[2] ** 2) < 1e-7) return; // the library leaves NaN there
      assertClose("qform", ours.flat(), h.affine.flat(), { atol: 1e-6, rtol: 1e-6 });
    }, 100);
  });

  it("affineToQuatern inverts qformAffine (proper and improper, 180-degree cases included)", () => {
    // 1e-12: float64 throughout
    const arb = fc.record({ q: fc.oneof(unitQuat, fc.constantFrom([1, 0, 0], [0, 1, 0], [0, 0, 1], [0.6, 0.8, 0]) as fc.Arbitrary<[number, number, number]>),
      qfac: fc.constantFrom(1 as const, -1 as const), s: fc.tuple(fc.double({ min: 0.1, max: 5, noNaN: true }), fc.double({ min: 0.1, max: 5, noNaN: true }), fc.double({ min: 0.1, max: 5, noNaN: true })) });
    check(arb, ({ q, qfac, s }) => {
      const A = qformAffine(q, [0, 0, 0], s, qfac);
      const back = affineToQuatern(A)!;
      expect(back.qfac).toBe(qfac);
      assertClose("pixdim", back.pixdim, s, { atol: 0, rtol: 1e-12 });
      assertClose("affine", qformAffine(back.quatern, [0, 0, 0], back.pixdim, back.qfac).flat(), A.flat(), { atol: 1e-12, rtol: 1e-12 });
    }, 100);
  });

  it("a 180-degree quaternion with |(b, c, d)| slightly above 1 is renormalised, not NaN", () => {
    const A = qformAffine([0, 0, 1.0000001], [0, 0, 0], [1, 1, 1], 1);
    assertClose("180 about z", A.flat(), [[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]].flat(), { atol: 1e-12, rtol: 0 });
  });

  it("a sheared affine has no qform; nearestAxes pairs every axis once", () => {
    expect(affineToQuatern([[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])).toBeNull();
    // a tie (i and j both 36.9 degrees off x): the first in row-major order wins, i -> x
    expect(axcodes([[0.8, 0.8, 0, 0], [0.6, -0.6, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])).toBe("RPS");
    const { world, sign } = nearestAxes([[0, 0, -2, 0], [0.7, 0.7, 0, 0], [0.7, -0.7, 0, 0], [0, 0, 0, 1]]);
    expect([...world].sort()).toEqual([0, 1, 2]);
    expect(world[2]).toBe(0);
    expect(sign[2]).toBe(-1);
  });
});
