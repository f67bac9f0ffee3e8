/**
 * The one closeness rule of the test suite, used by every numeric test. Order: shape (a transposed
 * [n, m] result is not an [m, n] one), then NaN (matches only NaN), then infinities (match only
 * themselves), then |actual - expected| <= atol + rtol * |expected| elementwise. Tolerances are
 * stated per op beside each test. On failure it names the op, the shape, the max difference, the
 * first bad index (flat and per axis) and five (actual, expected) pairs from there.
 *
 *   assertClose("softmax", wasm.softmax(x), ref.softmax(x), { atol: 1e-7, rtol: 1e-6 });   // Tensors
 *   assertClose("loss", loss, 2.302585, { atol: 1e-6, rtol: 0 });                          // scalars
 *   assertClose("affine", shaped([4, 4], a.flat()), expectedRows, { atol: 1e-9, rtol: 0 }); // number[][]
 */
export interface Tol {
  atol: number;
  rtol: number;
}

/** Values with their shape: a Tensor, or shaped(shape, data). */
export interface Shaped {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/** What can be compared: shaped data, a scalar (shape []), a list (shape [n]) or a list of equal-length rows (shape [r, c]). */
export type Value = Shaped | number | readonly number[] | readonly (readonly number[])[];

/** Flat data with the shape it has; throws when the sizes disagree. */
export function shaped(shape: readonly number[], data: ArrayLike<number>): Shaped {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new Error(`shaped: shape ${JSON.stringify(shape)} holds ${size} values, got ${data.length}`);
  return { shape, data };
}

function asShaped(v: Value): Shaped {
  if (typeof v === "number") return { shape: [], data: [v] };
  if (!Array.isArray(v)) return v as Shaped;
  const rows = v as readonly (number | readonly number[])[];
  if (rows.length > 0 && Array.isArray(rows[0])) {
    const r = rows as readonly (readonly number[])[];
    const cols = r[0].length;
    if (r.some((row) => !Array.isArray(row) || row.length !== cols)) throw new Error("assertClose: ragged rows");
    return { shape: [r.length, cols], data: r.flat() };
  }
  return { shape: [rows.length], data: rows as readonly number[] };
}

export interface Closeness {
  /** null when close; else the first failed check. */
  kind: "shape" | "NaN" | "infinity" | "tolerance" | null;
  bad: number; // first bad flat index of that check (-1: none)
  maxdiff: number; // max |a - e| over the finite pairs
  worst: number; // max |a - e| / (atol + rtol |e|): the share of the tolerance used (close <=> <= 1)
  actual: Shaped;
  expected: Shaped;
}

/** The rule itself, without throwing (for tests that print a table of several comparisons); `keep` skips elements. */
export function closeness(actual: Value, expected: Value, tol: Tol, keep: (i: number) => boolean = () => true): Closeness {
  const a = asShaped(actual), e = asShaped(expected);
  const out: Closeness = { kind: null, bad: -1, maxdiff: 0, worst: 0, actual: a, expected: e };
  const sameShape = a.shape.length === e.shape.length && a.shape.every((d, i) => d === e.shape[i]) && a.data.length === e.data.length;
  if (!sameShape) return { ...out, kind: "shape", worst: Infinity };
  let nan = -1, inf = -1, over = -1;
  for (let i = 0; i < e.data.length; i++) {
    if (!keep(i)) continue;
    const x = a.data[i], y = e.data[i];
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y) && nan < 0) nan = i;
      continue;
    }
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      if (x !== y && inf < 0) inf = i;
      continue;
    }
    const d = Math.abs(x - y), bound = tol.atol + tol.rtol * Math.abs(y);
    out.maxdiff = Math.max(out.maxdiff, d);
    out.worst = Math.max(out.worst, bound > 0 ? d / bound : d > 0 ? Infinity : 0);
    if (d > bound && over < 0) over = i;
  }
  const [kind, bad] = nan >= 0 ? ["NaN", nan] as const : inf >= 0 ? ["infinity", inf] as const : over >= 0 ? ["tolerance", over] as const : [null, -1] as const;
  return { ...out, kind, bad, worst: kind === "NaN" || kind === "infinity" ? Infinity : out.worst };
}

/** Throws unless `actual` has `expected`'s shape and every element is close (the order above). */
export function assertClose(op: string, actual: Value | null | undefined, expected: Value, tol: Tol): void {
  if (actual === null || actual === undefined) throw new Error(`${op}: got ${actual}, expected ${JSON.stringify(asShaped(expected).shape)} values`);
  const c = closeness(actual, expected, tol);
  if (c.kind === null) return;
  const where = `${op} ${JSON.stringify(c.expected.shape)}`;
  if (c.kind === "shape") throw new Error(`${where}: shape mismatch: got ${JSON.stringify(c.actual.shape)} (${c.actual.data.length} values)`);
  const pairs = [];
  for (let i = c.bad; i < Math.min(c.expected.data.length, c.bad + 5); i++) pairs.push(`[${i}] ${c.actual.data[i]} vs ${c.expected.data[i]}`);
  throw new Error(
    `${where}: ${c.kind} mismatch; maxdiff ${c.maxdiff.toExponential(3)} (atol ${tol.atol}, rtol ${tol.rtol}); ` +
      `first bad index ${c.bad} ${JSON.stringify(unravel(c.bad, c.expected.shape))}: ${pairs.join(", ")}`,
  );
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    idx[k] = i % shape[k];
    i = Math.floor(i / shape[k]);
  }
  return idx;
}

/** Bit-identical comparison (determinism tests). */
export function assertSameBits(op: string, a: Float32Array | Int32Array, b: Float32Array | Int32Array): void {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (x.length !== y.length) throw new Error(`${op}: lengths ${x.length} != ${y.length}`);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) throw new Error(`${op}: bits differ at ${i}: ${a[i]} vs ${b[i]}`);
  }
}
