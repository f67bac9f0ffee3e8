/**
 * How visible a finding is on a grid: the study rendered with and without it (same subject, same
 * noise), compared where the finding is. Used to prove that every finding the texts mention can be
 * seen (the floors below are checked by test/data-visibility.test.ts and tabulated in docs/DATA.md).
 * A measurement, not part of the data: nothing here changes what makeSample returns.
 */
import { renderStudy } from "./dataset.js";
import type { Finding } from "./findings.js";
import { makeGrid, type Grid, type GridName, type Shape3 } from "./geometry.js";

/** A finding's footprint and contrast on one grid. */
export interface Visibility {
  finding: Finding;
  /** Voxels the finding covers at least half of. */
  core: number;
  /** Mean HU change over the core (with minus without the finding). */
  contrast: number;
  /** Spread (HU) of the surrounding tissue without the finding (vessels, texture, noise): 1.4826 x the median absolute deviation, so that a rib or the heart at the edge of the box does not count as clutter. */
  clutter: number;
  /** |contrast| / clutter. */
  ccr: number;
}

/** The bin of a finding in the tables and tests: kind (and nodule subtype) with its size range, or the effusion grade. */
export function sizeBin(f: Finding): string {
  if (f.kind === "effusion") return `effusion, ${f.grade}`;
  const edges = f.kind === "cyst" ? [20, 30, 41] : [12, 16, 21, 31];
  const i = edges.findIndex((e) => f.sizeMm < e);
  const range = i < 0 ? `>= ${edges[edges.length - 1]} mm` : i === 0 ? `< ${edges[0]} mm` : `${edges[i - 1]}-${edges[i] - 1} mm`;
  return f.kind === "cyst" ? `cyst, ${range}` : `nodule ${f.subtype}, ${range}`;
}

/** Floors every finding of the benchmark meets on the `small` grid (docs/DATA.md "Visibility"). */
export const VISIBILITY_FLOORS = { core: 6, ccr: 1.5 } as const;

/**
 * The visibility of every finding of study `index`. The surround is the finding's tissue (lung for
 * nodules and effusions, liver for cysts) inside the core's bounding box grown by its own size
 * in-plane (at least 2 pixels) and one slice through-plane, the core itself excluded.
 */
export function findingVisibility(seed: number, index: number, grid: Grid | GridName | Shape3 = "small"): Visibility[] {
  const g = makeGrid(grid);
  const full = renderStudy(seed, index, g, { masks: true });
  return full.findings.map((finding, n) => {
    const without = renderStudy(seed, index, g, { omit: n }).rendered.hu;
    const mask = full.rendered.tracks.get(`finding:${n}`)!.mask!;
    const tissue = full.rendered.tracks.get(finding.kind === "cyst" ? "tissue:liver" : "tissue:lung")!.mask!;
    return measure(g, finding, mask, tissue, full.rendered.hu, without);
  });
}

function measure(g: Grid, finding: Finding, mask: Float32Array, tissue: Float32Array, withHU: Float32Array, withoutHU: Float32Array): Visibility {
  const [D, H, W] = g.shape;
  const lo = [D, H, W], hi = [-1, -1, -1];
  let core = 0, diff = 0;
  for (let k = 0; k < D; k++) for (let j = 0; j < H; j++) for (let i = 0; i < W; i++) {
    const x = (k * H + j) * W + i;
    if (mask[x] < 0.5) continue;
    core++;
    diff += withHU[x] - withoutHU[x];
    [k, j, i].forEach((c, a) => ((lo[a] = Math.min(lo[a], c)), (hi[a] = Math.max(hi[a], c))));
  }
  if (core === 0) return { finding, core, contrast: 0, clutter: Infinity, ccr: 0 };
  const grow = [1, Math.max(2, hi[1] - lo[1] + 1), Math.max(2, hi[2] - lo[2] + 1)];
  const around: number[] = [];
  for (let k = Math.max(0, lo[0] - grow[0]); k <= Math.min(D - 1, hi[0] + grow[0]); k++) {
    for (let j = Math.max(0, lo[1] - grow[1]); j <= Math.min(H - 1, hi[1] + grow[1]); j++) {
      for (let i = Math.max(0, lo[2] - grow[2]); i <= Math.min(W - 1, hi[2] + grow[2]); i++) {
        const x = (k * H + j) * W + i;
        if (mask[x] > 0 || tissue[x] < 0.5) continue;
        around.push(withoutHU[x]);
      }
    }
  }
  const clutter = around.length > 1 ? robustSd(around) : Infinity;
  const contrast = diff / core;
  return { finding, core, contrast, clutter, ccr: Math.abs(contrast) / clutter };
}

/** 1.4826 x median |x - median(x)|: the standard deviation of normal data, robust to outliers. */
function robustSd(xs: number[]): number {
  const median = (a: number[]) => {
    const b = Float64Array.from(a).sort(), m = b.length >> 1;
    return b.length % 2 ? b[m] : (b[m - 1] + b[m]) / 2;
  };
  const mid = median(xs);
  return 1.4826 * median(xs.map((x) => Math.abs(x - mid)));
}
