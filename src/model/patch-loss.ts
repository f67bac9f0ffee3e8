/**
 * The patch finding loss: an auxiliary training objective that asks the vision encoder to say, at
 * each patch token, which kinds of finding the patch covers. Channel k of a patch token's encoder
 * output is read as the logit of "kind k covers this patch" (kinds in PATCH_KINDS order; no new
 * weights: the encoder learns to put the answer there), and the loss is a balanced binary
 * cross-entropy per kind:
 *   L_k = 1/2 mean_{covered} softplus(-z) + 1/2 mean_{not covered} softplus(z)   (an empty set adds 0)
 *   L_patch = mean_k L_k
 * so that a finding covering 1 patch in 500 weighs as much as the 499 without it. The class tokens
 * take no part. A volume's cover marks are per input slice; a depth patch of t slices is covered
 * when any of its slices is. Plain float64 math with the deterministic exp/log (src/detmath.ts):
 * the same bits on every engine. Training only (src/train/model-backward.ts reads the gradient).
 * Legend: B batch · D depth (patches) · S=1+n^2 · C width · K kinds.
 */
import { exp, log } from "../detmath.js";
import { ShapeError, ValueError, fmtShape } from "../errors.js";
import type { F32Tensor } from "../tensor.js";

/** The finding kinds of the cover bits and of encoder channels 0..K-1, in this order (bit k = 1 << k). */
export const PATCH_KINDS = ["nodule", "effusion", "cyst"] as const;

/** The loss and its gradient with respect to the encoder output (only channels 0..K-1 of patch tokens are non-zero). */
export interface PatchLoss {
  value: number;
  /** dL_patch/dz for each patch token and kind [B, D, n^2, K] (to be scaled by the loss weight). */
  dz: Float32Array;
}

/**
 * L_patch of encoder output x [B, D, S, C] against cover marks [B, D_in * n^2] (bit k of byte
 * (b, slice, patch) set when kind k covers that patch on that slice; D_in = D * t).
 */
export function patchLoss(x: F32Tensor, cover: Uint8Array, depthPatch: number): PatchLoss {
  const [B, D, S, C] = x.shape, nn = S - 1, K = PATCH_KINDS.length;
  if (x.rank !== 4 || C < K) throw new ShapeError(`patchLoss: x: expected [B, D, S, C] with C >= ${K}, got ${fmtShape(x.shape)}`);
  if (cover.length !== B * D * depthPatch * nn) throw new ShapeError(`patchLoss: cover: expected ${B * D * depthPatch * nn} marks (B=${B} x ${D * depthPatch} slices x ${nn} patches), got ${cover.length}`);
  const y = groupCover(cover, B * D, depthPatch, nn); // [B*D, nn]
  const pos = new Float64Array(K), neg = new Float64Array(K);
  for (let i = 0; i < y.length; i++) for (let k = 0; k < K; k++) (y[i] >> k) & 1 ? pos[k]++ : neg[k]++;
  const dz = new Float32Array(B * D * nn * K);
  let value = 0;
  for (let r = 0; r < B * D; r++) {
    for (let p = 0; p < nn; p++) {
      for (let k = 0; k < K; k++) {
        const z = x.data[(r * S + 1 + p) * C + k], on = (y[r * nn + p] >> k) & 1;
        const w = 0.5 / (K * (on ? pos[k] : neg[k])); // each kind's two halves weigh 1/(2K)
        value += w * softplus(on ? -z : z);
        dz[(r * nn + p) * K + k] = w * (sigmoid(z) - on);
      }
    }
  }
  return { value, dz };
}

/** Cover marks per depth patch: the OR of its t slices' marks [R, nn] (R = B * D). */
function groupCover(cover: Uint8Array, R: number, t: number, nn: number): Uint8Array {
  if (!(Number.isInteger(t) && t >= 1)) throw new ValueError(`patchLoss: depthPatch: expected an integer >= 1, got ${t}`);
  if (t === 1) return cover;
  const out = new Uint8Array(R * nn);
  for (let r = 0; r < R; r++) for (let s = 0; s < t; s++) for (let p = 0; p < nn; p++) out[r * nn + p] |= cover[(r * t + s) * nn + p];
  return out;
}

/** log(1 + e^z) without overflow. */
function softplus(z: number): number {
  return Math.max(z, 0) + log(1 + exp(-Math.abs(z)));
}

function sigmoid(z: number): number {
  const e = exp(-Math.abs(z));
  return z >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/** Adds weight * dz into the patch tokens' channels 0..K-1 of dx [B, D, S, C] (class tokens untouched). */
export function addPatchGrad(dx: F32Tensor, dz: Float32Array, weight: number): void {
  const [, , S, C] = dx.shape, nn = S - 1, K = PATCH_KINDS.length, rows = dz.length / (nn * K);
  for (let r = 0; r < rows; r++) {
    for (let p = 0; p < nn; p++) {
      for (let k = 0; k < K; k++) dx.data[(r * S + 1 + p) * C + k] += weight * dz[(r * nn + p) * K + k];
    }
  }
}
