/**
 * Expert colours for routing maps: up to 16, colour-blind friendly. Not a general colour library.
 *
 * Experts 0-6 are the Okabe-Ito palette without its black (black only darkens a CT overlay).
 * Experts 7-15 were picked greedily from published colour-blind-safe sets (Paul Tol's bright,
 * muted, light and high-contrast schemes, IBM/Nichols pairs) to maximise the smallest CIELAB
 * distance (Delta E 1976) to the colours already chosen, in normal vision and under simulated
 * deuteranopia, protanopia and tritanopia (Machado et al. 2009, severity 1), keeping only colours
 * with chroma >= 25 and L* >= 25 so every one stays visible over greyscale. Result, tested in
 * test/viz-palette.test.ts: experts 0-6 keep Delta E >= 16 between every pair in all four visions,
 * all 16 keep Delta E >= 11. Beyond 8 colours no palette is unambiguous to every reader: the
 * legend's labels (e0, e1, ...) are the key.
 */
import { ValueError } from "../errors.js";
import type { Rgb } from "./raster.js";

export interface PaletteEntry {
  rgb: Rgb;
  hex: string;
  name: string;
}

const ENTRIES: readonly [string, string][] = [
  ["#E69F00", "orange"], // Okabe-Ito
  ["#56B4E9", "sky blue"],
  ["#009E73", "bluish green"],
  ["#F0E442", "yellow"],
  ["#0072B2", "blue"],
  ["#D55E00", "vermillion"],
  ["#CC79A7", "reddish purple"],
  ["#882255", "wine"], // Tol muted
  ["#004488", "dark blue"], // Tol high-contrast
  ["#FFAABB", "pink"], // Tol light
  ["#99DDFF", "light cyan"], // Tol light
  ["#1A85FF", "azure"], // IBM / Nichols
  ["#E1BE6A", "sand"], // Nichols
  ["#117733", "green"], // Tol muted
  ["#999933", "olive"], // Tol muted
  ["#994F00", "brown"], // Nichols
];

/** The 16 expert colours in expert order. */
export const PALETTE: readonly PaletteEntry[] = ENTRIES.map(([hex, name]) => ({ hex, name, rgb: hexToRgb(hex) }));
export const MAX_EXPERTS = PALETTE.length;

/** Colour of routed expert `e` (0-based, within its task group). */
export function expertColor(e: number): Rgb {
  if (!Number.isInteger(e) || e < 0 || e >= MAX_EXPERTS) {
    throw new ValueError(`expertColor: e: expected an integer in [0, ${MAX_EXPERTS - 1}], got ${String(e)}`);
  }
  return PALETTE[e].rgb;
}

/** The first E colours; ValueError beyond 16 (no readable palette has more). */
export function paletteFor(E: number): Rgb[] {
  if (!Number.isInteger(E) || E < 1 || E > MAX_EXPERTS) {
    throw new ValueError(`paletteFor: experts: expected an integer in [1, ${MAX_EXPERTS}] (colours that stay distinguishable), got ${String(E)}`);
  }
  return PALETTE.slice(0, E).map((p) => p.rgb);
}

function hexToRgb(hex: string): Rgb {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}
