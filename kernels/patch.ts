// Patch embedding: a strided 3D convolution (kernel = stride = (t, p, p), no bias) as im2col plus a
// register-blocked f32x4 contraction (4 patches x 8 channels, k in chunks), and its weight gradient
// (patch_embed_backward, at the end). Not a general matmul.
export { heap_base, memory_base } from "./lib/heap";
import { PatchOpts } from "./lib/opts";

// Scalar loop this replaces (P = n_h*n_w patches per depth step z, K = kin*t*p*p, kin = cv):
//   for b, z, patch (r, c), channel o:
//     acc = 0
//     for k = (i, tau, y, x) in row-major order:                        // one f32 sum, k ascending
//       acc += vol[b, i, z*t + tau, r*p + y, c*p + x] * Wk[o, k]
//     out[b, z, r*n_w + c, o] = acc
// with Wk = weight [C, cin*t*p*p] when cv = cin, and, when cv = 1 (one channel replicated cin
// times), the folded Wk[o, k] = ((weight[o, 0, k] + weight[o, 1, k]) + ...) over the cin channels:
// conv(replicate(v), W) = conv(v, sum_i W_i), so the contraction is cin times shorter. (Rounding
// then differs from the unfolded sum within f32 tolerance; for a non-finite voxel the results can
// differ in kind: inf * (w0 + w1 + w2) is inf where inf*w0 + inf*w1 + inf*w2 is NaN if signs mix.)
//
// Scratch (sizes from patch_scratch_*):
//   wpack [ceil(C/8)][K][8]  panels of 8 output channels, zero-padded past C
//   apack [ceil(P/4)][K][4]  im2col of one (b, z) step, 4 patches interleaved, zero-padded past P

const NB: i32 = 8; // channels per panel
const MB: i32 = 4; // patches per quad
const KC: i32 = 256; // contraction chunk

/** Bytes of wpack for C channels and contraction length K. */
export function patch_scratch_w(channels: i32, k: i32): usize {
  return <usize>((channels + NB - 1) / NB) * NB * <usize>k * 4;
}
/** Bytes of apack for P patches and contraction length K, plus the 4 x 8 spill block after it. */
export function patch_scratch_a(patches: i32, k: i32): usize {
  return <usize>((patches + MB - 1) / MB) * MB * <usize>k * 4 + MB * NB * 4;
}

/** wpack[q][k][l] = Wk[8q + l, k] (0 past C); Wk folds the cin channels when kin = 1 < cin. */
function packWeights(wpack: usize, weight: usize, channels: i32, cin: i32, kin: i32, plane: i32): void {
  const K = kin * plane;
  const panels = (channels + NB - 1) / NB;
  for (let q = 0; q < panels; q++) {
    for (let l = 0; l < NB; l++) {
      const o = q * NB + l;
      for (let k = 0; k < K; k++) {
        let w: f32 = 0;
        if (o < channels) {
          if (kin == cin) {
            w = load<f32>(weight + ((<usize>o * K + k) << 2));
          } else { // fold: sum over the input channels in ascending order
            const row = weight + ((<usize>o * cin * plane + k) << 2);
            w = load<f32>(row);
            for (let i = 1; i < cin; i++) w += load<f32>(row + ((<usize>i * plane) << 2));
          }
        }
        store<f32>(wpack + ((((<usize>q * K + k) << 3) + l) << 2), w);
      }
    }
  }
}

/**
 * apack[patch / 4][k][patch % 4] = vol[b, i, z*t + tau, r*p + y, c*p + x] for k = (i, tau, y, x)
 * and patch = r*n_w + c; padded patches are zero. `slab` points at vol[b, 0, z*t, 0, 0].
 */
