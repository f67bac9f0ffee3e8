/**
 * The Web Worker of the real-browser test's threaded run: a browser's main thread cannot block, so
 * a threaded wasm backend runs in a worker (this module worker, started by page.ts). It loads the
 * library bundle and the kernels from its folder, runs ./cases.ts with the requested thread count
 * and posts the result back. Not part of the library.
 */
import * as lib from "../../src/index.js";
import { GOLDEN_FILE, runCases, type CaseRun } from "./cases.js";

export interface ThreadedRun {
  crossOriginIsolated: boolean;
  /** The threads the backend got (1 would mean it fell back). */
  threads: number;
  ms: number;
  wasm: CaseRun;
}

self.onmessage = async (e: MessageEvent<{ threads: number }>) => {
  const t0 = performance.now();
  // splitMinNs 0: every kernel is split, even the small ones of these cases
  const be = await lib.createBackend("wasm", { base: "./", threads: e.data.threads, splitMinNs: 0 });
  const res = await fetch(GOLDEN_FILE);
  if (!res.ok) throw new Error(`fetching ${GOLDEN_FILE}: HTTP ${res.status}`);
  const wasm = await runCases(lib, be, new Uint8Array(await res.arrayBuffer()));
  const run: ThreadedRun = { crossOriginIsolated: globalThis.crossOriginIsolated === true, threads: be.threads, ms: performance.now() - t0, wasm };
  be.close();
  self.postMessage(run);
};
