/**
 * Bench-only: a small hand-written ONNX protobuf encoder (float32 graphs) and a one-thread runner
 * over onnxruntime-web's WASM backend, the external baseline of the benchmarks. Not a general
 * ONNX library: only the fields a single-op (or few-op) benchmark graph needs.
 *
 *   const model = onnxModel({
 *     nodes: [{ op: "Gemm", inputs: ["x", "w"], outputs: ["y"], attrs: { transB: 1 } }],
 *     inputs: [{ name: "x", dims: [M, K] }], outputs: [{ name: "y", dims: [M, N] }],
 *     initializers: [{ name: "w", dims: [N, K], data: w }],
 *   });
 *   const sess = await ortSession(model);
 *   const { y } = await sess.run({ x: { data: x, dims: [M, K] } });
 */
import * as ort from "onnxruntime-web";

/**
 * Attribute values. A plain integer number encodes as INT, any other number as FLOAT; use
 * `{ float: 1 }` for a float that happens to be integral (e.g. Gemm's alpha = 1.0), `{ int: n }`
 * to be explicit, a number[] encodes as INTS, `{ floats: [...] }` as FLOATS, a string as STRING.
 */
export type OnnxAttr = number | string | number[] | { int: number } | { float: number } | { floats: number[] };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  /** Operator domain, e.g. "com.microsoft"; default "" (the ONNX domain). */
  domain?: string;
  attrs?: Record<string, OnnxAttr>;
  name?: string;
}
/** A graph input or output: float32 with static dims (a string dim is symbolic). */
export interface OnnxValue {
  name: string;
  dims: (number | string)[];
}
export interface OnnxInitializer {
  name: string;
  dims: number[];
  data: Float32Array;
}
export interface OnnxGraph {
  nodes: OnnxNode[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  initializers?: OnnxInitializer[];
  /** ai.onnx opset version; default 17. */
  opset?: number;
}

// ------------------------------------------------------------------------------- protobuf writer
// Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
class Writer {
  private bytes: number[] = [];

  private varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v)); // negative int64 -> two's complement, 10 bytes
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytes.push(Number(x));
  }
  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }
  int(field: number, v: number): this {
    this.tag(field, 0);
    this.varint(v);
    return this;
  }
  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.bytes.push(...b);
    return this;
  }
  raw(field: number, data: Uint8Array): this {
    this.tag(field, 2);
    this.varint(data.length);
    for (let i = 0; i < data.length; i++) this.bytes.push(data[i]);
    return this;
  }
  string(field: number, s: string): this {
    return this.raw(field, new TextEncoder().encode(s));
  }
  message(field: number, w: Writer): this {
    return this.raw(field, w.finish());
  }
  packedInts(field: number, vs: readonly number[]): this {
    const w = new Writer();
    for (const v of vs) w.varint(v);
    return this.raw(field, w.finish());
  }
  packedFloats(field: number, vs: readonly number[]): this {
    return this.raw(field, new Uint8Array(Float32Array.from(vs).buffer));
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

// ------------------------------------------------------------------------------- ONNX messages
// Field numbers from onnx/onnx.proto3.
const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function attribute(name: string, v: OnnxAttr): Writer {
  const w = new Writer().string(1, name); // AttributeProto.name
  if (typeof v === "string") return w.string(4, v).int(20, ATTR.STRING); // s, type
  if (Array.isArray(v)) return w.packedInts(8, v).int(20, ATTR.INTS); // ints
  if (typeof v === "number") {
    return Number.isInteger(v) ? w.int(3, v).int(20, ATTR.INT) : w.float(2, v).int(20, ATTR.FLOAT);
  }
  if ("int" in v) return w.int(3, v.int).int(20, ATTR.INT);
  if ("float" in v) return w.float(2, v.float).int(20, ATTR.FLOAT);
  return w.packedFloats(7, v.floats).int(20, ATTR.FLOATS); // floats
}

function node(n: OnnxNode, index: number): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name ?? `${n.op}_${index}`).string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, attribute(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

/** ValueInfoProto { name, type: TypeProto { tensor_type { elem_type FLOAT, shape } } } */
function valueInfo(v: OnnxValue): Writer {
  const shape = new Writer();
  for (const d of v.dims) {
    shape.message(1, typeof d === "number" ? new Writer().int(1, d) : new Writer().string(2, d));
  }
  const tensorType = new Writer().int(1, FLOAT).message(2, shape);
  return new Writer().string(1, v.name).message(2, new Writer().message(1, tensorType));
}

/** TensorProto { dims, data_type FLOAT, name, raw_data (little-endian float32) } */
function tensor(t: OnnxInitializer): Writer {
  const expected = t.dims.reduce((p, d) => p * d, 1);
  if (t.data.length !== expected) {
    throw new Error(`onnxModel: initializer ${t.name}: ${t.data.length} values for dims [${t.dims}]`);
  }
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return new Writer().packedInts(1, t.dims).int(2, FLOAT).string(8, t.name).raw(9, raw);
}

/** IR version that introduced each ai.onnx opset (ONNX's versioning table). */
function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

/** Encodes a float32 ONNX model (ModelProto bytes). Opset imports cover every domain the nodes use. */
export function onnxModel(g: OnnxGraph): Uint8Array {
  const opset = g.opset ?? 17;
  const graph = new Writer();
  g.nodes.forEach((n, i) => graph.message(1, node(n, i)));
  graph.string(2, "bench");
  for (const t of g.initializers ?? []) graph.message(5, tensor(t));
  for (const v of g.inputs) graph.message(11, valueInfo(v));
  for (const v of g.outputs) graph.message(12, valueInfo(v));

  const model = new Writer().int(1, irVersionFor(opset)).string(2, "tgh-moe-bench");
  model.message(7, graph);
  model.message(8, new Writer().string(1, "").int(2, opset));
  const domains = new Set(g.nodes.map((n) => n.domain ?? "").filter((d) => d !== ""));
  for (const d of domains) model.message(8, new Writer().string(1, d).int(2, 1));
  return model.finish();
}

// ------------------------------------------------------------------------------- runner
export interface OrtFeed {
  data: Float32Array;
  dims: number[];
}
export interface OrtRunner {
  run(feeds: Record<string, OrtFeed>): Promise<Record<string, Float32Array>>;
}

let configured = false;
function configure(): void {
  if (configured) return;
  ort.env.wasm.numThreads = 1; // single thread, like our kernels
  ort.env.wasm.proxy = false; // run on this thread, no worker
  ort.env.logLevel = "error";
  configured = true;
}

/** An onnxruntime-web session on the WASM execution provider, one thread, full graph optimisation. */
export async function ortSession(model: Uint8Array): Promise<OrtRunner> {
  configure();
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  return {
    async run(feeds) {
      const input: Record<string, ort.Tensor> = {};
      for (const [name, f] of Object.entries(feeds)) input[name] = new ort.Tensor("float32", f.data, f.dims);
      const res = await session.run(input);
      const out: Record<string, Float32Array> = {};
      for (const [name, t] of Object.entries(res)) {
        out[name] = t.data as Float32Array;
      }
      return out;
    },
  };
}
