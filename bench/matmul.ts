/**
 * Matmul benchmark: our wasm GEMM (through the Backend, and raw with operands resident in wasm
 * memory), a plain-JS blocked matmul and onnxruntime-web (WASM, one thread) on the same inputs.
 * Every implementation is checked against the float64 reference before it is timed.
 */
import { Backend, createBackend } from "../src/backend/index.js";
import { referenceKernels } from "../src/backend/reference.js";
import { matmulResident } from "../src/backend/wasm/matmul.js";
import { loadModule } from "../src/backend/wasm/runtime.js";
import { Rng } from "../src/rng.js";
import { Tensor } from "../src/tensor.js";
import { benchArgs, checkResult, gflops, peak, printTable, timeInterleaved, type Cell, type Task, type Timing } from "./harness.js";
import { jsMatmul } from "./js-baseline.js";
import { onnxModel, ortSession } from "./onnx.js";

/** M x K times op(B) -> M x N. `linear`: B is a PyTorch weight [N, K] (transB), as Linear uses it. */
interface Shape {
  m: number;
  k: number;
  n: number;
  linear: boolean;
}

function shapes(quick: boolean): Shape[] {
  const sq = (s: number): Shape => ({ m: s, k: s, n: s, linear: false });
  const lin = (m: number, k: number, n: number): Shape => ({ m, k, n, linear: true });
  if (quick) return [sq(128), sq(256), sq(512), lin(256, 768, 768), lin(256, 768, 3072), lin(256, 3072, 768)];
  return [sq(256), sq(512), sq(1024), lin(2048, 768, 768), lin(2048, 768, 3072), lin(2048, 3072, 768)];
}

/**
 * Check tolerance. f32 accumulation against the float64 reference, data uniform in [-1, 1]: the rounding error of
 * a k-term f32 sum grows like sqrt(k) * eps * |partial sums| (|partial sums| ~ sqrt(k/9)), about
 * 1e-5 at k = 1024; atol = 1e-5 * sqrt(k) leaves a wide margin while a layout bug errs by O(1).
 */
function tolerance(k: number) {
  return { atol: 1e-5 * Math.sqrt(k), rtol: 1e-4 };
}

/** Reference rows: all of them for small products, else 24 rows (first, last, middle, seeded). */
function referenceRows(s: Shape, a: Float32Array, b: Float32Array): { rows: number[]; expected: Float32Array } {
  let rows: number[];
  if (s.m * s.n * s.k <= 2 ** 27) rows = Array.from({ length: s.m }, (_, i) => i);
  else {
    const rng = new Rng(7);
    const set = new Set([0, 1, s.m >> 1, s.m - 1]);
    while (set.size < 24) set.add(rng.int(s.m));
    rows = [...set].sort((x, y) => x - y);
  }
  const sub = new Float32Array(rows.length * s.k);
  rows.forEach((r, i) => sub.set(a.subarray(r * s.k, (r + 1) * s.k), i * s.k));
  const expected = new Float32Array(rows.length * s.n);
  referenceKernels.matmul(expected, sub, b, {
    batch: 1, m: rows.length, n: s.n, k: s.k, transA: false, transB: s.linear, accumulate: false, broadcastA: false, broadcastB: true,
  });
  return { rows, expected };
}

function pickRows(out: Float32Array, rows: number[], n: number): Float32Array {
  const r = new Float32Array(rows.length * n);
  rows.forEach((row, i) => r.set(out.subarray(row * n, (row + 1) * n), i * n));
  return r;
}

interface Row {
  label: string;
  layout: string;
  name: string;
  timing: Timing;
  flops: number;
}

export default async function matmulBench(): Promise<void> {
  const { quick } = benchArgs();
  const backend = await createBackend("wasm");
  const rows: Row[][] = [];
  for (const s of shapes(quick)) {
    rows.push(await benchShape(s, backend));
    await peak({ refresh: true }); // re-measured between shapes; the highest run counts
  }
  const pk = await peak();
  const pct = (g: number) => (100 * g) / pk.gflops;
  const table: Cell[][] = [], summary: Cell[][] = [];
  for (const group of rows) {
    const ms = (prefix: string) => Math.min(...group.filter((r) => r.name.startsWith(prefix)).map((r) => r.timing.median));
    const js = ms("JS"), ort = ms("ORT");
    for (const r of group) {
      const g = gflops(r.flops, r.timing.median), gBest = gflops(r.flops, r.timing.min);
      const ours = r.name.startsWith("ours");
      table.push([r.label, r.layout, r.name, r.timing.median, g, gBest, pct(g), pct(gBest),
        ours ? `${(js / r.timing.median).toFixed(1)}x` : "", ours ? `${(ort / r.timing.median).toFixed(2)}x` : ""]);
    }
    const res = group.find((r) => r.name === RESIDENT)!, api = group.find((r) => r.name === BACKEND)!;
    const g = gflops(res.flops, res.timing.median);
    summary.push([res.label, g, pct(g), pct(gflops(res.flops, res.timing.min)),
      `${(ort / res.timing.median).toFixed(2)}x`, `${(ort / api.timing.median).toFixed(2)}x`]);
  }
  printTable(`matmul, single thread (peak ${pk.gflops.toFixed(1)} GFLOP/s; ms, GFLOP/s: median; best: fastest call; implementations timed round-robin)`,
    ["shape M x K x N", "B layout", "implementation", "ms", "GFLOP/s", "best", "% peak", "% peak best", "x JS", "x ORT"], table);
  printTable("matmul summary (targets at 1024^3 and M = 2048: >= 70% of peak, >= 1.3x ORT)",
    ["shape", "GFLOP/s (resident)", "% peak", "% peak best", "x ORT (resident)", "x ORT (Backend)"], summary);
}

