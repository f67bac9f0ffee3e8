/**
 * Loads the compiled kernel modules (build/<name>.wasm) in Node or a browser and manages their
 * linear memory with a bump arena. One thread: each module has its own memory (up to 4 GiB);
 * threaded (threads.ts): every module imports one shared memory with one arena. An op copies its
 * operands in, runs, copies the result out and releases the arena (`scope`). Typed-array views are
 * made fresh after every allocation, never cached across `memory.grow()`; pointers are unsigned.
 */
import { TghError } from "../../errors.js";
import { Arena } from "./arena.js";
import { BIND, type KernelModules, type OptsStruct, type Ptr } from "./bindings/index.js";

/**
 * The kernel modules the runtime loads (kernels/<name>.ts; scripts/gen-bindings.mjs reads this list
 * and writes their typed bindings to bindings/<name>.ts, re-exported by bindings/index.ts).
 */
export const MODULE_NAMES = ["matmul", "attention", "elementwise", "rows", "rope", "patch", "indexing", "attention_backward"] as const;
export type ModuleName = (typeof MODULE_NAMES)[number];
/** A loaded module with its exports typed: `mod.k.<export>(...)`. */
export type KernelModule<N extends ModuleName> = WasmModule<KernelModules[N]>;
/** Every module of a backend, by name. */
export type KernelModuleSet = { [N in ModuleName]: KernelModule<N> };

/** Where the wasm bytes come from: a base URL (folder of the .wasm files) or the bytes themselves. */
export interface LoadOptions {
  /** Folder holding <name>.wasm; default: the package's build folder (in the browser bundle: the bundle's own folder). */
  base?: string | URL;
  /** Pre-fetched bytes or compiled modules by name (takes precedence over base; one thread only). */
  sources?: Partial<Record<ModuleName, BufferSource | WebAssembly.Module>>;
  /**
   * Threads the kernels may use (the caller's included); default: the available cores. More than
   * one needs SharedArrayBuffer (in browsers: a cross-origin isolated page) and a thread that may
   * block (Node, or a Web Worker); otherwise the backend uses one thread and says so once.
   */
  threads?: number;
  /**
   * Kernels whose estimated single-thread time (ns) is below this stay on the caller's thread
   * (default SPLIT_MIN_NS, measured by bench/threads.ts). 0 splits everything (tests).
   */
  splitMinNs?: number;
}

/**
 * How `WasmModule.split` cuts [0, total): pieces of whole grains (default 1), `perThread` pieces per
 * thread (default: the pool's piecesPerThread, at most its maxPiecesPerThread); `work`: the
 * estimated single-thread ns (below splitMinNs the call stays on the caller's thread).
 */
export interface SplitOptions {
  total: number;
  grain?: number;
  work: number;
  perThread?: number;
  /**
   * Pieces of decreasing size (guided self-scheduling): each half a thread's share of what is
   * left, down to one grain, so that the last pieces, which decide how long the other threads wait
   * for the slowest, are the smallest (when that takes more job slots than the pool has: equal
   * pieces). Default: `perThread` pieces of equal size per thread.
   */
  guided?: boolean;
}

/** The exports of K that return nothing: the kernels `split` may hand to worker threads. */
export type SplitKernel<K> = { [F in keyof K]: K[F] extends (...args: never[]) => infer R ? ([R] extends [void] ? F : never) : never }[keyof K] & string;
/** The parameters of a kernel, as a tuple (with their names). */
export type KernelArgs<F> = F extends (...args: infer A) => unknown ? A : never;

/**
 * Splits work over threads (set by a threaded backend; absent: one thread). `run` executes every
 * call once, on the caller's thread or a worker (each takes the next call when it is done), and
 * returns when all have finished; at most `threads * maxPiecesPerThread` calls. `kernel` resolves
 * "module.export" to the id the workers know it by.
 */
export interface ThreadPool {
  readonly threads: number;
  /** Pieces per thread a split makes unless it asks for another number. */
  readonly piecesPerThread: number;
  /** Job slots per thread: the most pieces per thread a split may ask for. */
  readonly maxPiecesPerThread: number;
  kernel(module: string, fn: string): number;
  /**
   * `meanwhile`: JavaScript for the caller's thread while the workers take the first calls.
   * `done(p)`: on the caller's thread, once per call p after it returned, in the order they end.
   */
  run(calls: readonly { id: number; args: readonly number[] }[], meanwhile?: () => void, done?: (p: number) => void): void;
}

/**
 * One instance of a kernel module: its exports typed as K (`k`, from the generated bindings), its
 * memory and arena, and `split`, which runs a kernel over an index range on the thread pool.
 */
