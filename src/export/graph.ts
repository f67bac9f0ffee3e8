/**
 * A small ONNX graph builder: named values, nodes, initializers (the model's weights under their
 * checkpoint names, F32 or F16 + Cast), graph inputs and outputs, and `finish`, which lays the
 * initializers inline or in an external data file and encodes the ModelProto (./proto.ts).
 * Knows no model; the layers are in ./ops.ts, ./vision.ts, ./moe.ts, ./lm.ts.
 */
import { ValueError } from "../errors.js";
import { encodeF16 } from "../io/dtype.js";
import type { F32Tensor } from "../tensor.js";
import { ATTR_TYPE, ONNX_TYPE, encodeModel, type ModelObject, type OnnxType } from "./proto.js";

/** The ai.onnx opset of every exported graph: LayerNormalization (17), ScatterND reduction "add" (16). */
export const OPSET = 17;
/** ONNX IR version that goes with opset 17. */
export const IR_VERSION = 8;
/** A protobuf message cannot exceed 2 GiB: above this many bytes of weights, they go to an external file. */
export const EXTERNAL_DATA_THRESHOLD = 2 ** 31 - 2 ** 26;

/** INT, STRING, INTS, FLOAT, FLOATS, or (scalar) a one-element float32 TENSOR (ConstantOfShape's value). */
export type Attr = number | string | number[] | { float: number } | { floats: number[] } | { scalar: number };
/** A graph input or output: element type and dims (a string dim is symbolic, e.g. "batch"). */
export interface ValueSpec {
  name: string;
  type: OnnxType;
  dims: (number | string)[];
}
/** How initializers are stored. */
export interface WeightStorage {
  /** "f32" (default) or "f16": weights stored as float16, cast to float32 in the graph (compute stays float32). */
  weightDtype?: "f32" | "f16";
}
export interface FinishOptions {
  /** Bytes of weights above which they are written to `dataFile` (default EXTERNAL_DATA_THRESHOLD). */
  externalThreshold?: number;
  /** The external data file's name, relative to the model file (required to go external). */
  dataFile: string;
  /** Model metadata (ModelProto.metadata_props). */
  metadata?: Record<string, string>;
  docString?: string;
}
/** An encoded model: the .onnx bytes, and the external data in order (empty when inline). */
export interface EncodedModel {
  model: Uint8Array;
  data: Uint8Array[];
  /** Bytes of all initializers. */
  weightBytes: number;
  external: boolean;
}

interface Initializer {
  name: string;
  type: OnnxType;
  dims: number[];
  raw: Uint8Array;
}

const ALIGN = 64; // external data offsets are aligned so a reader can map them in place

export class Graph {
  private readonly nodes: ModelObject[] = [];
  private readonly inits: Initializer[] = [];
  private readonly names = new Set<string>();
  private readonly inputs: ValueSpec[] = [];
  private readonly outputs: ValueSpec[] = [];
  private readonly weights = new Map<string, string>(); // param name -> float32 value name
  private counter = 0;

  constructor(readonly name: string, readonly storage: WeightStorage = {}) {}

  /** A fresh value name with this prefix. */
  fresh(prefix: string): string {
    let n: string;
    do n = `${prefix}_${this.counter++}`; while (this.names.has(n));
    this.names.add(n);
    return n;
  }

