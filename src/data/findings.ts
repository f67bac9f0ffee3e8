/**
 * Findings with structured ground truth (nodules, pleural effusions, hepatic cysts): what they are,
 * how they are drawn and placed in a subject, and their layers for the renderer. No text here.
 */
import type { Rng } from "../rng.js";
import type { SideSign, Subject } from "./anatomy.js";
import { intIn, pick, pickWeighted, uni } from "./draw.js";
import type { Grid } from "./geometry.js";
import type { Box, Layer } from "./render.js";
import { sphere, sphereSection } from "./sdf.js";
import { aortaSdf, heartSdf, liverSdf, lungSdf, ribSdf, spleenSdf, stomachSdf, vertebraSdf } from "./structures.js";

export type Side = "left" | "right";
export type Zone = "upper" | "middle" | "lower";
export type Grade = "small" | "moderate" | "large";
export type NoduleType = "solid" | "calcified" | "ground-glass";
export type FindingKind = "nodule" | "effusion" | "cyst";

export const SIDES: readonly Side[] = ["right", "left"];
export const ZONES: readonly Zone[] = ["upper", "middle", "lower"];
export const GRADES: readonly Grade[] = ["small", "moderate", "large"];
export const NODULE_TYPES: readonly NoduleType[] = ["solid", "calcified", "ground-glass"];
export const KINDS: readonly FindingKind[] = ["nodule", "effusion", "cyst"];

/** `center` is in patient mm (u left, v posterior, w superior; geometry.ts). */
export interface Nodule { kind: "nodule"; side: Side; zone: Zone; subtype: NoduleType; sizeMm: number; hu: number; center: [number, number, number] }
/** Dependent fluid along the back wall: `depthMm` thick (front to back) at the base, thinning to 0 at `heightMm` above the recess. */
export interface Effusion { kind: "effusion"; side: Side; grade: Grade; depthMm: number; heightMm: number; hu: number }
export interface Cyst { kind: "cyst"; side: Side; organ: "liver"; sizeMm: number; hu: number; center: [number, number, number] }
export type Finding = Nodule | Effusion | Cyst;

/** Size ranges (mm, integers, both ends included) and HU ranges (drawn as integers). */
export const NODULE_MM: Record<NoduleType, [number, number]> = { solid: [5, 30], calcified: [3, 16], "ground-glass": [6, 30] };
export const NODULE_HU: Record<NoduleType, [number, number]> = { solid: [20, 60], calcified: [300, 700], "ground-glass": [-500, -300] };
/** Effusion depth (mm) and height above the recess (mm) per grade. */
export const EFFUSION_MM: Record<Grade, { depth: [number, number]; height: [number, number] }> = {
  small: { depth: [10, 24], height: [40, 80] },
  moderate: { depth: [25, 49], height: [80, 140] },
  large: { depth: [50, 80], height: [140, 200] },
};
export const EFFUSION_HU: [number, number] = [10, 20];
export const CYST_MM: [number, number] = [8, 40];
export const CYST_HU: [number, number] = [-5, 10];
/** Probabilities of 0, 1, 2, 3 findings per study, and of each kind. */
export const COUNT_WEIGHTS = [0.25, 0.35, 0.25, 0.15];
export const KIND_WEIGHTS: Record<FindingKind, number> = { nodule: 0.5, effusion: 0.3, cyst: 0.2 };
export const NODULE_TYPE_WEIGHTS: Record<NoduleType, number> = { solid: 0.5, calcified: 0.2, "ground-glass": 0.3 };
/**
 * Smallest finding on a grid, tied to its voxel size so that every finding is visible (measured by
 * visibility.ts): at least 5 mm (the size below which nodules are not reported in practice), 4
 * in-plane pixels (a nodule must be wider than the vessels it sits among) and MIN_SLICES slices
 * (one for nodules; two for cysts, whose contrast to the liver is only 40-70 HU).
 */
export const MIN_PIXELS = 4, MIN_MM = 5;
export const MIN_SLICES = { nodule: 1, cyst: 2 } as const;

/** The size floor (mm) of a kind on a grid, at most the kind's largest size (coarse test grids such as `tiny` cannot show a finding anyway). */
export function minSizeMm(kind: "nodule" | "cyst", grid: Grid): number {
  const floor = Math.max(MIN_MM, MIN_PIXELS * Math.max(grid.spacing[1], grid.spacing[2]), MIN_SLICES[kind] * grid.spacing[0]);
  return Math.min(floor, kind === "cyst" ? CYST_MM[1] : NODULE_MM.solid[1]);
}

