/**
 * Benchmarks of rope, patchEmbed, topk and scatterAddRows at model sizes: each result is checked
 * once (reference, direct sums, onnxruntime's own output), then timed against baselines on the same
 * inputs: the reference backend, and onnxruntime-web (one thread) where ONNX has the op. Not a test.
 */
import { createBackend, type Backend } from "../src/backend/index.js";
import { ROPE_OPTS } from "../src/backend/wasm/bindings/index.js";
import { loadModule, type KernelModule } from "../src/backend/wasm/runtime.js";
import { Rng } from "../src/rng.js";
import { Tensor, type F32Tensor } from "../src/tensor.js";
import { benchArgs, checkResult, gflops, peak, printTable, time, type Cell } from "./harness.js";
import { onnxModel, ortSession } from "./onnx.js";

/** An implementation to time; `flops`: the floating-point operations it actually performs. */
type Row = [impl: string, run: () => unknown, flops?: number];

/** Times each row (the first is ours) and prints median, min, the ratio to ours, and GFLOP/s. */
async function report(title: string, rows: Row[]): Promise<void> {
  const withFlops = rows.some((r) => r[2] !== undefined);
  const pk = withFlops ? (await peak()).gflops : 0;
  const out: Cell[][] = [];
  let ours = NaN;
  for (const [impl, run, flops] of rows) {
    const t = await time(`${title} ${impl}`, run);
    if (Number.isNaN(ours)) ours = t.median;
    const cells: Cell[] = [impl, t.median.toFixed(3), t.min.toFixed(3), `${(t.median / ours).toFixed(2)}x`];
    if (withFlops) cells.push(flops ? gflops(flops, t.median).toFixed(1) : "-", flops ? `${((100 * gflops(flops, t.median)) / pk).toFixed(0)}%` : "-");
    out.push(cells);
  }
  const header = ["implementation", "median ms", "min ms", "time / ours"];
  printTable(title, withFlops ? [...header, "GFLOP/s", "% peak"] : header, out);
}

// ------------------------------------------------------------------------------ rope
async function benchRope(wasm: Backend, ref: Backend, mod: KernelModule<"rope">): Promise<void> {
  const T = benchArgs().quick ? 512 : 2048, NH = 12, dh = 64, half = dh / 2; // [T, 768]: T/256 slices of 16x16
  const x = new Tensor("f32", [T, NH * dh], new Rng(1).fill(T * NH * dh));
  const posOf = (axes: number, f: (t: number, a: number) => number) => new Tensor("i32", axes === 1 ? [T] : [T, axes], Int32Array.from({ length: T * axes }, (_, i) => f(Math.floor(i / axes), i % axes)));
  const forms: [string, Tensor<"i32">, number[]][] = [
    ["1d, pos = t", posOf(1, (t) => t), [half]],
    ["depth, pos = d (256 tokens share)", posOf(1, (t) => t >> 8), [half]],
    ["dhw, sections 10,11,11", posOf(3, (t, a) => [t >> 8, ((t >> 4) & 15) + 1, (t & 15) + 1][a]), [10, 11, 11]],
  ];
  // tolerance as in test/rope.test.ts: 1e-6 + 1e-6 |ref|
  for (const [form, pos, sections] of forms) checkResult(`rope ${form}`, wasm.rope(x, pos, { heads: NH, sections }).data, ref.rope(x, pos, { heads: NH, sections }).data, { atol: 1e-6, rtol: 1e-6 }, x.shape);

  // onnxruntime: rotate-half as Split/Mul/Sub/Add/Concat over a cos/sin table it gets for free
  const cos = new Float32Array(T * half), sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) for (let j = 0; j < half; j++) {
    cos[t * half + j] = Math.cos(t * Math.pow(10000, (-2 * j) / dh));
    sin[t * half + j] = Math.sin(t * Math.pow(10000, (-2 * j) / dh));
  }
  const sess = await ortSession(onnxModel({
    opset: 18,
    nodes: [
      { op: "Split", inputs: ["x"], outputs: ["x1", "x2"], attrs: { axis: 2, num_outputs: 2 } },
      { op: "Mul", inputs: ["x1", "cos"], outputs: ["a"] }, { op: "Mul", inputs: ["x2", "sin"], outputs: ["b"] },
      { op: "Mul", inputs: ["x2", "cos"], outputs: ["c"] }, { op: "Mul", inputs: ["x1", "sin"], outputs: ["d"] },
      { op: "Sub", inputs: ["a", "b"], outputs: ["y1"] }, { op: "Add", inputs: ["c", "d"], outputs: ["y2"] },
      { op: "Concat", inputs: ["y1", "y2"], outputs: ["y"], attrs: { axis: 2 } },
    ],
    inputs: [{ name: "x", dims: [T, NH, dh] }],
    outputs: [{ name: "y", dims: [T, NH, dh] }],
    initializers: [{ name: "cos", dims: [T, 1, half], data: cos }, { name: "sin", dims: [T, 1, half], data: sin }],
  }));
  const feed = { x: { data: x.data, dims: [T, NH, dh] } };
  checkResult("rope vs onnxruntime", wasm.rope(x, forms[0][1], { heads: NH }).data, (await sess.run(feed)).y, { atol: 1e-6, rtol: 1e-6 });

  for (const [form, pos, sections] of forms) {
    const o = { heads: NH, sections };
    await report(`rope [${T}, ${NH * dh}] heads ${NH}, ${form}`, [
      ["wasm op (copies in/out included)", () => wasm.rope(x, pos, o)],
      ["wasm kernel only (operands resident)", ropeResident(mod, x, pos, sections, NH, dh)],
      ["reference", () => ref.rope(x, pos, o)],
      ...(form.startsWith("1d") ? [["onnxruntime-web graph, table precomputed", () => sess.run(feed)] as Row] : []),
    ]);
  }
}

