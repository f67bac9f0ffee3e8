/**
 * Attention benchmark at the vision volume blocks' shape (B = 1, 12 heads of 64, non-causal):
 * our fused flash kernel (through the Backend, and on resident operands), the unfused composition
 * of our own ops, onnxruntime-web (one thread; standard graphs and com.microsoft
 * MultiHeadAttention) and, at a small size, the float64 reference. Every implementation is checked
 * against the reference on a subset of query rows before it is timed. Not a test.
 */
import { createBackend, type Backend } from "../src/backend/index.js";
import type { AttentionDims } from "../src/backend/kernels.js";
import { referenceKernels } from "../src/backend/reference.js";
import { attentionResident } from "../src/backend/wasm/attention.js";
import { loadModule } from "../src/backend/wasm/runtime.js";
import { Rng } from "../src/rng.js";
import { Tensor, type F32Tensor } from "../src/tensor.js";
import { benchArgs, checkResult, gflops, peak, printTable, time, type Cell } from "./harness.js";
import { onnxModel, ortSession, type OnnxNode, type OrtRunner } from "./onnx.js";

const NH = 12, DH = 64, W = NH * DH;
const SCALE = 1 / Math.sqrt(DH);
// As test/attention.test.ts: |diff| <= 1e-5 + 1e-5 |ref| (data in [-1, 1]; measured ~1e-6).
const TOL = { atol: 1e-5, rtol: 1e-5 };

interface Case {
  n: number;
  q: Float32Array; // [1, n, NH*dh], heads contiguous channel slices (our layout)
  k: Float32Array;
  v: Float32Array;
  rows: number[]; // query rows checked against the reference
  expected: Float32Array; // [rows, NH*dh]
}

/** 24 query rows (first, last, middle, seeded) and their float64 reference outputs. */
function makeCase(n: number): Case {
  const rng = new Rng(n);
  const q = rng.fill(n * W, -1, 1), k = rng.fill(n * W, -1, 1), v = rng.fill(n * W, -1, 1);
  const set = new Set([0, 1, n >> 1, n - 1]);
  while (set.size < Math.min(24, n)) set.add(rng.int(n));
  const rows = [...set].sort((a, b) => a - b);
  const qs = new Float32Array(rows.length * W);
  rows.forEach((r, i) => qs.set(q.subarray(r * W, (r + 1) * W), i * W));
  const expected = new Float32Array(rows.length * W);
  referenceKernels.attention(expected, qs, k, v, dims(rows.length, n)); // rows are independent (non-causal)
  return { n, q, k, v, rows, expected };
}

function dims(nq: number, nk: number): AttentionDims {
  return { batch: 1, nq, nk, heads: NH, kvHeads: NH, dh: DH, scale: SCALE, causal: false, mask: null, maskBatch: 1 };
}

function check(c: Case, impl: string, out: Float32Array): void {
  const got = new Float32Array(c.rows.length * W);
  c.rows.forEach((r, i) => got.set(out.subarray(r * W, (r + 1) * W), i * W));
  checkResult(`attention N=${c.n} ${impl}`, got, c.expected, TOL, [c.rows.length, W]);
}

/** [n, NH*dh] -> [NH, n, dh] (head-major, ORT's [1, NH, n, dh]), and back. */
function toHeads(x: Float32Array, n: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < n; i++) for (let h = 0; h < NH; h++) y.set(x.subarray(i * W + h * DH, i * W + (h + 1) * DH), (h * n + i) * DH);
  return y;
}
function fromHeads(y: Float32Array, n: number): Float32Array {
  const x = new Float32Array(y.length);
  for (let h = 0; h < NH; h++) for (let i = 0; i < n; i++) x.set(y.subarray((h * n + i) * DH, (h * n + i + 1) * DH), i * W + h * DH);
  return x;
}
/** [NH, n, dh] -> [NH, dh, n] */
function transposeHeads(y: Float32Array, n: number): Float32Array {
  const z = new Float32Array(y.length);
  for (let h = 0; h < NH; h++) for (let i = 0; i < n; i++) for (let d = 0; d < DH; d++) z[(h * DH + d) * n + i] = y[(h * n + i) * DH + d];
  return z;
}

