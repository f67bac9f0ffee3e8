/**
 * Depth inflation of the 2D patch kernel (spec section 3): W3[:, :, tau] = W2 / t for each of the t
 * slices, so a volume constant along depth embeds exactly as its 2D slice does. Weights only; no ops.
 */
import { DTypeError, ShapeError, assertInt, fmtShape } from "../errors.js";
import { Tensor, type F32Tensor } from "../tensor.js";

/** w2d [C, cin, p, p] -> [C, cin, t, p, p] with every depth slice equal to w2d / t (float32). */
export function inflateDepth(w2d: F32Tensor, t: number): F32Tensor {
  if (w2d.dtype !== "f32") throw new DTypeError(`inflateDepth: w2d: expected dtype f32, got ${w2d.dtype}`);
  if (w2d.rank !== 4) throw new ShapeError(`inflateDepth: w2d: expected [C, cin, p, p], got ${fmtShape(w2d.shape)}`);
  assertInt("inflateDepth", "t", t, 1);
  const [C, cin, ph, pw] = w2d.shape;
  const w3 = new Tensor("f32", [C, cin, t, ph, pw]);
  const plane = ph * pw;
  for (let oc = 0; oc < C * cin; oc++) {
    for (let tau = 0; tau < t; tau++) {
      for (let e = 0; e < plane; e++) {
        w3.data[(oc * t + tau) * plane + e] = w2d.data[oc * plane + e] / t;
      }
    }
  }
  return w3;
}