/** The rope kernel on operands already in wasm memory (the module's arena is kept). */
function ropeResident(mod: KernelModule<"rope">, x: F32Tensor, pos: Tensor<"i32">, sections: number[], heads: number, dh: number): () => void {
  const tokens = pos.dim(0), axes = pos.rank === 2 ? pos.dim(1) : 1;
  const px = mod.put(x.data), pp = mod.put(pos.data), ps = mod.put(Int32Array.from(sections));
  const po = mod.alloc(x.data.byteLength), scratch = mod.alloc(10 * dh);
  const opts = mod.putOpts(ROPE_OPTS, { heads, dh, axes, nsections: sections.length, base: 10000 });
  return () => mod.k.rope(po, px, pp, ps, scratch, opts, 0, tokens);
}

// ------------------------------------------------------------------------------ patchEmbed
/** out[0, z, patch, o] by a direct float64 sum over the definition. */
function patchAt(vol: F32Tensor, w: F32Tensor, z: number, patch: number, o: number): number {
  const [, cv, D, H, W] = vol.shape, [, cin, t, p] = w.shape;
  const r = Math.floor(patch / (W / p)), c = patch % (W / p);
  let acc = 0;
  for (let i = 0; i < cin; i++) for (let tau = 0; tau < t; tau++) for (let y = 0; y < p; y++) for (let xx = 0; xx < p; xx++) {
    const v = vol.data[((((cv === 1 ? 0 : i)) * D + z * t + tau) * H + r * p + y) * W + c * p + xx];
    acc += v * w.data[(((o * cin + i) * t + tau) * p + y) * p + xx];
  }
  return acc;
}

