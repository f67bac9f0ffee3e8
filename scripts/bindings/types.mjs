// The AssemblyScript number types the bindings generator accepts (scripts/gen-bindings.mjs): how each is
// passed to and from the wasm (read.mjs checks the source against the wasm with them) and what it is in
// TypeScript (write.mjs emits that).

/** The wasm value type each AssemblyScript type is passed as (wasm32), and its TypeScript type. */
export const AS_TYPES = {
  usize: ["i32", "Ptr"], isize: ["i32", "number"], i32: ["i32", "number"], u32: ["i32", "number"],
  i16: ["i32", "number"], u16: ["i32", "number"], i8: ["i32", "number"], u8: ["i32", "number"], bool: ["i32", "number"],
  i64: ["i64", "bigint"], u64: ["i64", "bigint"], f32: ["f32", "number"], f64: ["f64", "number"],
};

/**
 * The AssemblyScript types an options struct's fields may have: bytes (= alignment), TypeScript
 * type, and the DataView setter that writes one (bool: 1 or 0).
 */
export const FIELD_TYPES = {
  i8: [1, "number", "setInt8"], u8: [1, "number", "setUint8"], bool: [1, "boolean", "setUint8"],
  i16: [2, "number", "setInt16"], u16: [2, "number", "setUint16"],
  i32: [4, "number", "setInt32"], u32: [4, "number", "setUint32"], f32: [4, "number", "setFloat32"],
  usize: [4, "Ptr", "setUint32"], isize: [4, "number", "setInt32"],
  i64: [8, "bigint", "setBigInt64"], u64: [8, "bigint", "setBigUint64"], f64: [8, "number", "setFloat64"],
};
