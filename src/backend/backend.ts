/**
 * Backend: the Tensor-level ops the model is written in. It checks shapes, dtypes and scalars
 * (typed errors), allocates outputs, and hands raw arrays to a `Kernels` implementation:
 * `reference` (scalar TS oracle) or `wasm` (AssemblyScript SIMD). Model code never sees either.
 */
import { ShapeError, ValueError, assertFinite, fmtShape } from "../errors.js";
import { Tensor, type F32Tensor, type I32Tensor } from "../tensor.js";
import { attentionDims, expectDisjoint, expectDType, expectIndices, expectPositive, expectRank, expectSameShape, expectShape, lead, patchEmbedDims, ropeDims } from "./checks.js";
import type { AdamwScalars, Kernels } from "./kernels.js";
import { ACTIVATIONS, type Activation, type AttentionOptions, type MatmulOptions, type RopeOptions, type SoftmaxOptions } from "./options.js";

export { ACTIVATIONS, type Activation, type AttentionOptions, type MatmulOptions, type RopeOptions, type SoftmaxOptions } from "./options.js";

const ADAMW_SCALARS = ["decay", "b1", "c1", "b2", "c2", "stepSize", "bc2Sqrt", "eps"] as const satisfies readonly (keyof AdamwScalars)[];

export class Backend {
  constructor(readonly kernels: Kernels) {}
  get name(): string {
    return this.kernels.name;
  }
  /** Threads the kernels use (wasm: `createBackend("wasm", { threads })`); results do not depend on it. */
  get threads(): number {
    return this.kernels.threads ?? 1;
  }
  /** Stops the backend's worker threads, if any; the backend must not be used afterwards. */
  close(): void {
    this.kernels.close?.();
  }
  /** Weights kept in the kernels' memory (copied once, not per product); report writes with weightsChanged. */
  keepResident(weights: Iterable<F32Tensor>): void {
    for (const w of weights) if (w.dtype === "f32") this.kernels.keepResident?.(w.data);
  }
  /** These resident weights were written (an optimizer step): the next use copies them again. */
  weightsChanged(weights: Iterable<F32Tensor>): void {
    for (const w of weights) if (w.dtype === "f32") this.kernels.weightsChanged?.(w.data);
  }

  // ---------------------------------------------------------------- linear algebra
  /** a [..., m, k] @ b [..., k, n] (either transposed); a rank-2 operand is shared by the batch. */
  matmul(a: F32Tensor, b: F32Tensor, o: MatmulOptions = {}): F32Tensor {
    const op = "matmul";
    expectDType(op, "a", a, "f32");
    expectDType(op, "b", b, "f32");
    expectRank(op, "a", a, 2, 8);
    expectRank(op, "b", b, 2, 8);
    const transA = !!o.transA, transB = !!o.transB;
    const [m, ka] = transA ? [a.dim(-1), a.dim(-2)] : [a.dim(-2), a.dim(-1)];
    const [kb, n] = transB ? [b.dim(-1), b.dim(-2)] : [b.dim(-2), b.dim(-1)];
    if (ka !== kb) {
      throw new ShapeError(`${op}: b: expected inner extent K=${ka} (from a ${fmtShape(a.shape)}${transA ? "^T" : ""}), got ${kb} in ${fmtShape(b.shape)}${transB ? "^T" : ""}`);
    }
    const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
    const broadcastA = aBatch.length === 0 && bBatch.length > 0;
    const broadcastB = bBatch.length === 0;
    const batchShape = broadcastA ? bBatch : aBatch;
    if (!broadcastA && !broadcastB && fmtShape(aBatch) !== fmtShape(bBatch)) {
      throw new ShapeError(`${op}: b: expected batch axes ${fmtShape(aBatch)} (or none), got ${fmtShape(bBatch)}`);
    }
    const outShape = [...batchShape, m, n];
    let out: F32Tensor;
    if (o.accumulate) {
      expectDType(op, "accumulate", o.accumulate, "f32");
      expectShape(op, "accumulate", o.accumulate, outShape);
      out = o.accumulate;
    } else {
      out = new Tensor("f32", outShape);
    }
    const batch = batchShape.reduce((p, d) => p * d, 1);
    this.kernels.matmul(out.data, a.data, b.data, {
      batch, m, n, k: ka, transA, transB, accumulate: !!o.accumulate, broadcastA, broadcastB,
    });
    return out;
  }

