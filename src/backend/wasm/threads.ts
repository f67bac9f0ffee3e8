/**
 * Threads for the wasm backend: one shared WebAssembly.Memory that every kernel module imports
 * (build/<name>.shared.wasm), instantiated on the caller's thread and on `threads - 1` workers
 * (Node worker_threads, browser Web Workers), and a pool that hands each worker one kernel call and
 * waits for all of them with Atomics. The caller blocks while it waits, so a threaded backend runs
 * in Node or in a Web Worker, never on a browser's main thread. How work is split (and why the
 * split never changes a sum) is in WasmModule.split and the kernels' range arguments.
 */
import { TghError } from "../../errors.js";
import { Arena } from "./arena.js";
import { MODULE_NAMES, abort, bindModule, compileShared, isNode, type KernelModuleSet, type LoadOptions, type ModuleName, type ThreadPool } from "./runtime.js";

/** Bytes of static data per module in the shared memory (scripts/build-kernels.mjs SLOT). */
const SHARED_SLOT = 16384;
/** Doubles per job slot: kernel id, argument count, up to 22 arguments. */
const JOB = 24;
/**
 * Control words: job sequence number, workers still running, failed thread + 1, stop flag, next
 * piece, pieces, pieces workers have finished (the word the caller sleeps on while it waits for one).
 */
const SEQ = 0, PENDING = 1, FAILED = 2, STOP = 3, NEXT = 4, COUNT = 5, FINISHED = 6;
/** A piece's word in the finished flags: still running, ended (returned or threw: FAILED says which). */
const RUNNING = 0, ENDED = 1;
/** Pieces a split hands out per thread: threads take the next piece when done (a slow one takes fewer). */
export const PIECES_PER_THREAD = 3;
/** Job slots per thread: the most pieces per thread a split may ask for (`SplitOptions.perThread`). */
export const MAX_PIECES_PER_THREAD = 16;
/** Polls of a control word before a thread sleeps on it (a short spin saves a wake-up per op). */
const SPIN = 2000;

/**
 * The worker: plain JavaScript with no imports, started from this string (Node: eval, browsers: a
 * Blob URL), so it runs the same from src/, dist/ and the browser bundle. It instantiates the
 * modules on the shared memory, then loops: sleep until SEQ changes, take pieces (flagging each
 * when it returns), count down.
 */
const WORKER_SOURCE = `"use strict";
const JOB = ${JOB}, SEQ = ${SEQ}, PENDING = ${PENDING}, FAILED = ${FAILED}, STOP = ${STOP}, NEXT = ${NEXT}, COUNT = ${COUNT}, FINISHED = ${FINISHED}, SPIN = ${SPIN};
function start(d, post) {
  const abort = () => { throw new Error("kernel abort"); };
  const exp = {};
  for (const name of Object.keys(d.modules)) exp[name] = new WebAssembly.Instance(d.modules[name], { env: { memory: d.memory, abort } }).exports;
  const fns = d.names.map((n) => { const [m, f] = n.split("."); return exp[m][f]; });
  const ctl = new Int32Array(d.ctl), jobs = new Float64Array(d.jobs), fin = new Int32Array(d.fin);
  post("ready");
  let seen = 0;
  for (;;) {
    for (let s = 0; s < SPIN && Atomics.load(ctl, SEQ) === seen; s++);
    Atomics.wait(ctl, SEQ, seen);
    const seq = Atomics.load(ctl, SEQ);
    if (seq === seen) continue;
    seen = seq;
    if (Atomics.load(ctl, STOP) !== 0) return;
    const count = Atomics.load(ctl, COUNT);
    for (let p = Atomics.add(ctl, NEXT, 1); p < count; p = Atomics.add(ctl, NEXT, 1)) {
      const base = p * JOB, args = [];
      for (let i = 0; i < jobs[base + 1]; i++) args.push(jobs[base + 2 + i]);
      try { fns[jobs[base]](...args); } catch (e) { Atomics.store(ctl, FAILED, d.index + 1); }
      Atomics.store(fin, p, ${ENDED});
      Atomics.add(ctl, FINISHED, 1);
      Atomics.notify(ctl, FINISHED);
    }
    if (Atomics.sub(ctl, PENDING, 1) === 1) Atomics.notify(ctl, PENDING);
  }
}
if (typeof self === "undefined" && typeof require === "function") {
  const { parentPort } = require("node:worker_threads");
  parentPort.once("message", (d) => start(d, (m) => parentPort.postMessage(m)));
} else {
  self.onmessage = (e) => { self.onmessage = null; start(e.data, (m) => self.postMessage(m)); };
}
`;

/** A started worker, whichever platform: post a message, wait for "ready", stop. */
interface WorkerHandle {
  ready: Promise<void>;
  terminate(): void;
}

