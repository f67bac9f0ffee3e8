/**
 * Bench-only helpers shared by every bench/*.ts: a correctness check that runs once before any
 * timing (and throws on mismatch), tinybench timing that reports the median, this machine's
 * f32x4 mul+add peak (kernels/peak.ts), and aligned tables. Not part of the library.
 */
import { readFile } from "node:fs/promises";
import { Bench } from "tinybench";
import { WasmModule } from "../src/backend/wasm/runtime.js";
import { bindPeak } from "../test/util/dev-bindings.js";
import { assertClose, shaped, type Tol } from "../test/util/close.js";

// ------------------------------------------------------------------------------ options
/** Command line: `npm run bench -- [--quick] [filter ...]`. */
export interface BenchArgs {
  /** Smaller shapes and shorter time budgets (a smoke run). */
  quick: boolean;
  /** Bench files (matmul, attention, ...) to run; empty: all. */
  filters: string[];
}

let args: BenchArgs = { quick: false, filters: [] };
export function setArgs(a: BenchArgs): void {
  args = a;
}
export function benchArgs(): BenchArgs {
  return args;
}

// ------------------------------------------------------------------------------ correctness
/**
 * Checks a result once before timing; throws (the bench stops) on a shape, NaN, infinity or
 * tolerance mismatch, naming the label and the first bad element.
 */
export function checkResult(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tol, shape?: readonly number[]): void {
  try {
    const s = shape ?? [expected.length];
    assertClose(label, shaped(s, actual), shaped(s, expected), tol);
  } catch (e) {
    throw new Error(`bench check FAILED before timing: ${(e as Error).message}`);
  }
}

// ------------------------------------------------------------------------------ timing
export interface Timing {
  /** Median latency per call, milliseconds. */
  median: number;
  /** Fastest call, milliseconds. */
  min: number;
  /** Timed calls. */
  samples: number;
}

export interface TimeOptions {
  /** Time budget in ms for the timed phase (it also runs at least minIterations calls). */
  time?: number;
  minIterations?: number;
}

/**
 * Times `fn` with tinybench and returns the median. The number of calls adapts to the cost of one
 * call (measured by one untimed call, which also lets V8 tier the code up): at least 3 timed calls
 * for expensive work, up to the time budget for cheap work. Warm-up: 1-3 calls.
 */
export async function time(name: string, fn: () => unknown, opts: TimeOptions = {}): Promise<Timing> {
  const budget = opts.time ?? (args.quick ? 400 : 1500);
  const t0 = performance.now();
  await fn();
  const once = performance.now() - t0;
  const iterations = opts.minIterations ?? (once > 2000 ? 2 : once > 300 ? 3 : 5);
  const bench = new Bench({
    name,
    time: budget,
    iterations,
    warmup: true,
    warmupIterations: once > 300 ? 1 : 3,
    warmupTime: 0,
    throws: true,
  });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== "completed") throw new Error(`bench ${name}: task ${r.state}`);
  return { median: r.latency.p50, min: r.latency.min, samples: r.latency.samplesCount };
}

export interface Task {
  name: string;
  fn: () => unknown;
}

/**
 * Times several implementations of one operation round-robin, so that load from other processes
 * (a shared machine) hits them alike and their ratios stay fair: each round is a tinybench run
 * of one call per task still short of samples. Before the rounds: one untimed call per task (it
 * lets V8 tier the code up and sizes the sample count: ~`time` ms per task, 3 to 25 samples) and
 * a tinybench warm-up (2 calls) for tasks cheaper than a third of the budget. Returns median
 * and min per task.
 */
export async function timeInterleaved(tasks: Task[], opts: { time?: number } = {}): Promise<Map<string, Timing>> {
  const budget = opts.time ?? (args.quick ? 400 : 1500);
  const want = new Map<string, number>();
  for (const t of tasks) {
    const t0 = performance.now();
    await t.fn();
    const once = performance.now() - t0;
    want.set(t.name, Math.min(25, Math.max(3, Math.ceil(budget / Math.max(once, 1e-3)))));
  }
  const cheap = tasks.filter((t) => want.get(t.name)! > 3);
  if (cheap.length > 0) {
    const warm = new Bench({ time: 0, iterations: 1, warmup: true, warmupIterations: 2, warmupTime: 0, throws: true });
    for (const t of cheap) warm.add(t.name, t.fn);
    await warm.run();
  }
  const samples = new Map<string, number[]>(tasks.map((t) => [t.name, []]));
  for (;;) {
    const round = tasks.filter((t) => samples.get(t.name)!.length < want.get(t.name)!);
    if (round.length === 0) break;
    const bench = new Bench({ time: 0, iterations: 1, warmup: false, retainSamples: true, throws: true });
    for (const t of round) bench.add(t.name, t.fn);
    await bench.run();
    for (const task of bench.tasks) {
      const r = task.result;
      if (r.state !== "completed" || !r.latency.samples) throw new Error(`bench ${task.name}: task ${r.state}`);
      samples.get(task.name)!.push(...r.latency.samples);
    }
  }
  const out = new Map<string, Timing>();
  for (const [name, xs] of samples) {
    const sorted = [...xs].sort((x, y) => x - y);
    const mid = sorted.length >> 1;
    const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    out.set(name, { median, min: sorted[0], samples: sorted.length });
  }
  return out;
}

