/**
 * Typed errors. Every message names the argument, what was expected and what was given, e.g.
 *   ShapeError: matmul: b: expected shape [K=64, N] with K matching a, got [63, 10]
 * Nothing in the library fails with a bare Error, a NaN or a crash inside a kernel.
 */
export class TghError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
/** Wrong rank, wrong extent, or shapes that do not fit together. */
export class ShapeError extends TghError {}
/** A tensor of the wrong dtype (f32 / i32). */
export class DTypeError extends TghError {}
/** A value out of its domain: a non-finite scalar, an index out of range, a bad option. */
export class ValueError extends TghError {}
/** A buffer that would not fit the 4 GiB of wasm32 linear memory (or a typed array). */
export class MemoryError extends TghError {}
/** A malformed file: safetensors, NIfTI, checkpoint. Names the file field. */
export class FormatError extends TghError {}
/** A file that cannot be read or written (missing, a folder, no permission, too large). Names the path; `code` is the system's (ENOENT, ...). */
export class FileError extends TghError {
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

/** `[2, 3, 4]` -> "[2, 3, 4]" for messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Throws ValueError unless `x` is a finite number. */
export function assertFinite(op: string, name: string, x: number): void {
  if (typeof x !== "number" || !Number.isFinite(x)) {
    throw new ValueError(`${op}: ${name}: expected a finite number, got ${String(x)}`);
  }
}

/** Throws ValueError unless `x` is an integer in [lo, hi]. */
export function assertInt(op: string, name: string, x: number, lo = 0, hi = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(x) || x < lo || x > hi) {
    throw new ValueError(`${op}: ${name}: expected an integer in [${lo}, ${hi}], got ${String(x)}`);
  }
}

/**
 * An operation cancelled through an AbortSignal. Its name is "AbortError", the name DOM `fetch`
 * uses, so `e.name === "AbortError"` checks work unchanged; `reason` is the signal's reason.
 */
export class AbortError extends TghError {
  constructor(message: string, readonly reason?: unknown) {
    super(message);
  }
}
