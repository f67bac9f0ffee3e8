/**
 * One recomputed tensor against a golden one: float tensors pass when every element has
 * |ours - ref| <= atol + rtol*|ref| (NaN only matches NaN, an infinity only itself); integer tensors
 * (groups, top-k indices) pass when every entry is equal. Also the report's text lines. No I/O.
 */
import { fmtShape } from "../errors.js";
import type { DType, Tensor } from "../tensor.js";

export interface TensorCheck {
  name: string;
  shape: readonly number[];
  dtype: DType;
  /** max |ours - ref| (f32; Infinity when a NaN or infinity does not match; 0 for i32). */
  maxAbs: number;
  /** max |ours - ref| / |ref| over the elements with ref != 0 (f32; 0 for i32). */
  maxRel: number;
  /** max |ours - ref| / (atol + rtol*|ref|): the share of the tolerance used (pass <=> <= 1; 0 for i32). */
  ratio: number;
  /** Elements outside the tolerance (f32) or differing entries (i32). */
  mismatches: number;
  /** The first mismatching element, or (when all pass) the element of the largest |ours - ref|. */
  worst: { index: number[]; ours: number; ref: number } | null;
  pass: boolean;
}

/** Row-major flat index -> multi-index. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    out[a] = i % shape[a];
    i = Math.floor(i / shape[a]);
  }
  return out;
}

/** Compares ours with ref (same name, shape, dtype: the loader checked the file's side). */
export function compareTensor(name: string, ours: Tensor, ref: Tensor, atol: number, rtol: number): TensorCheck {
  const n = ref.size;
  let maxAbs = 0, maxRel = 0, ratio = 0, mismatches = 0, first = -1, argmax = -1;
  for (let i = 0; i < n; i++) {
    const a = ours.data[i], r = ref.data[i];
    let d: number, ok: boolean;
    if (ref.dtype === "i32") {
      ok = a === r;
      d = 0;
    } else if (!Number.isFinite(a) || !Number.isFinite(r)) {
      ok = Object.is(a, r); // NaN matches NaN, +-Infinity only itself
      d = ok ? 0 : Infinity;
      if (!ok) ratio = Infinity;
    } else {
      d = Math.abs(a - r);
      ok = d <= atol + rtol * Math.abs(r);
      if (r !== 0) maxRel = Math.max(maxRel, d / Math.abs(r));
      const bound = atol + rtol * Math.abs(r);
      ratio = Math.max(ratio, d === 0 ? 0 : bound > 0 ? d / bound : Infinity);
    }
    if (argmax < 0 || d > maxAbs) {
      maxAbs = d;
      argmax = i;
    }
    if (!ok) {
      mismatches++;
      if (first < 0) first = i;
    }
  }
  const at = first >= 0 ? first : argmax;
  const worst = at >= 0 ? { index: unravel(at, ref.shape), ours: ours.data[at], ref: ref.data[at] } : null;
  return { name, shape: ref.shape, dtype: ref.dtype, maxAbs, maxRel, ratio, mismatches, worst, pass: mismatches === 0 };
}

const pct = (x: number): string => (Number.isFinite(x) ? `${Math.min(x * 100, 9999).toFixed(x < 0.1 ? 1 : 0)}%` : "inf");
const exp = (x: number): string => (x === 0 ? "0" : Number.isFinite(x) ? x.toExponential(2) : String(x));

/** One report line: name, shape, errors and the share of the tolerance used (f32) or differing
 *  entries (i32), pass/FAIL, first bad element. */
export function formatCheck(c: TensorCheck, nameWidth = 32): string {
  const shape = fmtShape(c.shape).padEnd(16);
  const size = c.shape.reduce((a, b) => a * b, 1);
  const err = c.dtype === "i32"
    ? `${c.mismatches} of ${size} differ`.padEnd(50)
    : `max abs ${exp(c.maxAbs).padEnd(8)}  max rel ${exp(c.maxRel).padEnd(8)}  tol used ${pct(c.ratio).padStart(5)}`;
  let line = `${c.name.padEnd(nameWidth)} ${shape} ${c.dtype}  ${err}  ${c.pass ? "pass" : "FAIL"}`;
  if (!c.pass && c.worst) {
    const what = c.dtype === "i32" ? "" : ` (${c.mismatches} of ${size} outside tolerance)`;
    line += `${what}, first at ${fmtShape(c.worst.index)}: ours ${c.worst.ours}, ref ${c.worst.ref}`;
  }
  return line;
}
