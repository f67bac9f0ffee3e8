// Real-browser test, part 1: the library bundle (build/web/tgh-moe.js, esbuild, platform browser) and
// its wasm kernels run in headless Chromium (playwright-core), served from 127.0.0.1, and give the same
// bits as Node: kernel calls, seeded init and the golden forward (test/browser/cases.ts). Tolerance:
// none (SHA-256 of the output bytes; NaN payloads canonicalised, as wasm leaves them unspecified).
// The web app is part 2 (test/browser-app.test.ts). Setup and the Chromium rule: test/browser/harness.ts.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as lib from "../src/index.js";
import { GOLDEN_FILE, runCases, type CaseOutput, type CaseRun } from "./browser/cases.js";
import { startHarness, type Harness } from "./browser/harness.js";
import type { BrowserRun } from "./browser/page.js";
import type { ThreadedRun } from "./browser/worker.js";
import { wasmBackend } from "./util/backends.js";

const golden = new Uint8Array(readFileSync(new URL(`./golden/${GOLDEN_FILE}`, import.meta.url)));
let h: Harness;

beforeAll(async () => {
  h = await startHarness("browser-bits");
}, 120_000);

afterAll(async () => {
  await h?.close();
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
    expect(h.built.files).toEqual(expect.arrayContaining(["tgh-moe.js", "demo.js", "index.html", "matmul.wasm", "attention.wasm", GOLDEN_FILE]));
    for (const i of h.built.nodeImports) expect(i, "a static Node import would break the bundle in browsers").toMatch(/\(dynamic-import\)$/);
  });
});

describe("the same bits in Chromium as in Node", () => {
  let run: BrowserRun, again: BrowserRun, threaded: ThreadedRun[], node: { wasm: CaseRun; reference: CaseRun };
  beforeAll(async () => {
    const page = await h.open("browser-test.html");
    await page.waitForFunction(() => typeof window.tghBrowserRun === "function", null, { timeout: 20_000 });
    const t = performance.now();
    run = await page.evaluate(() => window.tghBrowserRun!());
    h.timings.browserCases = performance.now() - t;
    again = await page.evaluate(() => window.tghBrowserRun!({ reference: false }));
    threaded = [];
    for (const n of [2, 3]) threaded.push(await page.evaluate((t) => window.tghBrowserRunThreaded!(t), n));
    await page.close();
    const t2 = performance.now();
    node = { wasm: await runCases(lib, await wasmBackend(), golden), reference: await runCases(lib, await lib.createBackend("reference"), golden) };
    h.timings.nodeCases = performance.now() - t2;
  }, 120_000);

  it("ran in Chromium on the wasm backend", () => {
    expect(run.userAgent).toMatch(/Chrome\/\d+/);
    expect(run.crossOriginIsolated).toBe(true); // scripts/serve.mjs sends COOP/COEP
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

  it("threaded in a Web Worker (the page is cross-origin isolated): 2 and 3 threads give the same bits", () => {
    for (const t of threaded) {
      expect(t.crossOriginIsolated).toBe(true);
      expect(t.wasm.outputs.length).toBe(run.wasm.outputs.length);
      expect(differences(t.wasm.outputs, node.wasm.outputs), `${t.threads} threads`).toEqual([]);
      expect(t.wasm.verify).toEqual(run.wasm.verify);
    }
    expect(threaded.map((t) => t.threads)).toEqual([2, 3]);
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
