/**
 * Trilinear resampling of a [D, H, W] volume, half-pixel centres: output index o of an axis samples
 * the input at x = (o + 0.5) * scale - 0.5, clamped to [0, n - 1] (border values extend). With
 * scale = n_in / n_out this is torch.nn.functional.interpolate(mode="trilinear",
 * align_corners=False) evaluated in float64 (no antialiasing when shrinking). Scalar, never optimised.
 */

/** Per output index along one axis: the two input indices and the weight of the second. */
export interface AxisTaps {
  i0: Int32Array;
  i1: Int32Array;
  f: Float64Array; // weight of i1; i0 gets 1 - f
}

export function axisTaps(nIn: number, nOut: number, scale: number): AxisTaps {
  const i0 = new Int32Array(nOut), i1 = new Int32Array(nOut), f = new Float64Array(nOut);
  for (let o = 0; o < nOut; o++) {
    let x = (o + 0.5) * scale - 0.5;
    if (x < 0) x = 0;
    if (x > nIn - 1) x = nIn - 1;
    const lo = Math.floor(x);
    i0[o] = lo;
    i1[o] = Math.min(lo + 1, nIn - 1);
    f[o] = x - lo;
  }
  return { i0, i1, f };
}

/**
 * out[d, h, w] = lerp_d(lerp_h(lerp_w(...))) over the 8 neighbours, nested as
 *   (1-fd) [(1-fh) ((1-fw) v000 + fw v001) + fh ((1-fw) v010 + fw v011)] + fd [same at d1]
 * in float64, rounded once to float32. `scale` is the input step per output step, per axis [d, h, w].
 */
export function resampleTrilinear(
  src: Float32Array, inShape: readonly number[], outShape: readonly number[], scale: readonly number[],
): Float32Array {
  const [D, H, W] = inShape, [OD, OH, OW] = outShape;
  const td = axisTaps(D, OD, scale[0]), th = axisTaps(H, OH, scale[1]), tw = axisTaps(W, OW, scale[2]);
  const out = new Float32Array(OD * OH * OW);
  let o = 0;
  for (let d = 0; d < OD; d++) {
    const p0 = td.i0[d] * H, p1 = td.i1[d] * H, fd = td.f[d];
    for (let h = 0; h < OH; h++) {
      const r00 = (p0 + th.i0[h]) * W, r01 = (p0 + th.i1[h]) * W;
      const r10 = (p1 + th.i0[h]) * W, r11 = (p1 + th.i1[h]) * W;
      const fh = th.f[h];
      for (let w = 0; w < OW; w++) {
        const a = tw.i0[w], b = tw.i1[w], fw = tw.f[w];
        const c00 = (1 - fw) * src[r00 + a] + fw * src[r00 + b];
        const c01 = (1 - fw) * src[r01 + a] + fw * src[r01 + b];
        const c10 = (1 - fw) * src[r10 + a] + fw * src[r10 + b];
        const c11 = (1 - fw) * src[r11 + a] + fw * src[r11 + b];
        out[o++] = (1 - fd) * ((1 - fh) * c00 + fh * c01) + fd * ((1 - fh) * c10 + fh * c11);
      }
    }
  }
  return out;
}

/** Resize to `outShape` covering the same extent: scale = n_in / n_out per axis. */
export function resizeTrilinear(src: Float32Array, inShape: readonly number[], outShape: readonly number[]): Float32Array {
  return resampleTrilinear(src, inShape, outShape, [0, 1, 2].map((a) => inShape[a] / outShape[a]));
}