const BACKEND = "ours: Backend.matmul", RESIDENT = "ours: kernel, operands resident";

/** Checks every implementation against the reference, then times them round-robin. */
async function benchShape(s: Shape, backend: Backend): Promise<Row[]> {
  const { m, k, n, linear } = s;
  const rng = new Rng(m * 7919 + k * 31 + n);
  const a = rng.fill(m * k, -1, 1);
  const b = rng.fill(k * n, -1, 1); // [K, N], or [N, K] when linear
  const ref = referenceRows(s, a, b);
  const label = `${m}x${k}x${n}`;
  const check = (impl: string, out: Float32Array) =>
    checkResult(`matmul ${label} ${impl}`, pickRows(out, ref.rows, n), ref.expected, tolerance(k), [ref.rows.length, n]);
  const tasks: Task[] = [];

  // ours, through the Backend (copies operands into wasm memory and the result out, per call)
  const A = new Tensor("f32", [m, k], a), B = new Tensor("f32", linear ? [n, k] : [k, n], b);
  check(BACKEND, backend.matmul(A, B, { transB: linear }).data);
  tasks.push({ name: BACKEND, fn: () => backend.matmul(A, B, { transB: linear }) });

  // ours, raw kernel with operands resident (no copies): the kernel's own speed. A fresh module
  // instance per shape: its memory holds A, B and out for the whole timing.
  const dims = { batch: 1, m, n, k, transA: false, transB: linear, accumulate: false, broadcastA: false, broadcastB: true };
  const mod = await loadModule("matmul");
  const pa = mod.put(a), pb = mod.put(b), po = mod.alloc(m * n * 4);
  const out = new Float32Array(m * n);
  mod.scope(() => matmulResident(mod, po, pa, pb, dims));
  mod.read(po, out);
  check(RESIDENT, out);
  tasks.push({ name: RESIDENT, fn: () => mod.scope(() => matmulResident(mod, po, pa, pb, dims)) });

  // plain JS
  const jsOut = new Float32Array(m * n);
  jsMatmul(jsOut, a, b, m, n, k, linear);
  check("js", jsOut);
  tasks.push({ name: "JS blocked (no SIMD)", fn: () => jsMatmul(jsOut, a, b, m, n, k, linear) });

  // onnxruntime-web: Gemm (transB for a weight) and MatMul on a [K, N] initializer; the faster counts
  for (const v of await ortVariants(s, a, b)) {
    check(v.impl, await v.run());
    tasks.push({ name: v.impl, fn: v.run });
  }

  const t = await timeInterleaved(tasks);
  const layout = linear ? "[N,K] transB" : "[K,N]";
  return tasks.map(({ name }) => ({ label, layout, name, timing: t.get(name)!, flops: 2 * m * n * k }));
}

/** ORT single-op models on the same data: B is an initializer (a resident weight, prepacked by ORT). */
async function ortVariants(s: Shape, a: Float32Array, b: Float32Array): Promise<{ impl: string; run: () => Promise<Float32Array> }[]> {
  const { m, k, n, linear } = s;
  const io = { inputs: [{ name: "a", dims: [m, k] }], outputs: [{ name: "y", dims: [m, n] }] };
  const bKN = linear ? transpose(b, n, k) : b;
  const gemm = onnxModel({
    nodes: [{ op: "Gemm", inputs: ["a", "b"], outputs: ["y"], attrs: { transB: linear ? 1 : 0 } }],
    ...io,
    initializers: [{ name: "b", dims: linear ? [n, k] : [k, n], data: b }],
  });
  const matmul = onnxModel({
    nodes: [{ op: "MatMul", inputs: ["a", "b"], outputs: ["y"] }],
    ...io,
    initializers: [{ name: "b", dims: [k, n], data: bKN }],
  });
  const out = [];
  for (const [impl, model] of [[`ORT Gemm${linear ? " transB" : ""}`, gemm], ["ORT MatMul [K,N]", matmul]] as const) {
    const sess = await ortSession(model);
    out.push({ impl, run: async () => (await sess.run({ a: { data: a, dims: [m, k] } })).y });
  }
  return out;
}

function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = x[r * cols + c];
  return t;
}
