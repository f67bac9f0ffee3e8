/**
 * The demo page's script (bundled to build/web/demo.js by scripts/build-demo.mjs): loads the wasm
 * backend and a checkpoint, makes a seeded synthetic CT sample, and shows its slices, the model
 * input, the generated answer, the task level's probabilities and the routing map. All computing
 * is ./run.ts (shared with the browser test); this file only reads the form and draws.
 * URL parameters: ?checkpoint=URL &seed=N &index=N &prompt=TEXT &tokens=N &autorun=0.
 */
import { createBackend } from "../src/backend/index.js";
import { formatQuestion } from "../src/data/questions.js";
import { taskName } from "../src/generate.js";
import { DEMO_PROMPTS, bytesToBase64, demoSample, readModel, runDemo, sha256Hex, type DemoModel, type DemoSample } from "./run.js";

/** What the page exposes for the browser test (and for anyone poking at it in the console). */
export interface DemoState {
  state: "loading" | "running" | "done" | "error";
  error?: string;
  result?: {
    backend: string; seed: number; index: number; prompt: string;
    tokens: number[]; text: string; stopReason: string;
    task: { index: number; name: string; probabilities: number[] } | null;
    pi: number[][]; // per MoE layer, sample 0: [T]
    groups: number[]; // per MoE layer
    volumeSha256: string; // the model input's bytes
    png: string | null; // routing map, base64
  };
}
declare global {
  interface Window {
    tghDemo: DemoState;
  }
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo: element #${id} missing from index.html`);
  return el as T;
};
const params = new URLSearchParams(location.search);
window.tghDemo = { state: "loading" };

function setState(state: DemoState["state"], status: string): void {
  window.tghDemo.state = state;
  document.body.dataset.state = state;
  $("status").textContent = status;
}

