/**
 * Routing maps (spec section 4's trace, drawn): a PNG montage of one sample's slices with every
 * patch coloured by the expert the token router chose, titled with the task level's decision.
 * Pure TS (Node and browsers): own raster, font and PNG encoder. Reads a trace; computes nothing of the model.
 *
 *   const png = routingMap({ volume, cfg, trace: out.trace[0], sample: 0 });   // Uint8Array (PNG)
 *   const all = routingMaps({ volume, cfg, traces: out.trace, sample: 0 });    // one block per MoE layer
 *
 * Legend: D,H,W volume · p patch · n=W/p · S=1+n^2 · E experts · T tasks · k top-k · t depth patch ·
 * D' = D/t depth tokens · M = D'*S tokens per sample · s pixels per voxel · f font scale.
 * Token d*S + j of the trace: j = 0 the class token of depth group d, j >= 1 the patch at row
 * (j-1) / n, column (j-1) % n, covering p x p voxels. With t > 1 a tile shows the mean of its t
 * slices: the inflated kernel W2/t applied to t slices equals W2 applied to their mean, so the mean
 * is exactly the image the patch embedding saw.
 */
import { DTypeError, ShapeError, ValueError, fmtShape } from "../errors.js";
import { validateConfig, type ModelConfig } from "../model/config.js";
import type { MoeTrace } from "../model/moe.js";
import { BASELINE, CELL_H, CELL_W, drawText, textWidth } from "./font.js";
import { MAX_EXPERTS, paletteFor } from "./palette.js";
import { encodePng } from "./png.js";
import { Raster, blend, type Rgb } from "./raster.js";

export type RoutingMapMode = "top1" | "weighted";
export interface RoutingMapOptions {
  /** Pixels per voxel s. Default max(1, floor(128 / image)): tiles of about 128 px. */
  scale?: number;
  /** Tiles per montage row. Default min(D', 8). */
  columns?: number;
  /** Overlay opacity in [0, 1]. Default 0.45. */
  alpha?: number;
  /** "top1": the colour of the first expert; "weighted": sum_j w_j colour(e_j) / sum_j w_j over the top-k. Default "top1". */
  mode?: RoutingMapMode;
  /** Font scale f (a character cell is 6f x 8f). Default 2. */
  textScale?: number;
}
export interface RoutingMapInput {
  volume: Float32Array; // [D, H, W] of this sample, preprocessed, values in [0, 1] (clamped for display)
  cfg: ModelConfig;
  trace: MoeTrace; // one MoE layer: pi [B, T], group [B], topkIdx [B, M, k], topkW [B, M, k]
  sample: number; // b
  /** Names of the T task groups. Default "report", "vqa", "task2", "task3", ... (spec: 0 = report, 1 = vqa). */
  taskNames?: readonly string[];
  /** Default "layer <trace.layer>" (the block index). */
  layerName?: string;
  opts?: RoutingMapOptions;
}
export interface RoutingMapsInput extends Omit<RoutingMapInput, "trace" | "layerName"> {
  traces: readonly MoeTrace[]; // one per MoE layer, in block order (ForwardOutput.trace)
  layerNames?: readonly string[];
}

/** Fixed spacing (pixels): outer margin, gap between tiles and between sections; white, black, grid. */
export const MARGIN = 8, GAP = 6;
/** A legend item is a swatch and "e15 100%": 11 character cells wide. */
export const LEGEND_ITEM_CHARS = 11;
const BACKGROUND: Rgb = [255, 255, 255], INK: Rgb = [0, 0, 0], RULE: Rgb = [200, 200, 200];
/** Patch grid lines: black blended at 0.5 over the first pixel row/column of every patch and the tile's last. */
export const GRID: { rgb: Rgb; alpha: number } = { rgb: [0, 0, 0], alpha: 0.5 };

