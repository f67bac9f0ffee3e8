/**
 * Signed distances (mm, negative inside) of the subject's structures at a patient point (u, v, w).
 * These define where each tissue is; the lungs are defined here once and used both to paint them
 * and to place findings inside them. No tissue values (phantom.ts) and no randomness.
 */
import type { Dome, SideSign, Subject } from "./anatomy.js";
import { capsule, ellipse, ellipsoid, ellipticSlab } from "./sdf.js";

/** The body outline inset by `depth` mm (0: the skin surface; then fat, muscle). */
export function bodySdf(s: Subject, u: number, v: number, depth = 0): number {
  const b = s.body, y = v - b.cv;
  // the two half-ellipses meet at y = 0, where the distance |x| - a does not depend on b
  return ellipse(u - b.cu, y, b.a - depth, (y < 0 ? b.b : b.b + b.back) - depth);
}

export function cavitySdf(s: Subject, u: number, v: number): number {
  return ellipse(u - s.body.cu, v - s.body.cv, s.cavity.a, s.cavity.b);
}

/** Height w of the diaphragm under (u, v): the higher of two paraboloid domes, never below the recess. */
export function diaphragmW(s: Subject, u: number, v: number): number {
  const r = s.lung.recessW;
  return Math.max(r, domeW(s.domes.right, r, u, v), domeW(s.domes.left, r, u, v));
}

function domeW(d: Dome, recessW: number, u: number, v: number): number {
  const x = (u - d.u) / d.ru, y = (v - d.v) / d.rv;
  return d.top - (d.top - recessW) * (x * x + y * y);
}

export function heartSdf(s: Subject, u: number, v: number, w: number): number {
  const h = s.heart, x = u - h.u, y = v - h.v;
  return ellipsoid(h.cos * x + h.sin * y, -h.sin * x + h.cos * y, w - h.w, h.a, h.b, h.c);
}

export function aortaSdf(s: Subject, u: number, v: number, w: number): number {
  const a = s.aorta;
  return Math.min(
    capsule(u, v, w, a.asc, a.archTop, a.rAsc),
    capsule(u, v, w, a.archTop, a.archMid, a.rAsc),
    capsule(u, v, w, a.archMid, a.desc, a.rDesc),
    capsule(u, v, w, a.desc, a.descBottom, a.rDesc),
  );
}

/** Airway lumen grown by `grow` mm (grow = wall thickness for the wall). */
export function airwaySdf(s: Subject, u: number, v: number, w: number, grow = 0): number {
  const a = s.airway, rb = a.rBronchus + grow;
  return Math.min(
    capsule(u, v, w, a.trachea, a.carina, a.r + grow),
    capsule(u, v, w, a.carina, a.right[0], rb), capsule(u, v, w, a.right[0], a.right[1], rb),
    capsule(u, v, w, a.carina, a.left[0], rb), capsule(u, v, w, a.left[0], a.left[1], rb),
  );
}

/** The vertebral column as a continuous elliptic cylinder (discs and bodies). */
export function spineColumnSdf(s: Subject, u: number, v: number): number {
  return ellipse(u - s.body.cu, v - s.spine.v, s.spine.a, s.spine.b);
}

/** Vertebrae (bone only): bodies, the ring of the neural arch, spinous and transverse processes. */
export function vertebraSdf(s: Subject, u: number, v: number, w: number): number {
  const sp = s.spine, x = u - s.body.cu;
  const level = Math.round((sp.topW - w) / sp.levelH - 0.5);
  const wc = sp.topW - (level + 0.5) * sp.levelH, z = w - wc;
  const half = (sp.levelH - sp.discH) / 2;
  const body = ellipticSlab(x, v - sp.v, z, sp.a, sp.b, half);
  const y = v - sp.canalV;
  const dc = Math.sqrt(x * x + y * y);
  const ringIn = Math.max(Math.abs(dc - sp.canalR - 3) - 3, Math.abs(z) - half * 0.7);
  const cv = sp.canalV, rr = sp.canalR;
  const tip = Math.max(cv + rr + 10, s.body.cv + s.body.b + s.body.back - s.body.skin - s.body.fat - 8);
  const spinous = capsule(x, v, z, [0, cv + rr + 4, 0], [0, tip, -12], 4);
  const transverse = capsule(Math.abs(x), v, z, [rr, cv, 0], [rr + 24, cv + 6, 0], 4.5);
  return Math.min(body, ringIn, spinous, transverse);
}

/** Spinal canal contents (cord and CSF). */
export function canalSdf(s: Subject, u: number, v: number): number {
  return ellipse(u - s.body.cu, v - s.spine.canalV, s.spine.canalR, s.spine.canalR);
}