export class WasmModule<K extends object = object> {
  readonly name: string;
  /** The exports, typed and checked against the build (bindings/): `mod.k.layer_norm(...)`. */
  readonly k: K;
  readonly memory: WebAssembly.Memory;
  readonly arena: Arena;
  /** Set on every module of a threaded backend (shared memory); null: one thread. */
  pool: ThreadPool | null = null;
  /** Work below this (estimated single-thread ns) is not split (LoadOptions.splitMinNs). */
  splitMinNs = SPLIT_MIN_NS;

  /** `bind` types the instance's exports (bindings/index.ts: BIND[name], or a binder of test/util/dev-bindings.ts). */
  constructor(name: string, instance: WebAssembly.Instance, bind: (exports: WebAssembly.Exports) => K, arena?: Arena) {
    this.name = name;
    const ex = instance.exports as Record<string, unknown>;
    this.memory = ex.memory as WebAssembly.Memory;
    this.k = bind(instance.exports);
    const heapBase = typeof ex.heap_base === "function" ? ((ex.heap_base as () => number)() >>> 0) : 0;
    this.arena = arena ?? new Arena(this.memory, Math.max(heapBase, 1024), name);
  }

  /** Allocates `bytes` (16-byte aligned), growing memory as needed. */
  alloc(bytes: number): number {
    return this.arena.alloc(bytes);
  }

  /** Copies a typed array in; returns its pointer. */
  put(src: Float32Array | Int32Array): number {
    const ptr = this.alloc(src.byteLength);
    new Uint8Array(this.memory.buffer, ptr, src.byteLength).set(
      new Uint8Array(src.buffer, src.byteOffset, src.byteLength),
    );
    return ptr;
  }

  /**
   * Allocates an options struct (`s`: its generated layout in bindings/, e.g. ATTENTION_OPTS) in
   * the current scope and writes `value` into it, field by name; returns the pointer a kernel's
   * `opts` parameter takes. Before a `split`: every piece reads the same struct.
   */
  putOpts<T>(s: OptsStruct<T>, value: T): Ptr {
    const ptr = this.alloc(s.bytes);
    s.write(this.memory, ptr, value);
    return ptr;
  }

  /** Allocates and zero-fills `n` 4-byte elements. */
  zeros(n: number): number {
    const ptr = this.alloc(n * 4);
    new Uint8Array(this.memory.buffer, ptr, n * 4).fill(0);
    return ptr;
  }

  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }
  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, n);
  }

  /** Copies `dst.length` elements at `ptr` out to `dst`. */
  read(ptr: number, dst: Float32Array | Int32Array): void {
    dst.set(dst instanceof Float32Array ? this.f32(ptr, dst.length) : this.i32(ptr, dst.length));
  }

  /** Runs `fn` and then releases everything it allocated. */
  scope<T>(fn: () => T): T {
    const mark = this.arena.mark();
    try {
      return fn();
    } finally {
      this.arena.release(mark);
    }
  }

  /** Threads available to split a kernel over (1 without a pool). */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  /**
   * The pieces `split(fn, o, ...)` would make: 1 when it would run on this thread alone (one
   * thread, too little work, or a single grain). Lets an adapter prepare shared work first (the
   * attention adapter packs K and V once for all pieces).
   */
  pieces(o: SplitOptions): number {
    const grain = Math.max(1, o.grain ?? 1);
    if (!this.pool || o.work < this.splitMinNs) return 1;
    const perThread = Math.min(this.pool.maxPiecesPerThread, o.perThread ?? this.pool.piecesPerThread);
    return Math.max(1, Math.min(this.threads * perThread, Math.ceil(o.total / grain)));
  }

  /**
   * Runs kernel `fn` over the index range [0, total) split into contiguous pieces (a few per
   * thread, `perThread` if given), each a multiple of `grain` (but the last): `args(lo, hi)` gives a piece's arguments,
   * typed as the kernel's parameters (it may allocate per-thread scratch in the current scope). One
   * thread, or `work` (estimated single-thread nanoseconds) below splitMinNs: a single call
   * args(0, total) on this thread. The kernel goes by name only here: workers know kernels by
   * "module.export" (threads.ts). `meanwhile` (JavaScript that needs the caller's thread, e.g.
   * touching the pages of the array a result will be copied into) runs on the caller's thread
   * while the workers take the first pieces, when the call is split; not at all otherwise.
   * `done(lo, hi)` runs on the caller's thread once per piece, when its kernel call has returned
   * (split: as pieces end, while others still run; else once, done(0, total), after the call).
   */
  split<F extends SplitKernel<K>>(fn: F, o: SplitOptions, args: (lo: number, hi: number) => KernelArgs<K[F]>, meanwhile?: () => void, done?: (lo: number, hi: number) => void): void {
    const piece = args as unknown as (lo: number, hi: number) => number[];
    const grain = Math.max(1, o.grain ?? 1);
    const pieces = this.pieces(o);
    if (!this.pool || pieces <= 1) {
      (this.k[fn] as unknown as (...a: number[]) => void)(...piece(0, o.total));
      done?.(0, o.total);
      return;
    }
    const id = this.pool.kernel(this.name, fn);
    const units = Math.ceil(o.total / grain);
    const ranges: [number, number][] = [];
    if (o.guided) {
      // each piece half a thread's share of the grains left: the sizes fall geometrically to one
      // grain (about 2 * threads * ln(units / threads) pieces)
      for (let u = 0; u < units;) {
        const n = Math.max(1, Math.floor((units - u) / (2 * this.threads)));
        ranges.push([u * grain, Math.min(o.total, (u + n) * grain)]);
        u += n;
      }
    }
    if (ranges.length === 0 || ranges.length > this.threads * this.pool.maxPiecesPerThread) {
      ranges.length = 0;
      for (let t = 0; t < pieces; t++) {
        const lo = Math.min(o.total, Math.round((units * t) / pieces) * grain);
        const hi = Math.min(o.total, Math.round((units * (t + 1)) / pieces) * grain);
        if (hi > lo) ranges.push([lo, hi]);
      }
    }
    const calls = ranges.map(([lo, hi]) => ({ id, args: piece(lo, hi) }));
    this.pool.run(calls, meanwhile, done && ((p) => done(ranges[p][0], ranges[p][1])));
  }
}