/** GFLOP/s of `flops` done in `ms` milliseconds. */
export function gflops(flops: number, ms: number): number {
  return flops / ms / 1e6;
}

// ------------------------------------------------------------------------------ peak
export interface Peak {
  /** The best variant's GFLOP/s: the yardstick every "% peak" column uses. */
  gflops: number;
  best: string;
  variants: { name: string; gflops: number }[];
}

let peakCache: Promise<Peak> | undefined;

/**
 * This machine's f32x4 mul+add peak (single thread), from build/peak.wasm: every variant runs
 * many short (~20 ms) times and its best run counts (a peak is a maximum; other processes can
 * only lower it, and short runs often find a quiet moment). The peak is the best variant.
 * Measured once per process; `refresh` measures again and keeps the higher value per variant
 * (the matmul bench refreshes between shapes, so a busy start does not skew "% peak").
 */
export function peak(opts: { refresh?: boolean } = {}): Promise<Peak> {
  if (!peakCache) peakCache = measurePeak();
  else if (opts.refresh) {
    const before = peakCache;
    peakCache = Promise.all([before, measurePeak()]).then(([x, y]) => mergePeaks(x, y));
  }
  return peakCache;
}

function mergePeaks(x: Peak, y: Peak): Peak {
  const variants = x.variants.map((v, i) => ({ name: v.name, gflops: Math.max(v.gflops, y.variants[i].gflops) }));
  const top = variants.reduce((p, q) => (q.gflops > p.gflops ? q : p));
  return { gflops: top.gflops, best: top.name, variants };
}

async function measurePeak(): Promise<Peak> {
  const bytes = await readFile(new URL("../build/peak.wasm", import.meta.url));
  const { instance } = await WebAssembly.instantiate(bytes, { env: { abort: () => { throw new Error("peak: abort"); } } });
  const mod = new WasmModule("peak", instance, bindPeak);
  const KC = 256;
  const consts = mod.put(new Float32Array([1, 1, 1, 1, 0, 0, 0, 0])); // m = 1, c = 0: values stay normal
  const tiles = mod.put(Float32Array.from({ length: KC * 16 }, (_, i) => ((i % 7) - 3) * 1e-3));
  // [name, run(iters) -> unused value, flops per iteration]
  const variants: [string, (it: number) => number, number][] = [
    ["mix6 (6 mul + 6 add chains)", (it) => mod.k.mix6(it, consts), 12 * 4],
    ["mix7 (7 mul + 7 add chains)", (it) => mod.k.mix7(it, consts), 14 * 4],
    ["tile3x8 (L1 operands)", (it) => mod.k.tile3x8(it, tiles, KC), KC * 3 * 8 * 2],
    ["tile4x8 (L1 operands)", (it) => mod.k.tile4x8(it, tiles, KC), KC * 4 * 8 * 2],
  ];
  const out: { name: string; gflops: number }[] = [];
  for (const [name, run, fpi] of variants) {
    const iters = Math.round(1e9 / fpi); // ~20 ms
    run(iters); // tier up to TurboFan
    run(iters);
    let best = 0;
    for (let r = 0; r < (args.quick ? 8 : 16); r++) {
      const t0 = performance.now();
      run(iters);
      best = Math.max(best, gflops(iters * fpi, performance.now() - t0));
    }
    out.push({ name, gflops: best });
  }
  const top = out.reduce((x, y) => (y.gflops > x.gflops ? y : x));
  return { gflops: top.gflops, best: top.name, variants: out };
}

// ------------------------------------------------------------------------------ tables
export type Cell = string | number;

/** Formats a number with `digits` decimals; non-finite as "-". */
export function fmt(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "-";
}

/** Prints a table with a title; numeric-looking cells are right-aligned, text left-aligned. */
export function printTable(title: string, header: string[], rows: Cell[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === "number" ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const numeric = (s: string) => /^[-+]?[\d.]+[x%]?$|^-$/.test(s);
  const line = (r: string[]) => r.map((c, i) => (numeric(c) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ");
  console.log(`\n${title}`);
  console.log(line(cells[0]));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of cells.slice(1)) console.log(line(r));
}
