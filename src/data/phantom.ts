/**
 * The phantom: the subject's tissues as layers in painting order (later layers cover earlier ones),
 * with the findings' layers slotted in after the lungs. What is drawn, not how (render.ts).
 */
import type { SideSign, Subject } from "./anatomy.js";
import { lungTexture } from "./anatomy.js";
import type { Box, Layer } from "./render.js";
import { capsule, ellipse, type Vec3 } from "./sdf.js";
import {
  abdomenSdf, bodySdf, canalSdf, cavitySdf, heartSdf, liverSdf, lungSdf, ribSdf, spineColumnSdf, spleenSdf, sternumSdf, stomachSdf, vertebraSdf,
} from "./structures.js";
import type { Segment } from "./vessels.js";

const ALL_W = 1e4;
/** Cortical bone thickness (mm): the marrow is the bone inset by this much. */
const CORTEX_MM = 1.5;
/** Airway wall thickness (mm). */
const AIRWAY_WALL_MM = 2;

/** Tissue layers before the findings: body wall, cavity, upper abdomen, lungs and their vessels. */
export function baseLayers(s: Subject, vessels: readonly Segment[]): Layer[] {
  const b = s.body, hu = s.hu, L = s.lung, c = s.cavity;
  const bodyBox: Box = [b.cu - b.a, b.cu + b.a, b.cv - b.b, b.cv + b.b + b.back, -ALL_W, ALL_W];
  const cavBox: Box = [b.cu - c.a, b.cu + c.a, b.cv - c.b, b.cv + c.b, -ALL_W, ALL_W];
  const abdTop = Math.max(s.domes.left.top, s.domes.right.top);
  const abdBox: Box = [cavBox[0], cavBox[1], cavBox[2], cavBox[3], -ALL_W, abdTop];
  const inletW = L.apexW - 0.6 * L.apexH;
  const inCavity = (u: number, v: number) => cavitySdf(s, u, v);
  const layers: Layer[] = [
    {
      name: "body wall", box: bodyBox, flat: true, sdf: (u, v) => bodySdf(s, u, v), hu: hu.skin,
      inner: [{ inset: b.skin, hu: hu.fat }, { inset: b.skin + b.fat, hu: hu.muscle }],
    },
    // mediastinal fat between the organs; the thoracic inlet above the apices is muscle
    { name: "cavity", box: cavBox, flat: true, sdf: (u, v) => cavitySdf(s, u, v), hu: (_u, _v, w) => blend(hu.mediastinum, hu.muscle, (w - inletW) / 20) },
    { name: "abdomen", box: abdBox, sdf: (u, v, w) => abdomenSdf(s, u, v, w), hu: hu.abdomen, footprint: inCavity },
    { name: "liver", box: abdBox, sdf: (u, v, w) => liverSdf(s, u, v, w), hu: hu.liver, footprint: inCavity, track: "tissue:liver" },
    { name: "stomach", box: ellipsoidBox(s.stomach), sdf: (u, v, w) => stomachSdf(s, u, v, w), hu: hu.stomach },
    { name: "stomach air", box: ellipsoidBox(s.stomach), sdf: (u, v, w) => Math.max(stomachSdf(s, u, v, w), v - s.stomach.airV), hu: hu.air },
    { name: "spleen", box: ellipsoidBox(s.spleen), sdf: (u, v, w) => spleenSdf(s, u, v, w), hu: hu.spleen },
  ];
  for (const side of [-1, 1] as SideSign[]) {
    const box: Box = side < 0 ? [cavBox[0], b.cu, cavBox[2], cavBox[3], L.recessW, L.apexW] : [b.cu, cavBox[1], cavBox[2], cavBox[3], L.recessW, L.apexW];
    const name = side < 0 ? "right lung" : "left lung";
    layers.push({ name, box, sdf: (u, v, w) => lungSdf(s, side, u, v, w), hu: (u, v, w) => lungHU(s, u, v, w), footprint: inCavity, track: "tissue:lung" });
  }
  for (const { a, b: e, r, side } of vessels) {
    const sdf = (u: number, v: number, w: number): number => {
      const d = capsule(u, v, w, a, e, r);
      return d > 4 ? d : Math.max(d, lungSdf(s, side, u, v, w)); // the lung only matters near the vessel
    };
    layers.push({ name: "vessel", box: capsuleBox(a, e, r), sdf, hu: hu.blood });
  }
  return layers;
}

/** Lung parenchyma: denser towards the back (gravity), plus the smooth texture field. */
export function lungHU(s: Subject, u: number, v: number, w: number): number {
  const y = (v - s.body.cv) / s.cavity.b; // -1 front .. +1 back
  return s.hu.lung + (s.hu.lungGradient * (y + 1)) / 2 + s.hu.lungTexture * lungTexture(s, u, v, w);
}

