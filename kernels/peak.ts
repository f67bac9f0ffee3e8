// Bench-only module (not loaded by the runtime): loops that measure this machine's f32x4 mul+add
// throughput, the yardstick for matmul. The bench reports the best variant as "peak".
// Every variant returns a value that depends on every chain, so none can be optimised away.
export { heap_base, memory_base } from "./lib/heap";

// Why operands come from memory: V8 rematerialises a splat constant inside the loop (a
// vbroadcastss on an FP port per use), and binaryen/TurboFan fold products of loop-invariant
// registers. A v128.load per iteration costs a load port only, which the FP pipes do not share.

// Scalar loop the mix variants replace (per chain, per step):  x[i] = x[i] * m;  y[j] = y[j] + c;
// A step issues N f32x4.mul and N f32x4.add (8N flops) on independent chains: bound by
// throughput once N >= pipes * latency. `p` holds [m, m, m, m, c, c, c, c] (1 and 0 in the bench).

/** 6 mul chains + 6 add chains. */
export function mix6(iters: i32, p: usize): f32 {
  let x0 = f32x4.splat(1), x1 = f32x4.splat(2), x2 = f32x4.splat(3), x3 = f32x4.splat(4), x4 = f32x4.splat(5), x5 = f32x4.splat(6);
  let y0 = f32x4.splat(7), y1 = f32x4.splat(8), y2 = f32x4.splat(9), y3 = f32x4.splat(10), y4 = f32x4.splat(11), y5 = f32x4.splat(12);
  for (let s = 0; s < iters; s++) {
    const vm = v128.load(p), vc = v128.load(p, 16);
    x0 = f32x4.mul(x0, vm); x1 = f32x4.mul(x1, vm); x2 = f32x4.mul(x2, vm);
    x3 = f32x4.mul(x3, vm); x4 = f32x4.mul(x4, vm); x5 = f32x4.mul(x5, vm);
    y0 = f32x4.add(y0, vc); y1 = f32x4.add(y1, vc); y2 = f32x4.add(y2, vc);
    y3 = f32x4.add(y3, vc); y4 = f32x4.add(y4, vc); y5 = f32x4.add(y5, vc);
  }
  const x = f32x4.add(f32x4.add(f32x4.add(x0, x1), f32x4.add(x2, x3)), f32x4.add(x4, x5));
  const y = f32x4.add(f32x4.add(f32x4.add(y0, y1), f32x4.add(y2, y3)), f32x4.add(y4, y5));
  return f32x4.extract_lane(f32x4.add(x, y), 0);
}

/** 7 mul chains + 7 add chains (14 of the 15 xmm registers V8 allocates on x64). */
export function mix7(iters: i32, p: usize): f32 {
  let x0 = f32x4.splat(1), x1 = f32x4.splat(2), x2 = f32x4.splat(3), x3 = f32x4.splat(4), x4 = f32x4.splat(5), x5 = f32x4.splat(6), x6 = f32x4.splat(7);
  let y0 = f32x4.splat(8), y1 = f32x4.splat(9), y2 = f32x4.splat(10), y3 = f32x4.splat(11), y4 = f32x4.splat(12), y5 = f32x4.splat(13), y6 = f32x4.splat(14);
  for (let s = 0; s < iters; s++) {
    const vm = v128.load(p), vc = v128.load(p, 16);
    x0 = f32x4.mul(x0, vm); x1 = f32x4.mul(x1, vm); x2 = f32x4.mul(x2, vm); x3 = f32x4.mul(x3, vm);
    x4 = f32x4.mul(x4, vm); x5 = f32x4.mul(x5, vm); x6 = f32x4.mul(x6, vm);
    y0 = f32x4.add(y0, vc); y1 = f32x4.add(y1, vc); y2 = f32x4.add(y2, vc); y3 = f32x4.add(y3, vc);
    y4 = f32x4.add(y4, vc); y5 = f32x4.add(y5, vc); y6 = f32x4.add(y6, vc);
  }
  const x = f32x4.add(f32x4.add(f32x4.add(x0, x1), f32x4.add(x2, x3)), f32x4.add(f32x4.add(x4, x5), x6));
  const y = f32x4.add(f32x4.add(f32x4.add(y0, y1), f32x4.add(y2, y3)), f32x4.add(f32x4.add(y4, y5), y6));
  return f32x4.extract_lane(f32x4.add(x, y), 0);
}

// Scalar loop the tile variants replace (acc never leaves registers, operands stay in L1):
//   for (rep) for (s < kc) for (r < R) for (j < 8) acc[r][j] += a[s*R + r] * b[s*8 + j]
// i.e. the matmul micro-kernel without its write-back: R broadcasts + 2 loads, 2R mul, 2R add
// per step. `p` holds kc*R floats of a followed by kc*8 floats of b.

/** 3x8 register tile: 6 accumulators. */
export function tile3x8(iters: i32, p: usize, kc: i32): f32 {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  for (let r = 0; r < iters; r++) {
    let a = p, b = p + <usize>kc * 12;
    for (let s = 0; s < kc; s++) {
      const b0 = v128.load(b), b1 = v128.load(b, 16);
      let x = v128.load32_splat(a);
      c00 = f32x4.add(c00, f32x4.mul(x, b0)); c01 = f32x4.add(c01, f32x4.mul(x, b1));
      x = v128.load32_splat(a, 4);
      c10 = f32x4.add(c10, f32x4.mul(x, b0)); c11 = f32x4.add(c11, f32x4.mul(x, b1));
      x = v128.load32_splat(a, 8);
      c20 = f32x4.add(c20, f32x4.mul(x, b0)); c21 = f32x4.add(c21, f32x4.mul(x, b1));
      a += 12;
      b += 32;
    }
  }
  const t = f32x4.add(f32x4.add(f32x4.add(c00, c01), f32x4.add(c10, c11)), f32x4.add(c20, c21));
  return f32x4.extract_lane(t, 0);
}

/** 4x8 register tile: 8 accumulators (the shape of the matmul micro-kernel). */
export function tile4x8(iters: i32, p: usize, kc: i32): f32 {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (let r = 0; r < iters; r++) {
    let a = p, b = p + (<usize>kc << 4);
    for (let s = 0; s < kc; s++) {
      const b0 = v128.load(b), b1 = v128.load(b, 16);
      let x = v128.load32_splat(a);
      c00 = f32x4.add(c00, f32x4.mul(x, b0)); c01 = f32x4.add(c01, f32x4.mul(x, b1));
      x = v128.load32_splat(a, 4);
      c10 = f32x4.add(c10, f32x4.mul(x, b0)); c11 = f32x4.add(c11, f32x4.mul(x, b1));
      x = v128.load32_splat(a, 8);
      c20 = f32x4.add(c20, f32x4.mul(x, b0)); c21 = f32x4.add(c21, f32x4.mul(x, b1));
      x = v128.load32_splat(a, 12);
      c30 = f32x4.add(c30, f32x4.mul(x, b0)); c31 = f32x4.add(c31, f32x4.mul(x, b1));
      a += 16;
      b += 32;
    }
  }
  const t = f32x4.add(f32x4.add(f32x4.add(c00, c01), f32x4.add(c10, c11)), f32x4.add(f32x4.add(c20, c21), f32x4.add(c30, c31)));
  return f32x4.extract_lane(t, 0);
}
