/**
 * Signed distance functions (mm; negative inside) of the shapes the phantom is drawn from, and the
 * coverage rule that turns a distance into a partial-volume fraction. Shapes only, no tissue values.
 * Ellipses and ellipsoids use the first-order approximation `k0 (k0 - 1) / k1` (exact on the
 * surface and accurate near it, which is where coverage is decided); the rest are exact.
 */
import { exp, log } from "../detmath.js";

/** Ellipse `(x/a)^2 + (y/b)^2 = 1` centred at the origin. */
export function ellipse(x: number, y: number, a: number, b: number): number {
  const px = x / a, py = y / b;
  const k0 = Math.sqrt(px * px + py * py);
  if (k0 === 0) return -Math.min(a, b);
  const qx = px / a, qy = py / b;
  return (k0 * (k0 - 1)) / Math.sqrt(qx * qx + qy * qy);
}

/** Ellipsoid with semi-axes a, b, c centred at the origin. */
export function ellipsoid(x: number, y: number, z: number, a: number, b: number, c: number): number {
  const px = x / a, py = y / b, pz = z / c;
  const k0 = Math.sqrt(px * px + py * py + pz * pz);
  if (k0 === 0) return -Math.min(a, b, c);
  const qx = px / a, qy = py / b, qz = pz / c;
  return (k0 * (k0 - 1)) / Math.sqrt(qx * qx + qy * qy + qz * qz);
}

/** Sphere of radius r centred at (cx, cy, cz). */
export function sphere(x: number, y: number, z: number, cx: number, cy: number, cz: number, r: number): number {
  const dx = x - cx, dy = y - cy, dz = z - cz;
  return Math.sqrt(dx * dx + dy * dy + dz * dz) - r;
}

export type Vec3 = readonly [number, number, number];

/**
 * In-plane signed distance to the cross-section, at height offset dz, of a sphere of radius r, for
 * pixels of size h, with its radius chosen so that the rendered area (coverage integrated over the
 * plane) equals the true section area pi rho^2, rho^2 = r^2 - dz^2. A linear ramp of width h
 * around a circle of radius e covers pi e^2 + pi h^2 / 12 when e >= h/2, and pi (e + h/2)^3 / (3h)
 * when -h/2 <= e < h/2; solving for e gives the two branches below. A sphere rendered slice by
 * slice so keeps its volume (up to the sampling of the grid).
 */
export function sphereSection(x: number, y: number, dz: number, r: number, h: number): number {
  const rho2 = r * r - dz * dz;
  const d = Math.sqrt(x * x + y * y);
  if (rho2 <= 0) return d + h;
  const e = rho2 >= (h * h) / 3 ? Math.sqrt(rho2 - (h * h) / 12) : exp(log(3 * h * rho2) / 3) - h / 2;
  return d - e;
}

/** Capsule: points within r of the segment a-b. */
export function capsule(x: number, y: number, z: number, a: Vec3, b: Vec3, r: number): number {
  const bx = b[0] - a[0], by = b[1] - a[1], bz = b[2] - a[2];
  const px = x - a[0], py = y - a[1], pz = z - a[2];
  const bb = bx * bx + by * by + bz * bz;
  const t = bb === 0 ? 0 : Math.min(1, Math.max(0, (px * bx + py * by + pz * bz) / bb));
  const dx = px - t * bx, dy = py - t * by, dz = pz - t * bz;
  return Math.sqrt(dx * dx + dy * dy + dz * dz) - r;
}

/** Elliptic slab: an elliptic cylinder (semi-axes a, b in-plane) cut to |z| <= h, edges exact. */
export function ellipticSlab(x: number, y: number, z: number, a: number, b: number, h: number): number {
  const dr = ellipse(x, y, a, b), dz = Math.abs(z) - h;
  const ox = Math.max(dr, 0), oz = Math.max(dz, 0);
  return Math.min(Math.max(dr, dz), 0) + Math.sqrt(ox * ox + oz * oz);
}

/**
 * Fraction of a pixel of size h (mm) inside a shape whose boundary is at signed distance d from
 * the pixel centre: a linear ramp from 1 (d <= -h/2) to 0 (d >= h/2). This is the in-plane
 * partial-volume rule; through-plane averaging is done by sampling sub-slices (render.ts).
 */
export function coverage(d: number, h: number): number {
  const c = 0.5 - d / h;
  return c <= 0 ? 0 : c >= 1 ? 1 : c;
}
