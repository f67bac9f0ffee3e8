/**
 * Synthetic CT volumes (src/data): geometry, seeds and hash, signed distances, the partial-volume
 * renderer, noise, tissue HU ranges, and findings drawn where and as large as the truth says.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Rng } from "../src/rng.js";
import { drawSubject, type Subject } from "../src/data/anatomy.js";
import { makeSample, type PlacedFinding } from "../src/data/dataset.js";
import { zoneOf } from "../src/data/findings.js";
import { makeGrid, niftiAffine, parseGrid, patientToVoxel, voxelToPatient, type Grid } from "../src/data/geometry.js";
import { addNoise, HU_MAX, HU_MIN, renderLayers, type Layer } from "../src/data/render.js";
import { capsule, coverage, ellipse, ellipsoid, sphere, sphereSection } from "../src/data/sdf.js";
import { fmix32, sampleSeed, streamSeed, volumeHash } from "../src/data/seed.js";
import { bodySdf, liverSdf, lungSdf, vertebraSdf } from "../src/data/structures.js";
import { check, dataSeed, dim } from "./util/prop.js";
import { assertClose } from "./util/close.js";

/** The subject of a sample, redrawn from the same stream as makeSample. */
function subjectOf(seed: number, index: number): Subject {
  return drawSubject(new Rng(streamSeed(sampleSeed(seed, index), "anatomy")));
}

describe("geometry", () => {
  it("presets and DxHxW parse to the default field of view", () => {
    expect(makeGrid("small")).toEqual({ shape: [32, 128, 128], spacing: [10, 3, 3] });
    expect(makeGrid("m3d")).toEqual({ shape: [32, 256, 256], spacing: [10, 1.5, 1.5] });
    expect(parseGrid("5x17x3")).toEqual({ shape: [5, 17, 3], spacing: [64, 384 / 17, 128] });
    for (const bad of ["huge", "16x64", "0x4x4", "4x4x4x4", "-1x2x2"]) expect(() => parseGrid(bad)).toThrow(/grid|shape/);
    expect(() => makeGrid({ shape: [4, 4, 4], spacing: [1, 0, 1] })).toThrow(/spacing\[1\]/);
  });

  it("voxel <-> patient are inverse; the affine maps a voxel to RAS = (-u, -v, w)", () => {
    const arb = fc.record({ D: dim(17), H: dim(17), W: dim(17), k: fc.double({ min: -2, max: 20, noNaN: true }), j: fc.double({ min: -2, max: 20, noNaN: true }), i: fc.double({ min: -2, max: 20, noNaN: true }) });
    check(arb, ({ D, H, W, k, j, i }) => {
      const g = makeGrid([D, H, W]);
      const p = voxelToPatient(g, [k, j, i]);
      const back = patientToVoxel(g, p);
      // float64 coordinates of at most a few hundred mm, a few roundings each way
      const TOL = { atol: 5e-10, rtol: 0 };
      assertClose("voxel -> patient -> voxel", [...back], [k, j, i], TOL);
      const A = niftiAffine(g);
      const ras = [0, 1, 2].map((r) => A[r][0] * i + A[r][1] * j + A[r][2] * k + A[r][3]);
      assertClose("affine voxel -> RAS", ras, [-p[0], -p[1], p[2]], TOL);
      expect(A[3]).toEqual([0, 0, 0, 1]);
    });
  });
});

describe("seeds and hash", () => {
  it("sample seeds of one master are distinct; streams differ by label", () => {
    const seeds = new Set(Array.from({ length: 20000 }, (_, i) => sampleSeed(12345, i)));
    expect(seeds.size).toBe(20000);
    expect(streamSeed(7, "anatomy")).not.toBe(streamSeed(7, "noise"));
    expect(fmix32(0)).toBe(0); // the finaliser fixes 0; sampleSeed adds fmix32(master) first
  });

  it("volumeHash is FNV-1a 64 of the little-endian float bytes", () => {
    const reference = (bytes: Uint8Array): string => {
      let h = 0xcbf29ce484222325n;
      for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
      return h.toString(16).padStart(16, "0");
    };
    check(fc.record({ n: dim(17), seed: dataSeed }), ({ n, seed }) => {
      const x = new Rng(seed).fill(n, -2000, 2000);
      const le = new Uint8Array(4 * n), dv = new DataView(le.buffer);
      x.forEach((v, i) => dv.setFloat32(4 * i, v, true));
      expect(volumeHash(x)).toBe(reference(le));
    }, 30);
    expect(volumeHash(new Float32Array(0))).toBe("cbf29ce484222325");
  });
});

