/** Backend selection at run time: `await createBackend("wasm")` or `createBackend("reference")`. */
import { ValueError } from "../errors.js";
import { Backend } from "./backend.js";
import { referenceKernels } from "./reference.js";
import { wasmKernels } from "./wasm/index.js";
import type { LoadOptions } from "./wasm/runtime.js";

export type BackendName = "reference" | "wasm";
export { Backend } from "./backend.js";
export type { Kernels } from "./kernels.js";

const cache = new Map<string, Promise<Backend>>();
let defaultThreads: number | undefined;

/**
 * The thread count of wasm backends created without one (the CLI's --threads); undefined: the
 * available cores. Returns the previous setting.
 */
export function setDefaultThreads(threads: number | undefined): number | undefined {
  const previous = defaultThreads;
  defaultThreads = threads;
  return previous;
}

/**
 * The backend of that name. wasm: `threads` (default: the available cores) splits kernels over
 * worker threads with the same bits at any count; wasm modules are loaded once per process per
 * thread count (a `base`, `sources` or `splitMinNs` option loads a fresh copy).
 */
export function createBackend(name: BackendName = "wasm", opts?: LoadOptions): Promise<Backend> {
  if (name === "reference") return Promise.resolve(new Backend(referenceKernels));
  if (name !== "wasm") throw new ValueError(`createBackend: name: expected "reference" or "wasm", got ${String(name)}`);
  const o: LoadOptions = { ...opts, threads: opts?.threads ?? defaultThreads };
  if (o.base !== undefined || o.sources !== undefined || o.splitMinNs !== undefined) return wasmKernels(o).then((k) => new Backend(k));
  const key = `wasm:${o.threads ?? "default"}`;
  if (!cache.has(key)) {
    const p = wasmKernels(o).then((k) => new Backend(k));
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return cache.get(key)!;
}
