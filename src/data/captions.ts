/**
 * Slice captions for stage 0 (2D pretraining on single slices): the anatomical level of the slice
 * and the findings visible on it, e.g. "axial slice through the lower thorax at the level of the
 * heart with a small left pleural effusion". Derived from the subject and the rendered coverage.
 */
import type { Subject } from "./anatomy.js";
import type { Finding } from "./findings.js";
import { axisMm, type Grid } from "./geometry.js";

/** A finding is visible on a slice when its coverage there is at least this many voxels... */
export const VISIBLE_VOXELS = 0.25;
/** ...and at least this fraction of its largest per-slice coverage. */
export const VISIBLE_FRACTION = 0.15;

/** Slices (k) on which each finding is visible, from the renderer's per-slice coverage sums. */
export function visibleSlices(perSlice: readonly Float64Array[]): number[][] {
  return perSlice.map((cov) => {
    const peak = Math.max(0, ...cov);
    const out: number[] = [];
    cov.forEach((c, k) => {
      if (c >= VISIBLE_VOXELS && c >= VISIBLE_FRACTION * peak) out.push(k);
    });
    return out;
  });
}

/** The anatomical level at height w, from the subject's landmarks (top to bottom). */
export function levelOf(s: Subject, w: number): string {
  const arch = s.aorta.archTop[2], heartTop = s.heart.w + 0.8 * s.heart.c;
  const domeTop = Math.max(s.domes.right.top, s.domes.left.top);
  if (w >= s.lung.apexW) return "lower neck above the lung apices";
  if (w >= arch + 20) return "upper thorax at the level of the lung apices";
  if (w >= arch - 15) return "upper thorax at the level of the aortic arch";
  if (w >= heartTop) return "mid thorax at the level of the pulmonary hila";
  if (w >= domeTop) return "lower thorax at the level of the heart";
  if (w >= s.lung.recessW) return "lung bases and upper abdomen";
  return "upper abdomen below the lung bases";
}

/** The phrase of a finding in a caption. */
export function captionPhrase(f: Finding): string {
  if (f.kind === "nodule") return `a ${f.sizeMm} mm ${f.subtype} nodule in the ${f.side} lung`;
  if (f.kind === "effusion") return `a ${f.grade} ${f.side} pleural effusion`;
  return `a ${f.sizeMm} mm cyst in the ${f.side} hepatic lobe`;
}

/** One caption per slice k = 0..D-1 (k = 0 is the most inferior slice). */
export function sliceCaptions(s: Subject, grid: Grid, findings: readonly Finding[], visible: readonly number[][]): string[] {
  const [D] = grid.shape, sz = grid.spacing[0];
  return Array.from({ length: D }, (_, k) => {
    const level = levelOf(s, axisMm(k, D, sz));
    const seen = findings.filter((_, n) => visible[n].includes(k)).map(captionPhrase);
    return seen.length === 0 ? `axial slice through the ${level}, no abnormality` : `axial slice through the ${level} with ${seen.join(" and ")}`;
  });
}
