/**
 * Preprocessing: window / scale bounds, trilinear resampling invariants (identity, constants, linear
 * ramps, bounds, pair means when halving, separability), centre crop / pad, presets as JSON, and
 * preprocess end to end from a NIfTI file (shape, range, geometry, determinism).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ShapeError, ValueError } from "../src/errors.js";
import { readNifti } from "../src/io/nifti.js";
import { writeNifti } from "../src/io/nifti-write.js";
import { PRESET_VOLUME } from "../src/model/config.js";
import {
  PREPROCESS_PRESET_NAMES, axisTaps, centreOffsets, cropOrPad, preprocess, preprocessPreset, resampleTrilinear,
  resizeTrilinear, validatePreset, windowScale, type PreprocessPreset,
} from "../src/preprocess/index.js";
import { assertClose, shaped, assertSameBits } from "./util/close.js";
import { check, data, dataSeed, dim } from "./util/prop.js";

const shape3 = fc.tuple(dim(6), dim(7), dim(9));

describe("windowScale", () => {
  it("clips to [lo, hi] and scales to [0, 1]: lo -> 0, hi -> 1, exact formula, monotone", () => {
    // exact: one float64 expression rounded to float32, compared bit for bit
    check(fc.record({ n: dim(200), seed: dataSeed, lo: fc.integer({ min: -2000, max: 0 }), w: fc.integer({ min: 1, max: 3000 }) }), ({ n, seed, lo, w }) => {
      const hi = lo + w;
      const x = data(seed, n, lo - 500, hi + 500);
      x[0] = lo;
      if (n > 1) x[n - 1] = hi;
      const y = windowScale(x, lo, hi);
      assertSameBits("window", y, Float32Array.from(x, (v) => (Math.min(Math.max(v, lo), hi) - lo) / (hi - lo)));
      expect(y[0]).toBe(0);
      if (n > 1) expect(y[n - 1]).toBe(1);
      const order = Array.from(x.keys()).sort((a, b) => x[a] - x[b]);
      expect(order.every((k, i) => i === 0 || y[k] >= y[order[i - 1]])).toBe(true); // monotone
      expect(y.every((v) => v >= 0 && v <= 1)).toBe(true);
    });
  });
  it("extreme inputs stay in [0, 1]; a bad window is a ValueError", () => {
    const y = windowScale(Float32Array.from([-3.4e38, 3.4e38, -1000, 1000, 0]), -1000, 1000);
    expect(Array.from(y)).toEqual([0, 1, 0, 1, 0.5]);
    expect(() => windowScale(new Float32Array(1), 5, 5)).toThrow(ValueError);
    expect(() => windowScale(new Float32Array(1), NaN, 5)).toThrow(ValueError);
  });
});

describe("trilinear resampling", () => {
  it("identity when the grids match (same bits)", () => {
    check(fc.record({ s: shape3, seed: dataSeed }), ({ s, seed }) => {
      const x = data(seed, s[0] * s[1] * s[2], -1e30, 1e30);
      assertSameBits("identity", resizeTrilinear(x, s, s), x);
    });
  });

  it("a constant stays exactly constant; outputs stay within [min, max] of the input", () => {
    check(fc.record({ s: shape3, o: shape3, seed: dataSeed, c: fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }) }), ({ s, o, seed, c }) => {
      const n = s[0] * s[1] * s[2];
      const y = resizeTrilinear(new Float32Array(n).fill(c), s, o);
      expect(y.every((v) => v === Math.fround(c))).toBe(true);
      const x = data(seed, n, -1, 1);
      let lo = Infinity, hi = -Infinity;
      for (const v of x) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      expect(resizeTrilinear(x, s, o).every((v) => v >= lo && v <= hi)).toBe(true);
    });
  });

  it("a linear ramp stays linear: value = ramp(clamped source coordinate)", () => {
    // 1e-5 absolute on values of order 10: float32 rounding of the input and output only
    check(fc.record({ s: shape3, o: shape3, g: fc.tuple(fc.double({ min: -2, max: 2, noNaN: true }), fc.double({ min: -2, max: 2, noNaN: true }), fc.double({ min: -2, max: 2, noNaN: true })) }), ({ s, o, g }) => {
      const [D, H, W] = s;
      const ramp = (d: number, h: number, w: number) => 1 + g[0] * d + g[1] * h + g[2] * w;
      const x = new Float32Array(D * H * W);
      for (let d = 0; d < D; d++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) x[(d * H + h) * W + w] = ramp(d, h, w);
      const y = resizeTrilinear(x, s, o);
      const coord = (i: number, nIn: number, nOut: number) => Math.min(Math.max((i + 0.5) * (nIn / nOut) - 0.5, 0), nIn - 1);
      const want = new Float64Array(o[0] * o[1] * o[2]);
      for (let d = 0; d < o[0]; d++) for (let h = 0; h < o[1]; h++) for (let w = 0; w < o[2]; w++) {
        want[(d * o[1] + h) * o[2] + w] = ramp(coord(d, D, o[0]), coord(h, H, o[1]), coord(w, W, o[2]));
      }
      assertClose("ramp", shaped(o, y), shaped(o, want), { atol: 1e-5, rtol: 1e-6 });
    });
  });

  it("halving averages voxel pairs (half-pixel centres, align_corners=False); [a, b] -> [a, .75a+.25b, .25a+.75b, b]", () => {
    // exact in float64, then one float32 rounding
    const x = data(3, 2 * 4 * 6);
    const y = resizeTrilinear(x, [2, 4, 6], [1, 2, 3]);
    const want = new Float32Array(6);
    for (let h = 0; h < 2; h++) for (let w = 0; w < 3; w++) {
      let s = 0;
      for (let d = 0; d < 2; d++) for (let dh = 0; dh < 2; dh++) for (let dw = 0; dw < 2; dw++) s += x[(d * 4 + 2 * h + dh) * 6 + 2 * w + dw];
      want[h * 3 + w] = s / 8;
    }
    assertClose("pair means", shaped([1, 2, 3], y), shaped([1, 2, 3], want), { atol: 1e-7, rtol: 0 });
    expect(Array.from(resizeTrilinear(Float32Array.from([0, 1]), [1, 1, 2], [1, 1, 4]))).toEqual([0, 0.25, 0.75, 1]);
    const t = axisTaps(2, 4, 0.5);
    expect([Array.from(t.i0), Array.from(t.i1), Array.from(t.f)]).toEqual([[0, 0, 0, 1], [1, 1, 1, 1], [0, 0.25, 0.75, 0]]);
  });

  it("is separable: 3D equals three 1D passes (one axis at a time)", () => {
    // 1e-6: float32 rounding between the passes
    check(fc.record({ s: shape3, o: shape3, seed: dataSeed }), ({ s, o, seed }) => {
      const x = data(seed, s[0] * s[1] * s[2]);
      const a = resizeTrilinear(x, s, [s[0], s[1], o[2]]);
      const b = resizeTrilinear(a, [s[0], s[1], o[2]], [s[0], o[1], o[2]]);
      const c = resizeTrilinear(b, [s[0], o[1], o[2]], o);
      assertClose("separable", shaped(o, resizeTrilinear(x, s, o)), shaped(o, c), { atol: 1e-6, rtol: 0 });
    }, 40);
  });
});

describe("centre crop / pad", () => {
  it("out[g] = in[g + trunc((n - g) / 2)] inside, fill outside; crop-then-pad restores the centre", () => {
    check(fc.record({ s: shape3, g: shape3, seed: dataSeed }), ({ s, g, seed }) => {
      const x = data(seed, s[0] * s[1] * s[2]);
      const { data: y, offset } = cropOrPad(x, s, g, -7);
      expect(offset).toEqual(centreOffsets(s, g));
      for (let d = 0; d < g[0]; d++) for (let h = 0; h < g[1]; h++) for (let w = 0; w < g[2]; w++) {
        const [sd, sh, sw] = [d + offset[0], h + offset[1], w + offset[2]];
        const inside = sd >= 0 && sd < s[0] && sh >= 0 && sh < s[1] && sw >= 0 && sw < s[2];
        expect(y[(d * g[1] + h) * g[2] + w]).toBe(inside ? x[(sd * s[1] + sh) * s[2] + sw] : -7);
      }
    }, 40);
  });
  it("centring: odd leftovers go to the end", () => {
    expect(centreOffsets([5, 6, 4], [2, 3, 4])).toEqual([1, 1, 0]); // crop 1 before, 2 after; 1 and 2; none
    expect(centreOffsets([2, 3, 1], [5, 6, 4])).toEqual([-1, -1, -1]); // pad 1 before, 2 after; 1 and 2; 1 and 2
    expect(Array.from(cropOrPad(Float32Array.from([1, 2]), [1, 1, 2], [1, 1, 5], 0).data)).toEqual([0, 1, 2, 0, 0]);
    expect(Array.from(cropOrPad(Float32Array.from([1, 2, 3, 4, 5]), [1, 1, 5], [1, 1, 2], 0).data)).toEqual([2, 3]);
  });
});

describe("presets", () => {
  it("one per model preset, grids equal to the model's volume, JSON round trip validates", () => {
    for (const name of ["tiny", "small", "m3d", "phi3v"] as const) {
      const p = preprocessPreset(name);
      expect(p.grid).toEqual([...PRESET_VOLUME[name]]);
      expect(p).toMatchObject({ name, version: name === "small" ? 2 : 1, window: { lo: -1000, hi: 1000 }, resample: { mode: "shape" } });
      expect(validatePreset(JSON.parse(JSON.stringify(p)))).toEqual(p);
    }
    expect(PREPROCESS_PRESET_NAMES).toEqual(["tiny", "small", "m3d", "phi3v"]);
    expect(preprocessPreset("small", 1).grid).toEqual([16, 64, 64]); // checkpoints made before the finer grid still read
    expect(preprocessPreset("small", 2).grid).toEqual([32, 128, 128]);
    expect(preprocessPreset("m3d").grid).toEqual([32, 256, 256]);
    const copy = preprocessPreset("m3d");
    copy.grid[0] = 1;
    expect(preprocessPreset("m3d").grid[0]).toBe(32); // a fresh copy each time
  });
  it("unknown names, versions and malformed presets are ValueErrors naming the key", () => {
    expect(() => preprocessPreset("huge")).toThrow(/name: expected one of tiny, small, m3d, phi3v/);
    expect(() => preprocessPreset("m3d", 9)).toThrow(/version: m3d has versions 1/);
    const p = preprocessPreset("small");
    const bad: [string, unknown][] = [
      ["window", { lo: 5, hi: 5 }], ["grid", [16, 64]], ["grid", [16, 64, 0.5]], ["resample", { mode: "spacing" }],
      ["resample", { mode: "spacing", spacing: [1, -1, 1] }], ["interpolation", "nearest"], ["orientation", "RAS"],
      ["version", 0], ["name", ""], ["extra", 1],
    ];
    for (const [key, value] of bad) {
      expect(() => validatePreset({ ...p, [key]: value }, "ckpt.preprocess")).toThrow(new RegExp(`^ckpt\\.preprocess: ${key}: expected`));
    }
  });
});

/** A chest-like volume in HU: air outside, a body at 40 HU, "lungs" at -850, "bone" at 1200. */
function phantom(D: number, H: number, W: number): Float32Array {
  const x = new Float32Array(D * H * W).fill(-1024);
  for (let d = 0; d < D; d++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
    const r = Math.hypot((h - H / 2) / (H / 2.4), (w - W / 2) / (W / 2.4));
    if (r < 1) x[(d * H + h) * W + w] = r < 0.15 ? 1200 : Math.abs(w - W / 2) > W / 8 && r < 0.8 ? -850 : 40;
  }
  return x;
}