/**
 * Ribs: tubes of elliptic cross-section (radial x vertical half-thickness) along the ellipse
 * (ra, rb) around the body centre. Direction parameter `cn` = the v-component of the unit vector
 * of the normalised point (+1 straight back, -1 straight forward); a rib leaves its vertebral
 * level at cn = cnMax and falls by `drop * (1 - cn) / 2` towards its front end at cn = cnMin.
 * The formula is symmetric in u: both sides at once.
 */
export function ribSdf(s: Subject, u: number, v: number, w: number): number {
  const r = s.ribs, sp = s.spine;
  const x = u - s.body.cu, y = v - s.body.cv;
  const dr = ellipse(x, y, r.ra, r.rb);
  if (dr > r.radial + 8 || dr < -r.radial - 8) return Math.abs(dr) - r.radial;
  const px = x / r.ra, py = y / r.rb;
  const rho = Math.sqrt(px * px + py * py);
  const cn = rho === 0 ? 0 : py / rho;
  const fall = (r.drop * (1 - cn)) / 2;
  const level = Math.min(r.count - 1, Math.max(0, Math.round((sp.topW - w - fall) / sp.levelH - 0.5)));
  const dw = w - (sp.topW - (level + 0.5) * sp.levelH - fall);
  const along = Math.max(cn - r.cnMax, r.cnMin - cn) * r.rb;
  return Math.max(ellipse(dr, dw, r.radial, r.vertical), along);
}

export function sternumSdf(s: Subject, u: number, v: number, w: number): number {
  const st = s.sternum, mid = (st.topW + st.bottomW) / 2;
  return ellipticSlab(u - s.body.cu, v - st.v, w - mid, st.a, st.b, (st.topW - st.bottomW) / 2);
}

/**
 * One lung (side -1 right, +1 left): the cavity (2 mm pleural margin) on its side of the
 * mediastinum, above the diaphragm, inside a hemithorax ellipse that shrinks to the apex over the
 * top `apexH` mm, minus the heart, aorta and spine with 3-4 mm of tissue around them.
 */
export function lungSdf(s: Subject, side: SideSign, u: number, v: number, w: number): number {
  const L = s.lung, c = s.cavity, cu = s.body.cu, cv = s.body.cv;
  const hx = cu + (side * (L.mediastinum + c.a)) / 2, hy = cv + 0.1 * c.b; // hemithorax centre
  if (w >= L.apexW) return Math.max(w - L.apexW, Math.sqrt((u - hx) * (u - hx) + (v - hy) * (v - hy)));
  let d = ellipse(u - cu, v - cv, c.a - 2, c.b - 2);
  d = Math.max(d, L.mediastinum - side * (u - cu));
  const w0 = L.apexW - L.apexH;
  const t = w > w0 ? (w - w0) / L.apexH : 0;
  const scale = Math.sqrt(1 - t * t);
  d = Math.max(d, ellipse(u - hx, v - hy, ((c.a - L.mediastinum) / 2 + 6) * scale + 1e-3, (c.b + 6) * scale + 1e-3));
  d = Math.max(d, diaphragmW(s, u, v) - w);
  if (d > 0) return d;
  d = Math.max(d, 3 - heartSdf(s, u, v, w));
  d = Math.max(d, 3 - aortaSdf(s, u, v, w));
  return Math.max(d, 4 - spineColumnSdf(s, u, v));
}

/** Below the diaphragm inside the cavity: the upper abdomen. */
export function abdomenSdf(s: Subject, u: number, v: number, w: number): number {
  return Math.max(cavitySdf(s, u, v), w - diaphragmW(s, u, v));
}

/** Liver: the abdomen right of a line that moves left anteriorly (the left lobe reaches across). */
export function liverSdf(s: Subject, u: number, v: number, w: number): number {
  const edge = 15 + 0.6 * Math.max(0, s.body.cv - v);
  return Math.max(abdomenSdf(s, u, v, w), u - s.body.cu - edge);
}

export function spleenSdf(s: Subject, u: number, v: number, w: number): number {
  const p = s.spleen;
  return Math.max(abdomenSdf(s, u, v, w), ellipsoid(u - p.u, v - p.v, w - p.w, p.a, p.b, p.c));
}

export function stomachSdf(s: Subject, u: number, v: number, w: number): number {
  const p = s.stomach;
  return Math.max(abdomenSdf(s, u, v, w), ellipsoid(u - p.u, v - p.v, w - p.w, p.a, p.b, p.c));
}
