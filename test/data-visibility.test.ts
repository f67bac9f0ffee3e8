/**
 * Every finding the texts mention is visible on the model's grid: for one study of each finding
 * type and size bin (picked from the truth, which is cheap), the study is rendered with and without
 * the finding and its core (voxels it covers at least half of) and contrast-to-clutter ratio must
 * reach the floors stated in docs/DATA.md. Also: the size floors follow the voxel size.
 */
import { describe, expect, it } from "vitest";
import { makeGrid, splitOf, studyTexts } from "../src/data/index.js";
import { minSizeMm } from "../src/data/findings.js";
import { findingVisibility, sizeBin, VISIBILITY_FLOORS } from "../src/data/visibility.js";

const SEED = 2026;


/** The first training study holding a finding of each bin (from the texts alone: nothing rendered). */
function studiesByBin(limit: number): Map<string, number> {
  const out = new Map<string, number>();
  for (let index = 0; index < limit; index++) {
    if (splitOf(SEED, index) !== "train") continue;
    for (const f of studyTexts(SEED, index, "small").findings) if (!out.has(sizeBin(f))) out.set(sizeBin(f), index);
  }
  return out;
}

describe("visibility of the findings on the small grid", () => {
  it("size floors follow the voxel size: 4 in-plane pixels, one slice (nodules) or two (cysts)", () => {
    const small = makeGrid("small"); // 10 x 3 x 3 mm
    expect(minSizeMm("nodule", small)).toBe(12);
    expect(minSizeMm("cyst", small)).toBe(20);
    expect(minSizeMm("nodule", makeGrid([64, 256, 256]))).toBe(6); // 5 x 1.5 x 1.5 mm: 4 pixels
    for (let index = 0; index < 200; index++) {
      for (const f of studyTexts(SEED, index, "small").findings) {
        if (f.kind !== "effusion") expect(f.sizeMm, `${f.kind} of study ${index}`).toBeGreaterThanOrEqual(minSizeMm(f.kind, small));
      }
    }
  });

  it("each finding type and size bin: core and contrast-to-clutter at or above the floors", () => {
    const bins = studiesByBin(400);
    // every bin the generator can draw on this grid is represented
    for (const want of ["effusion, small", "effusion, moderate", "effusion, large", "cyst, 20-29 mm", "cyst, 30-40 mm", "nodule solid, 12-15 mm", "nodule solid, 21-30 mm", "nodule calcified, 12-15 mm", "nodule ground-glass, 16-20 mm"]) {
      expect([...bins.keys()], want).toContain(want);
    }
    for (const [bin, index] of bins) {
      for (const v of findingVisibility(SEED, index, "small").filter((x) => sizeBin(x.finding) === bin)) {
        const what = `${bin} (study ${index}): core ${v.core}, contrast ${v.contrast.toFixed(0)} HU, clutter ${v.clutter.toFixed(0)} HU`;
        expect(v.core, what).toBeGreaterThanOrEqual(VISIBILITY_FLOORS.core);
        expect(v.ccr, what).toBeGreaterThanOrEqual(VISIBILITY_FLOORS.ccr);
      }
    }
  }, 120_000);
});