async function benchPatch(wasm: Backend, ref: Backend): Promise<void> {
  const [D, H, W, p, t, C, cin] = [benchArgs().quick ? 8 : 32, 256, 256, 16, 4, 768, 3];
  const vol = new Tensor("f32", [1, 1, D, H, W], new Rng(2).fill(D * H * W, 0, 1));
  const rep = new Tensor("f32", [1, cin, D, H, W]);
  for (let i = 0; i < cin; i++) rep.data.set(vol.data, i * D * H * W);
  const w = new Tensor("f32", [C, cin, t, p, p], new Rng(3).fill(C * cin * t * p * p, -0.02, 0.02));
  const out = wasm.patchEmbed(vol, w), [, nz, P] = out.shape;
  // checks (tolerance 1e-4 + 1e-4 |ref|: f32 sums of 1024-3072 products of size <= 0.02):
  // 256 sampled outputs by direct sums; one depth step against the reference (a full reference
  // run is ~5e9 multiply-adds of plain JS); the replicated-channel path; onnxruntime's Conv.
  const rng = new Rng(4), got: number[] = [], want: number[] = [];
  for (let s = 0; s < 256; s++) {
    const z = rng.int(nz), patch = rng.int(P), o = rng.int(C);
    got.push(out.data[(z * P + patch) * C + o]);
    want.push(patchAt(vol, w, z, patch, o));
  }
  const tol = { atol: 1e-4, rtol: 1e-4 };
  checkResult("patchEmbed sampled outputs", got, want, tol);
  const step = new Tensor("f32", [1, 1, t, H, W], vol.data.slice(0, t * H * W));
  checkResult("patchEmbed one depth step", wasm.patchEmbed(step, w).data, ref.patchEmbed(step, w).data, tol);
  checkResult("patchEmbed cv = cin", wasm.patchEmbed(rep, w).data, out.data, tol);
  const sess = await ortSession(onnxModel({
    nodes: [{ op: "Conv", inputs: ["x", "w"], outputs: ["y"], attrs: { kernel_shape: [t, p, p], strides: [t, p, p] } }],
    inputs: [{ name: "x", dims: [1, cin, D, H, W] }],
    outputs: [{ name: "y", dims: [1, C, nz, H / p, W / p] }],
    initializers: [{ name: "w", dims: [C, cin, t, p, p], data: w.data }],
  }));
  const feed = { x: { data: rep.data, dims: [1, cin, D, H, W] } };
  const y = (await sess.run(feed)).y; // [1, C, nz, n, n]: channels first
  const yt = new Float32Array(y.length);
  for (let o = 0; o < C; o++) for (let q = 0; q < nz * P; q++) yt[q * C + o] = y[o * nz * P + q];
  checkResult("patchEmbed vs onnxruntime Conv", out.data, yt, tol);

  // work actually done: cv = 3 contracts over cin*t*p*p, cv = 1 over t*p*p (weights folded)
  const flops3 = 2 * nz * P * C * cin * t * p * p, flops1 = flops3 / cin;
  await report(`patchEmbed [1, 1, ${D}, ${H}, ${W}] -> [1, ${nz}, ${P}, ${C}], p ${p}, t ${t}, cin ${cin}`, [
    ["wasm, cv = 1 (weights folded over cin)", () => wasm.patchEmbed(vol, w), flops1],
    ["wasm, channels replicated (cv = 3)", () => wasm.patchEmbed(rep, w), flops3],
    ["onnxruntime-web Conv (cv = 3, channels first)", () => sess.run(feed), flops3],
  ]);
  await report(`patchEmbed one depth step [1, 1, ${t}, ${H}, ${W}]`, [
    ["wasm", () => wasm.patchEmbed(step, w), flops1 / nz],
    ["reference", () => ref.patchEmbed(step, w), flops3 / nz],
  ]);
}

// ------------------------------------------------------------------------------ indexing
async function benchIndexing(wasm: Backend, ref: Backend): Promise<void> {
  const exact = { atol: 0, rtol: 0 };
  const x = new Tensor("f32", [2048, 4], new Rng(5).fill(2048 * 4));
  checkResult("topk values", wasm.topk(x, 2).values.data, ref.topk(x, 2).values.data, exact);
  checkResult("topk indices", wasm.topk(x, 2).indices.data, ref.topk(x, 2).indices.data, exact);
  await report("topk [2048, 4] k 2 (routing: 2 of 4 experts per token)", [
    ["wasm", () => wasm.topk(x, 2)],
    ["reference", () => ref.topk(x, 2)],
  ]);
  const wide = new Tensor("f32", [benchArgs().quick ? 8 : 64, 32000], new Rng(6).fill((benchArgs().quick ? 8 : 64) * 32000));
  checkResult("topk wide indices", wasm.topk(wide, 50).indices.data, ref.topk(wide, 50).indices.data, exact);
  await report(`topk [${wide.dim(0)}, 32000] k 50 (vocabulary)`, [
    ["wasm", () => wasm.topk(wide, 50)],
    ["reference", () => ref.topk(wide, 50)],
  ]);

  // expert combine: 2048 tokens x k = 2 weighted rows of 768 summed into 2048 rows
  const src = new Tensor("f32", [4096, 768], new Rng(7).fill(4096 * 768));
  const idx = new Tensor("i32", [4096], Int32Array.from({ length: 4096 }, (_, i) => i >> 1));
  const wts = new Tensor("f32", [4096], new Rng(8).fill(4096, 0, 1));
  const zero = () => new Tensor("f32", [2048, 768]);
  // tolerance: f32 in order vs f64 accumulation of 2 terms of size <= 1
  checkResult("scatterAddRows", wasm.scatterAddRows(zero(), src, idx, wts).data, ref.scatterAddRows(zero(), src, idx, wts).data, { atol: 1e-6, rtol: 1e-6 });
  const outW = zero(), outR = zero();
  await report("scatterAddRows [4096, 768] -> [2048, 768], weighted (expert combine)", [
    ["wasm", () => wasm.scatterAddRows(outW, src, idx, wts)],
    ["reference", () => ref.scatterAddRows(outR, src, idx, wts)],
  ]);
}

export default async function (): Promise<void> {
  const wasm = await createBackend("wasm");
  const ref = await createBackend("reference");
  await benchRope(wasm, ref, await loadModule("rope"));
  await benchPatch(wasm, ref);
  await benchIndexing(wasm, ref);
}
