/**
 * Benchmarks of the row ops (softmax, layerNorm, rmsNorm, sum, max) at model shapes: checked once
 * against the reference, then timed with the reference backend and onnxruntime-web (one thread)
 * on the same inputs. Not a test.
 */
import { createBackend, type Backend } from "../src/backend/index.js";
import type { Ptr } from "../src/backend/wasm/bindings/index.js";
import { loadModule, type KernelModule } from "../src/backend/wasm/runtime.js";
import { Rng } from "../src/rng.js";
import { Tensor, type F32Tensor } from "../src/tensor.js";
import { expectClose, ortOp, timeTasks, type Task } from "./elementwise.js";
import { onnxModel, ortSession } from "./onnx.js";

const f32 = (shape: number[], seed: number, lo = -3, hi = 3): F32Tensor =>
  new Tensor("f32", shape, new Rng(seed).fill(shape.reduce((p, d) => p * d, 1), lo, hi));

/** The raw kernel `run(out, operands)` on operands already in wasm memory (no copies); the module's arena is kept. */
function kernelOnly(mod: KernelModule<"rows">, outElements: number, operands: Float32Array[], run: (out: Ptr, operands: Ptr[]) => void): () => void {
  const ptrs = operands.map((a) => mod.put(a));
  const out = mod.alloc(4 * outElements);
  return () => run(out, ptrs);
}

async function benchNorms(wasm: Backend, ref: Backend, mod: KernelModule<"rows">, rows: number, cols: number): Promise<void> {
  const x = f32([rows, cols], 1, -2, 4), g = f32([cols], 2, 0.5, 1.5), b = f32([cols], 3, -1, 1);
  const n = rows * cols, dims = `[${rows}, ${cols}]`;
  // Tolerances as in test/rows.test.ts: norms 2e-6 + 2e-6 |ref|.
  expectClose("layerNorm", wasm.layerNorm(x, g, b).data, ref.layerNorm(x, g, b).data, 2e-6, 2e-6);
  expectClose("rmsNorm", wasm.rmsNorm(x, g).data, ref.rmsNorm(x, g).data, 2e-6, 2e-6);
  const ortLn = await optional("LayerNormalization", () => ortSession(onnxModel({
    opset: 17,
    nodes: [{ op: "LayerNormalization", inputs: ["x", "g", "b"], outputs: ["y"], attrs: { axis: -1, epsilon: { float: 1e-5 } } }],
    inputs: [{ name: "x", dims: [rows, cols] }], outputs: [{ name: "y", dims: [rows, cols] }],
    initializers: [{ name: "g", dims: [cols], data: g.data }, { name: "b", dims: [cols], data: b.data }],
  })));
  const ortRms = await optional("RMSNormalization (opset 23)", () => ortSession(onnxModel({
    opset: 23,
    nodes: [{ op: "RMSNormalization", inputs: ["x", "g"], outputs: ["y"], attrs: { axis: -1, epsilon: { float: 1e-6 } } }],
    inputs: [{ name: "x", dims: [rows, cols] }], outputs: [{ name: "y", dims: [rows, cols] }],
    initializers: [{ name: "g", dims: [cols], data: g.data }],
  })));
  const feed = { x: { data: x.data, dims: [rows, cols] } };
  if (ortLn) console.log(`  onnxruntime LayerNormalization vs ours: maxdiff ${expectClose("ort ln", wasm.layerNorm(x, g, b).data, (await ortLn.run(feed)).y, 1e-5, 1e-5).toExponential(2)}`);
  const ortTask = (name: string, s: typeof ortLn): Task[] => (s ? [[name, () => s.run(feed)]] : []);
  await timeTasks(`layerNorm ${dims} (8 bytes/element)`, n, 8 * n, [
    ["wasm op (copies in/out included)", () => wasm.layerNorm(x, g, b)],
    ["wasm kernel only", kernelOnly(mod, n, [x.data, g.data, b.data], (out, [px, pg, pb]) => mod.k.layer_norm(out, px, pg, pb, rows, cols, 1e-5))],
    ["reference", () => ref.layerNorm(x, g, b)],
    ...ortTask("onnxruntime-web LayerNormalization", ortLn),
  ]);
  await timeTasks(`rmsNorm ${dims}`, n, 8 * n, [
    ["wasm op", () => wasm.rmsNorm(x, g)],
    ["wasm kernel only", kernelOnly(mod, n, [x.data, g.data], (out, [px, pg]) => mod.k.rms_norm(out, px, pg, rows, cols, 1e-6))],
    ["reference", () => ref.rmsNorm(x, g)],
    ...ortTask("onnxruntime-web RMSNormalization", ortRms),
  ]);
  await timeTasks(`sum over rows ${dims} (4 bytes/element)`, n, 4 * n, [
    ["wasm op", () => wasm.sum(x)],
    ["wasm kernel only", kernelOnly(mod, rows, [x.data], (out, [px]) => mod.k.sum_rows(out, px, rows, cols))],
    ["reference", () => ref.sum(x)],
  ]);
  await timeTasks(`max over rows ${dims}`, n, 4 * n, [["wasm op", () => wasm.max(x)], ["reference", () => ref.max(x)]]);
}

