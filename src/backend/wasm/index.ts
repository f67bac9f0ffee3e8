/**
 * The wasm backend: AssemblyScript SIMD kernels (build/*.wasm), one adapter per kernel module.
 * One thread: each module in its own memory. More threads: the shared-memory build with a worker
 * pool (threads.ts); the adapters split kernels over it without changing any result bit.
 */
import { ValueError } from "../../errors.js";
import type { Kernels } from "../kernels.js";
import { loadModules, type KernelModuleSet, type LoadOptions } from "./runtime.js";
import { availableThreads, loadThreaded, threadsUnavailable } from "./threads.js";
import { matmulWasm } from "./matmul.js";
import { attentionWasm } from "./attention.js";
import { elementwiseWasm } from "./elementwise.js";
import { rowsWasm } from "./rows.js";
import { ropeWasm } from "./rope.js";
import { patchWasm } from "./patch.js";
import { indexingWasm } from "./indexing.js";
import { attentionBackwardWasm } from "./attention_backward.js";

let noticed = false;
/** Says once per process why a backend asked for threads runs on one. */
function noticeOnce(why: string): void {
  if (noticed) return;
  noticed = true;
  console.warn(`tgh-moe: using 1 thread: ${why}`);
}

/** The thread count a backend will use: the request (default: available cores), or 1 with a notice. */
export async function resolveThreads(opts: LoadOptions): Promise<number> {
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > 256)) {
    throw new ValueError(`createBackend: threads: expected an integer from 1 to 256, got ${String(opts.threads)}`);
  }
  const requested = opts.threads ?? (await availableThreads());
  if (requested === 1) return 1;
  const why = opts.sources ? "kernel modules passed as `sources` serve one thread" : threadsUnavailable();
  if (why) {
    noticeOnce(why);
    return 1;
  }
  return requested;
}

export async function wasmKernels(opts: LoadOptions = {}): Promise<Kernels> {
  const threads = await resolveThreads(opts);
  let m: KernelModuleSet, close = (): void => {};
  if (threads === 1) {
    m = await loadModules(opts);
  } else {
    const t = await loadThreaded(opts, threads);
    m = t.modules;
    close = t.close;
  }
  return {
    name: "wasm",
    threads,
    close,
    ...matmulWasm(m.matmul),
    ...attentionWasm(m.attention),
    ...elementwiseWasm(m.elementwise),
    ...rowsWasm(m.rows),
    ...ropeWasm(m.rope),
    ...patchWasm(m.patch),
    ...indexingWasm(m.indexing),
    ...attentionBackwardWasm(m.attention_backward),
  };
}
