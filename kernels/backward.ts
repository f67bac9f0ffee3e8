// Backward kernels for training: softmax, layer_norm, rms_norm, the activations and SwiGLU, and the
// weight gradient of the patch embedding. f32x4 SIMD with scalar tails; not the model
// (src/backend/grad.ts calls these through the adapter src/backend/wasm/backward.ts).
// Pointers (usize) and sizes in, outputs first; outputs never alias inputs and are overwritten.
//
// Summation order, fixed so that every result has the same bits on every run and engine. A sum over
// j < n of terms t[j] is: lane l of one f32x4 accumulator adds t[4u + l] for the full quads in order,
// then s = (A[0] + A[1]) + (A[2] + A[3]), then the leftover n % 4 terms in order. Column sums over
// rows (dgamma, dbeta, dweight) add one row at a time, in row order.
export { heap_base, memory_base } from "./lib/heap";
import { expf, expf4 } from "./lib/math";

// @ts-ignore: decorator
@inline function hsum(a: v128): f32 {
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
}

// s = sum_j a[j] * b[j], j < n (the fixed order above).
function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  let s = hsum(acc);
  for (; j < n; j++) {
    const o = <usize>j << 2;
    s += load<f32>(a + o) * load<f32>(b + o);
  }
  return s;
}

// s = sum_j (a[j] - c)^2, j < n (the fixed order above).
function sumSqDev(a: usize, n: i32, c: f32): f32 {
  const cv = f32x4.splat(c);
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const d = f32x4.sub(v128.load(a + (<usize>j << 2)), cv);
    acc = f32x4.add(acc, f32x4.mul(d, d));
  }
  let s = hsum(acc);
  for (; j < n; j++) {
    const d = load<f32>(a + (<usize>j << 2)) - c;
    s += d * d;
  }
  return s;
}

// s = sum_j a[j], j < n (the fixed order above).
function sum(a: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, v128.load(a + (<usize>j << 2)));
  let s = hsum(acc);
  for (; j < n; j++) s += load<f32>(a + (<usize>j << 2));
  return s;
}

// ---------------------------------------------------------------- softmax

// for (r = 0; r < rows; r++) { dot = sum_j y[r,j] dy[r,j]; for (j) dx[r,j] = y[r,j] * (dy[r,j] - dot); }
// Lanes: [y0..y3] * ([dy0..dy3] - [dot,dot,dot,dot]); leftovers one at a time.
export function softmax_backward(dx: usize, y: usize, dy: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * <usize>cols << 2;
    const yr = y + off, gr = dy + off, xr = dx + off;
    const d = dot(yr, gr, cols);
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

// ---------------------------------------------------------------- norms

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
    const mean = sum(xr, cols) / n;
    const rstd = <f32>1.0 / sqrt<f32>(sumSqDev(xr, cols, mean) / n + eps);
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
    let a = hsum(aa), b = hsum(ab);
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
    const rr = <f32>1.0 / sqrt<f32>(sumSqDev(xr, cols, 0) / n + eps);
    const rv = f32x4.splat(rr);
    let ab = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const d = v128.load(gr + o), xv = v128.load(xr + o);
      ab = f32x4.add(ab, f32x4.mul(f32x4.mul(d, v128.load(gamma + o)), xv));
      v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), f32x4.mul(f32x4.mul(d, xv), rv)));
    }
    let b = hsum(ab);
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

// ---------------------------------------------------------------- activations
// Each derivative is s + x s (1 - s) z'(x) for act = x sigmoid(z(x)). x is clamped to [-100, 100]
// first: beyond it s is exactly 0 or 1 in float32 (expf flushes past -87 and overflows past 88.7,
// for every z here), so the derivative is exactly 0 or 1 either way, while x * 0 * z'(x) could read
// inf * 0 = NaN at +-inf. The clamp (pmax/pmin, one instruction each) lets NaN through.
const CLAMP: f32 = 100.0;
const GELU_2K: f32 = 1.5957691216057308; // 2 sqrt(2/pi)
const GELU_C: f32 = 0.044715;
const GELU_3C: f32 = 0.134145; // 3 * 0.044715
const QUICK: f32 = 1.702;
const NEG_MAX: f32 = -3.40282347e38;

