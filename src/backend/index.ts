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

/** The backend of that name; wasm modules are loaded once per process (per options object). */
export function createBackend(name: BackendName = "wasm", opts?: LoadOptions): Promise<Backend> {
  if (name === "reference") return Promise.resolve(new Backend(referenceKernels));
  if (name !== "wasm") throw new ValueError(`createBackend: name: expected "reference" or "wasm", got ${String(name)}`);
  if (opts) return wasmKernels(opts).then((k) => new Backend(k));
  if (!cache.has(name)) cache.set(name, wasmKernels().then((k) => new Backend(k)));
  return cache.get(name)!;
}
