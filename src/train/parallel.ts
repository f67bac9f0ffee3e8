/**
 * Data-parallel training: the micro-batches of one update spread over threads, each thread running
 * whole forward and backward passes (its own one-thread wasm backend) on one shared copy of the
 * weights. Every micro-batch's gradients start from zero, and the trainer merges them in
 * micro-batch order whichever thread computed them, so an update's bits do not depend on the
 * thread count. Node only (worker_threads; the caller blocks in Atomics.wait and takes results
 * with receiveMessageOnPort); elsewhere the trainer runs every micro-batch itself. Not the kernel
 * threads of one product (src/backend/wasm/threads.ts).
 */
import type { Backend } from "../backend/backend.js";
import { createBackend } from "../backend/index.js";
import { isNode } from "../backend/wasm/runtime.js";
import { TghError } from "../errors.js";
import type { ModelConfig } from "../model/config.js";
import type { Params } from "../model/params.js";
import { Tensor, type F32Tensor } from "../tensor.js";
import { Grads } from "./grads.js";
import { lossAndGrads } from "./model-backward.js";

/** One micro-batch, collated: volumes [B or U, c, D, H, W], ids [B, L], task labels, volumeOf [B] (shared volumes: trainer.ts collateShared). */
export interface Collated {
  volume: F32Tensor;
  ids: Tensor<"i32">;
  task: number[];
  volumeOf?: Int32Array;
  cover?: Uint8Array; // patch cover marks [B or U, D, n^2] (the patch finding loss)
  emphasis?: Float32Array; // target emphasis [B, L] (ForwardInput.emphasis)
}

export interface MicroOptions {
  scale: number; // loss scale (1 / micro-batches)
  alpha: number;
  beta: number;
  patchLoss?: number;
}

/** What one micro-batch gives the update: its gradients (from zero) and its loss terms. */
export interface MicroResult {
  index: number;
  grads: [string, F32Tensor][]; // in parameter order
  total: number;
  ce: number | null;
  balance: number | null; // mean over its balance terms (null: none)
  task: number | null; // mean over its task terms (null: none)
  patch?: number; // L_patch, when asked for
  error?: string; // set when it failed on a worker
}

/** Forward with a tape and backward of micro-batch `index`, into fresh gradients. */
export function microBatch(be: Backend, params: Params, cfg: ModelConfig, index: number, batch: Collated, trainable: (name: string) => boolean, o: MicroOptions): MicroResult {
  const grads = new Grads(params, trainable);
  const out = lossAndGrads(be, params, cfg, batch, grads, o);
  const mean = (xs: readonly { value: number }[]) => (xs.length ? xs.reduce((s, x) => s + x.value, 0) / xs.length : null);
  const { patch } = out.losses;
  return { index, grads: grads.entries(), total: out.losses.total, ce: out.losses.ce, balance: mean(out.losses.balance), task: mean(out.losses.task), ...(patch !== undefined ? { patch } : {}) };
}

