/**
 * The bitmap font (src/viz/font.ts) and the expert palette (src/viz/palette.ts): known glyph
 * bitmaps drawn pixel for pixel at several scales, glyph-table invariants, and the palette's
 * colour-blind claims re-measured here (CIELAB Delta E 1976 under Machado 2009 simulations).
 * Exact pixel comparisons; the palette thresholds are the ones its header states.
 */
import { describe, expect, it } from "vitest";
import { ValueError } from "../src/errors.js";
import { BASELINE, CELL_H, CELL_W, GLYPH_H, GLYPH_W, MISSING_GLYPH, drawText, glyph, hasGlyph, textWidth } from "../src/viz/font.js";
import { MAX_EXPERTS, PALETTE, expertColor, paletteFor } from "../src/viz/palette.js";
import { Raster, type Rgb } from "../src/viz/raster.js";

const ART: Record<string, string[]> = {
  A: [".###.", "#...#", "#...#", "#...#", "#####", "#...#", "#...#", "....."],
  e: [".....", ".....", ".###.", "#...#", "#####", "#....", ".###.", "....."],
  p: [".....", ".....", "####.", "#...#", "#...#", "####.", "#....", "#...."],
  "7": ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#...", "....."],
  "%": ["##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##", "....."],
  "·": [".....", ".....", ".....", ".###.", ".###.", ".....", ".....", "....."],
};
const rowsOf = (ch: string) => glyph(ch).map((bits) => Array.from({ length: GLYPH_W }, (_, x) => ((bits >> (GLYPH_W - 1 - x)) & 1 ? "#" : ".")).join(""));

describe("font", () => {
  it("known glyph bitmaps", () => {
    for (const [ch, art] of Object.entries(ART)) expect(rowsOf(ch)).toEqual(art);
  });

  it("drawText renders those bitmaps pixel for pixel at scales 1, 2, 3, only over set pixels, one cell per character", () => {
    const bg: Rgb = [10, 200, 30], ink: Rgb = [1, 2, 3];
    for (const f of [1, 2, 3]) {
      const text = Object.keys(ART).join("");
      const r = new Raster(textWidth(text, f) + 5, CELL_H * f + 4, bg);
      drawText(r, 2, 3, text, ink, f);
      for (let y = 0; y < r.height; y++) {
        for (let x = 0; x < r.width; x++) {
          const cx = x - 2, cy = y - 3, i = Math.floor(cx / (CELL_W * f));
          const gx = Math.floor((cx % (CELL_W * f)) / f), gy = Math.floor(cy / f);
          const on = cx >= 0 && cy >= 0 && i < Object.keys(ART).length && gx < GLYPH_W && gy < GLYPH_H && ART[Object.keys(ART)[i]][gy][gx] === "#";
          expect(r.get(x, y), `f=${f} (${x}, ${y})`).toEqual(on ? ink : bg);
        }
      }
    }
  });

  it("glyph table: every printable ASCII character has its own 5-bit x 8-row bitmap, distinct from every other", () => {
    const seen = new Map<string, string>();
    for (let c = 0x21; c <= 0x7e; c++) {
      const ch = String.fromCharCode(c), g = glyph(ch);
      expect(hasGlyph(ch), ch).toBe(true);
      expect(g.length).toBe(GLYPH_H);
      expect(g.every((row) => Number.isInteger(row) && row >= 0 && row < 1 << GLYPH_W), ch).toBe(true);
      expect(g.some((row) => row !== 0), `${ch} is blank`).toBe(true);
      const key = g.join(",");
      expect(seen.get(key), `${ch} duplicates ${seen.get(key)}`).toBeUndefined();
      seen.set(key, ch);
      // only descenders use the row below the baseline
      expect(g[BASELINE] !== 0, ch).toBe("gjpqy,;".includes(ch));
    }
    expect(glyph(" ").every((row) => row === 0)).toBe(true);
  });

  it("characters without a glyph draw as the box; widths count code points", () => {
    for (const ch of ["é", "\u4e2d", "\u{1F600}", "\t"]) {
      expect(glyph(ch)).toBe(MISSING_GLYPH);
      expect(hasGlyph(ch)).toBe(false);
    }
    expect(textWidth("pi: 0.83 · x", 2)).toBe(12 * CELL_W * 2);
    expect(textWidth("\u{1F600}a")).toBe(2 * CELL_W);
  });

  it("maxChars clips; text beyond the raster is clipped without error", () => {
    const r = new Raster(30, 10), ink: Rgb = [0, 0, 0];
    drawText(r, 0, 0, "AAAAAA", ink, 1, 2);
    const inked = (x0: number, x1: number) => {
      let n = 0;
      for (let y = 0; y < 10; y++) for (let x = x0; x < x1; x++) n += r.get(x, y)[0] === 0 ? 1 : 0;
      return n;
    };
    const bitsA = ART.A.join("").split("#").length - 1;
    expect(inked(0, 12)).toBe(2 * bitsA);
    expect(inked(12, 30)).toBe(0);
    // beyond the raster: exactly the window of the same text drawn on a raster large enough for it
    const clipped = new Raster(30, 10), whole = new Raster(30 + textWidth("WAWA", 3), 10 + CELL_H * 3);
    drawText(clipped, 25, 5, "WAWA", ink, 3);
    drawText(whole, 25, 5, "WAWA", ink, 3);
    const windowOf = (q: Raster) => Array.from({ length: 10 }, (_, y) => Array.from({ length: 30 }, (_, x) => q.get(x, y).join(","))).flat();
    expect(windowOf(clipped)).toEqual(windowOf(whole));
    expect(windowOf(clipped).filter((p) => p === "0,0,0").length).toBeGreaterThan(0); // some of it is visible
  });
});

