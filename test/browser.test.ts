// Real-browser test: the library bundle (build/web/tgh-moe.js, esbuild, platform browser) and its
// wasm kernels run in headless Debian Chromium (playwright-core), served from 127.0.0.1, and give the
// same bits as Node: kernel calls, seeded init, the golden forward (test/browser/cases.ts) and the
// demo page (demo/run.ts). Tolerance: none (SHA-256 of the output bytes; NaN payloads canonicalised,
// as wasm leaves them unspecified). Without Chromium the file FAILS: its hook throws the install command.
// Env: TGH_CHROMIUM (binary), TGH_SCREENSHOT=path (keep a screenshot of the demo), TGH_KEEP_WEB=1 (keep the temp folder).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWeb, type BuildWebResult } from "../scripts/build-demo.mjs";
import { serve, type Served } from "../scripts/serve.mjs";
import { makeCheckpoint } from "../src/api.js";
import * as lib from "../src/index.js";
import { preprocessPreset } from "../src/preprocess/index.js";
import { bytesToBase64, demoSample, readModel, runDemo, sha256Hex } from "../demo/run.js";
import type { DemoState } from "../demo/main.js";
import { GOLDEN_FILE, runCases, type CaseOutput, type CaseRun } from "./browser/cases.js";
import type { BrowserRun } from "./browser/page.js";
import { wasmBackend } from "./util/backends.js";
import { CHROMIUM_INSTALL, CHROMIUM_PATHS, findChromium } from "./util/chromium.js";

const CHROMIUM = findChromium();
const INSTALL = `no Chromium found (TGH_CHROMIUM, ${CHROMIUM_PATHS.join(", ")}): the browser suite needs a real one; ${CHROMIUM_INSTALL} (.ci/run does this)`;
/** The launch flags of the brief: no sandbox (root in CI), no GPU, no network side-traffic. */
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const CHECKPOINT = "golden-as-checkpoint.safetensors";
const golden = new Uint8Array(readFileSync(new URL(`./golden/${GOLDEN_FILE}`, import.meta.url)));
let dir = "", built: BuildWebResult, server: Served | undefined, context: BrowserContext | undefined;
/** Console errors and uncaught exceptions of every page, by page. */
const problems: string[] = [];
const timings: Record<string, number> = {};

