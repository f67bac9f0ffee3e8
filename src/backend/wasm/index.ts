/** The wasm backend: AssemblyScript SIMD kernels (build/*.wasm), one adapter per kernel module. */
import type { Kernels } from "../kernels.js";
import { loadModules, type LoadOptions } from "./runtime.js";
import { matmulWasm } from "./matmul.js";
import { attentionWasm } from "./attention.js";
import { elementwiseWasm } from "./elementwise.js";
import { rowsWasm } from "./rows.js";
import { ropeWasm } from "./rope.js";
import { patchWasm } from "./patch.js";
import { indexingWasm } from "./indexing.js";
import { backwardWasm } from "./backward.js";
import { attentionBackwardWasm } from "./attention_backward.js";

export async function wasmKernels(opts: LoadOptions = {}): Promise<Kernels> {
  const m = await loadModules(opts);
  return {
    name: "wasm",
    ...matmulWasm(m.matmul),
    ...attentionWasm(m.attention),
    ...elementwiseWasm(m.elementwise),
    ...rowsWasm(m.rows),
    ...ropeWasm(m.rope),
    ...patchWasm(m.patch),
    ...indexingWasm(m.indexing),
    ...backwardWasm(m.backward),
    ...attentionBackwardWasm(m.attention_backward),
  };
}