/**
 * Below this estimated single-thread time (ns) a kernel stays on the caller's thread: handing a
 * piece to a worker and waiting for it costs about this much (bench/threads.ts measures it).
 */
export const SPLIT_MIN_NS = 100_000;

export const isNode = typeof process !== "undefined" && !!process.versions?.node;

async function fetchBytes(url: URL): Promise<BufferSource> {
  if (isNode && url.protocol === "file:") {
    const fs = await import("node:fs/promises");
    const { fileURLToPath } = await import("node:url");
    return fs.readFile(fileURLToPath(url));
  }
  const res = await fetch(url);
  if (!res.ok) throw new TghError(`wasm: fetching ${url.href} failed: HTTP ${res.status}`);
  return res.arrayBuffer();
}

export function abort(msg: number, file: number, line: number, col: number): never {
  throw new TghError(`wasm kernel aborted at ${line}:${col} (assertion inside a kernel)`);
}

/** Instantiates one module by name. */
export async function loadModule<N extends ModuleName>(name: N, opts: LoadOptions = {}): Promise<KernelModule<N>> {
  const src: BufferSource | WebAssembly.Module | undefined = opts.sources?.[name];
  let module: WebAssembly.Module;
  if (src instanceof WebAssembly.Module) {
    module = src;
  } else {
    const bytes = src ?? (await fetchBytes(new URL(`${name}.wasm`, baseUrl(opts.base))));
    module = await WebAssembly.compile(bytes);
  }
  const instance = await WebAssembly.instantiate(module, { env: { abort } });
  return bindModule(name, instance);
}

/** A module instance with its exports bound (typed and checked against bindings/). */
export function bindModule<N extends ModuleName>(name: N, instance: WebAssembly.Instance, arena?: Arena): KernelModule<N> {
  const bind: (exports: WebAssembly.Exports) => KernelModules[N] = BIND[name];
  return new WasmModule(name, instance, bind, arena);
}

/** Compiles the shared-memory build of one module (build/<name>.shared.wasm). */
export async function compileShared(name: ModuleName, opts: LoadOptions = {}): Promise<WebAssembly.Module> {
  return WebAssembly.compile(await fetchBytes(new URL(`${name}.shared.wasm`, baseUrl(opts.base))));
}

export async function loadModules(opts: LoadOptions = {}): Promise<KernelModuleSet> {
  const mods = await Promise.all(MODULE_NAMES.map((n) => loadModule(n, opts)));
  return Object.fromEntries(MODULE_NAMES.map((n, i) => [n, mods[i]])) as KernelModuleSet;
}

/**
 * True inside the browser bundle: scripts/build-demo.mjs defines it (esbuild `define`), and there
 * the kernels sit next to the bundle. Elsewhere (src/ in a clone, dist/src/ in the package) it is
 * undefined and the kernels are in the package's build folder.
 */
declare const __TGH_BUNDLE__: boolean | undefined;

function baseUrl(base: string | URL | undefined): URL {
  if (base === undefined) {
    return typeof __TGH_BUNDLE__ !== "undefined" && __TGH_BUNDLE__ ? new URL("./", import.meta.url) : new URL("../../../build/", import.meta.url);
  }
  const s = base.toString();
  // a relative base: against the working folder in Node, against the page (or worker) URL in browsers
  const relative = !/^[a-z]+:/i.test(s);
  return new URL(s.endsWith("/") ? s : `${s}/`, relative ? (isNode ? `file://${process.cwd()}/` : globalThis.location?.href) : undefined);
}
