/**
 * The web app's script (bundled to build/web/demo.js by scripts/build-demo.mjs; the library comes
 * from the bundle tgh-moe.js next to it): loads the shipped checkpoint, opens a shipped sample or the
 * user's NIfTI file / DICOM series, draws the three planes with CT windows and the routing overlay,
 * and answers in report or question mode with progress and a Stop button. Opening a volume sets up
 * views and prompts; Run only generates and draws its routing (it resets neither).
 * URL parameters: ?checkpoint=URL &sample=ID &mode=report|question &prompt=TEXT &tokens=N &autorun=0.
 */
import {
  AbortError, TghError, defaultCheckpointUrl, expertColor, loadModel, readVolumeFiles, taskName,
  type CtVolume, type F32Tensor, type MoeTrace, type TghModel, type VolumeFile,
} from "../src/index.js";
import { droppedFiles, readFiles } from "./files.js";
import { REPORT_REQUESTS, bytesToBase64, parseSamples, questionPrompts, runPage, sha256Hex, trueAnswer, type SampleRecord } from "./run.js";
import { $, drawPlane, nextFrame, setOptions, showLegend, showTaskBars } from "./ui.js";
import { WINDOWS, extractSlice, overlayRouting, planeLayout, windowRgba, type Plane } from "./views.js";

/** What the page exposes for the browser test (and for anyone poking at it in the console). */
export interface DemoState {
  state: "loading" | "ready" | "running" | "done" | "stopped" | "error";
  error?: string;
  volume?: { label: string; format: string; shape: number[]; warnings: string[]; inputSha256: string };
  result?: {
    prompt: string; tokens: number[]; text: string; stopReason: string;
    task: { index: number; name: string; probabilities: number[] } | null;
    png: string | null; // routing map, base64
  };
}
declare global {
  interface Window {
    tghDemo: DemoState;
  }
}

interface Opened {
  vol: CtVolume;
  label: string;
  sample: SampleRecord | null;
  input: F32Tensor; // [1, 1, D, H, W] what the model sees
}

const params = new URLSearchParams(location.search);
const slices: Record<Plane, number> = { axial: 0, coronal: 0, sagittal: 0 };
let model: TghModel, samples: SampleRecord[] = [], opened: Opened | null = null;
let routing: MoeTrace[] | null = null, controller: AbortController | null = null;
window.tghDemo = { state: "loading" };

function setState(state: DemoState["state"], status: string): void {
  window.tghDemo.state = state;
  document.body.dataset.state = state;
  $("status").textContent = status;
}

function fail(e: unknown): void {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  window.tghDemo.error = msg;
  $("error").textContent = msg;
  $("error").hidden = false;
  setState("error", "failed");
}

