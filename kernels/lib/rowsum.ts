// The fixed summation orders of the row kernels (kernels/rows.ts), so that every result is
// deterministic (the same bits on every run and engine). Helpers only, no exports to the host.
//
// Forward (softmax, layer_norm, rms_norm, sum/mean/max rows): a row sum of terms t[j], j < n, is:
//   1. 16-column blocks j = 16b .. 16b+15: accumulator A_q (q = 0..3) lane l adds t[16b + 4q + l];
//   2. the remaining full quads j = 4u .. 4u+3: A_0 lane l adds t[4u + l];
//   3. A = (A_0 + A_1) + (A_2 + A_3) lanewise, s = (A[0] + A[1]) + (A[2] + A[3]);
//   4. the leftover n % 4 columns in order: s = s + t[j].
// Maxima use the same layout with f32x4.max (order-free; NaN propagates).
//
// Backward (softmax_backward, layer_norm_backward, rms_norm_backward): ONE f32x4 accumulator, lane l
// adds t[4u + l] for the full quads in order, then s = (A[0] + A[1]) + (A[2] + A[3]), then the
// leftover n % 4 terms in order. So the backward recomputes LayerNorm's mean and variance in its own
// order (plain two-pass, not the forward's corrected form): a different rounding than the forward's
// statistics, kept as it is, because training bits (and the shipped checkpoint's reproduce line)
// depend on it.

// ---------------------------------------------------------------- forward: four accumulators

// @ts-ignore: decorator
@inline export function hsum(a0: v128, a1: v128, a2: v128, a3: v128): f32 {
  const a = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
}
// @ts-ignore: decorator
@inline export function hmax(a0: v128, a1: v128, a2: v128, a3: v128): f32 {
  const a = f32x4.max(f32x4.max(a0, a1), f32x4.max(a2, a3));
  return max<f32>(max<f32>(f32x4.extract_lane(a, 0), f32x4.extract_lane(a, 1)), max<f32>(f32x4.extract_lane(a, 2), f32x4.extract_lane(a, 3)));
}

// s = sum_j (p[j] - c), j < n, in the fixed order above (c = 0: the plain row sum).
// Lanes: A_q += [p[j]-c, p[j+1]-c, p[j+2]-c, p[j+3]-c].
export function rowSum(p: usize, n: i32, c: f32): f32 {
  const cv = f32x4.splat(c);
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    const q = p + (<usize>j << 2);
    a0 = f32x4.add(a0, f32x4.sub(v128.load(q), cv));
    a1 = f32x4.add(a1, f32x4.sub(v128.load(q, 16), cv));
    a2 = f32x4.add(a2, f32x4.sub(v128.load(q, 32), cv));
    a3 = f32x4.add(a3, f32x4.sub(v128.load(q, 48), cv));
  }
  for (; j + 4 <= n; j += 4) a0 = f32x4.add(a0, f32x4.sub(v128.load(p + (<usize>j << 2)), cv));
  let s = hsum(a0, a1, a2, a3);
  for (; j < n; j++) s += load<f32>(p + (<usize>j << 2)) - c;
  return s;
}

// s = sum_j (p[j] - c)^2, j < n, in the fixed order above (c = 0: the sum of squares).
// Lanes: A_q += [(p[j]-c)^2, .., (p[j+3]-c)^2].
export function rowSumSq(p: usize, n: i32, c: f32): f32 {
  const cv = f32x4.splat(c);
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    const q = p + (<usize>j << 2);
    const d0 = f32x4.sub(v128.load(q), cv), d1 = f32x4.sub(v128.load(q, 16), cv);
    const d2 = f32x4.sub(v128.load(q, 32), cv), d3 = f32x4.sub(v128.load(q, 48), cv);
    a0 = f32x4.add(a0, f32x4.mul(d0, d0));
    a1 = f32x4.add(a1, f32x4.mul(d1, d1));
    a2 = f32x4.add(a2, f32x4.mul(d2, d2));
    a3 = f32x4.add(a3, f32x4.mul(d3, d3));
  }
  for (; j + 4 <= n; j += 4) {
    const d = f32x4.sub(v128.load(p + (<usize>j << 2)), cv);
    a0 = f32x4.add(a0, f32x4.mul(d, d));
  }
  let s = hsum(a0, a1, a2, a3);
  for (; j < n; j++) {
    const d = load<f32>(p + (<usize>j << 2)) - c;
    s += d * d;
  }
  return s;
}

// m = max_j p[j], j < n (-inf for n = 0; NaN if any p[j] is NaN).
export function rowMax(p: usize, n: i32): f32 {
  let a0 = f32x4.splat(-Infinity), a1 = a0, a2 = a0, a3 = a0;
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    const q = p + (<usize>j << 2);
    a0 = f32x4.max(a0, v128.load(q));
    a1 = f32x4.max(a1, v128.load(q, 16));
    a2 = f32x4.max(a2, v128.load(q, 32));
    a3 = f32x4.max(a3, v128.load(q, 48));
  }
  for (; j + 4 <= n; j += 4) a0 = f32x4.max(a0, v128.load(p + (<usize>j << 2)));
  let m = hmax(a0, a1, a2, a3);
  for (; j < n; j++) m = max<f32>(m, load<f32>(p + (<usize>j << 2)));
  return m;
}

// ---------------------------------------------------------------- backward: one accumulator

// @ts-ignore: decorator
@inline export function hsum1(a: v128): f32 {
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
}

// s = sum_j a[j] * b[j], j < n (one accumulator, the backward order above).
export function rowDot1(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  let s = hsum1(acc);
  for (; j < n; j++) {
    const o = <usize>j << 2;
    s += load<f32>(a + o) * load<f32>(b + o);
  }
  return s;
}

// s = sum_j (a[j] - c)^2, j < n (one accumulator).
export function rowSumSq1(a: usize, n: i32, c: f32): f32 {
  const cv = f32x4.splat(c);
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const d = f32x4.sub(v128.load(a + (<usize>j << 2)), cv);
    acc = f32x4.add(acc, f32x4.mul(d, d));
  }
  let s = hsum1(acc);
  for (; j < n; j++) {
    const d = load<f32>(a + (<usize>j << 2)) - c;
    s += d * d;
  }
  return s;
}

// s = sum_j a[j], j < n (one accumulator).
export function rowSum1(a: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, v128.load(a + (<usize>j << 2)));
  let s = hsum1(acc);
  for (; j < n; j++) s += load<f32>(a + (<usize>j << 2));
  return s;
}