describe("signed distances and coverage", () => {
  it("vanish on the surface, negative inside, exact for spheres and capsules", () => {
    check(fc.record({ a: fc.double({ min: 1, max: 50, noNaN: true }), b: fc.double({ min: 1, max: 50, noNaN: true }), t: fc.double({ min: 0, max: 6.3, noNaN: true }) }), ({ a, b, t }) => {
      const [x, y] = [a * Math.cos(t), b * Math.sin(t)];
      assertClose("ellipse on its surface", ellipse(x, y, a, b), 0, { atol: 1e-9 * (a + b), rtol: 0 });
      expect(ellipse(0.5 * x, 0.5 * y, a, b)).toBeLessThan(0);
      expect(ellipse(2 * x, 2 * y, a, b)).toBeGreaterThan(0);
      assertClose("ellipsoid(x, y, 0, a, b, 7)", ellipsoid(x, y, 0, a, b, 7), ellipse(x, y, a, b), { atol: 5e-7, rtol: 0 });
    });
    assertClose("sphere(3, 4, 0, 0, 0, 0, 2)", sphere(3, 4, 0, 0, 0, 0, 2), 3, { atol: 5e-13, rtol: 0 });
    assertClose("capsule(5, 3, 0, [0, 0, 0], [10, 0, 0], 1)", capsule(5, 3, 0, [0, 0, 0], [10, 0, 0], 1), 2, { atol: 5e-13, rtol: 0 });
    assertClose("capsule(13, 4, 0, [0, 0, 0], [10, 0, 0], 1)", capsule(13, 4, 0, [0, 0, 0], [10, 0, 0], 1), 4, { atol: 5e-13, rtol: 0 });
  });

  it("coverage is a clamped linear ramp over one pixel", () => {
    expect(coverage(-3, 2)).toBe(1);
    expect(coverage(3, 2)).toBe(0);
    expect(coverage(0, 2)).toBe(0.5);
    expect(coverage(0.5, 2)).toBe(0.25);
  });
});