export function sideSign(side: Side): SideSign {
  return side === "right" ? -1 : 1;
}

/** Identity of a finding for matching: kind, side and zone (nodule), grade (effusion) or organ (cyst). */
export function findingKey(f: { kind: FindingKind; side?: Side; zone?: Zone; grade?: Grade; organ?: string }): string {
  const where = f.kind === "nodule" ? f.zone : f.kind === "effusion" ? f.grade : f.organ;
  return `${f.kind}:${f.side ?? "?"}:${where ?? "?"}`;
}

/** At most one finding per kind, side and (nodules) zone, so that every question names one finding. */
function slotKey(f: Finding): string {
  return f.kind === "nodule" ? `nodule:${f.side}:${f.zone}` : `${f.kind}:${f.side}`;
}

/**
 * Zone of height w in one lung: thirds of the span from the top of that side's diaphragm dome to
 * the apex; everything below the lower third's top (down to the recess) is the lower zone.
 */
export function zoneOf(s: Subject, side: Side, w: number): Zone {
  const base = side === "right" ? s.domes.right.top : s.domes.left.top;
  const third = (s.lung.apexW - base) / 3;
  return w >= base + 2 * third ? "upper" : w >= base + third ? "middle" : "lower";
}

/** Draws 0..3 findings and places them in the subject, inside the grid's craniocaudal range. */
export function drawFindings(rng: Rng, s: Subject, grid: Grid): Finding[] {
  const want = pickWeighted(rng, COUNT_WEIGHTS);
  const out: Finding[] = [];
  const halfZ = (grid.shape[0] * grid.spacing[0]) / 2;
  for (let attempt = 0; out.length < want && attempt < 30; attempt++) {
    const kind = KINDS[pickWeighted(rng, KINDS.map((k) => KIND_WEIGHTS[k]))];
    const side = pick(rng, SIDES);
    const f = kind === "nodule" ? placeNodule(rng, s, side, out, minSizeMm("nodule", grid), halfZ)
      : kind === "effusion" ? drawEffusion(rng, s, side, out)
      : placeCyst(rng, s, side, minSizeMm("cyst", grid), halfZ);
    if (f !== null && !out.some((g) => slotKey(g) === slotKey(f))) out.push(f);
  }
  // effusions first: nodules are placed outside the fluid, and the fluid is painted under them
  return [...out.filter((f) => f.kind === "effusion"), ...out.filter((f) => f.kind !== "effusion")];
}

/** An integer size in [lo, hi] raised to the grid's visible minimum. */
function drawSize(rng: Rng, [lo, hi]: [number, number], minMm: number): number {
  const floor = Math.ceil(minMm);
  return lo >= floor ? intIn(rng, lo, hi) : intIn(rng, Math.max(lo, floor), Math.max(hi, floor));
}

function placeNodule(rng: Rng, s: Subject, side: Side, placed: readonly Finding[], minMm: number, halfZ: number): Nodule | null {
  const zone = pick(rng, ZONES);
  const subtype = NODULE_TYPES[pickWeighted(rng, NODULE_TYPES.map((t) => NODULE_TYPE_WEIGHTS[t]))];
  const sizeMm = drawSize(rng, NODULE_MM[subtype], minMm);
  const hu = intIn(rng, ...NODULE_HU[subtype]);
  const r = sizeMm / 2, sg = sideSign(side), c = s.cavity;
  for (let t = 0; t < 200; t++) {
    const p = tenths([
      s.body.cu + sg * uni(rng, 0, c.a), s.body.cv + uni(rng, -c.b, c.b), uni(rng, Math.max(s.lung.recessW, -halfZ + r), Math.min(s.lung.apexW, halfZ - r)),
    ]);
    if (zoneOf(s, side, p[2]) !== zone || lungSdf(s, sg, ...p) > -(r + 3)) continue;
    const clear = placed.every((f) =>
      f.kind === "effusion" ? f.side !== side || effusionSdf(s, f, ...p) > r + 5
      : f.kind === "nodule" ? sphere(...p, ...f.center, f.sizeMm / 2) > r + 5 : true);
    if (clear) return { kind: "nodule", side, zone, subtype, sizeMm, hu, center: p };
  }
  return null;
}