interface Impl {
  name: string;
  run: () => Promise<Float32Array>;
}

/**
 * onnxruntime-web graphs. `heads` heads per graph run: all 12 at once where the [NH, n, n] scores
 * fit ORT's wasm32 heap, else one head per run (12 runs per call; the same work, memory O(n^2)).
 */
async function ortImpls(c: Case, perHead: boolean): Promise<Impl[]> {
  const n = c.n, g = perHead ? 1 : NH; // heads per graph run
  const qh = toHeads(c.q, n), kh = toHeads(c.k, n), vh = toHeads(c.v, n), kt = transposeHeads(kh, n);
  const hd = [1, g, n, DH], hdT = [1, g, DH, n], flat = [1, n, g * DH];
  const sc = [{ name: "sc", dims: [], data: new Float32Array([SCALE]) }];
  const graphs: { name: string; nodes: OnnxNode[]; kDims: number[]; layout: "heads" | "kT" | "flat" }[] = [
    {
      name: "ORT Mul(q) MatMul(K^T input) Softmax MatMul", layout: "kT", kDims: hdT,
      nodes: [
        { op: "Mul", inputs: ["q", "sc"], outputs: ["qs"] },
        { op: "MatMul", inputs: ["qs", "k"], outputs: ["s"] },
        { op: "Softmax", inputs: ["s"], outputs: ["p"], attrs: { axis: -1 } },
        { op: "MatMul", inputs: ["p", "v"], outputs: ["o"] },
      ],
    },
    {
      name: "ORT Transpose(k) MatMul Mul Softmax MatMul", layout: "heads", kDims: hd,
      nodes: [
        { op: "Transpose", inputs: ["k"], outputs: ["kt"], attrs: { perm: [0, 1, 3, 2] } },
        { op: "MatMul", inputs: ["q", "kt"], outputs: ["s0"] },
        { op: "Mul", inputs: ["s0", "sc"], outputs: ["s"] },
        { op: "Softmax", inputs: ["s"], outputs: ["p"], attrs: { axis: -1 } },
        { op: "MatMul", inputs: ["p", "v"], outputs: ["o"] },
      ],
    },
    {
      name: "ORT MultiHeadAttention (com.microsoft)", layout: "flat", kDims: flat,
      nodes: [{ op: "MultiHeadAttention", domain: "com.microsoft", inputs: ["q", "k", "v"], outputs: ["o"], attrs: { num_heads: g } }],
    },
  ];
  const out: Impl[] = [];
  for (const gr of graphs) {
    const qd = gr.layout === "flat" ? flat : hd, vd = gr.layout === "flat" ? flat : hd;
    let sess: OrtRunner;
    try {
      sess = await ortSession(onnxModel({
        nodes: gr.nodes,
        inputs: [{ name: "q", dims: qd }, { name: "k", dims: gr.kDims }, { name: "v", dims: vd }],
        outputs: [{ name: "o", dims: qd }],
        initializers: gr.layout === "flat" ? [] : sc,
      }));
    } catch (e) {
      console.log(`  (${gr.name}: not available: ${String(e).split("\n")[0].slice(0, 120)})`);
      continue;
    }
    // per-head slices of the inputs, prepared outside the timing (ORT gets its preferred layout)
    const part = (x: Float32Array, h: number) => (g === NH ? x : x.subarray(h * n * DH, (h + 1) * n * DH));
    const feeds = Array.from({ length: NH / g }, (_, h) => gr.layout === "flat"
      ? { q: { data: g === NH ? c.q : part(qh, h), dims: qd }, k: { data: g === NH ? c.k : part(kh, h), dims: gr.kDims }, v: { data: g === NH ? c.v : part(vh, h), dims: vd } }
      : { q: { data: part(qh, h), dims: qd }, k: { data: part(gr.layout === "kT" ? kt : kh, h), dims: gr.kDims }, v: { data: part(vh, h), dims: vd } });
    const flatOut = gr.layout === "flat" && g === NH;
    out.push({
      name: `${gr.name}${perHead ? " (per head)" : ""}`,
      run: async () => {
        const res = new Float32Array(n * W);
        for (let h = 0; h < feeds.length; h++) res.set((await sess.run(feeds[h])).o, h * n * DH * g);
        return flatOut ? res : fromHeads(res, n);
      },
    });
  }
  return out;
}

