/**
 * The one closeness check of the test suite. Order: shape, NaN, infinities, then
 * |actual - expected| <= atol + rtol * |expected| elementwise. On failure it names the op, the
 * shape, the max difference, the first bad index and five (actual, expected) pairs from there.
 */
export interface Tol {
  atol: number;
  rtol: number;
}

type Arr = ArrayLike<number>;

export function assertClose(op: string, actual: Arr, expected: Arr, tol: Tol, shape: readonly number[] = [expected.length]): void {
  const where = `${op} ${JSON.stringify(shape)}`;
  if (actual.length !== expected.length) {
    throw new Error(`${where}: length ${actual.length} != expected ${expected.length}`);
  }
  let maxdiff = 0, bad = -1, kind = "";
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(a) !== Number.isNaN(e)) { bad = i; kind = "NaN"; break; }
    if (Number.isNaN(e)) continue;
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a !== e) { bad = i; kind = "infinity"; break; }
      continue;
    }
    const d = Math.abs(a - e);
    if (d > maxdiff) maxdiff = d;
    if (bad < 0 && d > tol.atol + tol.rtol * Math.abs(e)) { bad = i; kind = "tolerance"; }
  }
  if (bad >= 0) {
    const pairs = [];
    for (let i = bad; i < Math.min(expected.length, bad + 5); i++) pairs.push(`[${i}] ${actual[i]} vs ${expected[i]}`);
    throw new Error(
      `${where}: ${kind} mismatch; maxdiff ${maxdiff.toExponential(3)} (atol ${tol.atol}, rtol ${tol.rtol}); ` +
        `first bad index ${bad}: ${pairs.join(", ")}`,
    );
  }
}

/** Bit-identical comparison (determinism tests). */
export function assertSameBits(op: string, a: Float32Array | Int32Array, b: Float32Array | Int32Array): void {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (x.length !== y.length) throw new Error(`${op}: lengths ${x.length} != ${y.length}`);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) throw new Error(`${op}: bits differ at ${i}: ${a[i]} vs ${b[i]}`);
  }
}
