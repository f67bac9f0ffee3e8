/**
 * One onnxruntime-web measurement in its own process (bench/threads.ts starts it): ORT fixes its
 * thread count when its wasm starts, so 1 and 2 threads need two processes. Argument: JSON
 * { op: "gemm" | "attention", threads, ... }; prints one JSON line { median, min } (ms). Not a test.
 */
import * as ort from "onnxruntime-web";
import { Rng } from "../src/rng.js";
import { time } from "./harness.js";
import { onnxModel } from "./onnx.js";

type Job = { op: "gemm"; threads: number; m: number; k: number; n: number } | { op: "attention"; threads: number; heads: number; n: number; dh: number };

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]) as Job;
  ort.env.wasm.numThreads = job.threads;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  const rng = new Rng(1);
  let model: Uint8Array, feeds: Record<string, ort.Tensor>;
  if (job.op === "gemm") { // a Linear layer: y = a W^T, W [n, k] an initializer (prepacked by ORT)
    const { m, k, n } = job;
    model = onnxModel({
      nodes: [{ op: "Gemm", inputs: ["a", "w"], outputs: ["y"], attrs: { transB: 1 } }],
      inputs: [{ name: "a", dims: [m, k] }], outputs: [{ name: "y", dims: [m, n] }],
      initializers: [{ name: "w", dims: [n, k], data: rng.fill(n * k, -1, 1) }],
    });
    feeds = { a: new ort.Tensor("float32", rng.fill(m * k, -1, 1), [m, k]) };
  } else { // com.microsoft MultiHeadAttention on [1, n, heads*dh] (ORT's fused attention)
    const { heads, n, dh } = job, dims = [1, n, heads * dh];
    model = onnxModel({
      nodes: [{ op: "MultiHeadAttention", domain: "com.microsoft", inputs: ["q", "k", "v"], outputs: ["o"], attrs: { num_heads: heads } }],
      inputs: ["q", "k", "v"].map((name) => ({ name, dims })), outputs: [{ name: "o", dims }], initializers: [],
    });
    feeds = Object.fromEntries(["q", "k", "v"].map((x) => [x, new ort.Tensor("float32", rng.fill(n * heads * dh, -1, 1), dims)]));
  }
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  const t = await time(`ORT ${job.op} ${job.threads} threads`, () => session.run(feeds), { time: 3000 });
  console.log(JSON.stringify({ median: t.median, min: t.min, threads: ort.env.wasm.numThreads }));
  process.exit(0); // ORT's worker threads would keep the process alive
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
