/**
 * One synthetic subject: the anatomy (sizes, positions, tissue values) drawn from a seed, in patient
 * mm (u left, v posterior, w superior; geometry.ts), independent of the grid it is rendered on.
 * Shapes only (signed distances, structures.ts); painting order and tissue values are in phantom.ts.
 */
import { cos, sin } from "../detmath.js";
import type { Rng } from "../rng.js";
import { chance, uni } from "./draw.js";
import { COVERAGE_MM } from "./geometry.js";
import type { Vec3 } from "./sdf.js";

/** -1 = the patient's right (u < 0 side of the body), +1 = left. */
export type SideSign = -1 | 1;

export interface Dome {
  u: number; v: number; ru: number; rv: number;
  /** w of the dome's top; the dome falls to the lung recess at normalised radius 1. */
  top: number;
}

/** Tissue values in HU, per subject. */
export interface TissueHU {
  skin: number; fat: number; muscle: number; mediastinum: number;
  lung: number; lungGradient: number; lungTexture: number;
  blood: number; myocardium: number; liver: number; spleen: number; stomach: number; abdomen: number;
  cortex: number; marrow: number; disc: number; canal: number; air: number;
}

export interface Subject {
  contrast: boolean;
  /**
   * Body: an ellipse of centre (cu, cv), lateral semi-axis a, anterior semi-axis b and posterior
   * semi-axis b + back (the paraspinal muscles), and its wall layers (mm).
   */
  body: { cu: number; cv: number; a: number; b: number; back: number; skin: number; fat: number; muscle: number };
  /** Thoracic cavity: the body ellipse inset by skin + fat + muscle. */
  cavity: { a: number; b: number };
  /** Lungs: apex and posterior recess heights (w), apical taper height, mediastinal half-width. */
  lung: { apexW: number; recessW: number; apexH: number; mediastinum: number };
  domes: { right: Dome; left: Dome };
  heart: { u: number; v: number; w: number; a: number; b: number; c: number; cos: number; sin: number };
  aorta: { asc: Vec3; archTop: Vec3; archMid: Vec3; desc: Vec3; descBottom: Vec3; rAsc: number; rDesc: number };
  airway: { trachea: Vec3; carina: Vec3; right: [Vec3, Vec3]; left: [Vec3, Vec3]; r: number; rBronchus: number };
  esophagus: { u: number; v: number; r: number };
  spine: { v: number; a: number; b: number; levelH: number; discH: number; topW: number; canalV: number; canalR: number };
  ribs: { ra: number; rb: number; drop: number; radial: number; vertical: number; cnMin: number; cnMax: number; count: number };
  sternum: { v: number; a: number; b: number; topW: number; bottomW: number };
  spleen: { u: number; v: number; w: number; a: number; b: number; c: number };
  stomach: { u: number; v: number; w: number; a: number; b: number; c: number; airV: number };
  hu: TissueHU;
  /** Lattice of the lung texture field (unit normals), spacing TEXTURE_STEP mm, see lungTexture(). */
  texture: Float32Array;
  noiseSigma: number;
}

export const TEXTURE_STEP = 24;
/** Texture lattice extent: u, v in [-TEXTURE_HALF_UV, +], w in [-TEXTURE_HALF_W, +] mm. */
const TEXTURE_HALF_UV = 216, TEXTURE_HALF_W = 192;
export const TEXTURE_N_UV = (2 * TEXTURE_HALF_UV) / TEXTURE_STEP + 1, TEXTURE_N_W = (2 * TEXTURE_HALF_W) / TEXTURE_STEP + 1;

