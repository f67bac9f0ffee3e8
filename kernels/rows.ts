// Row kernels over the last axis of a row-major [rows, cols] f32 array: softmax (mask, causal),
// layer_norm, rms_norm, sum/mean/max, and the backward of softmax and of the two norms. f32x4 SIMD;
// not the model (src/backend/backend.ts and grad.ts call these). Pointers (usize) and sizes in,
// output first. softmax, layer_norm and rms_norm allow out == x: each element is read for the last
// time before it is written; the backward kernels never write over an input.
// Summation orders (fixed, deterministic; the forward's and the backward's differ): kernels/lib/rowsum.ts.
export { heap_base, memory_base } from "./lib/heap";
import { expf, expf4 } from "./lib/math";
import { hmax, hsum, hsum1, rowDot1, rowMax, rowSum, rowSum1, rowSumSq, rowSumSq1 } from "./lib/rowsum";

// ---------------------------------------------------------------- row reductions

// for (r = 0; r < rows; r++) out[r] = sum_j x[r, j]          (the forward order, lib/rowsum.ts)
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

// ---------------------------------------------------------------- softmax backward

// for (r = 0; r < rows; r++) { dot = sum_j y[r,j] dy[r,j]; for (j) dx[r,j] = y[r,j] * (dy[r,j] - dot); }
// Lanes: [y0..y3] * ([dy0..dy3] - [dot,dot,dot,dot]); leftovers one at a time.
export function softmax_backward(dx: usize, y: usize, dy: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * <usize>cols << 2;
    const yr = y + off, gr = dy + off, xr = dx + off;
    const d = rowDot1(yr, gr, cols);
    const dv = f32x4.splat(d);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      v128.store(xr + o, f32x4.mul(v128.load(yr + o), f32x4.sub(v128.load(gr + o), dv)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(xr + o, load<f32>(yr + o) * (load<f32>(gr + o) - d));
    }
  }
}

// ---------------------------------------------------------------- norms backward

// for each row: mean = sum(x)/n; var = sum((x - mean)^2)/n; rstd = 1/sqrt(var + eps);
//   xh = (x - mean) * rstd; g = dy * gamma; a = sum(g)/n; b = sum(g * xh)/n;
//   dx = rstd * ((g - a) - xh * b); dgamma += dy * xh; dbeta += dy
// Lanes over columns: xh, g for [j..j+3]; A_a += g, A_b += g * xh; dgamma[j..j+3] += dy * xh.
export function layer_norm_backward(
  dx: usize, dgamma: usize, dbeta: usize, dy: usize, x: usize, gamma: usize, rows: i32, cols: i32, eps: f32,
): void {
  const n = <f32>cols;
  memory.fill(dgamma, 0, <usize>cols << 2);
  memory.fill(dbeta, 0, <usize>cols << 2);
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * <usize>cols << 2;
    const xr = x + off, gr = dy + off, dr = dx + off;
    const mean = rowSum1(xr, cols) / n; // the backward order (lib/rowsum.ts), not layer_norm's statistics
    const rstd = <f32>1.0 / sqrt<f32>(rowSumSq1(xr, cols, mean) / n + eps);
    const mv = f32x4.splat(mean), rv = f32x4.splat(rstd);
    let aa = f32x4.splat(0), ab = aa;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const d = v128.load(gr + o);
      const xh = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), rv);
      const g = f32x4.mul(d, v128.load(gamma + o));
      aa = f32x4.add(aa, g);
      ab = f32x4.add(ab, f32x4.mul(g, xh));
      v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), f32x4.mul(d, xh)));
      v128.store(dbeta + o, f32x4.add(v128.load(dbeta + o), d));
    }
    let a = hsum1(aa), b = hsum1(ab);
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const d = load<f32>(gr + o);
      const xh = (load<f32>(xr + o) - mean) * rstd;
      const g = d * load<f32>(gamma + o);
      a += g;
      b += g * xh;
      store<f32>(dgamma + o, load<f32>(dgamma + o) + d * xh);
      store<f32>(dbeta + o, load<f32>(dbeta + o) + d);
    }
    a /= n;
    b /= n;
    const av = f32x4.splat(a), bv = f32x4.splat(b);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const xh = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), rv);
      const g = f32x4.mul(v128.load(gr + o), v128.load(gamma + o));
      v128.store(dr + o, f32x4.mul(rv, f32x4.sub(f32x4.sub(g, av), f32x4.mul(xh, bv))));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const xh = (load<f32>(xr + o) - mean) * rstd;
      const g = load<f32>(gr + o) * load<f32>(gamma + o);
      store<f32>(dr + o, rstd * ((g - a) - xh * b));
    }
  }
}

// for each row: rr = 1/sqrt(sum(x^2)/n + eps); g = dy * gamma; b = sum(g * x)/n; c = rr^3 * b;
//   dx = rr * g - x * c; dgamma += (dy * x) * rr
// Lanes over columns as in layer_norm_backward.
export function rms_norm_backward(dx: usize, dgamma: usize, dy: usize, x: usize, gamma: usize, rows: i32, cols: i32, eps: f32): void {
  const n = <f32>cols;
  memory.fill(dgamma, 0, <usize>cols << 2);
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * <usize>cols << 2;
    const xr = x + off, gr = dy + off, dr = dx + off;
    const rr = <f32>1.0 / sqrt<f32>(rowSumSq1(xr, cols, 0) / n + eps);
    const rv = f32x4.splat(rr);
    let ab = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const d = v128.load(gr + o), xv = v128.load(xr + o);
      ab = f32x4.add(ab, f32x4.mul(f32x4.mul(d, v128.load(gamma + o)), xv));
      v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), f32x4.mul(f32x4.mul(d, xv), rv)));
    }
    let b = hsum1(ab);
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const d = load<f32>(gr + o), xv = load<f32>(xr + o);
      b += (d * load<f32>(gamma + o)) * xv;
      store<f32>(dgamma + o, load<f32>(dgamma + o) + (d * xv) * rr);
    }
    const c = rr * rr * rr * (b / n);
    const cv = f32x4.splat(c);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const g = f32x4.mul(v128.load(gr + o), v128.load(gamma + o));
      v128.store(dr + o, f32x4.sub(f32x4.mul(rv, g), f32x4.mul(v128.load(xr + o), cv)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const g = load<f32>(gr + o) * load<f32>(gamma + o);
      store<f32>(dr + o, rr * g - load<f32>(xr + o) * c);
    }
  }
}