/** Where everything goes; all in pixels. Tile g: column g % cols, row floor(g / cols). */
export interface RoutingMapLayout {
  width: number; // 2 * MARGIN + innerW, innerW = max(montageW, textWidth(title), textWidth(caption), itemW)
  height: number; // MARGIN + lineH + GAP + montageH + GAP + lineH + legendRows * lineH + MARGIN
  f: number;
  lineH: number; // CELL_H * f
  tileW: number; // image * s (the slice); a tile is a label strip of lineH above it
  tileH: number; // lineH + image * s
  cols: number;
  rows: number; // ceil(D' / cols)
  montageY: number; // MARGIN + lineH + GAP
  legendY: number; // montageY + montageH + GAP: the caption line, then the item rows
  itemW: number; // LEGEND_ITEM_CHARS * CELL_W * f
  perRow: number; // floor(innerW / itemW)
  legendRows: number; // ceil(E / perRow)
}

/** Layout of a map with D' tiles, E experts and the given title and caption texts. */
export function routingMapLayout(cfg: ModelConfig, depthTokens: number, title: string, caption: string, o: Required<RoutingMapOptions>): RoutingMapLayout {
  const f = o.textScale, lineH = CELL_H * f;
  const tileW = cfg.vision.image * o.scale, tileH = lineH + tileW;
  const cols = Math.min(o.columns, depthTokens), rows = Math.ceil(depthTokens / cols);
  const montageW = cols * tileW + (cols - 1) * GAP, montageH = rows * tileH + (rows - 1) * GAP;
  const itemW = LEGEND_ITEM_CHARS * CELL_W * f;
  const innerW = Math.max(montageW, textWidth(title, f), textWidth(caption, f), itemW);
  const perRow = Math.floor(innerW / itemW), legendRows = Math.ceil(cfg.moe.experts / perRow);
  const montageY = MARGIN + lineH + GAP, legendY = montageY + montageH + GAP;
  return {
    width: 2 * MARGIN + innerW, height: legendY + lineH + legendRows * lineH + MARGIN,
    f, lineH, tileW, tileH, cols, rows, montageY, legendY, itemW, perRow, legendRows,
  };
}

/** The map of one MoE layer as a PNG (8-bit RGB; tEXt Title and Software). */
export function routingMap(input: RoutingMapInput): Uint8Array {
  const { raster, title } = renderRoutingMap(input);
  return encodePng(raster.image(), { text: { Title: latin1(title), Software: "tgh-moe routing map" } });
}

/** All MoE layers of a trace array, one block per layer (top to bottom), 1 px rules between blocks. */
export function routingMaps(input: RoutingMapsInput): Uint8Array {
  const { traces, layerNames, ...rest } = input;
  if (!Array.isArray(traces) || traces.length === 0) throw new ValueError("routingMaps: traces: expected at least one MoeTrace (a model without MoE layers has no routing)");
  if (layerNames && layerNames.length !== traces.length) throw new ValueError(`routingMaps: layerNames: expected ${traces.length} names, got ${layerNames.length}`);
  const blocks = traces.map((trace, i) => renderRoutingMap({ ...rest, trace, layerName: layerNames?.[i] }));
  const width = Math.max(...blocks.map((b) => b.raster.width));
  const height = blocks.reduce((s, b) => s + b.raster.height, 0) + blocks.length - 1;
  const out = new Raster(width, height, BACKGROUND);
  let y = 0;
  for (const [i, b] of blocks.entries()) {
    if (i > 0) out.fillRect(0, y++, width, 1, RULE);
    out.draw(b.raster, 0, y);
    y += b.raster.height;
  }
  return encodePng(out.image(), { text: { Title: latin1(blocks.map((b) => b.title).join("\n")), Software: "tgh-moe routing map" } });
}