/** Draws a [H, W] slice into a canvas, value lo -> black, hi -> white. */
function drawSlice(canvas: HTMLCanvasElement, data: Float32Array, H: number, W: number, lo: number, hi: number): void {
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext("2d")!;
  const img = ctx.createImageData(W, H);
  for (let i = 0; i < H * W; i++) {
    const g = Math.max(0, Math.min(255, Math.round(((data[i] - lo) / (hi - lo)) * 255)));
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function showSample(model: DemoModel, s: DemoSample): void {
  const [D, H, W] = s.sample.shape;
  const { lo, hi } = model.preset.window;
  $("sample-id").textContent = `${s.sample.id} · ${D}×${H}×${W} voxels of ${s.sample.spacing.map((x) => x.toFixed(1)).join(" × ")} mm · ${s.sample.contrast ? "contrast" : "non-contrast"}`;
  const slider = $<HTMLInputElement>("slice");
  slider.max = String(D - 1);
  const show = () => {
    const k = Number(slider.value);
    drawSlice($<HTMLCanvasElement>("source"), s.sample.volumeHU.subarray(k * H * W, (k + 1) * H * W), H, W, lo, hi);
    $("slice-label").textContent = `slice ${k + 1} of ${D} (inferior → superior) · window [${lo}, ${hi}] HU`;
  };
  slider.oninput = show;
  slider.value = String(Math.floor(D / 2));
  show();
  $("truth").textContent = s.sample.report;

  const [, , d, h, w] = s.volume.shape;
  const row = $("input-slices");
  row.replaceChildren();
  for (let k = 0; k < d; k++) {
    const c = document.createElement("canvas");
    c.title = `model input slice ${k}`;
    drawSlice(c, s.volume.data.subarray(k * h * w, (k + 1) * h * w), h, w, 0, 1);
    row.append(c);
  }
  $("input-label").textContent = `preset "${model.preset.name}" v${model.preset.version}: window [${lo}, ${hi}] HU scaled to [0, 1], resized to ${d}×${h}×${w}`;

  const select = $<HTMLSelectElement>("prompt-choice");
  select.replaceChildren();
  const choices = [...DEMO_PROMPTS, ...s.sample.questions.map(formatQuestion)];
  for (const text of choices) select.append(new Option(text.split("\n")[0], text));
  select.onchange = () => ($<HTMLTextAreaElement>("prompt").value = select.value);
}

function showBars(el: HTMLElement, probabilities: readonly number[]): void {
  el.replaceChildren();
  probabilities.forEach((p, t) => {
    const row = document.createElement("div");
    row.className = "bar";
    const label = document.createElement("span");
    label.textContent = `${taskName(t)} ${(100 * p).toFixed(1)}%`;
    const fill = document.createElement("i");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    row.append(fill, label);
    el.append(row);
  });
}

let current: { model: DemoModel; be: Awaited<ReturnType<typeof createBackend>>; url: string } | null = null;

async function load(): Promise<NonNullable<typeof current>> {
  const url = params.get("checkpoint") ?? "tiny-seed0.safetensors";
  if (current?.url === url) return current;
  setState("loading", "loading the WebAssembly kernels…");
  const t0 = performance.now();
  const be = await createBackend("wasm", { base: new URL("./", location.href) });
  setState("loading", `fetching ${url}…`);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`fetching ${url}: HTTP ${res.status}`);
  const model = readModel(new Uint8Array(await res.arrayBuffer()), url);
  const { vision: v, lm } = model.cfg;
  $("model-info").textContent = `${url}: vision ${v.layers} blocks (${v.volumeLayers} volume, MoE in ${v.moeLayers.join(", ") || "none"}), width ${v.width}, ` +
    `${model.cfg.moe.tasks} tasks × ${model.cfg.moe.experts} experts, top-${model.cfg.moe.topK}; LM ${lm.layers} blocks, width ${lm.width}, vocab ${lm.vocab} · loaded in ${(performance.now() - t0).toFixed(0)} ms`;
  $("untrained").hidden = model.kind !== "golden";
  current = { model, be, url };
  return current;
}

async function run(): Promise<void> {
  const button = $<HTMLButtonElement>("run");
  button.disabled = true;
  try {
    const { model, be } = await load();
    const seed = Number($<HTMLInputElement>("seed").value), index = Number($<HTMLInputElement>("index").value);
    setState("running", `rendering synthetic CT sample ${index} of seed ${seed}…`);
    await new Promise((r) => setTimeout(r, 0));
    const s = demoSample(model, seed, index);
    showSample(model, s);
    const prompt = $<HTMLTextAreaElement>("prompt").value;
    const maxNewTokens = Number($<HTMLInputElement>("tokens").value);
    setState("running", "encoding the volume and generating…");
    const text = $("answer");
    text.textContent = "";
    const { gen, png } = await runDemo(be, model, s, { prompt, maxNewTokens, onToken: (e) => (text.textContent = e.text) });
    text.textContent = gen.text || "(empty answer)";
    const t = gen.timings;
    $("answer-info").textContent = `${gen.tokens.length} tokens, stopped on ${gen.stopReason === "eos" ? "<eos>" : "the token budget"} · encode ${t.encode.toFixed(0)} ms, prefill ${t.prefill.toFixed(0)} ms, decode ${t.decode.toFixed(0)} ms (${(gen.tokens.length / Math.max(t.decode, 1e-3) * 1000).toFixed(0)} tokens/s)`;
    showBars($("task"), gen.task?.probabilities ?? []);
    $("task-info").textContent = gen.routing.map((r) => `block ${r.layer}: group ${taskName(r.group.data[0])}`).join(" · ") || "this model has no MoE layers";
    const img = $<HTMLImageElement>("routing");
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    if (png) img.src = URL.createObjectURL(new Blob([new Uint8Array(png)], { type: "image/png" }));
    img.hidden = png === null;
    const T = model.cfg.moe.tasks;
    window.tghDemo.result = {
      backend: be.name, seed, index, prompt, tokens: gen.tokens, text: gen.text, stopReason: gen.stopReason, task: gen.task,
      pi: gen.routing.map((r) => Array.from(r.pi.data.subarray(0, T))), groups: gen.routing.map((r) => r.group.data[0]),
      volumeSha256: await sha256Hex(new Uint8Array(s.volume.data.buffer, s.volume.data.byteOffset, s.volume.data.byteLength)),
      png: png && bytesToBase64(png),
    };
    setState("done", `done in ${t.total.toFixed(0)} ms on the ${be.name} backend`);
  } catch (e) {
    window.tghDemo.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    $("error").textContent = window.tghDemo.error;
    $("error").hidden = false;
    setState("error", "failed");
  } finally {
    button.disabled = false;
  }
}

$<HTMLInputElement>("seed").value = params.get("seed") ?? "0";
$<HTMLInputElement>("index").value = params.get("index") ?? "0";
$<HTMLInputElement>("tokens").value = params.get("tokens") ?? "24";
$<HTMLTextAreaElement>("prompt").value = params.get("prompt") ?? DEMO_PROMPTS[0];
$("run").onclick = () => void run();
if (params.get("autorun") !== "0") void run();
else setState("done", "ready: press Run");
