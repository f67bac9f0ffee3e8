/**
 * A tiny RGB raster for the figures: fill, rectangle, alpha blend, copy. Integer pixel coordinates,
 * colours as [r, g, b] bytes; blending in float64 with one rounding, so the bytes are the same in
 * every JS engine. Not a canvas: no anti-aliasing, no paths.
 */
import { MemoryError, ValueError } from "../errors.js";
import type { PngImage } from "./png.js";

export type Rgb = readonly [number, number, number];

/** Largest raster (pixels) a figure may need; beyond that the caller asked for something absurd. */
export const MAX_PIXELS = 2 ** 28;

/** `round((1 - alpha) * under + alpha * over)` per channel: the one blend rule of every figure. */
export function blend(under: Rgb, over: Rgb, alpha: number): [number, number, number] {
  return [
    Math.round((1 - alpha) * under[0] + alpha * over[0]),
    Math.round((1 - alpha) * under[1] + alpha * over[1]),
    Math.round((1 - alpha) * under[2] + alpha * over[2]),
  ];
}

export class Raster {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array; // [height, width, 3]

  constructor(width: number, height: number, background: Rgb = [255, 255, 255]) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new ValueError(`Raster: size: expected positive integers, got ${width}x${height}`);
    }
    if (width * height > MAX_PIXELS) throw new MemoryError(`Raster: size: expected at most 2^28 pixels, got ${width}x${height}`);
    this.width = width;
    this.height = height;
    this.data = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  /** The colour at (x, y). */
  get(x: number, y: number): [number, number, number] {
    const o = (y * this.width + x) * 3;
    return [this.data[o], this.data[o + 1], this.data[o + 2]];
  }
  /** Sets (x, y); outside the raster: nothing. */
  set(x: number, y: number, c: Rgb): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = (y * this.width + x) * 3;
    this.data[o] = c[0];
    this.data[o + 1] = c[1];
    this.data[o + 2] = c[2];
  }
  /** Blends `c` over (x, y) with `alpha` (see `blend`). */
  blendAt(x: number, y: number, c: Rgb, alpha: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.set(x, y, blend(this.get(x, y), c, alpha));
  }
  /** Fills [x, x + w) x [y, y + h), clipped to the raster. */
  fillRect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let yy = Math.max(0, y); yy < Math.min(this.height, y + h); yy++) {
      for (let xx = Math.max(0, x); xx < Math.min(this.width, x + w); xx++) this.set(xx, yy, c);
    }
  }
  /** Copies all of `src` with its top-left corner at (x, y), clipped. */
  draw(src: Raster, x: number, y: number): void {
    for (let yy = 0; yy < src.height; yy++) {
      for (let xx = 0; xx < src.width; xx++) this.set(x + xx, y + yy, src.get(xx, yy));
    }
  }
  /** As a PNG-encodable image (shares the bytes). */
  image(): PngImage {
    return { width: this.width, height: this.height, channels: 3, data: this.data };
  }
}
