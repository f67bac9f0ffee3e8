/**
 * The projector (spec section 5): vision tokens [B, D, S, C] -> m language-model tokens
 * [B, m, d_lm], m = (D/depth_pool) * (n/2)^2. Drop class tokens, 2x2 merge, depth pooling, 2-layer MLP.
 * Legend: B batch · D depth · n=W/p · S=1+n^2 · C width.
 */
import type { Backend } from "../backend/backend.js";
import { ShapeError, fmtShape } from "../errors.js";
import { permute, type F32Tensor } from "../tensor.js";
import type { ModelConfig } from "./config.js";
import { dropFirstRow, merge2x2 } from "./layout.js";
import { scope, type Params } from "./params.js";
import type { Tape } from "./tape.js";
import { mlp } from "./vit.js";

/** Number of image tokens m for a volume of D slices (D before depth patching). */
export function imageTokens(cfg: ModelConfig, D: number): number {
  const n = cfg.vision.image / cfg.vision.patch;
  return (D / cfg.vision.depthPatch / cfg.projector.depthPool) * (n / 2) ** 2;
}

/** x [B, D, S, C] -> [B, m, 4C]: patches only, 2x2 merged (order (2r,2c),(2r,2c+1),(2r+1,2c),(2r+1,2c+1)), depth-averaged, flattened (d, r, c). */
export function mergeTokens(be: Backend, x: F32Tensor, depthPool: number): F32Tensor {
  const [B, D, S, C] = x.shape;
  const n = Math.round(Math.sqrt(S - 1));
  if (n * n !== S - 1 || D % depthPool !== 0) {
    throw new ShapeError(`mergeTokens: x: expected [B, D, 1+n^2, C] with D divisible by depth_pool=${depthPool}, got ${fmtShape(x.shape)}`);
  }
  const patches = dropFirstRow(x.reshape([B * D, S, C])).reshape([B, D, n, n, C]);
  let merged = merge2x2(patches); // [B, D, n/2, n/2, 4C]
  const R = (n / 2) * (n / 2) * 4 * C, Dp = D / depthPool;
  if (depthPool > 1) {
    // mean over groups of depth_pool consecutive slices: [B, Dp, dp, R] -> [B, Dp, R, dp] -> mean
    merged = be.mean(permute(merged.reshape([B, Dp, depthPool, R]), [0, 1, 3, 2]));
  }
  return merged.reshape([B, Dp * (n / 2) * (n / 2), 4 * C]);
}

/** x [B, D, S, C] -> Z [B, m, d_lm] = fc2(act(fc1(merge(x)))) (act.projector; the MLP shape of vit.ts:mlp). */
export function project(be: Backend, params: Params, cfg: ModelConfig, x: F32Tensor, tape?: Tape): F32Tensor {
  const t = mergeTokens(be, x, cfg.projector.depthPool); // [B, m, 4C]
  const z = mlp(be, scope(params, "projector"), t, cfg.projector.act, tape);
  tape?.push("project", { xShape: x.shape });
  return z;
}