/** Draws a subject. The order of draws is part of the generator version (manifest.json). */
export function drawSubject(rng: Rng): Subject {
  const contrast = chance(rng, 0.5);
  // cavity first (what holds the lungs), then the wall around it: inner thorax 210-280 mm wide
  const ca = uni(rng, 105, 140), cb = uni(rng, 72, 98);
  const skin = uni(rng, 2, 3), fat = uni(rng, 5, 25), muscle = uni(rng, 8, 14);
  const wall = skin + fat + muscle;
  const cu = uni(rng, -8, 8), cv = uni(rng, -10, 6);
  const body = { cu, cv, a: ca + wall, b: cb + wall, back: uni(rng, 20, 35), skin, fat, muscle };

  // lungs: apex 0-25 mm under the top of the default coverage, 250-290 mm to the posterior recess;
  // the right dome is higher than the left (the liver)
  const apexW = COVERAGE_MM / 2 - uni(rng, 0, 25);
  const recessW = apexW - uni(rng, 250, 290);
  const lung = { apexW, recessW, apexH: uni(rng, 50, 70), mediastinum: uni(rng, 10, 16) };
  const dome = (s: SideSign, rise: number): Dome => ({ u: cu + s * 0.45 * ca, v: cv - 0.05 * cb, ru: 0.55 * ca, rv: 0.9 * cb, top: recessW + rise });
  const domes = { right: dome(-1, uni(rng, 80, 110)), left: dome(1, uni(rng, 65, 95)) };

  // heart on the central diaphragm (its bottom 15 mm below the higher dome top), long axis turned
  // 20-35 degrees towards the left
  const hc = uni(rng, 42, 52), angle = (uni(rng, 20, 35) * Math.PI) / 180;
  const heart = {
    u: cu + 0.22 * ca, v: cv - 0.25 * cb, w: Math.max(domes.right.top, domes.left.top) - 15 + hc,
    a: uni(rng, 0.38, 0.46) * ca, b: 0.55 * cb, c: hc, cos: cos(angle), sin: sin(angle),
  };

  // spine: vertebral bodies bulge into the back of the cavity; levels of one body + one disc
  const sb = uni(rng, 15, 18);
  const spineV = cv + cb - 12;
  const spine = {
    v: spineV, a: uni(rng, 19, 23), b: sb, levelH: uni(rng, 26, 30), discH: uni(rng, 4, 6),
    topW: apexW + uni(rng, 5, 20), canalV: spineV + sb + 10, canalR: uni(rng, 7, 9),
  };

  // great vessels and airway, front to back: trachea, oesophagus, spine; descending aorta left of them
  const archW = Math.min(heart.w + hc + uni(rng, 25, 40), apexW - 60);
  const rAsc = uni(rng, 14, 17), rDesc = uni(rng, 11, 14);
  const desc: Vec3 = [cu + 26, spineV - 20, archW];
  const asc: Vec3 = [cu - 0.08 * ca, cv - 0.3 * cb, heart.w];
  const aorta = {
    asc, archTop: [asc[0], asc[1], archW] as Vec3, archMid: [cu + 22, (asc[1] + desc[1]) / 2 - 10, archW + 12] as Vec3,
    desc, descBottom: [desc[0], desc[1], -COVERAGE_MM] as Vec3, rAsc, rDesc,
  };
  const esophagus = { u: cu - 4, v: spineV - sb - 9, r: uni(rng, 5, 7) };
  const r = uni(rng, 7, 9);
  const tv = esophagus.v - esophagus.r - 3 - r;
  const carinaW = archW - uni(rng, 20, 30);
  const bronchus = (s: SideSign): [Vec3, Vec3] => [[cu + s * 28, tv + 5, carinaW - 22], [cu + s * 45, tv + 10, carinaW - 40]];
  const airway = {
    trachea: [cu, tv, COVERAGE_MM] as Vec3, carina: [cu, tv, carinaW] as Vec3,
    right: bronchus(-1), left: bronchus(1), r, rBronchus: uni(rng, 5, 6),
  };

  const ribs = {
    ra: ca + 5, rb: cb + 5, drop: uni(rng, 90, 120), radial: 3.5, vertical: uni(rng, 4.5, 6),
    cnMin: uni(rng, -0.6, -0.45), cnMax: Math.sqrt(1 - (30 / (ca + 5)) * (30 / (ca + 5))), count: 12,
  };
  const sternum = {
    v: cv - cb - uni(rng, 4, 7), a: uni(rng, 13, 17), b: uni(rng, 5, 7), topW: archW + 25, bottomW: heart.w - 0.6 * hc,
  };
  const spleen = { u: cu + 0.62 * ca, v: cv + 0.45 * cb, w: domes.left.top - 45, a: 0.22 * ca, b: 0.35 * cb, c: 55 };
  const stomach = {
    u: cu + 0.3 * ca, v: cv - 0.35 * cb, w: domes.left.top - 40, a: 0.22 * ca, b: 0.3 * cb, c: 40,
    airV: cv - 0.35 * cb - 0.3 * cb * uni(rng, 0.3, 0.6),
  };
  const hu = drawTissues(rng, contrast);
  const texture = new Float32Array(TEXTURE_N_UV * TEXTURE_N_UV * TEXTURE_N_W);
  for (let n = 0; n < texture.length; n++) texture[n] = rng.normal();
  const noiseSigma = uni(rng, 8, 25);
  return {
    contrast, body, cavity: { a: ca, b: cb }, lung, domes, heart, aorta, airway, esophagus, spine, ribs,
    sternum, spleen, stomach, hu, texture, noiseSigma,
  };
}

