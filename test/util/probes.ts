/** The test-only kernel module build/probes.wasm (kernels/probes.ts): lib/ functions (and lib/opts.ts structs) exposed for their own tests. */
import { readFile } from "node:fs/promises";
import { WasmModule } from "../../src/backend/wasm/runtime.js";
import { bindProbes, type ProbesKernels } from "./dev-bindings.js";

let probes: Promise<WasmModule<ProbesKernels>> | undefined;
export function loadProbes(): Promise<WasmModule<ProbesKernels>> {
  probes ??= (async () => {
    const bytes = await readFile(new URL("../../build/probes.wasm", import.meta.url));
    const { instance } = await WebAssembly.instantiate(bytes, { env: { abort: () => { throw new Error("probes: abort"); } } });
    return new WasmModule("probes", instance, bindProbes);
  })();
  return probes;
}