  /** One node; returns its output names (fresh ones, or `out` as given). */
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, out: number | string[] = 1): string[] {
    const outputs = typeof out === "number" ? Array.from({ length: out }, () => this.fresh(op)) : out;
    for (const o of outputs) this.names.add(o);
    const attribute = Object.entries(attrs).map(([name, v]) => attribute1(name, v));
    this.nodes.push({ op_type: op, input: inputs, output: outputs, name: `${op}_${this.nodes.length}`, attribute });
    return outputs;
  }
  /** One node with one output. */
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}, out?: string): string {
    return this.node(op, inputs, attrs, out === undefined ? 1 : [out])[0];
  }

  /** A model weight under its checkpoint name, as float32 (F16 storage adds a Cast). Deduplicated by name. */
  weight(name: string, t: F32Tensor): string {
    const known = this.weights.get(name);
    if (known) return known;
    const f16 = this.storage.weightDtype === "f16";
    this.addInit(name, f16 ? "float16" : "float", [...t.shape], f16 ? bytesOf(encodeF16(t.data)) : bytesOf(t.data));
    const value = f16 ? this.op("Cast", [name], { to: ONNX_TYPE.float }, `${name}.f32`) : name;
    this.weights.set(name, value);
    return value;
  }
  /** A derived float32 constant (rotary tables, inflated kernels): always float32, named `name`. */
  constF32(name: string, dims: number[], data: Float32Array): string {
    this.addInit(name, "float", dims, bytesOf(data));
    return name;
  }
  /** An int64 constant ([] dims for a scalar). */
  ints(values: number[], dims: number[] = [values.length]): string {
    const name = this.fresh("const_i64");
    this.addInit(name, "int64", dims, bytesOf(BigInt64Array.from(values, (v) => BigInt(v))));
    return name;
  }
  /** A float32 scalar constant (or a vector with dims). */
  float(value: number | number[], dims: number[] = []): string {
    const name = this.fresh("const_f32");
    this.addInit(name, "float", dims, bytesOf(Float32Array.from(typeof value === "number" ? [value] : value)));
    return name;
  }

  input(spec: ValueSpec): string {
    this.names.add(spec.name);
    this.inputs.push(spec);
    return spec.name;
  }
  /** Declares `value` a graph output under spec.name (an Identity renames it when the names differ). */
  output(value: string, spec: ValueSpec): void {
    if (value !== spec.name) this.op("Identity", [value], {}, spec.name);
    this.outputs.push(spec);
  }

  /** The ModelProto bytes, with the initializers inline or (above the threshold) in the external data. */
  finish(o: FinishOptions): EncodedModel {
    const weightBytes = this.inits.reduce((s, t) => s + t.raw.length, 0);
    const threshold = o.externalThreshold ?? EXTERNAL_DATA_THRESHOLD;
    if (!(threshold >= 0)) throw new ValueError(`export: externalThreshold: expected a number of bytes >= 0, got ${threshold}`);
    const external = weightBytes > threshold;
    const data: Uint8Array[] = [];
    let offset = 0;
    const initializer = this.inits.map((t) => {
      const base = { name: t.name, dims: t.dims, data_type: ONNX_TYPE[t.type] };
      if (!external || t.raw.length < 1024) return { ...base, raw_data: t.raw }; // small constants stay inline
      const pad = (ALIGN - (offset % ALIGN)) % ALIGN;
      if (pad) data.push(new Uint8Array(pad));
      offset += pad;
      const entry = { ...base, data_location: 1, external_data: [
        { key: "location", value: o.dataFile }, { key: "offset", value: String(offset) }, { key: "length", value: String(t.raw.length) },
      ] };
      data.push(t.raw);
      offset += t.raw.length;
      return entry;
    });
    const graph = {
      name: this.name, node: this.nodes, initializer,
      input: this.inputs.map(valueInfo), output: this.outputs.map(valueInfo),
    };
    const model = encodeModel({
      ir_version: IR_VERSION, producer_name: "tgh-moe", producer_version: "0.1.0", doc_string: o.docString ?? "",
      opset_import: [{ domain: "", version: OPSET }], graph,
      metadata_props: Object.entries(o.metadata ?? {}).map(([key, value]) => ({ key, value })),
    });
    return { model, data, weightBytes, external };
  }

  private addInit(name: string, type: OnnxType, dims: number[], raw: Uint8Array): void {
    if (this.names.has(name) && !name.startsWith("const_")) throw new ValueError(`export: initializer ${name}: defined twice`);
    this.names.add(name);
    this.inits.push({ name, type, dims, raw });
  }
}

/** Little-endian bytes of a typed array (every supported host is little-endian; io/dtype.ts checks). */
function bytesOf(a: Float32Array | Uint16Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function attribute1(name: string, v: Attr): ModelObject {
  if (typeof v === "string") return { name, type: ATTR_TYPE.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: ATTR_TYPE.INTS, ints: v };
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new ValueError(`export: attribute ${name}: use { float: ${v} } for a float`);
    return { name, type: ATTR_TYPE.INT, i: v };
  }
  if ("float" in v) return { name, type: ATTR_TYPE.FLOAT, f: v.float };
  if ("scalar" in v) return { name, type: ATTR_TYPE.TENSOR, t: { dims: [1], data_type: ONNX_TYPE.float, raw_data: bytesOf(Float32Array.of(v.scalar)) } };
  return { name, type: ATTR_TYPE.FLOATS, floats: v.floats };
}

function valueInfo(v: ValueSpec): ModelObject {
  const dim = v.dims.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d }));
  return { name: v.name, type: { tensor_type: { elem_type: ONNX_TYPE[v.type], shape: { dim } } } };
}
