/**
 * Routing maps (src/viz/routing-map.ts), read back through the PNG decoder: the layout formula of
 * docs/ROUTING_MAPS.md restated here, patch-centre colours recomputed from the palette and the blend
 * rule, grid lines, class-token and legend swatches, title pixels counted from the glyph bits,
 * depth-group means, clamping, determinism, a real forward trace, and typed errors.
 * Every comparison is exact (8-bit colours computed in float64 with one rounding: tolerance 0).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DTypeError, MemoryError, ShapeError, ValueError } from "../src/errors.js";
import { preset, withConfig, type ModelConfig } from "../src/model/config.js";
import { forward } from "../src/model/model.js";
import type { MoeTrace } from "../src/model/moe.js";
import { initParams } from "../src/model/params.js";
import { Rng } from "../src/rng.js";
import { Tensor, fromInts } from "../src/tensor.js";
import { glyph } from "../src/viz/font.js";
import { PALETTE } from "../src/viz/palette.js";
import { decodePng } from "../src/viz/png.js";
import type { Raster } from "../src/viz/raster.js";
import { renderRoutingMap, routingMap, routingMaps, type RoutingMapOptions } from "../src/viz/routing-map.js";
import { referenceBackend } from "./util/backends.js";
import { batch } from "./util/model.js";
import { check, dataSeed, dim } from "./util/prop.js";

type C3 = [number, number, number];
const MARGIN = 8, GAP = 6, CELL_W = 6, CELL_H = 9;
/** The documented blend: round((1 - alpha) * under + alpha * over) per channel. */
const mix = (u: readonly number[], o: readonly number[], a: number): C3 => [0, 1, 2].map((i) => Math.round((1 - a) * u[i] + a * o[i])) as C3;

function cfgOf(p: number, n: number, t: number, E: number, k: number, T: number): ModelConfig {
  return withConfig(preset("tiny"), { vision: { image: n * p, patch: p, depthPatch: t }, moe: { experts: E, topK: k, tasks: T } });
}

/** B samples of Dp depth groups: pi rows summing to 1, any group, k distinct experts per token, weights in (0, 1]. */
function synthTrace(cfg: ModelConfig, B: number, Dp: number, seed: number, layer = 2): MoeTrace {
  const r = new Rng(seed), { tasks: T, experts: E, topK: k } = cfg.moe, n = cfg.vision.image / cfg.vision.patch;
  const M = Dp * (1 + n * n);
  const pi = new Float32Array(B * T), idx = new Int32Array(B * M * k), w = new Float32Array(B * M * k);
  for (let b = 0; b < B; b++) {
    const raw = Array.from({ length: T }, () => 0.05 + r.uniform()), s = raw.reduce((x, y) => x + y, 0);
    raw.forEach((x, t) => (pi[b * T + t] = x / s));
  }
  for (let q = 0; q < B * M; q++) {
    const perm = Array.from({ length: E }, (_, e) => e);
    for (let j = 0; j < k; j++) {
      const i = j + r.int(E - j);
      [perm[j], perm[i]] = [perm[i], perm[j]];
      idx[q * k + j] = perm[j];
      w[q * k + j] = 1 - r.uniform(); // (0, 1]
    }
  }
  return {
    layer, pi: new Tensor("f32", [B, T], pi), group: fromInts([B], Array.from({ length: B }, () => r.int(T))),
    topkIdx: new Tensor("i32", [B, M, k], idx), topkW: new Tensor("f32", [B, M, k], w),
  };
}

/** The layout formula of docs/ROUTING_MAPS.md. */
function layout(cfg: ModelConfig, Dp: number, title: string, caption: string, s: number, cols0: number, f: number) {
  const lineH = CELL_H * f, tileW = cfg.vision.image * s, tileH = lineH + tileW;
  const cols = Math.min(cols0, Dp), rows = Math.ceil(Dp / cols);
  const montageW = cols * tileW + (cols - 1) * GAP, montageH = rows * tileH + (rows - 1) * GAP;
  const itemW = 11 * CELL_W * f, tw = (x: string) => [...x].length * CELL_W * f;
  const innerW = Math.max(montageW, tw(title), tw(caption), itemW), perRow = Math.floor(innerW / itemW);
  const legendY = MARGIN + lineH + GAP + montageH + GAP;
  return {
    width: 2 * MARGIN + innerW, height: legendY + lineH * (1 + Math.ceil(cfg.moe.experts / perRow)) + MARGIN,
    lineH, tileW, tileH, cols, legendY, itemW, perRow,
    tile: (g: number) => ({ x: MARGIN + (g % cols) * (tileW + GAP), y: MARGIN + lineH + GAP + Math.floor(g / cols) * (tileH + GAP) }),
  };
}