// @ts-ignore: decorator
@inline function clamp1(x: f32): f32 {
  return min<f32>(max<f32>(x, -CLAMP), CLAMP);
}
// @ts-ignore: decorator
@inline function clamp4(x: v128): v128 {
  return f32x4.pmin(f32x4.pmax(x, f32x4.splat(-CLAMP)), f32x4.splat(CLAMP));
}
// @ts-ignore: decorator
@inline function sigmoid1(z: f32): f32 {
  return <f32>1.0 / (<f32>1.0 + expf(-z));
}
// @ts-ignore: decorator
@inline function sigmoid4(z: v128): v128 {
  return f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), expf4(f32x4.neg(z))));
}

// gelu_tanh'(x) = s + (x (s (1 - s))) z',  z = 2k (x + c x^3), z' = 2k (1 + 3c x^2), s = sigmoid(z)
// @ts-ignore: decorator
@inline function geluGrad1(x: f32): f32 {
  const xc = clamp1(x);
  const x2 = xc * xc;
  const s = sigmoid1(GELU_2K * (xc + GELU_C * (x2 * xc)));
  return s + (xc * (s * (<f32>1.0 - s))) * (GELU_2K * (<f32>1.0 + GELU_3C * x2));
}
// @ts-ignore: decorator
@inline function geluGrad4(x: v128): v128 {
  const one = f32x4.splat(1.0), k2 = f32x4.splat(GELU_2K);
  const xc = clamp4(x);
  const x2 = f32x4.mul(xc, xc);
  const s = sigmoid4(f32x4.mul(k2, f32x4.add(xc, f32x4.mul(f32x4.splat(GELU_C), f32x4.mul(x2, xc)))));
  const dz = f32x4.mul(k2, f32x4.add(one, f32x4.mul(f32x4.splat(GELU_3C), x2)));
  return f32x4.add(s, f32x4.mul(f32x4.mul(xc, f32x4.mul(s, f32x4.sub(one, s))), dz));
}

// quick_gelu'(x) = s + ((1.702 x) (s (1 - s))),  s = sigmoid(1.702 x)
// @ts-ignore: decorator
@inline function quickGrad1(x: f32): f32 {
  const z = QUICK * clamp1(x);
  const s = sigmoid1(z);
  return s + z * (s * (<f32>1.0 - s));
}
// @ts-ignore: decorator
@inline function quickGrad4(x: v128): v128 {
  const z = f32x4.mul(f32x4.splat(QUICK), clamp4(x));
  const s = sigmoid4(z);
  return f32x4.add(s, f32x4.mul(z, f32x4.mul(s, f32x4.sub(f32x4.splat(1.0), s))));
}

// silu'(x) = s + (x (s (1 - s))),  s = sigmoid(x)
// @ts-ignore: decorator
@inline function siluGrad1(x: f32): f32 {
  const xc = clamp1(x);
  const s = sigmoid1(xc);
  return s + xc * (s * (<f32>1.0 - s));
}
// @ts-ignore: decorator
@inline function siluGrad4(x: v128): v128 {
  const xc = clamp4(x);
  const s = sigmoid4(xc);
  return f32x4.add(s, f32x4.mul(xc, f32x4.mul(s, f32x4.sub(f32x4.splat(1.0), s))));
}

// for (i = 0; i < n; i++) dx[i] = dy[i] * gelu_tanh'(x[i]);
// Lanes: [dy0..dy3] * geluGrad4([x0..x3]); leftovers by geluGrad1 (same operations, same bits).
export function gelu_tanh_backward(dx: usize, x: usize, dy: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), geluGrad4(v128.load(x + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(dy + o) * geluGrad1(load<f32>(x + o)));
  }
}

// for (i = 0; i < n; i++) dx[i] = dy[i] * quick_gelu'(x[i]);
export function quick_gelu_backward(dx: usize, x: usize, dy: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), quickGrad4(v128.load(x + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(dy + o) * quickGrad1(load<f32>(x + o)));
  }
}

// for (i = 0; i < n; i++) dx[i] = dy[i] * silu'(x[i]);
export function silu_backward(dx: usize, x: usize, dy: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), siluGrad4(v128.load(x + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(dy + o) * siluGrad1(load<f32>(x + o)));
  }
}