  /** PyTorch Linear: x [..., in] @ w^T (w [out, in]) + bias [out]. */
  linear(x: F32Tensor, w: F32Tensor, bias?: F32Tensor | null): F32Tensor {
    const op = "linear";
    expectDType(op, "x", x, "f32");
    expectDType(op, "w", w, "f32");
    expectRank(op, "w", w, 2);
    expectRank(op, "x", x, 1, 8);
    if (x.dim(-1) !== w.dim(1)) {
      throw new ShapeError(`${op}: w: expected [out, in=${x.dim(-1)}] for x ${fmtShape(x.shape)}, got ${fmtShape(w.shape)}`);
    }
    const y = this.matmul(x.reshape([lead(x), x.dim(-1)]), w, { transB: true });
    const out = y.reshape([...x.shape.slice(0, -1), w.dim(0)]);
    return bias ? this.addBias(out, bias) : out;
  }

  // ---------------------------------------------------------------- elementwise
  add(a: F32Tensor, b: F32Tensor): F32Tensor {
    return this.binary("add", a, b, (o, x, y, n) => this.kernels.add(o, x, y, n));
  }
  mul(a: F32Tensor, b: F32Tensor): F32Tensor {
    return this.binary("mul", a, b, (o, x, y, n) => this.kernels.mul(o, x, y, n));
  }
  scale(a: F32Tensor, s: number): F32Tensor {
    expectDType("scale", "a", a, "f32");
    assertFinite("scale", "s", s);
    const out = new Tensor("f32", a.shape);
    this.kernels.scale(out.data, a.data, s, a.size);
    return out;
  }
  /**
   * One AdamW step in place: w, m, v (f32, of g's shape, no two sharing memory) updated from the
   * gradient g; the scalars are taken as float32 (Kernels.adamw). Each operation is one IEEE float32
   * rounding, so every backend gives the same bits.
   */
  adamw(w: F32Tensor, m: F32Tensor, v: F32Tensor, g: F32Tensor, s: AdamwScalars): void {
    const op = "adamw";
    const ts = [["g", g], ["w", w], ["m", m], ["v", v]] as const;
    for (const [name, t] of ts) expectDType(op, name, t, "f32");
    for (const [name, t] of ts.slice(1)) expectSameShape(op, g, "g", t, name);
    expectDisjoint(op, ts);
    for (const k of ADAMW_SCALARS) assertFinite(op, k, s[k]);
    this.kernels.adamw(w.data, m.data, v.data, g.data, g.size, s);
  }
  /** x [..., c] + bias [c] */
  addBias(x: F32Tensor, bias: F32Tensor): F32Tensor {
    const op = "addBias";
    expectDType(op, "x", x, "f32");
    expectDType(op, "bias", bias, "f32");
    expectRank(op, "x", x, 1, 8);
    expectShape(op, "bias", bias, [x.dim(-1)]);
    const out = new Tensor("f32", x.shape);
    this.kernels.addBias(out.data, x.data, bias.data, lead(x), x.dim(-1));
    return out;
  }
  act(name: Activation, x: F32Tensor): F32Tensor {
    expectDType(name, "x", x, "f32");
    const out = new Tensor("f32", x.shape);
    if (name === "gelu_tanh") this.kernels.geluTanh(out.data, x.data, x.size);
    else if (name === "quick_gelu") this.kernels.quickGelu(out.data, x.data, x.size);
    else if (name === "silu") this.kernels.silu(out.data, x.data, x.size);
    else throw new ValueError(`act: name: expected one of ${ACTIVATIONS.join(", ")}, got ${String(name)}`);
    return out;
  }
  /** silu(gate) * up */
  swiglu(gate: F32Tensor, up: F32Tensor): F32Tensor {
    return this.binary("swiglu", gate, up, (o, g, u, n) => this.kernels.swiglu(o, g, u, n));
  }

