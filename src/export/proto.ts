/**
 * ONNX ModelProto encoding with protobufjs over the official schema (./onnx-schema.ts), parsed once.
 * Plain objects in, bytes out; `decodeModel` is for tests and tools that read a model back. No graph logic.
 */
import protobuf from "protobufjs";
import { ONNX_PROTO } from "./onnx-schema.js";

/** TensorProto.DataType values used here. */
export const ONNX_TYPE = { float: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float16: 10 } as const;
export type OnnxType = keyof typeof ONNX_TYPE;
/** AttributeProto.AttributeType values used here. */
export const ATTR_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

let root: protobuf.Root | null = null;
function schema(): protobuf.Root {
  root ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
  return root;
}

/** A ModelProto as a plain object with the schema's field names (snake_case). */
export type ModelObject = Record<string, unknown>;

/** Encodes a ModelProto object (checked against the schema first). */
export function encodeModel(model: ModelObject): Uint8Array {
  const T = schema().lookupType("onnx.ModelProto");
  const err = T.verify(model);
  if (err) throw new Error(`encodeModel: ModelProto: ${err}`); // a bug in the graph builder, not user input
  return T.encode(T.fromObject(model)).finish();
}

/** Decodes ModelProto bytes to a plain object (int64 as numbers, bytes as Uint8Array). */
export function decodeModel(bytes: Uint8Array): ModelObject {
  const T = schema().lookupType("onnx.ModelProto");
  return T.toObject(T.decode(bytes), { longs: Number, defaults: false, arrays: true }) as ModelObject;
}

/** ModelProto.metadata_props of encoded bytes, reading only that field (the weights are skipped, not copied). */
export function readMetadata(bytes: Uint8Array): Map<string, string> {
  const entry = schema().lookupType("onnx.StringStringEntryProto");
  const r = protobuf.Reader.create(bytes);
  const out = new Map<string, string>();
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 14 && (tag & 7) === 2) {
      const e = entry.decode(r.bytes()) as unknown as { key: string; value: string };
      out.set(e.key, e.value);
    } else {
      r.skipType(tag & 7);
    }
  }
  return out;
}