// ---------------------------------------------------------------------------- colour science oracle
const lin = (c: number) => ((c /= 255) <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const unlin = (v: number) => 255 * ((v = Math.min(1, Math.max(0, v))) <= 0.0031308 ? 12.92 * v : 1.055 * v ** (1 / 2.4) - 0.055);
/** sRGB (D65) -> CIELAB. */
function lab([r, g, b]: Rgb): [number, number, number] {
  const [R, G, B] = [lin(r), lin(g), lin(b)];
  const X = (0.4124 * R + 0.3576 * G + 0.1805 * B) / 0.95047, Y = 0.2126 * R + 0.7152 * G + 0.0722 * B;
  const Z = (0.0193 * R + 0.1192 * G + 0.9505 * B) / 1.08883;
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
  return [116 * f(Y) - 16, 500 * (f(X) - f(Y)), 200 * (f(Y) - f(Z))];
}
/** Machado, Oliveira & Fernandes 2009, severity 1.0, on linear RGB. */
const CVD: Record<string, number[][]> = {
  deuteranopia: [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.01182, 0.04294, 0.968881]],
  protanopia: [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
  tritanopia: [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.3039]],
};
const simulate = (m: number[][], c: Rgb): Rgb => {
  const l = c.map(lin);
  return m.map((row) => unlin(row[0] * l[0] + row[1] * l[1] + row[2] * l[2])) as unknown as Rgb;
};
const deltaE = (a: Rgb, b: Rgb) => Math.hypot(...lab(a).map((v, i) => v - lab(b)[i]));
function minDelta(colours: Rgb[]): number {
  let m = Infinity;
  for (const view of [null, ...Object.values(CVD)]) {
    const cs = view ? colours.map((c) => simulate(view, c)) : colours;
    for (let i = 0; i < cs.length; i++) for (let j = i + 1; j < cs.length; j++) m = Math.min(m, deltaE(cs[i], cs[j]));
  }
  return m;
}

describe("palette", () => {
  it("16 distinct colours, Okabe-Ito (without black) first", () => {
    expect(PALETTE.length).toBe(16);
    expect(MAX_EXPERTS).toBe(16);
    expect(new Set(PALETTE.map((p) => p.hex)).size).toBe(16);
    expect(PALETTE.slice(0, 7).map((p) => p.hex)).toEqual(["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"]);
    for (const p of PALETTE) expect("#" + p.rgb.map((v) => v.toString(16).padStart(2, "0")).join("").toUpperCase()).toBe(p.hex);
  });

  it("colour-blind separation: Delta E >= 16 among experts 0-6 and >= 11 among all 16, in normal, deutan, protan and tritan vision", () => {
    expect(minDelta(paletteFor(7))).toBeGreaterThanOrEqual(16);
    expect(minDelta(paletteFor(16))).toBeGreaterThanOrEqual(11);
  });

  it("every colour stays visible over greyscale (chroma >= 25, L* >= 25)", () => {
    for (const p of PALETTE) {
      const [L, a, b] = lab(p.rgb);
      expect(Math.hypot(a, b), p.name).toBeGreaterThanOrEqual(25);
      expect(L, p.name).toBeGreaterThanOrEqual(25);
    }
  });

  it("typed errors beyond 16 experts or for a bad index", () => {
    expect(paletteFor(4)).toEqual(PALETTE.slice(0, 4).map((p) => p.rgb));
    expect(expertColor(15)).toEqual(PALETTE[15].rgb);
    expect(() => paletteFor(17)).toThrow(ValueError);
    expect(() => paletteFor(0)).toThrow(/experts/);
    expect(() => expertColor(16)).toThrow(ValueError);
    expect(() => expertColor(-1)).toThrow(/\[0, 15\]/);
  });
});