/** The map as a raster, with its layout and texts (for embedding, tests and routingMaps). */
export function renderRoutingMap(input: RoutingMapInput): { raster: Raster; layout: RoutingMapLayout; title: string; caption: string } {
  const c = checkInput(input);
  const { cfg, trace, opts: o } = c;
  const { image: H, patch: p, depthPatch: t } = cfg.vision;
  const { experts: E, topK: k, tasks: T } = cfg.moe;
  const n = H / p, S = 1 + n * n, Dp = c.D / t, M = Dp * S, b = c.sample;
  const idx = trace.topkIdx.data.subarray(b * M * k, (b + 1) * M * k); // [M, k]
  const w = trace.topkW.data.subarray(b * M * k, (b + 1) * M * k); // [M, k]
  const colours = paletteFor(E);
  const tokenColour = tokenColours(idx, w, k, colours, o.mode); // [M] unrounded RGB

  const names = c.taskNames;
  const pi = Array.from(trace.pi.data.subarray(b * T, (b + 1) * T));
  const title = `${input.layerName ?? `layer ${trace.layer}`} · group ${names[trace.group.data[b]]} · pi: ${pi.map((x, i) => `${names[i]} ${x.toFixed(2)}`).join(", ")}`;
  const caption = `top-1 share of ${M} tokens · colour ${o.mode === "top1" ? "top-1" : `top-${k} weighted`}, alpha ${o.alpha}` +
    (t > 1 ? ` · tile = mean of ${t} slices` : "") + " · corner: class token";
  const L = routingMapLayout(cfg, Dp, title, caption, o);
  const r = new Raster(L.width, L.height, BACKGROUND);
  drawText(r, MARGIN, MARGIN, title, INK, L.f);

  for (let g = 0; g < Dp; g++) {
    const x = MARGIN + (g % L.cols) * (L.tileW + GAP), y = L.montageY + Math.floor(g / L.cols) * (L.tileH + GAP);
    const label = t > 1 ? `d${g} s${g * t}-${g * t + t - 1}` : `d${g}`;
    const sw = Math.min(BASELINE * L.f, L.tileW); // class-token swatch, top right of the label strip
    drawText(r, x, y, label, INK, L.f, Math.floor((L.tileW - sw) / (CELL_W * L.f)));
    swatch(r, x + L.tileW - sw, y, sw, rounded(tokenColour[g * S]));
    drawTile(r, x, y + L.lineH, depthMean(c.volume, g, t, H), tokenColour.slice(g * S + 1, (g + 1) * S), n, p, o);
  }
  drawLegend(r, L, caption, colours, idx, k, M);
  return { raster: r, layout: L, title, caption };
}

/** One tile: grey = round(255 clamp(v)), overlaid with the patch's colour at alpha, then the grid. */
function drawTile(r: Raster, x0: number, y0: number, slice: Float64Array, patchColour: Rgb[], n: number, p: number, o: Required<RoutingMapOptions>): void {
  const s = o.scale, H = n * p, side = H * s, P = p * s;
  for (let py = 0; py < side; py++) {
    for (let px = 0; px < side; px++) {
      const vy = Math.floor(py / s), vx = Math.floor(px / s);
      const v = Math.round(255 * Math.min(1, Math.max(0, slice[vy * H + vx])));
      let c = blend([v, v, v], patchColour[Math.floor(vy / p) * n + Math.floor(vx / p)], o.alpha);
      const line = P >= 4 && (px % P === 0 || py % P === 0 || px === side - 1 || py === side - 1);
      if (line) c = blend(c, GRID.rgb, GRID.alpha);
      r.set(x0 + px, y0 + py, c);
    }
  }
}

/** Caption line, then E items (swatch, "e<e> <share>%") in rows of perRow. */
function drawLegend(r: Raster, L: RoutingMapLayout, caption: string, colours: Rgb[], idx: Int32Array, k: number, M: number): void {
  drawText(r, MARGIN, L.legendY, caption, INK, L.f);
  const count = new Array<number>(colours.length).fill(0);
  for (let i = 0; i < M; i++) count[idx[i * k]]++;
  colours.forEach((rgb, e) => {
    const x = MARGIN + (e % L.perRow) * L.itemW, y = L.legendY + L.lineH * (1 + Math.floor(e / L.perRow));
    swatch(r, x, y, BASELINE * L.f, rgb);
    drawText(r, x + 2 * CELL_W * L.f, y, `e${e} ${Math.round((100 * count[e]) / M)}%`, INK, L.f);
  });
}