/** Fetches a file with a byte count in the status line. */
async function fetchBytes(url: URL | string, what: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new TghError(`fetching ${url}: HTTP ${res.status}`);
  const total = Number(res.headers.get("content-length")) || 0, parts: Uint8Array[] = [];
  let got = 0;
  for (const reader = res.body.getReader(); ;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    got += value.length;
    $("status").textContent = `loading ${what}: ${(got / 2 ** 20).toFixed(1)}${total ? ` of ${(total / 2 ** 20).toFixed(1)}` : ""} MiB`;
  }
  const out = new Uint8Array(got);
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

async function boot(): Promise<void> {
  const url = params.get("checkpoint") ?? (await defaultCheckpointUrl()).href;
  const t0 = performance.now();
  model = await loadModel(await fetchBytes(url, "the checkpoint"), { file: url });
  const { vision: v, lm, moe } = model.cfg, p = model.preprocess!;
  $("model-info").textContent = `${url.split("/").pop()}: vision ${v.layers} blocks (MoE in ${v.moeLayers.join(", ") || "none"}), ${moe.tasks} task groups × ${moe.experts} experts, top-${moe.topK}; ` +
    `language model ${lm.layers} blocks, vocabulary ${lm.vocab}; input ${p.grid.join(" × ")} voxels · loaded in ${(performance.now() - t0).toFixed(0)} ms on ${model.backend.name}`;
  $("model-note").textContent = `Preset "${p.name}": a small model trained on synthetic phantoms at ${p.grid.join(" × ")} voxels`;
  setOptions($<HTMLSelectElement>("window"), [...Object.entries(WINDOWS).map(([value, w]) => ({ value, label: w.label })), { value: "model", label: `model input [${p.window.lo}, ${p.window.hi}]` }]);
  setOptions($<HTMLSelectElement>("layer"), v.moeLayers.map((l, i) => ({ value: String(i), label: `block ${l}` })));
  showLegend($("legend"), moe.experts);
  const res = await fetch("samples/samples.jsonl");
  samples = res.ok ? parseSamples(await res.text()) : [];
  setOptions($<HTMLSelectElement>("sample"), [{ value: "", label: samples.length ? "choose a shipped sample" : "(no samples here)" }, ...samples.map((s) => ({ value: s.id, label: `${s.id} (synthetic, test split)` }))]);
  const first = samples.find((s) => s.id === params.get("sample")) ?? samples[0];
  if (first) await openSample(first);
  else setState("ready", "open a CT to start");
  if (opened && params.get("autorun") !== "0") await run();
}

async function openSample(s: SampleRecord): Promise<void> {
  $<HTMLSelectElement>("sample").value = s.id;
  const bytes = await fetchBytes(`samples/${s.file}`, s.file);
  await openFiles([{ name: s.file, bytes }], s);
}

/** Reads a volume, preprocesses it for the model; resets views and prompts (a new scan), not on Run. */
async function openFiles(files: VolumeFile[], sample: SampleRecord | null = null): Promise<void> {
  setState("loading", `reading ${files.length} file${files.length === 1 ? "" : "s"}…`);
  await nextFrame();
  const vol = readVolumeFiles(files);
  const { volume: input, warnings } = model.prepareInput(vol, "open");
  const label = sample ? sample.id : files.length === 1 ? files[0].name : `${files.length} DICOM files`;
  opened = { vol, label, sample, input };
  routing = null;
  if (!sample) $<HTMLSelectElement>("sample").value = "";
  for (const plane of ["axial", "coronal", "sagittal"] as const) slices[plane] = Math.floor(planeLayout(vol, plane).count / 2);
  const what = vol.format === "dicom" ? `DICOM series, ${vol.meta.slices} slices, ${vol.meta.transferSyntax}` : `NIfTI-${vol.meta.version}, stored ${vol.meta.sourceAxcodes}`;
  $("volume-info").textContent = `${label}: ${vol.shape.join(" × ")} voxels of ${vol.spacing.map((x) => +x.toFixed(2)).join(" × ")} mm (${what}) → model input ${input.shape.slice(2).join(" × ")}`;
  $("warnings").replaceChildren(...warnings.map((w) => Object.assign(document.createElement("li"), { textContent: `warning: ${w}` })));
  $("truth").textContent = sample ? `True report of this sample:\n${sample.report}` : "";
  fillPrompts(params.get("prompt"));
  params.delete("prompt");
  window.tghDemo.volume = { label, format: vol.format, shape: [...vol.shape], warnings, inputSha256: await sha256Hex(new Uint8Array(input.data.buffer, input.data.byteOffset, input.data.byteLength)) };
  syncSlider();
  draw();
  setState("ready", "ready: press Run");
}

function mode(): "report" | "question" {
  return (document.querySelector<HTMLInputElement>("input[name=mode]:checked")?.value ?? "report") as "report" | "question";
}

/** The prompt list of the mode (each prompt once); the text box takes `initial` or the first. */
function fillPrompts(initial: string | null = null): void {
  const list = mode() === "report" ? [...REPORT_REQUESTS] : questionPrompts(opened?.sample ?? null);
  setOptions($<HTMLSelectElement>("prompt-choice"), list.map((p) => ({ value: p, label: p.split("\n")[0] })));
  $<HTMLTextAreaElement>("prompt").value = initial ?? $<HTMLSelectElement>("prompt-choice").value;
}

function syncSlider(): void {
  if (!opened) return;
  const plane = $<HTMLSelectElement>("plane").value as Plane, slider = $<HTMLInputElement>("slice");
  slider.max = String(planeLayout(opened.vol, plane).count - 1);
  slider.value = String(slices[plane]);
}

function draw(): void {
  if (!opened) return;
  const { vol } = opened, plane = $<HTMLSelectElement>("plane").value as Plane, k = slices[plane];
  const key = $<HTMLSelectElement>("window").value, p = model.preprocess!;
  const win = WINDOWS[key] ?? p.window;
  const rgba = windowRgba(extractSlice(vol.data, vol, plane, k), win.lo, win.hi);
  const alpha = Number($<HTMLInputElement>("opacity").value) / 100, trace = routing?.[Number($<HTMLSelectElement>("layer").value)];
  if (trace && alpha > 0 && p.resample.mode === "shape") {
    const colours = Array.from({ length: model.cfg.moe.experts }, (_, e) => expertColor(e));
    overlayRouting(rgba, vol, plane, k, { grid: p.grid, patch: model.cfg.vision.patch, depthPatch: model.cfg.vision.depthPatch, topkIdx: trace.topkIdx.data, k: trace.topkIdx.dim(2) }, colours, alpha);
  }
  drawPlane($<HTMLCanvasElement>("view"), rgba, vol, plane);
  $("slice-label").textContent = `${k + 1} / ${planeLayout(vol, plane).count}${trace ? "" : " · overlay after Run"}`;
}

async function run(): Promise<void> {
  if (!opened || controller) return;
  const prompt = $<HTMLTextAreaElement>("prompt").value, maxNewTokens = Number($<HTMLInputElement>("tokens").value) || 64;
  controller = new AbortController();
  $<HTMLButtonElement>("run").disabled = true;
  $<HTMLButtonElement>("stop").disabled = false;
  const bar = $<HTMLProgressElement>("progress"), answer = $("answer");
  answer.textContent = "";
  setState("running", "encoding the volume, guided by the prompt…");
  bar.value = 0.05;
  await nextFrame();
  try {
    const { gen, png } = await runPage(model, opened.input, {
      prompt, maxNewTokens, signal: controller.signal,
      onToken: (e) => (answer.textContent = e.text),
      onProgress: (e) => {
        if (e.stage === "prefill" && e.done === e.total) bar.value = 0.2;
        if (e.stage === "decode") (bar.value = 0.2 + (0.8 * e.done) / e.total), ($("status").textContent = `decoding: ${e.done} of at most ${e.total} tokens`);
      },
    });
    showAnswer(prompt, gen, png);
  } catch (e) {
    if (e instanceof Error && e.name === AbortError.name) setState("stopped", `stopped: ${e.message}`);
    else fail(e);
  } finally {
    controller = null;
    bar.value = window.tghDemo.state === "done" ? 1 : 0;
    $<HTMLButtonElement>("run").disabled = false;
    $<HTMLButtonElement>("stop").disabled = true;
  }
}

function showAnswer(prompt: string, gen: Awaited<ReturnType<typeof runPage>>["gen"], png: Uint8Array | null): void {
  const t = gen.timings, truth = trueAnswer(opened!.sample, prompt);
  $("answer").textContent = gen.text || "(empty answer)";
  $("answer-info").textContent = `${gen.tokens.length} token${gen.tokens.length === 1 ? "" : "s"}, stopped by ${gen.stopReason === "eos" ? "<eos>" : "the token budget"} · encode ${t.encode.toFixed(0)} ms, ` +
    `prefill ${t.prefill.toFixed(0)} ms, decode ${t.decode.toFixed(0)} ms${truth ? ` · true answer: ${truth}` : ""}`;
  showTaskBars($("task"), gen.task?.probabilities ?? [], gen.task?.index ?? -1);
  $("task-info").textContent = gen.task ? `The task gate chose the ${gen.task.name} expert group: ` + gen.routing.map((r) => `block ${r.layer} → ${taskName(r.group.data[0])}`).join(", ") : "this model has no MoE layers";
  const img = $<HTMLImageElement>("map");
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  if (png) img.src = URL.createObjectURL(new Blob([new Uint8Array(png)], { type: "image/png" }));
  img.onload = () => (img.style.width = `${img.naturalWidth / 2}px`); // drawn at 2x
  img.hidden = png === null;
  routing = gen.routing;
  draw();
  window.tghDemo.result = { prompt, tokens: gen.tokens, text: gen.text, stopReason: gen.stopReason, task: gen.task, png: png && bytesToBase64(png) };
  setState("done", `done in ${t.total.toFixed(0)} ms on the ${model.backend.name} backend`);
}

async function guarded(f: () => Promise<void>): Promise<void> {
  try {
    $("error").hidden = true;
    await f();
  } catch (e) {
    fail(e);
  }
}

function wire(): void {
  $<HTMLInputElement>("tokens").value = params.get("tokens") ?? "64";
  const m = params.get("mode");
  if (m === "question") document.querySelector<HTMLInputElement>("input[name=mode][value=question]")!.checked = true;
  for (const r of document.querySelectorAll<HTMLInputElement>("input[name=mode]")) r.onchange = () => fillPrompts();
  $<HTMLSelectElement>("prompt-choice").onchange = (e) => ($<HTMLTextAreaElement>("prompt").value = (e.target as HTMLSelectElement).value);
  $("run").onclick = () => void run();
  $("stop").onclick = () => controller?.abort("Stop pressed");
  $<HTMLSelectElement>("plane").onchange = () => (syncSlider(), draw());
  $<HTMLInputElement>("slice").oninput = (e) => ((slices[$<HTMLSelectElement>("plane").value as Plane] = Number((e.target as HTMLInputElement).value)), draw());
  for (const id of ["window", "layer", "opacity"]) $(id).oninput = () => draw();
  $<HTMLSelectElement>("sample").onchange = (e) => {
    const s = samples.find((x) => x.id === (e.target as HTMLSelectElement).value);
    if (s) void guarded(() => openSample(s));
  };
  for (const id of ["file", "folder"]) {
    $<HTMLInputElement>(id).onchange = (e) => {
      const list = (e.target as HTMLInputElement).files;
      if (list && list.length > 0) void guarded(async () => openFiles(await readFiles(list)));
    };
  }
  const drop = $("drop");
  drop.ondragover = (e) => (e.preventDefault(), drop.classList.add("over"));
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer) void guarded(async () => openFiles(await droppedFiles(e.dataTransfer!)));
  };
  new ResizeObserver(() => draw()).observe($("view"));
}

wire();
void guarded(boot);