function im2col(apack: usize, slab: usize, kin: i32, chanStride: usize, t: i32, height: i32, width: i32, p: i32): void {
  const nh = height / p, nw = width / p, P = nh * nw;
  const K = kin * t * p * p;
  const Ppad = (P + MB - 1) / MB * MB;
  for (let patch = 0; patch < Ppad; patch++) {
    const dst = apack + ((<usize>(patch / MB) * K * MB + (patch % MB)) << 2);
    if (patch >= P) {
      for (let k = 0; k < K; k++) store<f32>(dst + ((<usize>k * MB) << 2), 0);
      continue;
    }
    const r = patch / nw, c = patch % nw;
    let k = 0;
    for (let i = 0; i < kin; i++) {
      for (let tau = 0; tau < t; tau++) {
        for (let y = 0; y < p; y++) {
          const src = slab + <usize>i * chanStride + ((<usize>(tau * height + r * p + y) * width + c * p) << 2);
          for (let x = 0; x < p; x++) {
            store<f32>(dst + ((<usize>k * MB) << 2), load<f32>(src + (<usize>x << 2)));
            k++;
          }
        }
      }
    }
  }
}

/**
 * One 4-patch x 8-channel block over k in [k0, k0 + kl). Per k (a_l = splat of patch l's value,
 * w = [w0..w3], [w4..w7]):  acc[l][0] += a_l * [w0 w1 w2 w3] ; acc[l][1] += a_l * [w4 w5 w6 w7]
 * (multiply then add, both rounded: the scalar loop's order for every output element). The
 * accumulators start at 0 for the first k-chunk and from the f32 partial sums in out after it (an
 * f32 accumulator stored and reloaded keeps its bits). Only real patches (< P) and channels (< C)
 * are stored: other lanes go through `spill`, a 4 x 8 block of the call's own scratch (after apack).
 */
function block(out: usize, ldo: i32, a: usize, w: usize, kl: i32, rows: i32, cols: i32, first: bool, spill: usize): void {
  const ld = <usize>ldo << 2;
  const full = rows == MB && cols == NB;
  const tmp = spill;
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  if (!first) {
    let src = out, stride = ld; // full block: straight from out
    if (!full) { // leftovers: the real part of out into a zeroed spill block
      memory.fill(tmp, 0, MB * NB * 4);
      for (let l = 0; l < rows; l++) memory.copy(tmp + <usize>(l * NB * 4), out + <usize>l * ld, <usize>cols << 2);
      src = tmp;
      stride = NB * 4;
    }
    c00 = v128.load(src); c01 = v128.load(src, 16);
    c10 = v128.load(src + stride); c11 = v128.load(src + stride, 16);
    c20 = v128.load(src + 2 * stride); c21 = v128.load(src + 2 * stride, 16);
    c30 = v128.load(src + 3 * stride); c31 = v128.load(src + 3 * stride, 16);
  }
  for (let k = 0; k < kl; k++) {
    const ak = a + (<usize>k << 4), wk = w + (<usize>k << 5);
    const w0 = v128.load(wk), w1 = v128.load(wk, 16);
    const a0 = v128.load32_splat(ak), a1 = v128.load32_splat(ak, 4);
    const a2 = v128.load32_splat(ak, 8), a3 = v128.load32_splat(ak, 12);
    c00 = f32x4.add(c00, f32x4.mul(a0, w0)); c01 = f32x4.add(c01, f32x4.mul(a0, w1));
    c10 = f32x4.add(c10, f32x4.mul(a1, w0)); c11 = f32x4.add(c11, f32x4.mul(a1, w1));
    c20 = f32x4.add(c20, f32x4.mul(a2, w0)); c21 = f32x4.add(c21, f32x4.mul(a2, w1));
    c30 = f32x4.add(c30, f32x4.mul(a3, w0)); c31 = f32x4.add(c31, f32x4.mul(a3, w1));
  }
  if (full) {
    v128.store(out, c00); v128.store(out, c01, 16);
    v128.store(out + ld, c10); v128.store(out + ld, c11, 16);
    v128.store(out + 2 * ld, c20); v128.store(out + 2 * ld, c21, 16);
    v128.store(out + 3 * ld, c30); v128.store(out + 3 * ld, c31, 16);
    return;
  }
  // leftovers: spill the block and copy the real part (patch tail, channel tail)
  v128.store(tmp, c00); v128.store(tmp, c01, 16); v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64); v128.store(tmp, c21, 80); v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
  for (let l = 0; l < rows; l++) memory.copy(out + <usize>l * ld, tmp + <usize>(l * NB * 4), <usize>cols << 2);
}