/** HU per tissue; with contrast (portal-venous phase) blood, myocardium, liver and spleen enhance. */
function drawTissues(rng: Rng, contrast: boolean): TissueHU {
  return {
    skin: uni(rng, 30, 60), fat: uni(rng, -115, -85), muscle: uni(rng, 40, 60), mediastinum: uni(rng, -70, -30),
    lung: uni(rng, -870, -830), lungGradient: uni(rng, 30, 70), lungTexture: uni(rng, 12, 25),
    blood: contrast ? uni(rng, 150, 250) : uni(rng, 35, 50),
    myocardium: contrast ? uni(rng, 90, 120) : uni(rng, 40, 55),
    liver: contrast ? uni(rng, 95, 120) : uni(rng, 50, 65),
    spleen: contrast ? uni(rng, 100, 130) : uni(rng, 40, 55),
    stomach: uni(rng, 5, 25), abdomen: uni(rng, 30, 45),
    cortex: uni(rng, 700, 1000), marrow: uni(rng, 180, 320), disc: uni(rng, 70, 100), canal: uni(rng, 15, 30),
    air: -1000,
  };
}

/** The lung texture field at (u, v, w): trilinear interpolation of the lattice (unit variance at nodes). */
export function lungTexture(s: Subject, u: number, v: number, w: number): number {
  const fu = clampIdx((u + TEXTURE_HALF_UV) / TEXTURE_STEP, TEXTURE_N_UV);
  const fv = clampIdx((v + TEXTURE_HALF_UV) / TEXTURE_STEP, TEXTURE_N_UV);
  const fw = clampIdx((w + TEXTURE_HALF_W) / TEXTURE_STEP, TEXTURE_N_W);
  const iu = Math.floor(fu), iv = Math.floor(fv), iw = Math.floor(fw);
  const tu = fu - iu, tv = fv - iv, tw = fw - iw;
  const t = s.texture, n = TEXTURE_N_UV;
  let acc = 0;
  for (let c = 0; c < 8; c++) {
    const du = c & 1, dv = (c >> 1) & 1, dw = c >> 2;
    const weight = (du ? tu : 1 - tu) * (dv ? tv : 1 - tv) * (dw ? tw : 1 - tw);
    acc += weight * t[((iw + dw) * n + (iv + dv)) * n + (iu + du)];
  }
  return acc;
}

/** Lattice coordinate clamped so that the upper neighbour stays inside the lattice. */
function clampIdx(f: number, n: number): number {
  return f < 0 ? 0 : f > n - 1.000001 ? n - 1.000001 : f;
}