  // ---------------------------------------------------------------- rows (last axis)
  softmax(x: F32Tensor, o: SoftmaxOptions = {}): F32Tensor {
    const op = "softmax";
    expectDType(op, "x", x, "f32");
    expectRank(op, "x", x, 1, 8);
    const cols = x.dim(-1), rows = lead(x);
    let maskRows = 1;
    if (o.mask) {
      expectDType(op, "mask", o.mask, "f32");
      expectRank(op, "mask", o.mask, 1, 8);
      maskRows = lead(o.mask);
      if (o.mask.dim(-1) !== cols || maskRows === 0 || rows % maskRows !== 0) {
        throw new ShapeError(`${op}: mask: expected [r, ${cols}] with r dividing the ${rows} rows of x ${fmtShape(x.shape)}, got ${fmtShape(o.mask.shape)}`);
      }
    }
    const qLen = x.rank >= 2 ? x.dim(-2) : 1;
    if (o.causal && qLen > cols) {
      throw new ShapeError(`${op}: x: expected rows per block (axis -2) <= cols for causal, got ${fmtShape(x.shape)}`);
    }
    const out = new Tensor("f32", x.shape);
    this.kernels.softmax(out.data, x.data, { rows, cols, mask: o.mask?.data ?? null, maskRows, causal: !!o.causal, qLen });
    return out;
  }
  layerNorm(x: F32Tensor, gamma: F32Tensor, beta: F32Tensor, eps = 1e-5): F32Tensor {
    const op = "layerNorm";
    this.rowsArgs(op, x, gamma, eps);
    expectDType(op, "beta", beta, "f32");
    expectShape(op, "beta", beta, [x.dim(-1)]);
    const out = new Tensor("f32", x.shape);
    this.kernels.layerNorm(out.data, x.data, gamma.data, beta.data, lead(x), x.dim(-1), eps);
    return out;
  }
  rmsNorm(x: F32Tensor, gamma: F32Tensor, eps = 1e-6): F32Tensor {
    this.rowsArgs("rmsNorm", x, gamma, eps);
    const out = new Tensor("f32", x.shape);
    this.kernels.rmsNorm(out.data, x.data, gamma.data, lead(x), x.dim(-1), eps);
    return out;
  }
  sum(x: F32Tensor): F32Tensor {
    return this.reduce("sum", x, (o, a, r, c) => this.kernels.sumRows(o, a, r, c));
  }
  mean(x: F32Tensor): F32Tensor {
    return this.reduce("mean", x, (o, a, r, c) => this.kernels.meanRows(o, a, r, c));
  }
  max(x: F32Tensor): F32Tensor {
    return this.reduce("max", x, (o, a, r, c) => this.kernels.maxRows(o, a, r, c));
  }
  /**
   * x [..., c] / d [...]: every row divided by its own scalar (MoE gate renormalisation, masked means).
   * No kernel: one IEEE float32 division per element (float64 quotient of float32 operands, rounded
   * once, which is exactly the float32 quotient), so both backends give the same bits.
   */
  divRows(x: F32Tensor, d: F32Tensor): F32Tensor {
    const op = "divRows";
    expectDType(op, "x", x, "f32");
    expectDType(op, "d", d, "f32");
    expectRank(op, "x", x, 1, 8);
    expectShape(op, "d", d, x.shape.slice(0, -1));
    const out = new Tensor("f32", x.shape);
    const cols = x.dim(-1);
    for (let r = 0; r < d.size; r++) {
      for (let c = 0; c < cols; c++) out.data[r * cols + c] = x.data[r * cols + c] / d.data[r];
    }
    return out;
  }
  /** Top-k of each row: values and indices [..., k], descending, ties to the lower index. */
  topk(x: F32Tensor, k: number): { values: F32Tensor; indices: I32Tensor } {
    const op = "topk";
    expectDType(op, "x", x, "f32");
    expectRank(op, "x", x, 1, 8);
    expectPositive(op, "k", k);
    if (k > x.dim(-1)) throw new ValueError(`${op}: k: expected at most the row length ${x.dim(-1)}, got ${k}`);
    const shape = [...x.shape.slice(0, -1), k];
    const values = new Tensor("f32", shape), indices = new Tensor("i32", shape);
    this.kernels.topk(values.data, indices.data, x.data, lead(x), x.dim(-1), k);
    return { values, indices };
  }

  // ---------------------------------------------------------------- positions, patches, attention
  /** x [..., tokens, NH*dh]; pos [tokens] or [tokens, axes] (one position per axis and token). */
  rope(x: F32Tensor, pos: I32Tensor, o: RopeOptions): F32Tensor {
    const d = ropeDims("rope", x, pos, o);
    const out = new Tensor("f32", x.shape);
    const reps = lead(x) / d.tokens;
    const rowLen = d.tokens * x.dim(-1);
    for (let r = 0; r < reps; r++) {
      this.kernels.rope(out.data.subarray(r * rowLen, (r + 1) * rowLen), x.data.subarray(r * rowLen, (r + 1) * rowLen), pos.data, d);
    }
    return out;
  }