async function benchSoftmax(wasm: Backend, ref: Backend, mod: KernelModule<"rows">, rows: number, cols: number, label: string): Promise<void> {
  const x = f32([rows, cols], 4, -8, 8), n = rows * cols, dims = `[${rows}, ${cols}]`;
  // Tolerance as in test/rows.test.ts: 1e-8 + 1e-5 |ref|.
  expectClose("softmax", wasm.softmax(x).data, ref.softmax(x).data, 1e-8, 1e-5);
  const ortSm = await ortOp("Softmax", [{ op: "Softmax", inputs: ["x"], outputs: ["y"], attrs: { axis: -1 } }], ["x"], [rows, cols], 13);
  const feed = { x: { data: x.data, dims: [rows, cols] } };
  if (ortSm) console.log(`  onnxruntime Softmax vs ours: maxdiff ${expectClose("ort softmax", wasm.softmax(x).data, (await ortSm.run(feed)).y, 1e-7, 1e-5).toExponential(2)}`);
  await timeTasks(`softmax ${dims} ${label} (8 bytes/element)`, n, 8 * n, [
    ["wasm op (copies in/out included)", () => wasm.softmax(x)],
    ["wasm kernel only", kernelOnly(mod, n, [x.data], (out, [px]) => mod.k.softmax(out, px, 0, rows, cols, 1, 0, cols))],
    ["reference", () => ref.softmax(x)],
    ...(ortSm ? [["onnxruntime-web Softmax", () => ortSm.run(feed)] as Task] : []),
  ]);
  if (cols === rows) {
    await timeTasks(`softmax ${dims} causal`, n, 8 * n, [
      ["wasm op", () => wasm.softmax(x, { causal: true })],
      ["reference", () => ref.softmax(x, { causal: true })],
    ]);
  }
}

async function optional<T>(label: string, make: () => Promise<T>): Promise<T | null> {
  try {
    return await make();
  } catch (e) {
    console.log(`  (onnxruntime-web: no ${label}: ${String(e).split("\n")[0].slice(0, 120)})`);
    return null;
  }
}

export default async function (): Promise<void> {
  const wasm = await createBackend("wasm");
  const ref = await createBackend("reference");
  const mod = await loadModule("rows");
  for (const [rows, cols] of [[2048, 768], [2048, 3072]]) await benchNorms(wasm, ref, mod, rows, cols);
  await benchSoftmax(wasm, ref, mod, 2048, 4, "(token routing, E = 4)");
  await benchSoftmax(wasm, ref, mod, 2048, 2048, "(scores, one head)");
  await benchSoftmax(wasm, ref, mod, 16, 32064, "(vocabulary logits)");
}