/** Per token: the top-1 colour, or sum_j w_j colour(e_j) / sum_j w_j (falls back to top-1 when the weights sum to 0). */
function tokenColours(idx: Int32Array, w: Float32Array, k: number, colours: Rgb[], mode: RoutingMapMode): Rgb[] {
  const out: Rgb[] = [];
  for (let i = 0; i < idx.length / k; i++) {
    const top = colours[idx[i * k]];
    let sum = 0;
    const acc = [0, 0, 0];
    for (let j = 0; mode === "weighted" && j < k; j++) {
      const wj = w[i * k + j], c = colours[idx[i * k + j]];
      sum += wj;
      for (let ch = 0; ch < 3; ch++) acc[ch] += wj * c[ch];
    }
    out.push(sum > 0 ? [acc[0] / sum, acc[1] / sum, acc[2] / sum] : top);
  }
  return out;
}

/** Slice g of depth t (t = 1) or the float64 mean of slices g*t .. g*t + t - 1: [H, W]. */
function depthMean(volume: Float32Array, g: number, t: number, H: number): Float64Array {
  const out = new Float64Array(H * H);
  for (let tau = 0; tau < t; tau++) {
    const sl = volume.subarray((g * t + tau) * H * H, (g * t + tau + 1) * H * H);
    for (let i = 0; i < out.length; i++) out[i] += sl[i];
  }
  if (t > 1) for (let i = 0; i < out.length; i++) out[i] /= t;
  return out;
}

/** A size x size square of `rgb` inside a 1 px black frame (yellow stays visible on white); no frame below 3 px. */
function swatch(r: Raster, x: number, y: number, size: number, rgb: Rgb): void {
  const frame = size >= 3 ? 1 : 0;
  r.fillRect(x, y, size, size, INK);
  r.fillRect(x + frame, y + frame, size - 2 * frame, size - 2 * frame, rgb);
}

function rounded(c: Rgb): Rgb {
  return [Math.round(c[0]), Math.round(c[1]), Math.round(c[2])];
}

function describe(x: unknown): string {
  return x === null || typeof x !== "object" ? String(x) : (x.constructor?.name ?? "an object");
}

/** PNG tEXt is Latin-1: other characters become "?". */
function latin1(s: string): string {
  return s.replace(/[^\u0001-\u00ff]/g, "?");
}

// ------------------------------------------------------------------------------------------ checks
interface Checked {
  cfg: ModelConfig;
  trace: MoeTrace;
  volume: Float32Array;
  D: number;
  sample: number;
  taskNames: readonly string[];
  opts: Required<RoutingMapOptions>;
}