/**
 * vol [B, cv, D, H, W], weight [C, cin, t, p, p] -> out [B, D/t, n_h*n_w, C]; see the loop above.
 * `opts` points at a PatchOpts (B = batch, cv, cin, D = depth, H = height, W = width, C = channels,
 * p = patch, t = tdepth). Only the depth steps s0 <= b*(D/t) + z < s1 are computed (a thread split
 * hands out ranges of them, every piece reading the same PatchOpts; a step's outputs do not depend
 * on the others, so every split gives the same bits).
 * `apack` holds patch_scratch_a(P, K) bytes, `wpack` patch_scratch_w(C, K).
 */
export function patch_embed(out: usize, vol: usize, weight: usize, wpack: usize, apack: usize, opts: usize, s0: i32, s1: i32): void {
  const po = changetype<PatchOpts>(opts);
  const batch = po.batch, cv = po.cv, cin = po.cin, depth = po.depth, height = po.height, width = po.width;
  const channels = po.channels, p = po.patch, t = po.tdepth;
  const plane = t * p * p;
  const kin = cv; // cv = 1 < cin: folded weights, one channel gathered
  const K = kin * plane;
  const nz = depth / t, P = (height / p) * (width / p);
  const spill = apack + <usize>((P + MB - 1) / MB) * MB * <usize>K * 4; // the 4 x 8 block after apack (patch_scratch_a)
  packWeights(wpack, weight, channels, cin, kin, plane);
  const chanStride = (<usize>depth * height * width) << 2;
  const panels = (channels + NB - 1) / NB, quads = (P + MB - 1) / MB;
  for (let b = 0; b < batch; b++) {
    for (let z = 0; z < nz; z++) {
      const step = b * nz + z;
      if (step < s0 || step >= s1) continue;
      const slab = vol + <usize>b * cv * chanStride + ((<usize>z * t * height * width) << 2);
      im2col(apack, slab, kin, chanStride, t, height, width, p);
      const outBase = out + ((<usize>(b * nz + z) * P * channels) << 2);
      // k in chunks of KC: one chunk of every quad (P*KC floats) stays in L2 while the panels
      // pass over it, and a panel's chunk (KC*8 floats) stays in L1 while the quads pass
      for (let k0 = 0; k0 < K; k0 += KC) {
        const kl = min(KC, K - k0);
        for (let q = 0; q < panels; q++) {
          const w = wpack + ((<usize>(q * K + k0) * NB) << 2);
          const cols = min(NB, channels - q * NB);
          for (let qd = 0; qd < quads; qd++) {
            const rows = min(MB, P - qd * MB);
            const o = outBase + ((<usize>(qd * MB) * channels + q * NB) << 2);
            block(o, channels, apack + ((<usize>(qd * K + k0) * MB) << 2), w, kl, rows, cols, k0 == 0, spill);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- patch embedding (weight gradient)

/** Bytes of scratch for patch_embed_backward: the [C, K] accumulator (cv = 1) and one patch [K]. */
export function patch_backward_scratch(channels: i32, cv: i32, tdepth: i32, patch: i32): usize {
  const k = <usize>cv * tdepth * patch * patch;
  return (<usize>channels * k + k + 4) * 4;
}

// The scalar loop (reference/patch.ts:patchEmbedBackward), with K = cv * t * p * p the length of one patch vector a:
//   for each patch (b, z, r, c) in order, n its row in dout:
//     a[(vi*t + tau)*p*p + y*p + x] = vol[b, vi, z*t + tau, r*p + y, c*p + x]
//     for (o < C) acc[o, :] += dout[n, o] * a[:]
//   cv == cin: dweight [C, cin*t*p*p] is acc; cv == 1: every input channel i gets acc[o, :].
// Lanes: acc[o, q..q+3] += [g,g,g,g] * a[q..q+3]; leftover q one at a time.
// `opts` points at a PatchOpts (the forward's geometry); `scratch` holds patch_backward_scratch bytes.
export function patch_embed_backward(dweight: usize, dout: usize, vol: usize, scratch: usize, opts: usize): void {
  const po = changetype<PatchOpts>(opts);
  const batch = po.batch, cv = po.cv, cin = po.cin, depth = po.depth, height = po.height, width = po.width;
  const p = po.patch, t = po.tdepth, C = po.channels;
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
