/**
 * The web app's drawing on the DOM: the slice canvas at twice its CSS size (at least the device's
 * pixel ratio) with orientation letters, the task gate's bars, the expert legend. Computes nothing
 * of the model; the pixels come from ./views.ts.
 */
import { expertColor, taskName } from "../src/index.js";
import { planeLayout, type Plane, type VolumeGeometry } from "./views.js";

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo: element #${id} missing from index.html`);
  return el as T;
};

/** Backing-store pixels per CSS pixel: at least 2, so text and patch edges stay sharp. */
export function pixelRatio(): number {
  return Math.max(2, Math.ceil(globalThis.devicePixelRatio || 1));
}

/**
 * Draws a plane slice (RGBA, rows x cols) into the canvas at its physical aspect ratio: CSS width
 * of the canvas (at most its max-width), height from the mm extents; the backing store is
 * pixelRatio() times that, the slice scaled up without smoothing, then the edge letters.
 */
export function drawPlane(canvas: HTMLCanvasElement, rgba: Uint8ClampedArray, g: VolumeGeometry, plane: Plane): void {
  const L = planeLayout(g, plane);
  const cssW = Math.max(1, canvas.clientWidth || 512);
  const cssH = Math.max(1, Math.round((cssW * (L.rows * L.rowMm)) / (L.cols * L.colMm)));
  const ratio = pixelRatio();
  canvas.style.height = `${cssH}px`;
  canvas.width = cssW * ratio;
  canvas.height = cssH * ratio;
  const src = document.createElement("canvas");
  src.width = L.cols;
  src.height = L.rows;
  src.getContext("2d")!.putImageData(new ImageData(rgba as unknown as Uint8ClampedArray<ArrayBuffer>, L.cols, L.rows), 0, 0);
  const ctx = canvas.getContext("2d")!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(src, 0, 0, canvas.width, canvas.height);
  const px = 13 * ratio;
  ctx.font = `600 ${px}px system-ui, sans-serif`;
  ctx.fillStyle = "#ffd54a";
  ctx.textBaseline = "middle";
  const [top, right, bottom, left] = L.edges, W = canvas.width, H = canvas.height, m = 4 * ratio;
  ctx.textAlign = "center";
  ctx.fillText(top, W / 2, m + px / 2);
  ctx.fillText(bottom, W / 2, H - m - px / 2);
  ctx.textAlign = "left";
  ctx.fillText(left, m, H / 2);
  ctx.textAlign = "right";
  ctx.fillText(right, W - m, H / 2);
}

/** The task gate's probabilities as bars, the chosen group marked. */
export function showTaskBars(el: HTMLElement, probabilities: readonly number[], chosen: number): void {
  el.replaceChildren(...probabilities.map((p, t) => {
    const row = document.createElement("div");
    row.className = t === chosen ? "bar chosen" : "bar";
    const fill = document.createElement("i");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    const label = document.createElement("span");
    label.textContent = `${taskName(t)} ${(100 * p).toFixed(1)}%${t === chosen ? "  ← chosen" : ""}`;
    row.append(fill, label);
    return row;
  }));
}

/** One swatch per expert, in the overlay's colours. */
export function showLegend(el: HTMLElement, experts: number): void {
  el.replaceChildren(...Array.from({ length: experts }, (_, e) => {
    const item = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = `rgb(${expertColor(e).join(",")})`;
    item.append(sw, `expert ${e}`);
    return item;
  }));
}

/** Replaces a <select>'s options, keeping the selected value when it is still offered. */
export function setOptions(select: HTMLSelectElement, options: readonly { value: string; label: string }[]): void {
  const keep = select.value;
  select.replaceChildren(...options.map((o) => new Option(o.label, o.value)));
  if (options.some((o) => o.value === keep)) select.value = keep;
}

/** A frame for the browser to paint status text before a long synchronous step. */
export function nextFrame(): Promise<void> {
  return new Promise((ok) => {
    let done = false;
    const once = () => {
      if (!done) (done = true), ok();
    };
    requestAnimationFrame(() => setTimeout(once, 0));
    setTimeout(once, 50); // hidden tabs pause animation frames
  });
}
