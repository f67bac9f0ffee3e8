/**
 * The web app's pure drawing (demo/views.ts): each plane shows every voxel exactly once, in the
 * radiological orientation; windows map lo -> black and hi -> white; the routing overlay maps a
 * source voxel to the token that saw it (model grid, depth patch, patch) and blends its colour.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PLANES, WINDOWS, expertOfVoxel, extractSlice, overlayRouting, planeLayout, voxelAt, windowRgba } from "../demo/views.js";
import { check, dim } from "./util/prop.js";

describe("planes", () => {
  it("every plane visits each voxel exactly once, within the volume", () => {
    check(fc.record({ D: dim(6), H: dim(7), W: dim(5) }), ({ D, H, W }) => {
      const g = { shape: [D, H, W], spacing: [2, 1, 0.5] };
      for (const plane of PLANES) {
        const L = planeLayout(g, plane), seen = new Uint8Array(D * H * W);
        expect(L.count * L.rows * L.cols).toBe(D * H * W);
        for (let k = 0; k < L.count; k++) {
          for (let r = 0; r < L.rows; r++) {
            for (let c = 0; c < L.cols; c++) {
              const [d, h, w] = voxelAt(g, plane, k, r, c);
              expect(d >= 0 && d < D && h >= 0 && h < H && w >= 0 && w < W).toBe(true);
              seen[(d * H + h) * W + w]++;
            }
          }
        }
        expect(seen.every((x) => x === 1)).toBe(true);
      }
    }, 30);
  });

  it("radiological orientation: axial anterior up and the patient's right on the left; coronal and sagittal superior up", () => {
    const g = { shape: [3, 4, 5], spacing: [3, 2, 1] };
    const data = Float32Array.from({ length: 60 }, (_, i) => i); // value = (d*4 + h)*5 + w
    expect(Array.from(extractSlice(data, g, "axial", 2))).toEqual(Array.from(data.subarray(40, 60))); // slice d=2 as stored
    expect(voxelAt(g, "axial", 0, 0, 0)).toEqual([0, 0, 0]); // h=0 anterior at the top, w=0 (patient's right) on the left
    expect(voxelAt(g, "coronal", 1, 0, 4)).toEqual([2, 1, 4]); // row 0 = most superior slice
    expect(voxelAt(g, "sagittal", 3, 2, 0)).toEqual([0, 0, 3]); // column 0 = anterior, bottom row = inferior
    expect(planeLayout(g, "coronal")).toMatchObject({ rows: 3, cols: 5, rowMm: 3, colMm: 1, edges: ["S", "L", "I", "R"] });
    expect(planeLayout(g, "axial").edges).toEqual(["A", "L", "P", "R"]);
  });

  it("windows: lo -> 0, hi -> 255, clamped outside; the presets are level -/+ width / 2", () => {
    const px = windowRgba(Float32Array.of(-2000, -1350, -600, 150, 3000), WINDOWS.lung.lo, WINDOWS.lung.hi);
    expect(Array.from(px.filter((_, i) => i % 4 === 0))).toEqual([0, 0, 128, 255, 255]);
    expect(Array.from(px.filter((_, i) => i % 4 === 3))).toEqual([255, 255, 255, 255, 255]);
    expect((WINDOWS.mediastinum.lo + WINDOWS.mediastinum.hi) / 2).toBe(40);
    expect(WINDOWS.bone.hi - WINDOWS.bone.lo).toBe(1800);
  });
});

describe("routing overlay", () => {
  const grid = [4, 8, 8], p = 4, t = 2, n = 2, S = 1 + n * n, k = 2;
  const tokens = (grid[0] / t) * S;
  const topkIdx = Int32Array.from({ length: tokens * k }, (_, i) => (i % k === 0 ? (i / k) % 3 : 9)); // token j's first expert: j % 3
  const r = { grid, patch: p, depthPatch: t, topkIdx, k };

  it("on the model's own grid, a voxel's expert is its token's: depth group, then patch row and column after the class token", () => {
    const g = { shape: grid, spacing: [1, 1, 1] };
    for (let d = 0; d < 4; d++) for (let h = 0; h < 8; h++) for (let w = 0; w < 8; w++) {
      const token = Math.floor(d / t) * S + 1 + Math.floor(h / p) * n + Math.floor(w / p);
      expect(expertOfVoxel(g, r, d, h, w)).toBe(token % 3);
    }
  });

  it("a source volume twice the grid: voxel pairs share the grid voxel they were resized into", () => {
    const g = { shape: grid.map((x) => 2 * x), spacing: [1, 1, 1] }, same = { shape: grid, spacing: [1, 1, 1] };
    for (const [d, h, w] of [[0, 0, 0], [3, 9, 14], [7, 15, 15], [5, 2, 11]]) {
      expect(expertOfVoxel(g, r, d, h, w)).toBe(expertOfVoxel(same, r, d >> 1, h >> 1, w >> 1));
    }
  });

  it("opacity 0 leaves the slice, opacity 1 paints the expert's colour", () => {
    const g = { shape: grid, spacing: [1, 1, 1] }, colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255]] as const;
    const base = windowRgba(new Float32Array(64).fill(0), -100, 100);
    const a = base.slice(), b = base.slice();
    overlayRouting(a, g, "axial", 1, r, colours, 0);
    overlayRouting(b, g, "axial", 1, r, colours, 1);
    expect(a).toEqual(base);
    expect(Array.from(b.subarray(0, 3))).toEqual([...colours[expertOfVoxel(g, r, 1, 0, 0)]]);
  });
});