// for (i = 0; i < n; i++) { dgate[i] = (dy[i] * up[i]) * silu'(gate[i]); dup[i] = dy[i] * silu(gate[i]); }
// silu(g) = max(g, -FLT_MAX) * s as in the forward kernel (s of the clamped g is the same float:
// sigmoid saturates to exactly 0 or 1 before |g| = 100). Lanes: four elements of each array.
export function swiglu_backward(dgate: usize, dup: usize, gate: usize, up: usize, dy: usize, n: i32): void {
  let i = 0;
  const one = f32x4.splat(1.0);
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(gate + o), d = v128.load(dy + o);
    const gc = clamp4(g);
    const s = sigmoid4(gc);
    const grad = f32x4.add(s, f32x4.mul(gc, f32x4.mul(s, f32x4.sub(one, s))));
    v128.store(dgate + o, f32x4.mul(f32x4.mul(d, v128.load(up + o)), grad));
    v128.store(dup + o, f32x4.mul(d, f32x4.mul(f32x4.pmax(g, f32x4.splat(NEG_MAX)), s)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o), d = load<f32>(dy + o);
    const gc = clamp1(g);
    const s = sigmoid1(gc);
    const grad = s + gc * (s * (<f32>1.0 - s));
    store<f32>(dgate + o, (d * load<f32>(up + o)) * grad);
    store<f32>(dup + o, d * (max<f32>(g, NEG_MAX) * s));
  }
}

// ---------------------------------------------------------------- patch embedding (weight gradient)

/** Bytes of scratch for patch_embed_backward: the [C, K] accumulator (cv = 1) and one patch [K]. */
export function patch_backward_scratch(channels: i32, cv: i32, tdepth: i32, patch: i32): usize {
  const k = <usize>cv * tdepth * patch * patch;
  return (<usize>channels * k + k + 4) * 4;
}

// The scalar loop (reference/backward.ts), with K = cv * t * p * p the length of one patch vector a:
//   for each patch (b, z, r, c) in order, n its row in dout:
//     a[(vi*t + tau)*p*p + y*p + x] = vol[b, vi, z*t + tau, r*p + y, c*p + x]
//     for (o < C) acc[o, :] += dout[n, o] * a[:]
//   cv == cin: dweight [C, cin*t*p*p] is acc; cv == 1: every input channel i gets acc[o, :].
// Lanes: acc[o, q..q+3] += [g,g,g,g] * a[q..q+3]; leftover q one at a time.
export function patch_embed_backward(
  dweight: usize, dout: usize, vol: usize, scratch: usize,
  batch: i32, cv: i32, cin: i32, depth: i32, height: i32, width: i32, channels: i32, patch: i32, tdepth: i32,
): void {
  const p = patch, t = tdepth, C = channels;
  const K = cv * t * p * p;
  const nz = depth / t, nh = height / p, nw = width / p;
  const acc: usize = cv == 1 ? scratch : dweight;
  const a: usize = scratch + (<usize>C * K << 2);
  memory.fill(acc, 0, <usize>C * K << 2);
  const kBytes = <usize>K << 2;
  let n: usize = 0;
  for (let b = 0; b < batch; b++) {
    for (let z = 0; z < nz; z++) {
      for (let r = 0; r < nh; r++) {
        for (let c = 0; c < nw; c++) {
          // gather the patch vector a
          for (let vi = 0; vi < cv; vi++) {
            for (let tau = 0; tau < t; tau++) {
              for (let y = 0; y < p; y++) {
                const src = vol + ((((<usize>(b * cv + vi) * depth + z * t + tau) * height + r * p + y) * width + c * p) << 2);
                memory.copy(a + ((<usize>((vi * t + tau) * p + y) * p) << 2), src, <usize>p << 2);
              }
            }
          }
          const g0 = dout + (n * <usize>C << 2);
          for (let o = 0; o < C; o++) {
            const g = load<f32>(g0 + (<usize>o << 2));
            const gv = f32x4.splat(g);
            const row = acc + <usize>o * kBytes;
            let q = 0;
            for (; q + 4 <= K; q += 4) {
              const off = <usize>q << 2;
              v128.store(row + off, f32x4.add(v128.load(row + off), f32x4.mul(gv, v128.load(a + off))));
            }
            for (; q < K; q++) {
              const off = <usize>q << 2;
              store<f32>(row + off, load<f32>(row + off) + g * load<f32>(a + off));
            }
          }
          n++;
        }
      }
    }
  }
  if (cv == 1) {
    for (let o = 0; o < C; o++) {
      for (let i = 0; i < cin; i++) memory.copy(dweight + (<usize>(o * cin + i) * kBytes), acc + <usize>o * kBytes, kBytes);
    }
  }
}
