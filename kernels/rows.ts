// Row kernels over the last axis of a row-major [rows, cols] f32 array: softmax (mask, causal),
// layer_norm, rms_norm, sum/mean/max. f32x4 SIMD; not the model (src/backend/backend.ts calls these).
// Pointers (usize) and sizes in, output first. softmax, layer_norm and rms_norm allow out == x: each
// element is read for the last time before it is written.
//
// Summation order, fixed so that every result is deterministic (the same bits on every run and engine).
// A row sum of terms t[j], j < n, is formed as:
//   1. 16-column blocks j = 16b .. 16b+15: accumulator A_q (q = 0..3) lane l adds t[16b + 4q + l];
//   2. the remaining full quads j = 4u .. 4u+3: A_0 lane l adds t[4u + l];
//   3. A = (A_0 + A_1) + (A_2 + A_3) lanewise, s = (A[0] + A[1]) + (A[2] + A[3]);
//   4. the leftover n % 4 columns in order: s = s + t[j].
// Maxima use the same layout with f32x4.max (order-free; NaN propagates).
export { heap_base, memory_base } from "./lib/heap";
import { expf, expf4 } from "./lib/math";

// @ts-ignore: decorator
@inline function hsum(a0: v128, a1: v128, a2: v128, a3: v128): f32 {
  const a = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
}
// @ts-ignore: decorator
@inline function hmax(a0: v128, a1: v128, a2: v128, a3: v128): f32 {
  const a = f32x4.max(f32x4.max(a0, a1), f32x4.max(a2, a3));
  return max<f32>(max<f32>(f32x4.extract_lane(a, 0), f32x4.extract_lane(a, 1)), max<f32>(f32x4.extract_lane(a, 2), f32x4.extract_lane(a, 3)));
}

// ---------------------------------------------------------------- row reductions