describe("preprocess", () => {
  const [D, H, W] = [9, 40, 36];
  const file = writeNifti({ data: phantom(D, H, W), shape: [D, H, W], affine: [[-0.8, 0, 0, 100], [0, -0.8, 0, 120], [0, 0, 2.5, -300], [0, 0, 0, 1]] }, { gzip: true });
  it("shape mode (small, version 1): [1, 1, 16, 64, 64] in [0, 1], no crop, geometry kept", () => {
    const vol = readNifti(file);
    const { data, meta } = preprocess(vol, preprocessPreset("small", 1));
    expect(data.shape).toEqual([1, 1, 16, 64, 64]);
    expect(data.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(meta.offset).toEqual([0, 0, 0]);
    expect(meta.resampledShape).toEqual([16, 64, 64]);
    const [sd, sh, sw] = vol.spacing; // 2.5 and float32(0.8)
    assertClose("spacing", meta.spacing, [sd * 9 / 16, sh * 40 / 64, sw * 36 / 64], { atol: 0, rtol: 1e-15 });
    expect(meta.clipped.low).toBeGreaterThan(0); // air at -1024 HU is below the window
    expect(meta.clipped.high).toBeGreaterThan(0); // bone
    // the volume's extent is kept: the corner (-0.5, -0.5, -0.5) of both grids is the same world point
    const corner = (A: number[][]) => [0, 1, 2].map((r) => A[r][3] - 0.5 * (A[r][0] + A[r][1] + A[r][2]));
    assertClose("extent corner", corner(meta.affine), corner(vol.affine), { atol: 1e-9, rtol: 0 });
  });

  it("spacing mode: physical voxel size, centred crop/pad, padding = 0 (air)", () => {
    const vol = readNifti(file);
    const preset: PreprocessPreset = { ...preprocessPreset("tiny"), name: "tiny-2mm", resample: { mode: "spacing", spacing: [5, 1.6, 1.6] }, grid: [4, 32, 32] };
    const { data, meta } = preprocess(vol, preset);
    // resampled extent round(n * s / t): D 9*2.5/5 = 4.5 -> 5 (Math.round), H 40*.8/1.6 = 20, W 36*.8/1.6 = 18
    expect(meta.resampledShape).toEqual([5, 20, 18]);
    expect(meta.offset).toEqual([0, -6, -7]);
    expect(meta.spacing).toEqual([5, 1.6, 1.6]);
    const at = (d: number, h: number, w: number) => data.data[(d * 32 + h) * 32 + w];
    expect(at(2, 0, 16)).toBe(0); // padded rows
    expect(at(2, 31, 16)).toBe(0);
    expect(at(2, 16, 0)).toBe(0);
    expect(at(2, 16, 16)).toBe(1); // bone (1200 HU) in the centre, clipped to the window top
    // grid voxel (w, h, d) = (7, 6, 0) is resampled voxel (0, 0, 0), which samples the source at
    // index (0 + 0.5) * scale - 0.5 (scale = 1.6 / 0.8, 1.6 / 0.8, 5 / 2.5): the same world point
    const A = meta.affine, S = vol.affine;
    const world = (M: number[][], v: number[]) => [0, 1, 2].map((r) => M[r][0] * v[0] + M[r][1] * v[1] + M[r][2] * v[2] + M[r][3]);
    const src = [1.6 / vol.spacing[2], 1.6 / vol.spacing[1], 5 / vol.spacing[0]].map((s) => 0.5 * s - 0.5);
    assertClose("geometry", world(A, [7, 6, 0]), world(S, src), { atol: 1e-12, rtol: 0 });
  });

  it("deterministic: the same input gives the same bits; matches window -> resize on its own", () => {
    const vol = readNifti(file);
    const a = preprocess(vol, preprocessPreset("small", 1)).data.data;
    const b = preprocess(readNifti(file), preprocessPreset("small", 1)).data.data;
    assertSameBits("preprocess twice", a, b);
    assertSameBits("composition", a, resizeTrilinear(windowScale(vol.data, -1000, 1000), [D, H, W], [16, 64, 64]));
  });

  it("refuses malformed volumes and presets", () => {
    const vol = readNifti(file);
    expect(() => preprocess({ ...vol, shape: [D, H] }, preprocessPreset("small"))).toThrow(ShapeError);
    expect(() => preprocess({ ...vol, data: vol.data.subarray(1) }, preprocessPreset("small"))).toThrow(ShapeError);
    expect(() => preprocess({ ...vol, spacing: [1, 0, 1] }, preprocessPreset("small"))).toThrow(/vol\.spacing/);
    expect(() => preprocess(vol, { ...preprocessPreset("small"), grid: [0, 1, 1] })).toThrow(/preset: grid/);
  });

  it("resampleTrilinear with an explicit scale: step 2 picks every other voxel", () => {
    const x = Float32Array.from({ length: 7 }, (_, i) => i * i);
    // x = (o + 0.5) * 2 - 0.5 = 2o + 0.5: midway between 2o and 2o + 1
    expect(Array.from(resampleTrilinear(x, [1, 1, 7], [1, 1, 4], [1, 1, 2]))).toEqual([0.5, 6.5, 20.5, 36]);
  });
});
