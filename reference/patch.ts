// Patch embedding (a strided 3D convolution, kernel = stride = (t, p, p), no bias) and its weight
// gradient, the scalar oracle: plain loops, float64 accumulation, one rounding per output. Never optimised.
import type { F32, Kernels, PatchDims } from "../src/backend/kernels.js";

/**
 * vol [B, cv, D, H, W] (cv = cin, or cv = 1: the one channel stands for all cin), weight
 * [C, cin, t, p, p], out [B, D/t, n_h*n_w, C] with n_h = H/p, n_w = W/p, patches in raster order:
 *   out[b, z, r*n_w + c, o] = sum_{i, tau, y, x} vol[b, cv == 1 ? 0 : i, z*t + tau, r*p + y, c*p + x]
 *                                              * weight[o, i, tau, y, x]
 */
function patchEmbed(out: F32, vol: F32, weight: F32, d: PatchDims): void {
  const { batch, cv, cin, depth, height, width, channels: C, patch: p, tdepth: t } = d;
  const nz = depth / t, nh = height / p, nw = width / p;
  for (let b = 0; b < batch; b++) {
    for (let z = 0; z < nz; z++) {
      for (let r = 0; r < nh; r++) {
        for (let c = 0; c < nw; c++) {
          const o0 = (((b * nz + z) * nh + r) * nw + c) * C;
          for (let o = 0; o < C; o++) {
            let acc = 0; // float64
            for (let i = 0; i < cin; i++) {
              const vi = cv === 1 ? 0 : i;
              for (let tau = 0; tau < t; tau++) {
                for (let y = 0; y < p; y++) {
                  for (let xx = 0; xx < p; xx++) {
                    const v = vol[(((b * cv + vi) * depth + z * t + tau) * height + r * p + y) * width + c * p + xx];
                    const w = weight[(((o * cin + i) * t + tau) * p + y) * p + xx];
                    acc += v * w;
                  }
                }
              }
            }
            out[o0 + o] = acc;
          }
        }
      }
    }
  }
}

/**
 * dweight [C, cin, t, p, p] = sum over the patches (b, z, r, c) of dout[b, z, r*n_w + c, o] times
 * the patch's voxels; with cv = 1 (one channel replicated cin times) every input channel gets the
 * same sum. Float64 accumulation over all patches, one rounding per weight.
 */
function patchEmbedBackward(dweight: F32, dout: F32, vol: F32, d: PatchDims): void {
  const { batch, cv, cin, depth, height, width, channels: C, patch: p, tdepth: t } = d;
  const nz = depth / t, nh = height / p, nw = width / p;
  for (let o = 0; o < C; o++) {
    for (let i = 0; i < cin; i++) {
      const vi = cv === 1 ? 0 : i;
      for (let tau = 0; tau < t; tau++) {
        for (let y = 0; y < p; y++) {
          for (let xx = 0; xx < p; xx++) {
            let acc = 0; // float64
            for (let b = 0; b < batch; b++) {
              for (let z = 0; z < nz; z++) {
                for (let r = 0; r < nh; r++) {
                  for (let c = 0; c < nw; c++) {
                    const g = dout[(((b * nz + z) * nh + r) * nw + c) * C + o];
                    acc += g * vol[(((b * cv + vi) * depth + z * t + tau) * height + r * p + y) * width + c * p + xx];
                  }
                }
              }
            }
            dweight[(((o * cin + i) * t + tau) * p + y) * p + xx] = acc;
          }
        }
      }
    }
  }
}

export const patchReference: Pick<Kernels, "patchEmbed" | "patchEmbedBackward"> = { patchEmbed, patchEmbedBackward };
