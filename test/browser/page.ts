/**
 * The page of the real-browser test (test/browser.test.ts): loads the library bundle (tgh-moe.js,
 * which the build substitutes for the import below) and the kernels from the page's folder, and
 * exposes `window.tghBrowserRun()`, which runs ./cases.ts on both backends. Not part of the library.
 */
import * as lib from "../../src/index.js";
import { GOLDEN_FILE, runCases, type CaseRun } from "./cases.js";
import type { ThreadedRun } from "./worker.js";

export interface BrowserRun {
  userAgent: string;
  crossOriginIsolated: boolean;
  /** Milliseconds: loading the kernel modules and the golden file, then each backend's cases. */
  timings: { load: number; wasm: number; reference: number };
  wasm: CaseRun;
  /** null when not asked for. */
  reference: CaseRun | null;
}

declare global {
  interface Window {
    tghBrowserRun?: (o?: { reference?: boolean }) => Promise<BrowserRun>;
    /** The wasm cases on `threads` threads, in a Web Worker (browser-test-worker.js). */
    tghBrowserRunThreaded?: (threads: number) => Promise<ThreadedRun>;
  }
}

window.tghBrowserRun = async (o: { reference?: boolean } = {}): Promise<BrowserRun> => {
  const t0 = performance.now();
  const wasm = await lib.createBackend("wasm", { base: "./" }); // relative: resolved against the page URL
  const res = await fetch(GOLDEN_FILE);
  if (!res.ok) throw new Error(`fetching ${GOLDEN_FILE}: HTTP ${res.status}`);
  const golden = new Uint8Array(await res.arrayBuffer());
  const t1 = performance.now();
  const wasmRun = await runCases(lib, wasm, golden);
  const t2 = performance.now();
  const refRun = o.reference === false ? null : await runCases(lib, await lib.createBackend("reference"), golden);
  const t3 = performance.now();
  return {
    userAgent: navigator.userAgent, crossOriginIsolated: globalThis.crossOriginIsolated === true,
    timings: { load: t1 - t0, wasm: t2 - t1, reference: t3 - t2 }, wasm: wasmRun, reference: refRun,
  };
};
window.tghBrowserRunThreaded = (threads: number): Promise<ThreadedRun> => new Promise((ok, fail) => {
  const w = new Worker("./browser-test-worker.js", { type: "module" });
  w.onmessage = (e: MessageEvent<ThreadedRun>) => (w.terminate(), ok(e.data));
  w.onerror = (e) => (w.terminate(), fail(new Error(`browser-test-worker.js: ${e.message}`)));
  w.postMessage({ threads });
});
document.body.dataset.state = "ready";
