/**
 * Benchmarks of the elementwise ops and activations at model shapes ([2048, 768] and [2048, 3072]):
 * each op is checked once against the reference, then timed with its baselines on the same inputs
 * (reference backend; onnxruntime-web single-threaded where ONNX has the op). Not a test.
 */
import { Bench } from "tinybench";
import { createBackend, type Backend } from "../src/backend/index.js";
import type { Ptr } from "../src/backend/wasm/bindings/index.js";
import { loadModule, type KernelModule } from "../src/backend/wasm/runtime.js";
import { Rng } from "../src/rng.js";
import { Tensor, type F32Tensor } from "../src/tensor.js";
import { onnxModel, ortSession, type OnnxNode, type OrtRunner } from "./onnx.js";

export type Task = [name: string, fn: () => unknown];

/**
 * Times the tasks (the first is ours) and prints mean latency, elements/s and GB/s for `elements`
 * elements moving `bytes` bytes per call, and every task's time as a multiple of the first.
 */
export async function timeTasks(title: string, elements: number, bytes: number, tasks: Task[], time = 400): Promise<void> {
  const bench = new Bench({ time, warmup: true });
  for (const [name, fn] of tasks) bench.add(name, fn);
  await bench.run();
  console.log(`\n${title}`);
  const first = bench.tasks[0].result;
  const base = first.state === "completed" ? first.latency.mean : NaN;
  for (const t of bench.tasks) {
    const r = t.result;
    if (r.state !== "completed") {
      console.log(`  ${t.name}: ${r.state}`);
      continue;
    }
    const ms = r.latency.mean;
    const rate = `${(elements / ms / 1e6).toFixed(3)} Gelem/s  ${(bytes / ms / 1e6).toFixed(2)} GB/s`;
    console.log(`  ${t.name.padEnd(36)} ${ms.toFixed(3).padStart(9)} ms ±${r.latency.rme.toFixed(1).padStart(4)}%  ${rate}  x${(ms / base).toFixed(2)}`);
  }
}

/** Throws unless |a - b| <= atol + rtol |b| everywhere (NaN only where b is NaN); returns the max difference. */
export function expectClose(op: string, a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  let max = 0;
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(b[i]) && Number.isNaN(a[i])) continue;
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= atol + rtol * Math.abs(b[i]))) throw new Error(`${op}: mismatch at ${i}: ${a[i]} vs ${b[i]}`);
    max = Math.max(max, d);
  }
  return max;
}

/** A one-graph onnxruntime session over float32 inputs of `dims`, or null (printed) when ORT refuses it. */
export async function ortOp(label: string, nodes: OnnxNode[], inputs: string[], dims: number[], opset = 17): Promise<OrtRunner | null> {
  try {
    return await ortSession(onnxModel({
      nodes, opset, inputs: inputs.map((name) => ({ name, dims })), outputs: [{ name: "y", dims: nodes.at(-1)!.outputs[0] === "y" ? dims : [] }],
    }));
  } catch (e) {
    console.log(`  (onnxruntime-web: no ${label}: ${String(e).split("\n")[0].slice(0, 120)})`);
    return null;
  }
}

/**
 * The raw kernel on operands already in wasm memory (out separate, so repeated calls see the same
 * data): no copies, the adapter's overhead excluded. The module's arena is never released here.
 */
function kernelOnly(mod: KernelModule<"elementwise">, n: number, operands: number, run: (out: Ptr, operands: Ptr[]) => void): () => void {
  const out = mod.alloc(n * 4);
  const ptrs = Array.from({ length: operands }, (_, i) => mod.put(new Rng(100 + i).fill(n, -3, 3)));
  return () => run(out, ptrs);
}

const t = (shape: number[], seed: number, lo = -3, hi = 3): F32Tensor => new Tensor("f32", shape, new Rng(seed).fill(shape[0] * shape[1], lo, hi));