  /** vol [B, cv, D, H, W] (cv = cin, or 1 = replicate), weight [C, cin, t, p, p] -> [B, D/t, n_h*n_w, C]. */
  patchEmbed(vol: F32Tensor, weight: F32Tensor): F32Tensor {
    const d = patchEmbedDims("patchEmbed", vol, weight);
    const out = new Tensor("f32", [d.batch, d.depth / d.tdepth, (d.height / d.patch) * (d.width / d.patch), d.channels]);
    this.kernels.patchEmbed(out.data, vol.data, weight.data, d);
    return out;
  }

  /** q [B, nq, NH*dh], k and v [B, nk, KV*dh] -> [B, nq, NH*dh]. */
  attention(q: F32Tensor, k: F32Tensor, v: F32Tensor, o: AttentionOptions): F32Tensor {
    const d = attentionDims("attention", q, k, v, o);
    const out = new Tensor("f32", q.shape);
    this.kernels.attention(out.data, q.data, k.data, v.data, d);
    return out;
  }

  // ---------------------------------------------------------------- indexing
  /** x [R, C], idx [n] -> [n, C] */
  gatherRows(x: F32Tensor, idx: I32Tensor): F32Tensor {
    const op = "gatherRows";
    expectDType(op, "x", x, "f32");
    expectDType(op, "idx", idx, "i32");
    expectRank(op, "x", x, 2);
    expectRank(op, "idx", idx, 1);
    expectIndices(op, "idx", idx.data, x.dim(0));
    const out = new Tensor("f32", [idx.size, x.dim(1)]);
    this.kernels.gatherRows(out.data, x.data, idx.data, idx.size, x.dim(1));
    return out;
  }
  /** In place: out[idx[i]] += w[i] * src[i]; returns out. */
  scatterAddRows(out: F32Tensor, src: F32Tensor, idx: I32Tensor, w?: F32Tensor): F32Tensor {
    const op = "scatterAddRows";
    expectDType(op, "out", out, "f32");
    expectDType(op, "src", src, "f32");
    expectDType(op, "idx", idx, "i32");
    expectRank(op, "out", out, 2);
    expectRank(op, "idx", idx, 1);
    expectShape(op, "src", src, [idx.size, out.dim(1)]);
    if (w) {
      expectDType(op, "w", w, "f32");
      expectShape(op, "w", w, [idx.size]);
    }
    expectIndices(op, "idx", idx.data, out.dim(0));
    this.kernels.scatterAddRows(out.data, src.data, idx.data, w?.data ?? null, idx.size, out.dim(1));
    return out;
  }
  /** table [V, d], ids [...] -> [..., d] */
  embedding(table: F32Tensor, ids: I32Tensor): F32Tensor {
    expectDType("embedding", "ids", ids, "i32");
    expectIndices("embedding", "ids", ids.data, table.rank === 2 ? table.dim(0) : 0);
    const rows = this.gatherRows(table, ids.reshape([ids.size]));
    return rows.reshape([...ids.shape, table.dim(1)]);
  }

  // ---------------------------------------------------------------- helpers
  private binary(op: string, a: F32Tensor, b: F32Tensor, k: (o: Float32Array, x: Float32Array, y: Float32Array, n: number) => void): F32Tensor {
    expectDType(op, "a", a, "f32");
    expectDType(op, "b", b, "f32");
    expectSameShape(op, a, "a", b, "b");
    const out = new Tensor("f32", a.shape);
    k(out.data, a.data, b.data, a.size);
    return out;
  }
  private rowsArgs(op: string, x: F32Tensor, gamma: F32Tensor, eps: number): void {
    expectDType(op, "x", x, "f32");
    expectDType(op, "gamma", gamma, "f32");
    expectRank(op, "x", x, 1, 8);
    expectShape(op, "gamma", gamma, [x.dim(-1)]);
    assertFinite(op, "eps", eps);
    if (eps < 0) throw new ValueError(`${op}: eps: expected >= 0, got ${eps}`);
  }
  private reduce(op: string, x: F32Tensor, k: (o: Float32Array, a: Float32Array, r: number, c: number) => void): F32Tensor {
    expectDType(op, "x", x, "f32");
    expectRank(op, "x", x, 1, 8);
    if (x.dim(-1) === 0) throw new ShapeError(`${op}: x: expected a non-empty last axis, got ${fmtShape(x.shape)}`);
    const out = new Tensor("f32", x.shape.slice(0, -1));
    k(out.data, x.data, lead(x), x.dim(-1));
    return out;
  }
}