/** An effusion, or null when its fluid would reach a nodule already placed on that side. */
function drawEffusion(rng: Rng, s: Subject, side: Side, placed: readonly Finding[]): Effusion | null {
  const grade = pick(rng, GRADES), g = EFFUSION_MM[grade];
  const f: Effusion = { kind: "effusion", side, grade, depthMm: intIn(rng, ...g.depth), heightMm: intIn(rng, ...g.height), hu: intIn(rng, ...EFFUSION_HU) };
  const clear = placed.every((n) => n.kind !== "nodule" || n.side !== side || effusionSdf(s, f, ...n.center) > n.sizeMm / 2 + 5);
  return clear ? f : null;
}

function placeCyst(rng: Rng, s: Subject, side: Side, minMm: number, halfZ: number): Cyst | null {
  const sizeMm = drawSize(rng, CYST_MM, minMm), hu = intIn(rng, ...CYST_HU), r = sizeMm / 2;
  const top = Math.min(Math.max(s.domes.right.top, s.domes.left.top), halfZ - r);
  for (let t = 0; t < 200; t++) {
    const p = tenths([
      s.body.cu + sideSign(side) * uni(rng, 3, s.cavity.a), s.body.cv + uni(rng, -s.cavity.b, s.cavity.b), uni(rng, -halfZ + r, top),
    ]);
    if (liverSdf(s, ...p) < -(r + 3) && clearOfOrgans(s, p) > r + 3) return { kind: "cyst", side, organ: "liver", sizeMm, hu, center: p };
  }
  return null;
}

/** Distance (mm, from the sdfs) to the organs painted over or beside the liver: a cyst must not hide under them. */
function clearOfOrgans(s: Subject, p: [number, number, number]): number {
  return Math.min(stomachSdf(s, ...p), spleenSdf(s, ...p), heartSdf(s, ...p), aortaSdf(s, ...p), vertebraSdf(s, ...p), ribSdf(s, ...p));
}

/** A point rounded to 0.1 mm (the truth is stored, and rendered, at that precision). */
function tenths(p: [number, number, number]): [number, number, number] {
  return [Math.round(p[0] * 10) / 10, Math.round(p[1] * 10) / 10, Math.round(p[2] * 10) / 10];
}

/**
 * Front of an effusion's fluid at (u, w): the posterior wall of the (pleural-margin) cavity at u,
 * minus the fluid's thickness there: `depthMm` over the lower half of its height above the recess,
 * then falling linearly to 0 at `heightMm`. So the fluid is a crescent along the back of the
 * hemithorax (dependent: gravity is +v for a supine patient), thickest at the base.
 */
function effusionFront(s: Subject, f: Effusion, u: number, w: number): number {
  const x = (u - s.body.cu) / (s.cavity.a - 2);
  const back = s.body.cv + (s.cavity.b - 2) * Math.sqrt(Math.max(0, 1 - x * x));
  const t = Math.min(1, Math.max(0, (f.heightMm - (w - s.lung.recessW)) / (f.heightMm / 2)));
  return back - f.depthMm * t;
}

/** The fluid: the part of its lung behind the front. */
export function effusionSdf(s: Subject, f: Effusion, u: number, v: number, w: number): number {
  return Math.max(lungSdf(s, sideSign(f.side), u, v, w), effusionFront(s, f, u, w) - v);
}

/**
 * Renderer layers of the findings, in the given order, tracked as `finding:<index>`. Nodules and
 * cysts are spheres drawn by their exact cross-sections (sdf.ts sphereSection, for the grid's pixel
 * size), so that their rendered volume is their true volume.
 */
export function findingLayers(s: Subject, findings: readonly Finding[], grid: Grid): Layer[] {
  const h = Math.sqrt(grid.spacing[1] * grid.spacing[2]);
  return findings.map((f, n): Layer => {
    const track = `finding:${n}`;
    if (f.kind === "effusion") {
      const sg = sideSign(f.side), cu = s.body.cu, c = s.cavity;
      const box: Box = [sg < 0 ? cu - c.a : cu, sg < 0 ? cu : cu + c.a, s.body.cv - c.b, s.body.cv + c.b, s.lung.recessW, s.lung.recessW + f.heightMm];
      return { name: "effusion", box, sdf: (u, v, w) => effusionSdf(s, f, u, v, w), hu: f.hu, track };
    }
    const [cu, cv, cw] = f.center, r = f.sizeMm / 2;
    const box: Box = [cu - r, cu + r, cv - r, cv + r, cw - r, cw + r];
    return { name: f.kind, box, sdf: (u, v, w) => sphereSection(u - cu, v - cv, w - cw, r, h), hu: f.hu, track };
  });
}