async function openPage(path: string): Promise<Page> {
  const page = await context!.newPage();
  page.on("console", (m) => m.type() === "error" && problems.push(`${path}: console.error: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`${path}: uncaught: ${e.message}`));
  await page.goto(server!.url + path);
  return page;
}

beforeAll(async () => {
  if (CHROMIUM === null) throw new Error(INSTALL);
  let t = performance.now();
  dir = mkdtempSync(join(tmpdir(), "tgh-browser-"));
  built = await buildWeb({ outDir: join(dir, "web"), test: true });
  timings.bundle = performance.now() - t;
  // the golden weights as a model checkpoint (src/api.ts), for the demo's ?checkpoint= path
  const g = readModel(golden, GOLDEN_FILE);
  writeFileSync(join(built.outDir, CHECKPOINT), makeCheckpoint({ cfg: g.cfg, params: g.params, tokenizer: g.tokenizer, preprocess: preprocessPreset("tiny") }));
  server = await serve({ root: built.outDir, port: 0 });
  t = performance.now();
  context = await chromium.launchPersistentContext(join(dir, "profile"), { executablePath: CHROMIUM!, headless: true, args: ARGS });
  timings.launch = performance.now() - t;
}, 60_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
  if (dir && !process.env.TGH_KEEP_WEB) rmSync(dir, { recursive: true, force: true });
  console.log(`browser test timings (ms): ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")}`);
});

/** Names whose bits differ, with the first values of both sides. */
function differences(browser: CaseOutput[], node: CaseOutput[]): string[] {
  const byName = new Map(node.map((o) => [o.name, o]));
  const out: string[] = [];
  for (const b of browser) {
    const n = byName.get(b.name);
    if (!n) out.push(`${b.name}: only in the browser`);
    else if (b.sha256 !== n.sha256 || b.nans !== n.nans || b.shape.join() !== n.shape.join()) {
      out.push(`${b.name} [${b.shape}]: browser ${b.sha256.slice(0, 12)} head [${b.head}] vs node ${n.sha256.slice(0, 12)} head [${n.head}]`);
    }
  }
  for (const n of node) if (!browser.some((b) => b.name === n.name)) out.push(`${n.name}: only in Node`);
  return out;
}

describe("the browser bundle", () => {
  it("imports no Node module except the wasm loader's guarded dynamic imports", () => {
    expect(built.files).toEqual(expect.arrayContaining(["tgh-moe.js", "demo.js", "index.html", "matmul.wasm", "attention.wasm", GOLDEN_FILE]));
    for (const i of built.nodeImports) expect(i, "a static Node import would break the bundle in browsers").toMatch(/\(dynamic-import\)$/);
  });
});

describe("the same bits in Chromium as in Node", () => {
  let run: BrowserRun, again: BrowserRun, node: { wasm: CaseRun; reference: CaseRun };
  beforeAll(async () => {
    const page = await openPage("browser-test.html");
    await page.waitForFunction(() => typeof window.tghBrowserRun === "function", null, { timeout: 20_000 });
    const t = performance.now();
    run = await page.evaluate(() => window.tghBrowserRun!());
    timings.browserCases = performance.now() - t;
    again = await page.evaluate(() => window.tghBrowserRun!({ reference: false }));
    await page.close();
    const t2 = performance.now();
    node = { wasm: await runCases(lib, await wasmBackend(), golden), reference: await runCases(lib, await lib.createBackend("reference"), golden) };
    timings.nodeCases = performance.now() - t2;
  }, 60_000);

  it("ran in Chromium on the wasm backend", () => {
    expect(run.userAgent).toMatch(/Chrome\/\d+/);
    expect(run.wasm.backend).toBe("wasm");
    expect(run.reference?.backend).toBe("reference");
    // matmul, softmax, layerNorm, gelu, rope, attention, topk, init, and every act.* of section 8
    expect(run.wasm.outputs.length).toBeGreaterThanOrEqual(13 + 1 + 16);
    expect(run.wasm.outputs.map((o) => o.name)).toEqual(expect.arrayContaining(["forward.act.lm.logits", "forward.act.blocks.3.moe.topk_idx", "initParams.tiny.seed0"]));
  });

  it("wasm: kernel calls, seeded init and the golden forward are bit-identical", () => {
    expect(differences(run.wasm.outputs, node.wasm.outputs)).toEqual([]);
  });

  it("reference backend: bit-identical as well (float64 accumulation in JS)", () => {
    expect(differences(run.reference!.outputs, node.reference.outputs)).toEqual([]);
  });

  it("a second run in the same page gives the same bits (arena and caches leave no state)", () => {
    expect(differences(again.wasm.outputs, run.wasm.outputs)).toEqual([]);
  });

  it("verifyGolden passes in the browser on both backends", () => {
    for (const r of [run.wasm, run.reference!]) {
      expect(r.verify, r.backend).toEqual({ pass: true, firstDivergence: null, checked: expect.any(Number) });
      expect(r.verify!.checked).toBeGreaterThanOrEqual(10);
    }
  });

  it("the comparison can fail: the two backends' float bits differ, their top-k indices agree", () => {
    const w = new Map(node.wasm.outputs.map((o) => [o.name, o.sha256]));
    const r = new Map(node.reference.outputs.map((o) => [o.name, o.sha256]));
    expect(w.get("forward.act.lm.logits")).not.toBe(r.get("forward.act.lm.logits")); // float32 vs float64 sums
    expect(w.get("matmul.transB")).not.toBe(r.get("matmul.transB"));
    expect(w.get("topk.indices")).toBe(r.get("topk.indices")); // ties to the lower index on both
    expect(w.get("forward.act.blocks.2.moe.topk_idx")).toBe(r.get("forward.act.blocks.2.moe.topk_idx"));
    const floats = node.wasm.outputs.filter((o) => o.dtype === "f32");
    expect(new Set(floats.map((o) => o.sha256)).size).toBe(floats.length); // every float case distinct
  });

  it("extreme inputs reach the kernels: NaN in, NaN out, counted the same", () => {
    const gelu = run.wasm.outputs.find((o) => o.name === "gelu_tanh")!;
    expect(gelu.nans).toBe(1);
    expect(node.wasm.outputs.find((o) => o.name === "gelu_tanh")!.nans).toBe(1);
  });
});

/** Opens the demo with URL parameters, waits for it to finish, reads window.tghDemo and what is shown. */
async function runDemoPage(query: string, screenshot?: string) {
  const page = await openPage(`index.html?${query}`);
  await page.waitForFunction(() => window.tghDemo?.state === "done" || window.tghDemo?.state === "error", null, { timeout: 30_000 });
  if (screenshot) {
    await page.setViewportSize({ width: 1200, height: 1300 });
    await page.screenshot({ path: screenshot, fullPage: true });
  }
  const state = await page.evaluate(() => window.tghDemo);
  const shown = await page.evaluate(() => ({
    routingWidth: (document.getElementById("routing") as HTMLImageElement).naturalWidth,
    untrainedNotice: !document.getElementById("untrained")!.hidden,
    answer: document.getElementById("answer")!.textContent ?? "",
  }));
  await page.close();
  return { state, shown };
}

describe("the demo page", () => {
  let demo: Awaited<ReturnType<typeof runDemoPage>>, fromCheckpoint: Awaited<ReturnType<typeof runDemoPage>>, shot = "";
  beforeAll(async () => {
    shot = process.env.TGH_SCREENSHOT ?? join(dir, "demo.png");
    const t = performance.now();
    demo = await runDemoPage("seed=3&index=1&tokens=12", shot);
    timings.demo = performance.now() - t;
    fromCheckpoint = await runDemoPage(`checkpoint=${CHECKPOINT}&seed=3&index=1&tokens=12`);
  }, 60_000);

  it("runs to the end without errors, shows the untrained notice, the answer and the routing map", () => {
    expect(demo.state.error).toBeUndefined();
    expect(demo.state.state).toBe("done");
    expect(problems).toEqual([]);
    expect(demo.shown.untrainedNotice).toBe(true);
    expect(demo.shown.answer.length).toBeGreaterThan(0);
    expect(demo.shown.routingWidth).toBeGreaterThan(100);
    expect(existsSync(shot)).toBe(true);
  });

  it("generates the same tokens, task probabilities, routing map and model input as Node", async () => {
    const r = demo.state.result!;
    const model = readModel(golden, GOLDEN_FILE);
    const s = demoSample(model, 3, 1);
    const { gen, png } = await runDemo(await wasmBackend(), model, s, { prompt: r.prompt, maxNewTokens: 12 });
    expect(r.backend).toBe("wasm");
    expect(r.tokens).toEqual(gen.tokens);
    expect(r.text).toBe(gen.text);
    expect(r.task).toEqual(gen.task); // probabilities: float32 values as exact doubles
    expect(r.pi).toEqual(gen.routing.map((t) => Array.from(t.pi.data.subarray(0, model.cfg.moe.tasks))));
    expect(r.volumeSha256).toBe(await sha256Hex(new Uint8Array(s.volume.data.buffer, s.volume.data.byteOffset, s.volume.data.byteLength)));
    expect(r.png).toBe(png && bytesToBase64(png));
    expect(r.tokens.length).toBeGreaterThan(0);
  });

  it("loads a model checkpoint from ?checkpoint=URL: same weights, same answer, no untrained notice", () => {
    expect(fromCheckpoint.state.error).toBeUndefined();
    expect(fromCheckpoint.state.state).toBe("done");
    expect(fromCheckpoint.shown.untrainedNotice).toBe(false);
    expect(fromCheckpoint.state.result!.tokens).toEqual(demo.state.result!.tokens);
    expect(fromCheckpoint.state.result!.png).toBe(demo.state.result!.png);
  });
});