async function startWorker(init: Record<string, unknown>): Promise<WorkerHandle> {
  let ok!: () => void, fail!: (e: unknown) => void;
  const ready = new Promise<void>((res, rej) => ((ok = res), (fail = rej)));
  if (isNode) {
    const { Worker } = await import("node:worker_threads");
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.unref(); // a pool never keeps the process alive
    w.once("message", () => ok());
    w.once("error", (e) => fail(e));
    w.postMessage(init);
    return { ready, terminate: () => void w.terminate() };
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
  const w = new Worker(url);
  w.onmessage = () => ok();
  w.onerror = (e) => fail(new TghError(`wasm worker failed to start: ${e.message}`));
  w.postMessage(init);
  return { ready: ready.finally(() => URL.revokeObjectURL(url)), terminate: () => w.terminate() };
}

/** The pool: the caller's kernel table, the control words and job slots, the workers. */
class Pool implements ThreadPool {
  readonly piecesPerThread = PIECES_PER_THREAD;
  readonly maxPiecesPerThread = MAX_PIECES_PER_THREAD;
  private readonly ctl: Int32Array;
  private readonly jobs: Float64Array;
  /** Per job slot: RUNNING, then ENDED when the piece's call has ended (on whichever thread ran it). */
  private readonly fin: Int32Array;
  private readonly ids = new Map<string, number>();
  private workers: WorkerHandle[] = [];
  private busy = false;

  constructor(readonly threads: number, private readonly fns: ((...a: number[]) => unknown)[], names: string[]) {
    this.ctl = new Int32Array(new SharedArrayBuffer(16 * 4));
    this.jobs = new Float64Array(new SharedArrayBuffer(threads * MAX_PIECES_PER_THREAD * JOB * 8));
    this.fin = new Int32Array(new SharedArrayBuffer(threads * MAX_PIECES_PER_THREAD * 4));
    names.forEach((n, i) => this.ids.set(n, i));
  }

  async start(memory: WebAssembly.Memory, modules: Record<string, WebAssembly.Module>, names: string[]): Promise<void> {
    const common = { memory, modules, names, ctl: this.ctl.buffer, jobs: this.jobs.buffer, fin: this.fin.buffer };
    for (let i = 1; i < this.threads; i++) this.workers.push(await startWorker({ ...common, index: i }));
    await Promise.all(this.workers.map((w) => w.ready));
  }

  kernel(module: string, fn: string): number {
    const id = this.ids.get(`${module}.${fn}`);
    if (id === undefined) throw new TghError(`wasm ${module}: no exported kernel '${fn}'`);
    return id;
  }

  /**
   * Runs every call once: the caller and the workers take the next call until none is left.
   * `meanwhile` runs on the caller's thread first, while the workers already take calls. `done(p)`
   * runs on the caller's thread once for every call p, after p returned (on whichever thread), in
   * the order the caller sees them end: after each of its own calls, then while it waits for the
   * workers'; p's writes to the shared memory are all visible to it. Once a call (or `done`) has
   * thrown, `done` is not called again; run throws when every call has ended.
   */
  run(calls: readonly { id: number; args: readonly number[] }[], meanwhile?: () => void, done?: (p: number) => void): void {
    if (this.busy) throw new TghError("wasm threads: a kernel split was started while another was running");
    if (calls.length > this.threads * MAX_PIECES_PER_THREAD) throw new TghError(`wasm threads: ${calls.length} pieces, more than the ${this.threads * MAX_PIECES_PER_THREAD} job slots`);
    const { ctl, jobs, fin } = this, count = calls.length;
    calls.forEach((c, p) => {
      const base = p * JOB;
      jobs[base] = c.id;
      jobs[base + 1] = c.args.length;
      for (let i = 0; i < c.args.length; i++) jobs[base + 2 + i] = c.args[i];
    });
    fin.fill(RUNNING, 0, count);
    this.busy = true;
    Atomics.store(ctl, FAILED, 0);
    Atomics.store(ctl, NEXT, 0);
    Atomics.store(ctl, COUNT, count);
    Atomics.store(ctl, FINISHED, 0);
    Atomics.store(ctl, PENDING, this.threads - 1);
    Atomics.add(ctl, SEQ, 1);
    Atomics.notify(ctl, SEQ);
    let error: unknown = null;
    // done() for every call that ended since the last look; false when none had
    const seen = done ? new Uint8Array(count) : null;
    let first = 0, left = count;
    const drain = (): boolean => {
      let any = false;
      for (let p = first; p < count; p++) {
        if (seen![p] || Atomics.load(fin, p) === RUNNING) continue;
        seen![p] = 1;
        left--;
        any = true;
        if (error !== null || Atomics.load(ctl, FAILED) !== 0) continue;
        try {
          done!(p);
        } catch (e) {
          error = e;
        }
      }
      while (first < count && seen![first]) first++;
      return any;
    };
    if (meanwhile) {
      try {
        meanwhile();
      } catch (e) {
        error = e;
      }
    }
    for (let p = Atomics.add(ctl, NEXT, 1); p < count; p = Atomics.add(ctl, NEXT, 1)) {
      try {
        this.fns[calls[p].id](...calls[p].args);
      } catch (e) {
        error ??= e;
      }
      if (seen) {
        Atomics.store(fin, p, ENDED);
        drain();
      }
    }
    while (seen && left > 0) {
      const f = Atomics.load(ctl, FINISHED);
      if (drain()) continue;
      for (let s = 0; s < SPIN && Atomics.load(ctl, FINISHED) === f; s++);
      Atomics.wait(ctl, FINISHED, f);
    }
    for (let s = 0, p = Atomics.load(ctl, PENDING); p !== 0; p = Atomics.load(ctl, PENDING)) {
      if (s++ > SPIN) Atomics.wait(ctl, PENDING, p);
    }
    this.busy = false;
    if (error) throw error;
    const failed = Atomics.load(ctl, FAILED);
    if (failed) throw new TghError(`wasm kernel aborted on worker thread ${failed - 1} (assertion inside a kernel)`);
  }

  close(): void {
    Atomics.store(this.ctl, STOP, 1);
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }
}

/** Cores this machine offers: os.availableParallelism() in Node, navigator.hardwareConcurrency in browsers. */
export async function availableThreads(): Promise<number> {
  if (isNode) {
    const os = await import("node:os");
    return Math.max(1, typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length);
  }
  return Math.max(1, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1);
}

/** Why this thread cannot run a threaded backend, or null when it can. */
export function threadsUnavailable(): string | null {
  if (typeof SharedArrayBuffer === "undefined" || typeof Atomics === "undefined") {
    return "SharedArrayBuffer is unavailable (a browser page must be cross-origin isolated: served with COOP/COEP headers)";
  }
  const g = globalThis as { crossOriginIsolated?: boolean; document?: unknown };
  if (!isNode && g.crossOriginIsolated !== true) return "the page is not cross-origin isolated (serve it with COOP/COEP headers)";
  if (!isNode && g.document !== undefined) return "a browser's main thread cannot block; run the model in a Web Worker to use threads";
  return null;
}

/** The modules of a threaded backend: one shared memory and arena, a pool of `threads` threads. */
export async function loadThreaded(opts: LoadOptions, threads: number): Promise<{ modules: KernelModuleSet; close(): void }> {
  const compiled = await Promise.all(MODULE_NAMES.map((n) => compileShared(n, opts)));
  const modules = Object.fromEntries(MODULE_NAMES.map((n, i) => [n, compiled[i]])) as Record<ModuleName, WebAssembly.Module>;
  const memory = new WebAssembly.Memory({ initial: Math.ceil((SHARED_SLOT * 16) / 65536), maximum: 65536, shared: true });
  const instances = MODULE_NAMES.map((n) => new WebAssembly.Instance(modules[n], { env: { memory, abort } }));
  const heapBases = instances.map((inst) => ((inst.exports.heap_base as () => number)() >>> 0));
  const memoryBases = instances.map((inst) => ((inst.exports.memory_base as () => number)() >>> 0));
  const bad = MODULE_NAMES.filter((_, i) => memoryBases[i] % SHARED_SLOT !== 0 || heapBases[i] > memoryBases[i] + SHARED_SLOT);
  if (bad.length > 0 || new Set(memoryBases).size !== memoryBases.length) {
    throw new TghError(`wasm: the shared kernel modules' static data overlap (${bad.join(", ") || "same slot"}): rebuild the kernels`);
  }
  const arena = new Arena(memory, Math.max(...heapBases, 1024), "shared");
  const names: string[] = [], fns: ((...a: number[]) => unknown)[] = [];
  MODULE_NAMES.forEach((n, i) => {
    for (const [fn, f] of Object.entries(instances[i].exports)) {
      if (typeof f === "function") (names.push(`${n}.${fn}`), fns.push(f as (...a: number[]) => unknown));
    }
  });
  const pool = new Pool(threads, fns, names);
  await pool.start(memory, modules, names);
  const wrapped = Object.fromEntries(MODULE_NAMES.map((n, i) => {
    const m = bindModule(n, instances[i], arena);
    m.pool = pool;
    if (opts.splitMinNs !== undefined) m.splitMinNs = opts.splitMinNs;
    return [n, m];
  })) as KernelModuleSet;
  return { modules: wrapped, close: () => pool.close() };
}