describe("renderer", () => {
  const ball = (r: number, c: [number, number, number], hu = 100, h = 1.5): Layer => ({
    name: "ball", box: [c[0] - r, c[0] + r, c[1] - r, c[1] + r, c[2] - r, c[2] + r], hu, track: "ball",
    sdf: (u, v, w) => sphereSection(u - c[0], v - c[1], w - c[2], r, h),
  });

  it("a sphere covers its volume (partial volume), spans size/spacing voxels, and is centred where drawn", () => {
    // m3d in-plane pixels (1.5 mm), 1 mm slices (so that sampling along z adds no error); nodule sizes
    const grid: Grid = { shape: [40, 40, 40], spacing: [1, 1.5, 1.5] };
    for (const [size, c] of [[6, [1.1, -2.3, 0.7]], [11, [-3, 4.2, -1.9]], [17, [0.4, 0.4, 2.2]]] as [number, [number, number, number]][]) {
      const r = renderLayers(grid, [ball(size / 2, c)], true);
      const mask = r.tracks.get("ball")!.mask!;
      const total = mask.reduce((a, b) => a + b, 0);
      const expected = (Math.PI / 6) * size ** 3 / (1 * 1.5 * 1.5);
      assertClose("ball coverage", total, expected, { atol: 0, rtol: 0.02 }); // sphereSection keeps the area of each section
      const perSlice = r.tracks.get("ball")!.perSlice;
      assertClose("sum over slices = total", perSlice.reduce((a, b) => a + b, 0), total, { atol: 5e-3, rtol: 0 });
      // centroid within 0.15 voxel of the centre; in-plane extent (columns at least half covered) = size / 1.5 +- 1
      const [, H, W] = grid.shape;
      let sk = 0, sj = 0, si = 0;
      mask.forEach((m, p) => {
        sk += m * Math.floor(p / (H * W)); sj += m * (Math.floor(p / W) % H); si += m * (p % W);
      });
      const want = patientToVoxel(grid, c);
      assertClose("ball centroid (voxels)", [sk / total, sj / total, si / total], [...want], { atol: 0.15, rtol: 0 });
      const kc = Math.round(want[0]), jc = Math.round(want[1]);
      let cols = 0;
      for (let i = 0; i < W; i++) if (mask[(kc * H + jc) * W + i] > 0.5) cols++;
      assertClose("ball width (columns)", cols, size / 1.5, { atol: 1.5, rtol: 0 });
    }
  });

  it("paints in order with shells, and flat layers equal their per-slice rendering", () => {
    const grid: Grid = { shape: [3, 17, 5], spacing: [2, 1, 1] };
    const disk = (flat: boolean): Layer => ({
      name: "disk", box: [-9, 9, -9, 9, -1e4, 1e4], flat, sdf: (u, v) => Math.sqrt(u * u + v * v) - 3.2, hu: 50, inner: [{ inset: 1, hu: 500 }],
    });
    expect(renderLayers(grid, [disk(true)]).hu).toEqual(renderLayers(grid, [disk(false)]).hu);
    const out = renderLayers(grid, [disk(false), ball(1.1, [0, 0, 0], -500, 1)]).hu;
    const at = (k: number, j: number, i: number) => out[(k * 17 + j) * 5 + i];
    expect(at(0, 0, 0)).toBe(-1000); // air outside
    expect(at(0, 8, 1)).toBe(500); // (u, v) = (-1, 0): inside the inner shell
    assertClose("at(0, 8, 0)", at(0, 8, 0), 50 + 0.7 * 450, { atol: 5e-10, rtol: 0 }); // (-2, 0): 0.2 mm inside the shell, h = 1
    expect(at(1, 8, 2)).toBeLessThan(0); // the later ball covers the centre of the middle slice
  });

  it("noise has the asked standard deviation, zero mean, integer HU, clipped range; same rng same bits", () => {
    const grid: Grid = { shape: [5, 61, 67], spacing: [5, 1, 1] };
    const n = 5 * 61 * 67;
    for (const sigma of [8, 25]) {
      const v = new Float32Array(n).fill(40);
      addNoise(grid, v, sigma, new Rng(3));
      let s = 0, s2 = 0;
      for (const x of v) s += x - 40, s2 += (x - 40) ** 2;
      const mean = s / n, sd = Math.sqrt(s2 / n - mean * mean);
      assertClose(`noise ${sigma} mean`, mean, 0, { atol: 0.05 * sigma, rtol: 0 }); // the noise is correlated: fewer independent values than voxels
      assertClose(`noise ${sigma} sd`, sd, sigma, { atol: 0, rtol: 0.08 }); // edges are replicated: slightly off 3/8 there
      expect(v.every((x) => Number.isInteger(x) && !Object.is(x, -0))).toBe(true);
      const again = new Float32Array(n).fill(40);
      addNoise(grid, again, sigma, new Rng(3));
      expect(again).toEqual(v);
    }
    const extreme = new Float32Array(n).fill(5000);
    extreme.fill(-5000, 0, n / 2);
    addNoise(grid, extreme, 10, new Rng(1));
    expect(Math.min(...extreme)).toBe(HU_MIN);
    expect(Math.max(...extreme)).toBe(HU_MAX);
  });
});

/** Percentile p (0..1) of the values. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/** HU of the voxels whose whole slab (w +- sz/2) is at least `margin` mm inside a shape. */
function voxelsInside(vol: Float32Array, grid: Grid, sdf: (u: number, v: number, w: number) => number, margin: number): number[] {
  const [D, H, W] = grid.shape, sz = grid.spacing[0], out: number[] = [];
  for (let k = 0; k < D; k++) for (let j = 0; j < H; j++) for (let i = 0; i < W; i++) {
    const [u, v, w] = voxelToPatient(grid, [k, j, i]);
    if ([-0.5, -0.25, 0, 0.25, 0.5].every((f) => sdf(u, v, w + f * sz) < -margin)) out.push(vol[(k * H + j) * W + i]);
  }
  return out;
}

