/**
  * Pulmonary vessel trees: from each hilum, six trunks (up, down, forwards, backwards, lateral) that
 * split in two at every generation, as capsule segments clipped to the lung. This is the lungs'
 * vessel-like texture; it is painted only inside the lung (phantom.ts).
 */
import type { Rng } from "../rng.js";
import type { SideSign, Subject } from "./anatomy.js";
import type { Vec3 } from "./sdf.js";
import { lungSdf } from "./structures.js";

export interface Segment {
  side: SideSign;
  a: Vec3;
  b: Vec3;
  r: number;
}

/** Generations after the trunk: 6 trunks x (2^6 - 1) = up to 378 segments per lung. */
const GENERATIONS = 5;

export function drawVessels(rng: Rng, s: Subject): Segment[] {
  const out: Segment[] = [];
  for (const side of [-1, 1] as SideSign[]) {
    const hilum: Vec3 = [s.body.cu + side * (s.lung.mediastinum + 22), s.body.cv + 0.15 * s.cavity.b, s.airway.carina[2] - 30];
    // to the apex, forwards, laterally, backwards, to the base and to the posterior base
    const trunks: Vec3[] = [
      [side * 0.3, -0.1, 0.95], [side * 0.5, -0.8, 0.2], [side * 0.9, -0.1, 0.1],
      [side * 0.5, 0.8, 0.1], [side * 0.45, -0.2, -0.85], [side * 0.4, 0.6, -0.7],
    ];
    for (const dir of trunks) grow(rng, s, side, hilum, normalise(dir), 70, 5, GENERATIONS, out);
  }
  return out;
}

/**
 * One segment from `a` along `dir` (or, if its end falls outside the lung, along up to three
 * re-drawn directions, each tried at full and half length), then its two children.
 */
function grow(rng: Rng, s: Subject, side: SideSign, a: Vec3, dir: Vec3, length: number, r: number, left: number, out: Segment[]): void {
  let d = dir;
  for (let attempt = 0; attempt < 4; attempt++) {
    for (const len of [length, length / 2]) {
      const b: Vec3 = [a[0] + d[0] * len, a[1] + d[1] * len, a[2] + d[2] * len];
      if (lungSdf(s, side, b[0], b[1], b[2]) >= -r) continue;
      out.push({ side, a, b, r });
      if (left > 0) {
        for (let c = 0; c < 2; c++) grow(rng, s, side, b, jitter(rng, d, 0.45), length * 0.72, r * 0.68, left - 1, out);
      }
      return;
    }
    d = jitter(rng, dir, 0.8);
  }
}

/** `dir` plus normal noise of standard deviation `sd` per component, normalised. */
function jitter(rng: Rng, dir: Vec3, sd: number): Vec3 {
  return normalise([dir[0] + sd * rng.normal(), dir[1] + sd * rng.normal(), dir[2] + sd * rng.normal()]);
}

function normalise(v: Vec3): Vec3 {
  const n = Math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) || 1;
  return [v[0] / n, v[1] / n, v[2] / n];
}