/** Typed errors for every input that does not fit the config, the volume or the trace. */
function checkInput(input: RoutingMapInput): Checked {
  const { volume, cfg, trace, sample } = input;
  const op = "routingMap";
  validateConfig(cfg);
  const { image: H, patch: p, depthPatch: t } = cfg.vision;
  const { experts: E, topK: k, tasks: T } = cfg.moe;
  if (E > MAX_EXPERTS) throw new ValueError(`${op}: cfg.moe.experts: expected at most ${MAX_EXPERTS} (distinguishable colours), got ${E}`);
  if (!(volume instanceof Float32Array)) throw new DTypeError(`${op}: volume: expected a Float32Array [D, ${H}, ${H}], got ${describe(volume)}`);
  const D = volume.length / (H * H);
  if (!Number.isInteger(D) || D < 1 || D % t !== 0) {
    throw new ShapeError(`${op}: volume: expected D*${H}*${H} values with D a positive multiple of depth_patch=${t}, got ${volume.length}`);
  }
  for (let i = 0; i < volume.length; i++) {
    if (!Number.isFinite(volume[i])) throw new ValueError(`${op}: volume: expected finite values, got ${volume[i]} at ${i}`);
  }
  const n = H / p, S = 1 + n * n, M = (D / t) * S;
  for (const [name, x, dtype] of [["pi", trace?.pi, "f32"], ["group", trace?.group, "i32"], ["topkIdx", trace?.topkIdx, "i32"], ["topkW", trace?.topkW, "f32"]] as const) {
    if (x?.dtype !== dtype) throw new DTypeError(`${op}: trace.${name}: expected a Tensor<${dtype}>, got ${x?.dtype ?? String(x)}`);
  }
  const B = trace.pi.shape[0];
  const want: [string, readonly number[], number[]][] = [
    ["pi", trace.pi.shape, [B, T]], ["group", trace.group.shape, [B]],
    ["topkIdx", trace.topkIdx.shape, [B, M, k]], ["topkW", trace.topkW.shape, [B, M, k]],
  ];
  for (const [name, got, exp] of want) {
    if (got.length !== exp.length || got.some((d, i) => d !== exp[i])) {
      throw new ShapeError(`${op}: trace.${name}: expected ${fmtShape(exp)} (B=${B}, T=${T}, M=D'*S=${D / t}*${S}, k=${k} from cfg and volume), got ${fmtShape(got)}`);
    }
  }
  if (!Number.isInteger(sample) || sample < 0 || sample >= B) throw new ValueError(`${op}: sample: expected an integer in [0, ${B - 1}], got ${String(sample)}`);
  checkTraceValues(op, trace, sample, M, k, E, T);
  // the names src/generate.ts:taskName gives: 0 report, 1 vqa, then task2, task3, ...
  const taskNames = input.taskNames ?? Array.from({ length: T }, (_, t) => (t === 0 ? "report" : t === 1 ? "vqa" : `task${t}`));
  if (taskNames.length !== T) throw new ValueError(`${op}: taskNames: expected ${T} names (cfg.moe.tasks), got ${taskNames.length}`);
  return { cfg, trace, volume, D, sample, taskNames, opts: resolveOptions(op, input.opts ?? {}, H, D / t) };
}

function checkTraceValues(op: string, trace: MoeTrace, b: number, M: number, k: number, E: number, T: number): void {
  const g = trace.group.data[b];
  if (!Number.isInteger(g) || g < 0 || g >= T) throw new ValueError(`${op}: trace.group[${b}]: expected a task group in [0, ${T - 1}], got ${g}`);
  for (let t = 0; t < T; t++) {
    const x = trace.pi.data[b * T + t];
    if (!Number.isFinite(x)) throw new ValueError(`${op}: trace.pi[${b}, ${t}]: expected a finite probability, got ${x}`);
  }
  for (let q = b * M * k; q < (b + 1) * M * k; q++) {
    const e = trace.topkIdx.data[q], w = trace.topkW.data[q];
    if (e < 0 || e >= E) throw new ValueError(`${op}: trace.topkIdx[${b}, ${Math.floor(q / k) % M}, ${q % k}]: expected an expert in [0, ${E - 1}], got ${e}`);
    if (!(w >= 0) || !Number.isFinite(w)) throw new ValueError(`${op}: trace.topkW[${b}, ${Math.floor(q / k) % M}, ${q % k}]: expected a finite weight >= 0, got ${w}`);
  }
}

function resolveOptions(op: string, o: RoutingMapOptions, H: number, Dp: number): Required<RoutingMapOptions> {
  const int = (name: string, x: number, lo: number, hi: number) => {
    if (!Number.isInteger(x) || x < lo || x > hi) throw new ValueError(`${op}: opts.${name}: expected an integer in [${lo}, ${hi}], got ${String(x)}`);
    return x;
  };
  const alpha = o.alpha ?? 0.45, mode = o.mode ?? "top1";
  if (typeof alpha !== "number" || !(alpha >= 0 && alpha <= 1)) throw new ValueError(`${op}: opts.alpha: expected a number in [0, 1], got ${String(alpha)}`);
  if (mode !== "top1" && mode !== "weighted") throw new ValueError(`${op}: opts.mode: expected "top1" or "weighted", got ${String(mode)}`);
  return {
    scale: int("scale", o.scale ?? Math.max(1, Math.floor(128 / H)), 1, 64),
    columns: int("columns", o.columns ?? Math.min(Dp, 8), 1, 4096),
    textScale: int("textScale", o.textScale ?? 2, 1, 16),
    alpha, mode,
  };
}