/** softmax(q k^T * scale) v per head from our own Backend ops: matmul, scale, softmax, matmul. */
function unfused(b: Backend, c: Case): Impl {
  const n = c.n, qh = toHeads(c.q, n), kh = toHeads(c.k, n), vh = toHeads(c.v, n);
  const head = (x: Float32Array, h: number): F32Tensor => new Tensor("f32", [n, DH], x.subarray(h * n * DH, (h + 1) * n * DH));
  return {
    name: "ours: unfused matmul, scale, softmax, matmul (per head)",
    run: async () => {
      const res = new Float32Array(n * W);
      for (let h = 0; h < NH; h++) {
        const p = b.softmax(b.scale(b.matmul(head(qh, h), head(kh, h), { transB: true }), SCALE)); // [n, n]
        res.set(b.matmul(p, head(vh, h)).data, h * n * DH);
      }
      return fromHeads(res, n);
    },
  };
}

export default async function attentionBench(): Promise<void> {
  const { quick } = benchArgs();
  const pk = await peak();
  const wasm = await createBackend("wasm");
  const sizes = quick ? [512, 1024] : [2048, 8192];
  const header = ["N", "implementation", "median ms", "min ms", "GFLOP/s", "% peak", "ours / ORT best"];
  const title = `B=1, ${NH} heads x dh ${DH}, non-causal, single thread (peak ${pk.gflops.toFixed(1)} GFLOP/s; median; flops 4 N^2 dh NH)`;
  const summary: Cell[][] = [];

  for (const n of sizes) {
    const c = makeCase(n);
    const flops = 4 * n * n * DH * NH; // q k^T and p v
    const big = n > 4096; // ORT's [12, n, n] scores would not fit a wasm32 heap; slow calls
    const topts = big ? { minIterations: 1 } : {};
    const results: { name: string; ms: number; min: number; ours: boolean }[] = [];
    const timed = async (impl: Impl, ours: boolean) => {
      check(c, impl.name, await impl.run());
      const tm = await time(`attention ${n} ${impl.name}`, impl.run, topts);
      results.push({ name: impl.name, ms: tm.median, min: tm.min, ours });
    };

    // ours, fused, through the Backend (copies q, k, v in and the output out per call)
    const Q = new Tensor("f32", [1, n, W], c.q), K = new Tensor("f32", [1, n, W], c.k), V = new Tensor("f32", [1, n, W], c.v);
    await timed({ name: "ours: fused, Backend.attention", run: async () => wasm.attention(Q, K, V, { heads: NH }).data }, true);

    // ours, fused, operands resident in wasm memory (the kernel alone)
    if (!big) {
      const mod = await loadModule("attention");
      const pq = mod.put(c.q), pkk = mod.put(c.k), pv = mod.put(c.v), po = mod.alloc(n * W * 4);
      const res = new Float32Array(n * W);
      await timed({ name: "ours: fused, kernel only (resident)", run: async () => {
        mod.scope(() => attentionResident(mod, po, pq, pkk, pv, 0, dims(n, n)));
        mod.read(po, res);
        return res;
      } }, true);
    }

    // ours, unfused composition (n x n scores per head)
    await timed(unfused(wasm, c), true);

    // onnxruntime-web (a run that ORT refuses, e.g. for memory, is reported and skipped)
    const ortList = await ortImpls(c, big);
    for (const impl of ortList) {
      try {
        await timed(impl, false);
      } catch (e) {
        if (String(e).includes("bench check FAILED")) throw e;
        console.log(`  (${impl.name} at N=${n}: failed: ${String(e).split("\n")[0].slice(0, 160)})`);
      }
    }

    const ort = results.filter((r) => !r.ours);
    const ortBest = ort.length ? Math.min(...ort.map((r) => r.ms)) : NaN;
    const rows: Cell[][] = results.map((r) => {
      const g = gflops(flops, r.ms);
      return [String(n), r.name, r.ms, r.min, g, (100 * g) / pk.gflops, r.ours ? (r.ms / ortBest).toFixed(3) : ""];
    });
    printTable(`attention N=${n}: ${title}`, header, rows);

    // the target ratio, measured paired: ours and ORT's best alternate call by call, so that the
    // load of other processes (which drifts over seconds) hits both alike
    const best = ort.find((r) => r.ms === ortBest);
    const ortImpl = ortList.find((i) => i.name === best?.name);
    if (ortImpl) {
      const p = await paired(async () => wasm.attention(Q, K, V, { heads: NH }), ortImpl.run, big ? 2 : 6);
      summary.push([String(n), p.a, gflops(flops, p.a), p.b, best!.name, (p.a / p.b).toFixed(3), p.ratio.toFixed(3)]);
    }
  }

  // the float64 reference at a small size, against our fused kernel on the same inputs
  const small = quick ? 128 : 256;
  const c = makeCase(small);
  const Q = new Tensor("f32", [1, small, W], c.q), K = new Tensor("f32", [1, small, W], c.k), V = new Tensor("f32", [1, small, W], c.v);
  const ref = await createBackend("reference");
  check(c, "reference", ref.attention(Q, K, V, { heads: NH }).data);
  const rt = await time(`attention ${small} reference`, () => ref.attention(Q, K, V, { heads: NH }), { minIterations: 2 });
  const ot = await time(`attention ${small} ours`, () => wasm.attention(Q, K, V, { heads: NH }));
  const sf = 4 * small * small * DH * NH;
  printTable(`attention N=${small}: the float64 reference against ours`, header, [
    [String(small), "reference (float64 JS)", rt.median, rt.min, gflops(sf, rt.median), (100 * gflops(sf, rt.median)) / pk.gflops, ""],
    [String(small), "ours: fused, Backend.attention", ot.median, ot.min, gflops(sf, ot.median), (100 * gflops(sf, ot.median)) / pk.gflops, `ref / ours = ${(rt.median / ot.median).toFixed(0)}`],
  ]);
  printTable(
    "attention summary, paired runs (fastest of each; median of the per-pair ratios): target at 2048 tokens fused <= 0.65 x ORT",
    ["N", "fused ms", "GFLOP/s", "ORT ms", "ORT graph", "fused / ORT (fastest)", "fused / ORT (median pair)"],
    summary,
  );
}

/** Alternates a and b for `rounds` pairs (after one untimed call each): fastest of each, median ratio. */
async function paired(a: () => Promise<unknown>, b: () => Promise<unknown>, rounds: number): Promise<{ a: number; b: number; ratio: number }> {
  await a();
  await b();
  const ta: number[] = [], tb: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t0 = performance.now();
    await a();
    ta.push(performance.now() - t0);
    t0 = performance.now();
    await b();
    tb.push(performance.now() - t0);
  }
  const ratios = ta.map((x, i) => x / tb[i]).sort((x, y) => x - y);
  const mid = ratios.length >> 1;
  const median = ratios.length % 2 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2;
  return { a: Math.min(...ta), b: Math.min(...tb), ratio: median };
}
