// Elementwise kernels (add, mul, scale, addBias) and activations (gelu_tanh, quick_gelu, silu,
// swiglu) with their backward, and the AdamW step (adamw, in place), over f32 arrays, f32x4 SIMD with
// a scalar tail. Not the model: src/backend/backend.ts and grad.ts call these. Every kernel: pointers
// (usize) and sizes in, output first; a forward's out may alias an input (each element is read before
// it is written), a backward's outputs never do. Transcendentals come from ./lib/math, whose scalar and f32x4 forms give
// the same bits, so a value's result does not depend on whether it falls in a SIMD body or a tail.
export { heap_base, memory_base } from "./lib/heap";
import { clamp1, clamp4, geluGrad1, geluGrad4, gelu1, gelu4, NEG_MAX, quick1, quick4, quickGrad1, quickGrad4, silu1, silu4, siluGrad1, siluGrad4 } from "./lib/act";
import { sigmoidf, sigmoidf4 } from "./lib/math";
import { AdamwOpts } from "./lib/opts";

// ---------------------------------------------------------------- arithmetic

// for (i = 0; i < n; i++) out[i] = a[i] + b[i];
// Lanes: [a0,a1,a2,a3] + [b0,b1,b2,b3] => [a0+b0, a1+b1, a2+b2, a3+b3]; leftovers one at a time.
export function add(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

// for (i = 0; i < n; i++) out[i] = a[i] * b[i];
// Lanes: [a0..a3] * [b0..b3] => [a0*b0, .., a3*b3]; leftovers one at a time.
export function mul(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) * load<f32>(b + o));
  }
}

// for (i = 0; i < n; i++) out[i] = a[i] * s;      (s arrives as f32: JS rounds it on the call)
// Lanes: [a0..a3] * [s,s,s,s]; leftovers one at a time.
export function scale(out: usize, a: usize, s: f32, n: i32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(a + o), sv));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) * s);
  }
}

// for (r = 0; r < rows; r++) for (c = 0; c < cols; c++) out[r, c] = x[r, c] + bias[c];
// Lanes, per row: [x[r,c]..x[r,c+3]] + [bias[c]..bias[c+3]]; the row's leftover columns one at a time.
export function add_bias(out: usize, x: usize, bias: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = <usize>r * <usize>cols << 2;
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      v128.store(out + row + o, f32x4.add(v128.load(x + row + o), v128.load(bias + o)));
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(out + row + o, load<f32>(x + row + o) + load<f32>(bias + o));
    }
  }
}

// ---------------------------------------------------------------- activations
// The scalar and f32x4 forms of each activation and of its derivative are in ./lib/act.

// for (i = 0; i < n; i++) out[i] = gelu_tanh(x[i]);
// Lanes: [x0..x3] => [gelu(x0)..gelu(x3)] (gelu4), leftovers by gelu1 (same bits).
export function gelu_tanh(out: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, gelu4(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, gelu1(load<f32>(x + o)));
  }
}

// for (i = 0; i < n; i++) out[i] = x[i] * sigmoid(1.702 * x[i]);
export function quick_gelu(out: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, quick4(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, quick1(load<f32>(x + o)));
  }
}

// for (i = 0; i < n; i++) out[i] = x[i] * sigmoid(x[i]);
export function silu(out: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, silu4(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, silu1(load<f32>(x + o)));
  }
}

// for (i = 0; i < n; i++) out[i] = silu(gate[i]) * up[i];
// Lanes: silu4([g0..g3]) * [u0..u3]; leftovers one at a time.
export function swiglu(out: usize, gate: usize, up: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(silu4(v128.load(gate + o)), v128.load(up + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, silu1(load<f32>(gate + o)) * load<f32>(up + o));
  }
}

// ---------------------------------------------------------------- activation backward

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
    const s = sigmoidf4(gc);
    const grad = f32x4.add(s, f32x4.mul(gc, f32x4.mul(s, f32x4.sub(one, s))));
    v128.store(dgate + o, f32x4.mul(f32x4.mul(d, v128.load(up + o)), grad));
    v128.store(dup + o, f32x4.mul(d, f32x4.mul(f32x4.pmax(g, f32x4.splat(NEG_MAX)), s)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o), d = load<f32>(dy + o);
    const gc = clamp1(g);
    const s = sigmoidf(gc);
    const grad = s + gc * (s * (<f32>1.0 - s));
    store<f32>(dgate + o, (d * load<f32>(up + o)) * grad);
    store<f32>(dup + o, d * (max<f32>(g, NEG_MAX) * s));
  }
}

// ---------------------------------------------------------------- optimizer

// One AdamW step in place over n elements (w, m, v written; g read), every operation one f32
// rounding (IEEE mul, add, sub, div, sqrt; no fused multiply-add), in this order:
//   m[i] = b1*m[i] + c1*g[i];  v[i] = b2*v[i] + c2*(g[i]*g[i]);
//   w[i] = w[i]*decay - stepSize*(m[i] / (sqrt(v[i])/bc2Sqrt + eps));
// Lanes: four elements, the same operations per lane, so the tail's scalar form gives the same bits.
export function adamw(w: usize, m: usize, v: usize, g: usize, opts: usize, n: i32): void {
  const o = changetype<AdamwOpts>(opts);
  const decay = o.decay, b1 = o.b1, c1 = o.c1, b2 = o.b2, c2 = o.c2, step = o.stepSize, bc2 = o.bc2Sqrt, eps = o.eps;
  const decay4 = f32x4.splat(decay), b14 = f32x4.splat(b1), c14 = f32x4.splat(c1), b24 = f32x4.splat(b2), c24 = f32x4.splat(c2);
  const step4 = f32x4.splat(step), bc24 = f32x4.splat(bc2), eps4 = f32x4.splat(eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const k = <usize>i << 2;
    const gi = v128.load(g + k);
    const mi = f32x4.add(f32x4.mul(b14, v128.load(m + k)), f32x4.mul(c14, gi));
    const vi = f32x4.add(f32x4.mul(b24, v128.load(v + k)), f32x4.mul(c24, f32x4.mul(gi, gi)));
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vi), bc24), eps4);
    v128.store(m + k, mi);
    v128.store(v + k, vi);
    v128.store(w + k, f32x4.sub(f32x4.mul(v128.load(w + k), decay4), f32x4.mul(step4, f32x4.div(mi, denom))));
  }
  for (; i < n; i++) {
    const k = <usize>i << 2;
    const gi = load<f32>(g + k);
    const mi = b1 * load<f32>(m + k) + c1 * gi;
    const vi = b2 * load<f32>(v + k) + c2 * (gi * gi);
    const denom = sqrt<f32>(vi) / bc2 + eps;
    store<f32>(m + k, mi);
    store<f32>(v + k, vi);
    store<f32>(w + k, load<f32>(w + k) * decay - step * (mi / denom));
  }
}