// s = sum_j (p[j] - c), j < n, in the fixed order above (c = 0: the plain row sum).
// Lanes: A_q += [p[j]-c, p[j+1]-c, p[j+2]-c, p[j+3]-c].
function rowSum(p: usize, n: i32, c: f32): f32 {
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
function rowSumSq(p: usize, n: i32, c: f32): f32 {
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
function rowMax(p: usize, n: i32): f32 {
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

// for (r = 0; r < rows; r++) out[r] = sum_j x[r, j]          (the fixed order above)
export function sum_rows(out: usize, x: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    store<f32>(out + (<usize>r << 2), rowSum(x + (<usize>r * <usize>cols << 2), cols, 0));
  }
}

// for (r = 0; r < rows; r++) out[r] = (sum_j x[r, j]) / cols
export function mean_rows(out: usize, x: usize, rows: i32, cols: i32): void {
  const n = <f32>cols;
  for (let r = 0; r < rows; r++) {
    store<f32>(out + (<usize>r << 2), rowSum(x + (<usize>r * <usize>cols << 2), cols, 0) / n);
  }
}

// for (r = 0; r < rows; r++) out[r] = max_j x[r, j]
export function max_rows(out: usize, x: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    store<f32>(out + (<usize>r << 2), rowMax(x + (<usize>r * <usize>cols << 2), cols));
  }
}

// ---------------------------------------------------------------- norms

// for each row: mean = sum(x)/n; var = sum((x-mean)^2)/n; out = (x - mean)/sqrt(var + eps) * gamma + beta
// Computed as the corrected two-pass form: m0 = sum(x)/n, then d = sum(x - m0)/n (mean = m0 + d, never
// rounded as one number), var = max(sum((x - m0)^2)/n - d^2, 0), and x - mean = (x - m0) - d, where
// x - m0 is exact for x within a factor 2 of m0. So a large common offset costs no precision, and a
// constant row gives x - m0 = d, var = 0 and out == beta exactly.
// Lanes of the last pass: (((x[j..j+3] - m0) - d) * rstd) * gamma[j..j+3] + beta[j..j+3], rstd = 1/sqrt(var+eps).
export function layer_norm(out: usize, x: usize, gamma: usize, beta: usize, rows: i32, cols: i32, eps: f32): void {
  const n = <f32>cols;
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * <usize>cols << 2;
    const xr = x + off, orow = out + off;
    const m0 = rowSum(xr, cols, 0) / n;
    const d = rowSum(xr, cols, m0) / n;
    const variance = max<f32>(rowSumSq(xr, cols, m0) / n - d * d, 0);
    const rstd = <f32>1.0 / sqrt<f32>(variance + eps);
    const m0v = f32x4.splat(m0), dv = f32x4.splat(d), rv = f32x4.splat(rstd);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const xm = f32x4.sub(f32x4.sub(v128.load(xr + o), m0v), dv);
      v128.store(orow + o, f32x4.add(f32x4.mul(f32x4.mul(xm, rv), v128.load(gamma + o)), v128.load(beta + o)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const xm = (load<f32>(xr + o) - m0) - d;
      store<f32>(orow + o, xm * rstd * load<f32>(gamma + o) + load<f32>(beta + o));
    }
  }
}

// for each row: out = x / sqrt(sum(x^2)/n + eps) * gamma
// Lanes: (x[j..j+3] * rstd) * gamma[j..j+3], rstd = 1/sqrt(ms + eps). (sum(x^2) overflows for |x| > ~1e19.)
export function rms_norm(out: usize, x: usize, gamma: usize, rows: i32, cols: i32, eps: f32): void {
  const n = <f32>cols;
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * <usize>cols << 2;
    const xr = x + off, orow = out + off;
    const rstd = <f32>1.0 / sqrt<f32>(rowSumSq(xr, cols, 0) / n + eps);
    const rv = f32x4.splat(rstd);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      v128.store(orow + o, f32x4.mul(f32x4.mul(v128.load(xr + o), rv), v128.load(gamma + o)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(orow + o, load<f32>(xr + o) * rstd * load<f32>(gamma + o));
    }
  }
}

// ---------------------------------------------------------------- softmax

// Scores of one row at byte offset o: x + mask (when masked; the flag is a constant after inlining).
// @ts-ignore: decorator
@inline function score4(xr: usize, mr: usize, o: usize, masked: bool): v128 {
  const v = v128.load(xr + o);
  return masked ? f32x4.add(v, v128.load(mr + o)) : v;
}
// @ts-ignore: decorator
@inline function score1(xr: usize, mr: usize, o: usize, masked: bool): f32 {
  const v = load<f32>(xr + o);
  return masked ? v + load<f32>(mr + o) : v;
}

// One row: v[j] = x[j] (+ mask[j]) for j < nk (columns j >= nk are cut by the causal rule);
//   m = max v; if m == -inf: out = 0 (every score masked);
//   e[j] = exp(v[j] - m) -> out, s = sum e (the fixed order); out[j] = e[j] / s; out[j >= nk] = 0.
// Lanes: e = expf4([v0..v3] - [m,m,m,m]), A_q += e; then [e0..e3] / [s,s,s,s].
// @ts-ignore: decorator
@inline function softmaxRow(orow: usize, xr: usize, mr: usize, nk: i32, cols: i32, masked: bool): void {
  let m0 = f32x4.splat(-Infinity), m1 = m0, m2 = m0, m3 = m0;
  let j = 0;
  for (; j + 16 <= nk; j += 16) {
    const o = <usize>j << 2;
    m0 = f32x4.max(m0, score4(xr, mr, o, masked));
    m1 = f32x4.max(m1, score4(xr, mr, o + 16, masked));
    m2 = f32x4.max(m2, score4(xr, mr, o + 32, masked));
    m3 = f32x4.max(m3, score4(xr, mr, o + 48, masked));
  }
  for (; j + 4 <= nk; j += 4) m0 = f32x4.max(m0, score4(xr, mr, <usize>j << 2, masked));
  let m = hmax(m0, m1, m2, m3);
  for (; j < nk; j++) m = max<f32>(m, score1(xr, mr, <usize>j << 2, masked));
  if (m == -Infinity) {
    memory.fill(orow, 0, <usize>cols << 2);
    return;
  }
  const mv = f32x4.splat(m);
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  j = 0;
  for (; j + 16 <= nk; j += 16) {
    const o = <usize>j << 2;
    const e0 = expf4(f32x4.sub(score4(xr, mr, o, masked), mv));
    const e1 = expf4(f32x4.sub(score4(xr, mr, o + 16, masked), mv));
    const e2 = expf4(f32x4.sub(score4(xr, mr, o + 32, masked), mv));
    const e3 = expf4(f32x4.sub(score4(xr, mr, o + 48, masked), mv));
    v128.store(orow + o, e0);
    v128.store(orow + o, e1, 16);
    v128.store(orow + o, e2, 32);
    v128.store(orow + o, e3, 48);
    a0 = f32x4.add(a0, e0);
    a1 = f32x4.add(a1, e1);
    a2 = f32x4.add(a2, e2);
    a3 = f32x4.add(a3, e3);
  }
  for (; j + 4 <= nk; j += 4) {
    const o = <usize>j << 2;
    const e = expf4(f32x4.sub(score4(xr, mr, o, masked), mv));
    v128.store(orow + o, e);
    a0 = f32x4.add(a0, e);
  }
  let s = hsum(a0, a1, a2, a3);
  for (; j < nk; j++) {
    const o = <usize>j << 2;
    const e = expf(score1(xr, mr, o, masked) - m);
    store<f32>(orow + o, e);
    s += e;
  }
  const sv = f32x4.splat(s);
  j = 0;
  for (; j + 4 <= nk; j += 4) {
    const o = <usize>j << 2;
    v128.store(orow + o, f32x4.div(v128.load(orow + o), sv));
  }
  for (; j < nk; j++) {
    const o = <usize>j << 2;
    store<f32>(orow + o, load<f32>(orow + o) / s);
  }
  if (nk < cols) memory.fill(orow + (<usize>nk << 2), 0, <usize>(cols - nk) << 2);
}

// for (r = 0; r < rows; r++) out[r, :] = softmax(x[r, :] + mask[r % maskRows, :]), with when causal
//   the columns j > q + cols - qLen (q = r % qLen) set to -inf. mask = 0: no mask.
// -inf scores give exactly 0; a row whose scores are all -inf gives zeros; NaN / +inf give a NaN row.
export function softmax(out: usize, x: usize, mask: usize, rows: i32, cols: i32, maskRows: i32, causal: i32, qLen: i32): void {
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * <usize>cols << 2;
    const nk = causal ? (r % qLen) + cols - qLen + 1 : cols;
    if (mask) {
      const mr = mask + (<usize>(r % maskRows) * <usize>cols << 2);
      softmaxRow(out + off, x + off, mr, nk, cols, true);
    } else {
      softmaxRow(out + off, x + off, 0, nk, cols, false);
    }
  }
}