async function benchShape(wasm: Backend, ref: Backend, mod: KernelModule<"elementwise">, rows: number, cols: number): Promise<void> {
  const n = rows * cols, shape = [rows, cols], dims = `[${rows}, ${cols}]`;
  const a = t(shape, 1), b = t(shape, 2), bias = new Tensor("f32", [cols], new Rng(3).fill(cols));
  // Tolerances as in test/elementwise.test.ts: arithmetic bit-exact, activations 1e-7 + 4e-6 |ref|.
  expectClose("add", wasm.add(a, b).data, ref.add(a, b).data, 0, 0);
  expectClose("addBias", wasm.addBias(a, bias).data, ref.addBias(a, bias).data, 0, 0);
  for (const act of ["gelu_tanh", "quick_gelu", "silu"] as const) expectClose(act, wasm.act(act, a).data, ref.act(act, a).data, 1e-7, 4e-6);
  expectClose("swiglu", wasm.swiglu(a, b).data, ref.swiglu(a, b).data, 1e-7, 4e-6);
  console.log(`\nelementwise ${dims}: wasm agrees with the reference (arithmetic bit-exact, activations within 1e-7 + 4e-6|ref|)`);

  const ortAdd = await ortOp("Add", [{ op: "Add", inputs: ["a", "b"], outputs: ["y"] }], ["a", "b"], shape);
  const ortGelu = await ortOp("Gelu(tanh)", [{ op: "Gelu", inputs: ["a"], outputs: ["y"], attrs: { approximate: "tanh" } }], ["a"], shape, 20);
  const ortSilu = await ortOp("Sigmoid*Mul", [{ op: "Sigmoid", inputs: ["a"], outputs: ["s"] }, { op: "Mul", inputs: ["a", "s"], outputs: ["y"] }], ["a"], shape);
  const feed = (x: F32Tensor) => ({ data: x.data, dims: shape });
  if (ortGelu) {
    const { y } = await ortGelu.run({ a: feed(a) });
    console.log(`  onnxruntime Gelu(tanh) vs ours: maxdiff ${expectClose("ort gelu", wasm.act("gelu_tanh", a).data, y, 1e-5, 1e-4).toExponential(2)}`);
  }

  await timeTasks(`add ${dims} (12 bytes/element)`, n, 12 * n, [
    ["wasm op (copies in/out included)", () => wasm.add(a, b)],
    ["wasm kernel only", kernelOnly(mod, n, 2, (out, [pa, pb]) => mod.k.add(out, pa, pb, n))],
    ["reference", () => ref.add(a, b)],
    ...(ortAdd ? [["onnxruntime-web Add", () => ortAdd.run({ a: feed(a), b: feed(b) })] as Task] : []),
  ]);
  await timeTasks(`addBias ${dims}`, n, 8 * n, [["wasm op", () => wasm.addBias(a, bias)], ["reference", () => ref.addBias(a, bias)]]);
  await timeTasks(`gelu_tanh ${dims} (8 bytes/element)`, n, 8 * n, [
    ["wasm op", () => wasm.act("gelu_tanh", a)],
    ["wasm kernel only", kernelOnly(mod, n, 1, (out, [px]) => mod.k.gelu_tanh(out, px, n))],
    ["reference", () => ref.act("gelu_tanh", a)],
    ...(ortGelu ? [["onnxruntime-web Gelu(approximate=tanh)", () => ortGelu.run({ a: feed(a) })] as Task] : []),
  ]);
  await timeTasks(`silu ${dims}`, n, 8 * n, [
    ["wasm op", () => wasm.act("silu", a)],
    ["wasm kernel only", kernelOnly(mod, n, 1, (out, [px]) => mod.k.silu(out, px, n))],
    ["reference", () => ref.act("silu", a)],
    ...(ortSilu ? [["onnxruntime-web Sigmoid, Mul", () => ortSilu.run({ a: feed(a) })] as Task] : []),
  ]);
  await timeTasks(`quick_gelu ${dims}`, n, 8 * n, [["wasm op", () => wasm.act("quick_gelu", a)], ["reference", () => ref.act("quick_gelu", a)]]);
  await timeTasks(`swiglu ${dims}`, n, 12 * n, [["wasm op", () => wasm.swiglu(a, b)], ["reference", () => ref.swiglu(a, b)]]);
}

export default async function (): Promise<void> {
  const wasm = await createBackend("wasm");
  const ref = await createBackend("reference");
  const mod = await loadModule("elementwise");
  for (const [rows, cols] of [[2048, 768], [2048, 3072]]) await benchShape(wasm, ref, mod, rows, cols);
}