/** The cells of `text` at (x, y) hold exactly its glyphs: black where a bit is set, white elsewhere. */
function expectText(r: Raster, x: number, y: number, text: string, f: number): void {
  [...text].forEach((ch, i) => {
    const rows = glyph(ch);
    for (let py = 0; py < CELL_H * f; py++) {
      for (let px = 0; px < CELL_W * f; px++) {
        const gx = Math.floor(px / f), gy = Math.floor(py / f);
        const on = gx < 5 && gy < 8 && ((rows[gy] >> (4 - gx)) & 1) === 1;
        const c = r.get(x + i * CELL_W * f + px, y + py);
        if (c.join() !== (on ? "0,0,0" : "255,255,255")) throw new Error(`text ${JSON.stringify(text)}: char ${i} ${JSON.stringify(ch)} pixel (${px}, ${py}) is ${c}`);
      }
    }
  });
}

const caseArb = fc.record({
  p: fc.constantFrom(1, 2, 3, 5), n: fc.constantFrom(2, 4, 6), t: fc.constantFrom(1, 2, 3), Dp: dim(5), E: fc.integer({ min: 1, max: 16 }),
  kFrac: fc.double({ min: 0, max: 1, noNaN: true }), T: fc.integer({ min: 1, max: 3 }), B: fc.integer({ min: 1, max: 3 }),
  s: fc.integer({ min: 1, max: 3 }), f: fc.constantFrom(1, 2), cols: fc.integer({ min: 1, max: 6 }), alpha: fc.constantFrom(0, 0.3, 0.45, 1),
  mode: fc.constantFrom("top1" as const, "weighted" as const), seed: dataSeed,
});
describe("routingMap", () => {
  it("title and caption follow the documented format", () => {
    const cfg = preset("tiny"), tr = synthTrace(cfg, 1, 4, 1, 2);
    tr.pi.data.set([0.83, 0.17]);
    tr.group.data[0] = 0;
    const m = renderRoutingMap({ volume: new Float32Array(4 * 32 * 32), cfg, trace: tr, sample: 0 });
    expect(m.title).toBe("layer 2 · group report · pi: report 0.83, vqa 0.17");
    expect(m.caption).toBe("top-1 share of 68 tokens · colour top-1, alpha 0.45 · corner: class token");
    const named = renderRoutingMap({ volume: new Float32Array(4 * 32 * 32), cfg, trace: tr, sample: 0, layerName: "block 3", taskNames: ["MRG", "MVQA"], opts: { mode: "weighted" } });
    expect(named.title).toBe("block 3 · group MRG · pi: MRG 0.83, MVQA 0.17");
    expect(named.caption).toContain("colour top-2 weighted");
  });

  it("a synthetic trace where every patch of slice 0 chose expert 2: those patch centres have expert 2's blended colour", () => {
    const cfg = preset("tiny"), D = 4, H = 32, p = 8, n = 4, S = 17, k = 2, alpha = 0.45, s = 4;
    const tr = synthTrace(cfg, 2, D, 9);
    for (let j = 1; j < S; j++) {
      tr.topkIdx.data[(1 * D * S + j) * k] = 2; // sample 1, depth 0, patch j: top-1 = expert 2
      tr.topkIdx.data[(1 * D * S + j) * k + 1] = 0;
    }
    const volume = new Rng(4).fill(D * H * H, 0, 1);
    const png = routingMap({ volume, cfg, trace: tr, sample: 1, opts: { scale: s, alpha } });
    const img = decodePng(png), { title, caption } = renderRoutingMap({ volume, cfg, trace: tr, sample: 1, opts: { scale: s, alpha } });
    const L = layout(cfg, D, title, caption, s, 8, 2);
    const { x, y } = L.tile(0), P = p * s;
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        const px = x + c * P + P / 2, py = y + L.lineH + r * P + P / 2;
        const v = Math.round(255 * volume[Math.floor((r * P + P / 2) / s) * H + Math.floor((c * P + P / 2) / s)]);
        const o = (py * img.width + px) * 3;
        expect(Array.from(img.data.subarray(o, o + 3)), `patch ${r},${c}`).toEqual(mix([v, v, v], PALETTE[2].rgb, alpha));
      }
    }
  });

  it("property: size = layout formula; every patch centre = blend(grey(mean of its slices), token colour); grid, class-token and legend swatches", () => {
    check(caseArb, ({ p, n, t, Dp, E, kFrac, T, B, s, f, cols, alpha, mode, seed }) => {
      const k = 1 + Math.floor(kFrac * (E - 1)), cfg = cfgOf(p, n, t, E, k, T), H = n * p, S = 1 + n * n, D = Dp * t;
      const tr = synthTrace(cfg, B, Dp, seed), b = seed % B;
      const volume = new Rng(seed + 1).fill(D * H * H, -0.2, 1.2); // clamped to [0, 1] for display
      const opts: RoutingMapOptions = { scale: s, textScale: f, columns: cols, alpha, mode };
      const m = renderRoutingMap({ volume, cfg, trace: tr, sample: b, opts });
      const img = decodePng(routingMap({ volume, cfg, trace: tr, sample: b, opts }));
      const L = layout(cfg, Dp, m.title, m.caption, s, cols, f);
      expect([img.width, img.height]).toEqual([L.width, L.height]);
      expect(Buffer.from(img.data).equals(Buffer.from(m.raster.data))).toBe(true);
      const at = (x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
      const colour = (i: number): number[] => {
        const q = (b * Dp * S + i) * k, top = PALETTE[tr.topkIdx.data[q]].rgb;
        if (mode === "top1") return [...top];
        let sw = 0;
        const acc = [0, 0, 0];
        for (let j = 0; j < k; j++) {
          sw += tr.topkW.data[q + j];
          for (let ch = 0; ch < 3; ch++) acc[ch] += tr.topkW.data[q + j] * PALETTE[tr.topkIdx.data[q + j]].rgb[ch];
        }
        return acc.map((a) => a / sw);
      };
      const P = p * s, half = Math.floor(P / 2);
      for (let g = 0; g < Dp; g++) {
        const { x, y } = L.tile(g), y0 = y + L.lineH;
        for (let j = 1; j < S; j++) {
          const r = Math.floor((j - 1) / n), c = (j - 1) % n;
          const vy = Math.floor((r * P + half) / s), vx = Math.floor((c * P + half) / s);
          let mean = 0;
          for (let tau = 0; tau < t; tau++) mean += volume[((g * t + tau) * H + vy) * H + vx];
          const v = Math.round(255 * Math.min(1, Math.max(0, mean / t)));
          const want = mix([v, v, v], colour(g * S + j), alpha);
          expect(at(x + c * P + half, y0 + r * P + half), `g${g} j${j}`).toEqual(want);
          if (P >= 4) {
            // the patch's top-left pixel is on a grid line: black at 0.5 over the same colour rule
            const v0 = Math.round(255 * Math.min(1, Math.max(0, Array.from({ length: t }, (_, tau) => volume[((g * t + tau) * H + r * p) * H + c * p]).reduce((a, z) => a + z, 0) / t)));
            expect(at(x + c * P, y0 + r * P)).toEqual(mix(mix([v0, v0, v0], colour(g * S + j), alpha), [0, 0, 0], 0.5));
          }
        }
        const sw = Math.min(7 * f, L.tileW); // class-token swatch, framed when >= 3 px
        if (sw >= 3) expect(at(x + L.tileW - sw + 1, y + 1)).toEqual(colour(g * S).map(Math.round));
      }
      const M = Dp * S, top1 = new Array<number>(E).fill(0);
      for (let i = 0; i < M; i++) top1[tr.topkIdx.data[(b * M + i) * k]]++;
      for (let e = 0; e < E; e++) {
        const lx = MARGIN + (e % L.perRow) * L.itemW, ly = L.legendY + L.lineH * (1 + Math.floor(e / L.perRow));
        expect(at(lx + 1, ly + 1), `legend e${e}`).toEqual([...PALETTE[e].rgb]);
        expect(at(lx, ly)).toEqual([0, 0, 0]); // the frame
        expectText(m.raster, lx + 2 * CELL_W * f, ly, `e${e} ${Math.round((100 * top1[e]) / M)}%`, f);
      }
      expectText(m.raster, MARGIN, MARGIN, m.title, f);
      expectText(m.raster, MARGIN, L.legendY, m.caption, f);
    }, 25);
  });

  it("title pixels: the title box holds exactly f^2 x (set glyph bits of the title) black pixels", () => {
    for (const f of [1, 2, 3]) {
      const cfg = preset("tiny"), tr = synthTrace(cfg, 1, 4, f);
      const m = renderRoutingMap({ volume: new Float32Array(4 * 32 * 32).fill(0.5), cfg, trace: tr, sample: 0, opts: { textScale: f } });
      const bits = [...m.title].reduce((sum, ch) => sum + glyph(ch).reduce((a, row) => a + row.toString(2).split("1").length - 1, 0), 0);
      let black = 0, other = 0;
      for (let y = MARGIN; y < MARGIN + CELL_H * f; y++) {
        for (let x = MARGIN; x < MARGIN + [...m.title].length * CELL_W * f; x++) {
          const c = m.raster.get(x, y);
          if (c.every((v) => v === 0)) black++;
          else if (!c.every((v) => v === 255)) other++;
        }
      }
      expect(bits).toBeGreaterThan(100);
      expect(black).toBe(f * f * bits);
      expect(other).toBe(0);
    }
  });

  it("extremes: alpha 0 shows the clamped greyscale volume, alpha 1 the pure expert colour", () => {
    const cfg = cfgOf(2, 2, 1, 3, 1, 2), tr = synthTrace(cfg, 1, 1, 5);
    const volume = Float32Array.from({ length: 16 }, (_, i) => [-5, 7, 0.5, 1e-9][i % 4]); // [1, 4, 4]
    const grey = renderRoutingMap({ volume, cfg, trace: tr, sample: 0, opts: { scale: 1, alpha: 0 } });
    const pure = renderRoutingMap({ volume, cfg, trace: tr, sample: 0, opts: { scale: 1, alpha: 1 } });
    const L = layout(cfg, 1, grey.title, grey.caption, 1, 8, 2), { x, y } = L.tile(0);
    for (let i = 0; i < 16; i++) {
      const v = [0, 255, 128, 0][i % 4], px = x + (i % 4), py = y + L.lineH + Math.floor(i / 4);
      expect(grey.raster.get(px, py)).toEqual([v, v, v]);
      const j = 1 + Math.floor(Math.floor(i / 4) / 2) * 2 + Math.floor((i % 4) / 2);
      expect(pure.raster.get(px, py)).toEqual([...PALETTE[tr.topkIdx.data[j]].rgb]);
    }
  });

  it("deterministic bytes; routingMaps stacks blocks: width max, height sum + 1 px rules", () => {
    const cfg = preset("tiny"), volume = new Rng(1).fill(4 * 32 * 32, 0, 1);
    const traces = [synthTrace(cfg, 2, 4, 1, 2), synthTrace(cfg, 2, 4, 2, 3)];
    const a = routingMap({ volume, cfg, trace: traces[0], sample: 1 }), b = routingMap({ volume: volume.slice(), cfg, trace: traces[0], sample: 1 });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const names = ["layer two", "the last layer, with a long name"];
    const blocks = traces.map((trace, i) => renderRoutingMap({ volume, cfg, trace, sample: 1, layerName: names[i] }).raster);
    const all = decodePng(routingMaps({ volume, cfg, traces, sample: 1, layerNames: names }));
    expect(all.width).toBe(Math.max(...blocks.map((r) => r.width)));
    expect(all.height).toBe(blocks[0].height + 1 + blocks[1].height);
    const row = (img: { width: number; data: Uint8Array }, y: number, w: number) => Array.from(img.data.subarray(y * img.width * 3, (y * img.width + w) * 3));
    expect(row(all, blocks[0].height + 1 + 20, blocks[1].width)).toEqual(row(blocks[1], 20, blocks[1].width));
    expect(all.text.Title).toContain("layer two");
  });

  it("a real trace: tiny preset forward (reference backend) renders every MoE layer", async () => {
    const be = await referenceBackend(), cfg = preset("tiny");
    const { volume, ids } = batch(cfg, 2, 4, 3);
    const out = forward(be, initParams(cfg, 0), cfg, { volume, ids });
    expect(out.trace.length).toBe(2);
    const one = volume.data.subarray(4 * 32 * 32, 8 * 32 * 32); // sample 1, [D, H, W]
    const img = decodePng(routingMaps({ volume: one, cfg, traces: out.trace, sample: 1 }));
    const r0 = renderRoutingMap({ volume: one, cfg, trace: out.trace[0], sample: 1 });
    expect(r0.title.startsWith(`layer ${cfg.vision.moeLayers[0]} · group `)).toBe(true);
    expect(img.height).toBeGreaterThan(2 * r0.layout.height);
    // the same trace against a config with depth patches of 2 (D' = 2, M = 34 != 68): a shape error
    expect(() => routingMap({ volume: one, cfg: withConfig(cfg, { vision: { depthPatch: 2 } }), trace: out.trace[0], sample: 1 })).toThrow(ShapeError);
  });

  it("typed errors for traces, volumes and options inconsistent with the config", () => {
    const cfg = preset("tiny"), trace = synthTrace(cfg, 2, 4, 1), volume = new Float32Array(4 * 32 * 32);
    const base = { volume, cfg, trace, sample: 0 };
    const withTrace = (o: Partial<MoeTrace>) => ({ ...base, trace: { ...trace, ...o } });
    expect(() => routingMap({ ...base, volume: new Float32Array(4 * 32 * 32 + 1) })).toThrow(ShapeError);
    expect(() => routingMap({ ...base, volume: new Float32Array(3 * 32 * 32) })).toThrow(/trace.topkIdx: expected \[2, 51, 2\]/);
    expect(() => routingMap({ ...base, volume: new Float64Array(4 * 32 * 32) as unknown as Float32Array })).toThrow(DTypeError);
    expect(() => routingMap({ ...base, volume: new Float32Array(4096).fill(NaN) })).toThrow(/finite/);
    expect(() => routingMap({ ...base, cfg: withConfig(cfg, { vision: { depthPatch: 3 } }) })).toThrow(/multiple of depth_patch=3/);
    expect(() => routingMap(withTrace({ pi: new Tensor("f32", [2, 3]) }))).toThrow(/trace.pi: expected \[2, 2\]/);
    expect(() => routingMap(withTrace({ group: new Tensor("i32", [3]) }))).toThrow(ShapeError);
    expect(() => routingMap(withTrace({ topkW: new Tensor("f32", [2, 68, 3]) }))).toThrow(/trace.topkW/);
    expect(() => routingMap(withTrace({ topkIdx: new Tensor("f32", [2, 68, 2]) as never }))).toThrow(DTypeError);
    const bad = (f: (t: MoeTrace) => void) => {
      const t = synthTrace(cfg, 2, 4, 1);
      f(t);
      return () => routingMap({ ...base, trace: t });
    };
    expect(bad((t) => (t.topkIdx.data[5] = 4))).toThrow(/expected an expert in \[0, 3\], got 4/);
    expect(bad((t) => (t.topkW.data[7] = -0.5))).toThrow(ValueError);
    expect(bad((t) => (t.topkW.data[7] = NaN))).toThrow(/trace.topkW/);
    expect(bad((t) => (t.group.data[0] = 2))).toThrow(/task group/);
    expect(bad((t) => (t.pi.data[1] = Infinity))).toThrow(/trace.pi/);
    expect(() => routingMap({ ...base, sample: 2 })).toThrow(/sample: expected an integer in \[0, 1\]/);
    expect(() => routingMap({ ...base, taskNames: ["a"] })).toThrow(/taskNames/);
    expect(() => routingMap({ ...base, opts: { alpha: 1.5 } })).toThrow(/alpha/);
    expect(() => routingMap({ ...base, opts: { scale: 0 } })).toThrow(/scale/);
    expect(() => routingMap({ ...base, opts: { columns: 2.5 } })).toThrow(/columns/);
    expect(() => routingMap({ ...base, opts: { mode: "soft" as "top1" } })).toThrow(/mode/);
    expect(() => routingMap({ ...base, opts: { scale: 65 } })).toThrow(/scale: expected an integer in \[1, 64\]/);
    const phi = preset("phi3v"); // one tile of 336 * 64 = 21504 px square: more than 2^28 pixels
    expect(() => routingMap({ volume: new Float32Array(2 * 336 * 336), cfg: phi, trace: synthTrace(phi, 1, 1, 1), sample: 0, opts: { scale: 64 } })).toThrow(MemoryError);
    const big = withConfig(preset("tiny"), { moe: { experts: 17 } });
    expect(() => routingMap({ ...base, cfg: big, trace: synthTrace(big, 2, 4, 1) })).toThrow(/at most 16/);
    expect(() => routingMaps({ ...base, traces: [] })).toThrow(/at least one/);
    expect(() => routingMaps({ ...base, traces: [trace], layerNames: ["a", "b"] })).toThrow(/layerNames/);
  });
});