/** Layers painted after the findings: heart, great vessels, airway, oesophagus, bones. */
export function topLayers(s: Subject): Layer[] {
  const b = s.body, hu = s.hu, h = s.heart, sp = s.spine, a = s.aorta, aw = s.airway, e = s.esophagus;
  const r = Math.max(h.a, h.b) + 4;
  const heartBox: Box = [h.u - r, h.u + r, h.v - r, h.v + r, h.w - h.c - 4, h.w + h.c + 4];
  const spineBox: Box = [b.cu - 45, b.cu + 45, sp.v - sp.b - 2, b.cv + b.b + b.back, -ALL_W, sp.topW + 2];
  const columnBox: Box = [b.cu - sp.a, b.cu + sp.a, sp.canalV - 2 * sp.canalR - sp.b, sp.canalV + sp.canalR, -ALL_W, sp.topW];
  const ribBox: Box = [b.cu - s.ribs.ra - 10, b.cu + s.ribs.ra + 10, b.cv - s.ribs.rb - 10, b.cv + s.ribs.rb + 10, -ALL_W, sp.topW + 10];
  const st = s.sternum;
  const sternumBox: Box = [b.cu - st.a, b.cu + st.a, st.v - st.b, st.v + st.b, st.bottomW, st.topW];
  const marrow = [{ inset: CORTEX_MM, hu: hu.marrow }];
  const lumen = [{ inset: AIRWAY_WALL_MM, hu: hu.air }];
  const tube = (name: string, p: Vec3, q: Vec3, radius: number, value: number, inner?: Layer["inner"]): Layer => ({
    name, box: capsuleBox(p, q, radius), sdf: (u, v, w) => capsule(u, v, w, p, q, radius), hu: value, inner,
  });
  const wall = (p: Vec3, q: Vec3, radius: number) => tube("airway", p, q, radius + AIRWAY_WALL_MM, hu.muscle, lumen);
  return [
    {
      name: "heart", box: heartBox, sdf: (u, v, w) => heartSdf(s, u, v, w) - 3, hu: hu.fat, // pericardial fat
      inner: [{ inset: 3, hu: hu.myocardium }, { inset: 12, hu: hu.blood }],
    },
    tube("aorta", a.asc, a.archTop, a.rAsc, hu.blood),
    tube("aorta", a.archTop, a.archMid, a.rAsc, hu.blood),
    tube("aorta", a.archMid, a.desc, a.rDesc, hu.blood),
    tube("aorta", a.desc, a.descBottom, a.rDesc, hu.blood),
    tube("oesophagus", [e.u, e.v, -ALL_W], [e.u, e.v, ALL_W], e.r, hu.muscle),
    wall(aw.trachea, aw.carina, aw.r),
    wall(aw.carina, aw.right[0], aw.rBronchus), wall(aw.right[0], aw.right[1], aw.rBronchus),
    wall(aw.carina, aw.left[0], aw.rBronchus), wall(aw.left[0], aw.left[1], aw.rBronchus),
    { name: "discs", box: columnBox, flat: true, sdf: (u, v) => spineColumnSdf(s, u, v), hu: hu.disc },
    { name: "spinal canal", box: columnBox, flat: true, sdf: (u, v) => canalSdf(s, u, v), hu: hu.canal },
    { name: "vertebrae", box: spineBox, sdf: (u, v, w) => vertebraSdf(s, u, v, w), hu: hu.cortex, inner: marrow },
    {
      name: "ribs", box: ribBox, sdf: (u, v, w) => ribSdf(s, u, v, w), hu: hu.cortex, inner: marrow,
      footprint: (u, v) => Math.abs(ellipse(u - b.cu, v - b.cv, s.ribs.ra, s.ribs.rb)) - s.ribs.radial - 2,
    },
    { name: "sternum", box: sternumBox, sdf: (u, v, w) => sternumSdf(s, u, v, w), hu: hu.cortex, inner: marrow },
  ];
}

/** Box of a capsule. */
export function capsuleBox(a: Vec3, b: Vec3, r: number): Box {
  return [
    Math.min(a[0], b[0]) - r, Math.max(a[0], b[0]) + r, Math.min(a[1], b[1]) - r,
    Math.max(a[1], b[1]) + r, Math.min(a[2], b[2]) - r, Math.max(a[2], b[2]) + r,
  ];
}

function ellipsoidBox(e: { u: number; v: number; w: number; a: number; b: number; c: number }): Box {
  return [e.u - e.a, e.u + e.a, e.v - e.b, e.v + e.b, e.w - e.c, e.w + e.c];
}

/** a for t <= 0, b for t >= 1, linear between. */
function blend(a: number, b: number, t: number): number {
  return t <= 0 ? a : t >= 1 ? b : a + (b - a) * t;
}