describe("phantom", () => {
  const grid = makeGrid("small");
  const seeds = [[11, 1], [11, 2], [11, 6]] as const; // nodules, effusions on both sides, cysts in both lobes
  const samples = seeds.map(([seed, index]) => ({ s: makeSample(seed, index, grid, { masks: true }), subj: subjectOf(seed, index) }));

  it("tissues in their HU ranges: air, lung, vertebral bone, liver", () => {
    for (const { s, subj } of samples) {
      const air = voxelsInside(s.volumeHU, grid, (u, v) => -bodySdf(subj, u, v), 12);
      expect(air.length).toBeGreaterThan(100);
      expect(percentile(air, 0)).toBeGreaterThanOrEqual(-1024);
      expect(percentile(air, 0.99)).toBeLessThan(-900);
      const lungs = voxelsInside(s.volumeHU, grid, (u, v, w) => Math.min(lungSdf(subj, -1, u, v, w), lungSdf(subj, 1, u, v, w)), 8);
      expect(lungs.length).toBeGreaterThan(100);
      expect(percentile(lungs, 0.5)).toBeGreaterThan(-900); // lung -870..-830 plus gradient, texture, vessels
      expect(percentile(lungs, 0.5)).toBeLessThan(-700);
      const bone = voxelsInside(s.volumeHU, grid, (u, v, w) => vertebraSdf(subj, u, v, w), 2);
      if (bone.length > 0) expect(percentile(bone, 0.5)).toBeGreaterThan(150); // marrow 180..320 inside cortex 700..1000
      const liver = voxelsInside(s.volumeHU, grid, (u, v, w) => liverSdf(subj, u, v, w), 10);
      expect(liver.length).toBeGreaterThan(20);
      expect(percentile(liver, 0.5)).toBeGreaterThan(20); // 50..65, enhanced 95..120; cysts 0..20 inside
      expect(percentile(liver, 0.5)).toBeLessThan(150);
    }
  });

  it("findings render where the truth says: side and zone from the centroid, size from the extent", () => {
    const seen = new Set<string>();
    for (const { s, subj } of samples) {
      s.findings.forEach((f: PlacedFinding, n) => {
        const mask = s.masks![n];
        const [D, H, W] = grid.shape;
        let total = 0, sk = 0, sj = 0, si = 0;
        mask.forEach((m, p) => {
          total += m; sk += m * Math.floor(p / (H * W)); sj += m * (Math.floor(p / W) % H); si += m * (p % W);
        });
        expect(total).toBeGreaterThan(0.3);
        const [u, v, w] = voxelToPatient(grid, [sk / total, sj / total, si / total]);
        expect(u > subj.body.cu ? "left" : "right").toBe(f.side); // sides are those of the body's midline
        expect(f.slices.length).toBeGreaterThan(0);
        if (f.kind === "effusion") {
          expect(v).toBeGreaterThan(subj.body.cv); // dependent: behind the body centre
          // thickness front to back: the largest column sum of coverage along j, in mm
          let thickest = 0;
          for (let k = 0; k < D; k++) for (let i = 0; i < W; i++) {
            let c = 0;
            for (let j = 0; j < H; j++) c += mask[(k * H + j) * W + i];
            thickest = Math.max(thickest, c * grid.spacing[1]);
          }
          assertClose("effusion depth (mm)", thickest, f.depthMm, { atol: 4, rtol: 0 }); // half a pixel and the slice average at the base
        } else {
          // the centroid of the rendered coverage is the truth's centre, to a fraction of a voxel
          assertClose("finding centroid (voxels)", [sk / total, sj / total, si / total], [...f.centerVoxel!], { atol: 0.35, rtol: 0 });
          const volume = (Math.PI / 6) * f.sizeMm ** 3 / (grid.spacing[0] * grid.spacing[1] * grid.spacing[2]);
          // z sampled every 2.5 mm, 6 mm pixels: up to ~10 % for the smallest (9 mm) nodules
          assertClose("finding volume (voxels)", total, volume, { atol: 0, rtol: 0.12 });
          if (f.kind === "nodule") expect(zoneOf(subj, f.side, w)).toBe(f.zone);
        }
        seen.add(`${f.kind}:${f.side}`);
      });
    }
    expect([...seen].sort()).toEqual(["cyst:left", "cyst:right", "effusion:left", "effusion:right", "nodule:left", "nodule:right"]);
  });

  it("same seed and index give the same bytes and texts; another index does not", () => {
    const a = makeSample(11, 0, "tiny"), b = makeSample(11, 0, "tiny"), c = makeSample(11, 1, "tiny");
    expect(volumeHash(a.volumeHU)).toBe(volumeHash(b.volumeHU));
    expect(a.volumeHU).toEqual(b.volumeHU);
    expect({ ...a, volumeHU: null }).toEqual({ ...b, volumeHU: null });
    expect(volumeHash(c.volumeHU)).not.toBe(volumeHash(a.volumeHU));
    expect(a.volumeHU.every((x) => Number.isInteger(x) && x >= HU_MIN && x <= HU_MAX)).toBe(true);
  });
});