/** f(), or its error as a result (an update collects every result before it throws, so no worker is left mid-update). */
export function guarded(index: number, f: () => MicroResult): MicroResult {
  try {
    return f();
  } catch (e) {
    return { index, grads: [], total: NaN, ce: null, balance: null, task: null, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Control words of one update (a fresh buffer per update): next micro-batch to take, results posted. */
const NEXT = 0, POSTED = 1;

interface Worker {
  port: import("node:worker_threads").MessagePort; // the caller's end; never given a listener (receiveMessageOnPort reads it)
  terminate(): void;
}

let warned = false;

/**
 * The worker's entry: dist/ runs parallel-worker.js; from src/ (tsx, vitest) a bootstrap script
 * registers tsx's loader in the worker first (flags such as --import do not reach workers here).
 */
async function workerFile(): Promise<URL | string> {
  if (!import.meta.url.endsWith(".ts")) return new URL("./parallel-worker.js", import.meta.url);
  const { createRequire } = await import("node:module");
  const { pathToFileURL } = await import("node:url");
  const api = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api")).href.replace(/\.cjs$/, ".mjs");
  const entry = new URL("./parallel-worker.ts", import.meta.url).href;
  return `import(${JSON.stringify(api)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`;
}

/** The threads of data-parallel training: `threads - 1` workers, the caller being the last. */
export class DataParallel {
  private constructor(
    readonly threads: number,
    private readonly cfg: ModelConfig,
    private readonly params: Params,
    private readonly local: Backend, // the caller's own micro-batches (one kernel thread: the cores are the workers')
    private readonly shared: Float32Array, // every weight, at `offsets`, seen by the workers
    private readonly offsets: Map<string, number>,
    private readonly workers: Worker[],
    private readonly receive: (port: Worker["port"]) => { message: unknown } | undefined,
  ) {}

  /** Starts `threads - 1` workers over a shared copy of `params`; null (said once) where workers cannot run. */
  static async start(cfg: ModelConfig, params: Params, threads: number): Promise<DataParallel | null> {
    if (threads <= 1) return null;
    if (!isNode || typeof SharedArrayBuffer === "undefined") {
      if (!warned) console.warn("tgh-moe: training on 1 thread: data-parallel training needs Node's worker_threads (the kernels still use the backend's threads)");
      warned = true;
      return null;
    }
    const wt = await import("node:worker_threads");
    const offsets = new Map<string, number>();
    let n = 0;
    for (const [name, p] of params) (offsets.set(name, n), (n += p.size));
    const shared = new Float32Array(new SharedArrayBuffer(n * 4));
    const shapes = [...params].map(([name, p]) => [name, p.shape] as const);
    const file = await workerFile();
    const workers = await Promise.all(Array.from({ length: threads - 1 }, async () => {
      const { port1, port2 } = new wt.MessageChannel();
      const w = new wt.Worker(file, { eval: typeof file === "string", workerData: { port: port2, cfg, shapes, offsets, shared }, transferList: [port2] });
      w.unref();
      port1.unref();
      await new Promise<void>((ok, fail) => {
        w.once("message", () => ok());
        w.once("error", (e) => fail(new TghError(`data-parallel worker failed to start: ${e.message}`)));
      });
      return { port: port1, terminate: () => void (port1.close(), w.terminate()) };
    }));
    const local = await createBackend("wasm", { threads: 1 });
    local.keepResident(params.values());
    return new DataParallel(threads, cfg, params, local, shared, offsets, workers, wt.receiveMessageOnPort);
  }

  /**
   * Runs every micro-batch once, on this thread or a worker (each takes the next when done), and
   * calls `each` with the results in index order (0, 1, 2, ...) as they become available.
   */
  run(batches: readonly Collated[], trainable: (name: string) => boolean, o: MicroOptions, each: (r: MicroResult) => void): void {
    for (const [name, p] of this.params) this.shared.set(p.data, this.offsets.get(name)!);
    this.local.weightsChanged(this.params.values());
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const names = [...this.params.keys()].filter(trainable);
    const shared = batches.map(toShared);
    for (const w of this.workers) w.port.postMessage({ ctl, batches: shared, names, o });
    const pending = new Map<number, MicroResult>();
    let next = 0, error: string | null = null;
    const deliver = (r: MicroResult) => {
      pending.set(r.index, r);
      for (let q = pending.get(next); q; q = pending.get(next)) {
        pending.delete(next++);
        if (q.error !== undefined) error ??= `data-parallel training: micro-batch ${q.index}: ${q.error}`;
        else if (error === null) each(q);
      }
    };
    const drain = () => {
      for (const w of this.workers) for (let m = this.receive(w.port); m; m = this.receive(w.port)) deliver(fromMessage(m.message as MicroMessage));
    };
    for (let i = Atomics.add(ctl, NEXT, 1); i < batches.length; i = Atomics.add(ctl, NEXT, 1)) {
      deliver(guarded(i, () => microBatch(this.local, this.params, this.cfg, i, batches[i], trainable, o)));
      drain();
    }
    while (next < batches.length) {
      const posted = Atomics.load(ctl, POSTED);
      drain();
      if (next < batches.length) Atomics.wait(ctl, POSTED, posted);
    }
    if (error !== null) throw new TghError(error);
  }

  /** Stops the workers (the trainer then runs every micro-batch itself). */
  close(): void {
    for (const w of this.workers) w.terminate();
  }
}

/** A worker's result as posted: gradients as plain arrays (their buffers transferred). */
export interface MicroMessage extends Omit<MicroResult, "grads"> {
  names: string[];
  shapes: number[][];
  data: Float32Array[];
}

export function toMessage(r: MicroResult): { message: MicroMessage; transfer: ArrayBuffer[] } {
  const data = r.grads.map(([, g]) => g.data);
  const transfer = [...new Set(data.map((d) => d.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
  const { grads, ...rest } = r;
  return { message: { ...rest, names: grads.map(([n]) => n), shapes: grads.map(([, g]) => [...g.shape]), data }, transfer };
}

function fromMessage(m: MicroMessage): MicroResult {
  const { names, shapes, data, ...rest } = m;
  return { ...rest, grads: names.map((n, i) => [n, new Tensor("f32", shapes[i], data[i])]) };
}

/** A micro-batch as posted to the workers: its arrays copied into shared memory (read in place). */
export interface WireBatch {
  volumeShape: number[];
  volume: Float32Array;
  idsShape: number[];
  ids: Int32Array;
  task: number[];
  volumeOf?: Int32Array;
  cover?: Uint8Array;
  emphasis?: Float32Array;
}

function toShared(b: Collated): WireBatch {
  const volume = new Float32Array(new SharedArrayBuffer(b.volume.data.byteLength)), ids = new Int32Array(new SharedArrayBuffer(b.ids.data.byteLength));
  volume.set(b.volume.data);
  ids.set(b.ids.data);
  return { volumeShape: [...b.volume.shape], volume, idsShape: [...b.ids.shape], ids, task: b.task, ...(b.volumeOf ? { volumeOf: b.volumeOf } : {}), ...(b.cover ? { cover: b.cover } : {}), ...(b.emphasis ? { emphasis: b.emphasis } : {}) };
}

export function fromWire(b: WireBatch): Collated {
  return { volume: new Tensor("f32", b.volumeShape, b.volume), ids: new Tensor("i32", b.idsShape, b.ids), task: b.task, ...(b.volumeOf ? { volumeOf: b.volumeOf } : {}), ...(b.cover ? { cover: b.cover } : {}), ...(b.emphasis ? { emphasis: b.emphasis } : {}) };
}
