/**
 * Finite differences for gradient checks, in float64 around float32 parameters. The forward stores
 * float32 (even the reference backend rounds every op's output once), so a loss L carries a rounding
 * noise of about 1e-7 |L|; the step h trades that noise (~1e-7 |L| / h) against truncation (h^2 L''' / 6
 * for the 2-point rule, h^4 for the 4-point one). Each helper perturbs x[i] in place, evaluates, and
 * restores it; the step actually taken (float32(x + h) - x) is what divides.
 */

/** The random linear functional sum_i r_i y_i in float64 (a loss whose gradient w.r.t. y is r). */
export function dotLoss(y: ArrayLike<number>, r: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * r[i];
  return s;
}

/** 2-point central difference of f at x[i]: (f(x + h) - f(x - h)) / (step taken). */
export function centralDiff(f: () => number, x: Float32Array, i: number, h: number): number {
  const x0 = x[i];
  x[i] = x0 + h;
  const hp = x[i] - x0, fp = f();
  x[i] = x0 - h;
  const hm = x0 - x[i], fm = f();
  x[i] = x0;
  return (fp - fm) / (hp + hm);
}

/**
 * 4-point central difference (error O(h^4)): (8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / 12h. With
 * h a power of two, the float32 steps differ from +-h, +-2h by at most one ulp of x (under 1e-5 h for
 * |x| < 8 and h >= 2^-12), negligible against the tolerances used.
 * `probe` (optional) sees every evaluation's result; it returns false to reject the coordinate (a
 * discrete choice, e.g. a top-k index, changed inside the stencil): the result is then null.
 */
export function centralDiff4<T>(f: () => { loss: number; key?: T }, x: Float32Array, i: number, h: number, same?: (a: T | undefined) => boolean): number | null {
  const x0 = x[i];
  const at = (d: number) => {
    x[i] = x0 + d;
    const r = f();
    x[i] = x0;
    return r;
  };
  const outs = [at(h), at(-h), at(2 * h), at(-2 * h)];
  if (same && !outs.every((o) => same(o.key))) return null;
  const [a, b, c, d] = outs.map((o) => o.loss);
  return (8 * (a - b) - (c - d)) / (12 * h);
}

/** Up to `n` distinct coordinates of a tensor of `size` elements, spread over it (always index 0 and size-1). */
export function someIndices(size: number, n: number, seed: number): number[] {
  if (size <= n) return Array.from({ length: size }, (_, i) => i);
  const out = new Set<number>([0, size - 1]);
  let s = seed >>> 0;
  while (out.size < n) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.add(s % size);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Every parameter's analytic gradient against 4-point differences (h = 2^-7) of `f`, at two spread
 * coordinates per tensor (plus `extra(name)`): |fd - an| <= 3e-3 max|an of the tensor| + 1e-2 |an| + 2e-5.
 * A tensor with no gradient counts as zeros; a coordinate whose key changes in the stencil (a top-k
 * choice) is skipped. Throws at the first miss; returns how many were checked and skipped.
 */
export function checkParamGrads<T>(
  params: Iterable<readonly [string, { size: number; data: Float32Array }]>,
  grads: { get(name: string): { data: Float32Array } | undefined },
  f: () => { loss: number; key?: T },
  seed: number,
  extra: (name: string) => number[] = () => [],
): { checked: number; skipped: number } {
  const key0 = f().key;
  let checked = 0, skipped = 0;
  for (const [name, p] of params) {
    const g = grads.get(name)?.data ?? new Float32Array(p.size); // no entry: must not matter
    const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (const i of [...someIndices(p.size, 2, seed + name.length), ...extra(name)]) {
      const fd = centralDiff4(f, p.data, i, 2 ** -7, (k) => k === key0);
      if (fd === null) {
        skipped++;
        continue;
      }
      checked++;
      const tol = 3e-3 * scale + 1e-2 * Math.abs(g[i]) + 2e-5;
      if (!(Math.abs(fd - g[i]) <= tol)) throw new Error(`d${name}[${i}]: analytic ${g[i]} vs finite difference ${fd} (max |grad| ${scale})`);
    }
  }
  return { checked, skipped };
}
