/**
 * The small pieces every backward uses: the Linear backward (matmul with transposes, written into
 * the gradient accumulators in place), column sums (a matmul with a row of ones), and row-broadcast
 * products for [N, k]-sized routing math. The broadcast helpers are one IEEE float32 operation per
 * element in plain TS, like Backend.divRows: no kernel, the same bits on both backends.
 * Legend: N rows · k top-k.
 */
import type { Backend } from "../backend/backend.js";
import { ShapeError, fmtShape } from "../errors.js";
import type { ParamScope } from "../model/params.js";
import { Tensor, type F32Tensor } from "../tensor.js";
import type { Ctx } from "./grads.js";

/** [1, n] of ones (the left operand of a column sum). */
export function onesRow(n: number): F32Tensor {
  return new Tensor("f32", [1, n], new Float32Array(n).fill(1));
}

/** x [R, c] -> [c] = 1^T x (the sum over rows, as one matmul). */
export function colSum(be: Backend, x: F32Tensor): F32Tensor {
  return be.matmul(onesRow(x.dim(0)), x).reshape([x.dim(1)]);
}

/** Does any weight under these scopes train? */
export function trains(ctx: Ctx, ...scopes: ParamScope[]): boolean {
  return scopes.some((W) => ctx.grads.any(`${W.prefix}.`));
}

/**
 * y = x W^T + b over the last axis (W("weight") [out, in], W("bias") [out] when it exists):
 *   dW += dy^T x,  db += 1^T dy  (only for trainable weights; accumulated in place),
 *   dx = dy W      (only when `needDx`; else null).
 */
export function linearBackward(ctx: Ctx, dy: F32Tensor, x: F32Tensor, W: ParamScope, needDx: boolean): F32Tensor | null {
  if (needDx) return linearBackwardDx(ctx, dy, x, W);
  linearWeightGrads(ctx, dy, x, W);
  return null;
}

/** linearBackward when the input needs its gradient: the weight gradients, and dx = dy W. */
export function linearBackwardDx(ctx: Ctx, dy: F32Tensor, x: F32Tensor, W: ParamScope): F32Tensor {
  const { weight, dy2 } = linearWeightGrads(ctx, dy, x, W);
  return ctx.be.matmul(dy2, weight).reshape(x.shape);
}

/** dW += dy^T x, db += 1^T dy for the trainable ones; returns W and dy as [rows, out]. */
function linearWeightGrads(ctx: Ctx, dy: F32Tensor, x: F32Tensor, W: ParamScope): { weight: F32Tensor; dy2: F32Tensor } {
  const { be, params, grads } = ctx;
  const weight = W("weight");
  const [out, inp] = weight.shape;
  const rows = x.size / inp;
  if (dy.size !== rows * out) throw new ShapeError(`linearBackward: ${W.prefix}: dy: expected [..., ${out}] for x ${fmtShape(x.shape)}, got ${fmtShape(dy.shape)}`);
  const dy2 = dy.reshape([rows, out]);
  if (grads.wants(W.key("weight"))) be.matmul(dy2, x.reshape([rows, inp]), { transA: true, accumulate: grads.slot(W.key("weight")) });
  if (params.has(W.key("bias")) && grads.wants(W.key("bias"))) {
    be.matmul(onesRow(rows), dy2, { accumulate: grads.slot(W.key("bias")).reshape([1, out]) });
  }
  return { weight, dy2 };
}

/** out[r, c] = x[r, c] * w[r] (x [N, c], w [N]). */
export function mulRows(x: F32Tensor, w: F32Tensor): F32Tensor {
  return rowwise(x, w, (a, b) => a * b);
}

/** out[r, c] = x[r, c] - d[r] (x [N, c], d [N]). */
export function subRows(x: F32Tensor, d: F32Tensor): F32Tensor {
  return rowwise(x, d, (a, b) => a - b);
}

/** out[r] = sum_c a[r, c] b[r, c] (a mul and a row sum on the backend). */
export function rowDot(be: Backend, a: F32Tensor, b: F32Tensor): F32Tensor {
  return be.sum(be.mul(a, b));
}

function rowwise(x: F32Tensor, d: F32Tensor, f: (a: number, b: number) => number): F32Tensor {
  const cols = x.dim(-1), rows = x.size / cols;
  if (d.size !== rows) throw new ShapeError(`rowwise: d: expected ${rows} values for x ${fmtShape(x.shape)}, got ${fmtShape(d.shape)}`);
  const out = new Tensor("f32", x.shape);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out.data[r * cols + c] = f(x.data[r * cols + c], d.data[r]);
  }
  return out;
}
