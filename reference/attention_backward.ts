/**
 * Reference attention backward: the probabilities of one query row recomputed exactly as
 * reference/attention.ts does, then the gradients, in plain scalar loops with float64 accumulation
 * (dk and dv summed over every query and every head of a kv group before one rounding). The oracle
 * for kernels/attention_backward.ts; never optimised.
 *
 * Legend: B batch · NH heads · KV kv heads · dh head size · nq queries · nk keys.
 */
import type { AttentionDims, F32, Kernels } from "../src/backend/kernels.js";
import { scoreRow } from "./attention.js";

/**
 * Per (b, h, i), with P_ij = softmax_j(scale q_i . k_j + mask_ij) (causal keys j > i + nk - nq cut):
 *   D_i = dout_i . out_i
 *   dv_j += P_ij dout_i
 *   dS_ij = P_ij (dout_i . v_j - D_i)
 *   dq_i = scale sum_j dS_ij k_j ;  dk_j += scale dS_ij q_i
 * A row whose keys are all masked attends to nothing and contributes nothing.
 */
function attentionBackward(dq: F32, dk: F32, dv: F32, dout: F32, q: F32, k: F32, v: F32, out: F32, d: AttentionDims): void {
  const { batch, nq, nk, heads, kvHeads, dh, scale } = d;
  const group = heads / kvHeads;
  const qw = heads * dh, kw = kvHeads * dh;
  const p = new Float64Array(nk);
  const dqAcc = new Float64Array(dh);
  const dkAcc = new Float64Array(batch * nk * kw), dvAcc = new Float64Array(batch * nk * kw);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kh = Math.floor(h / group);
      for (let i = 0; i < nq; i++) {
        const qo = (b * nq + i) * qw + h * dh;
        // probabilities, as in the forward
        scoreRow(p, q, k, d, b, h, i);
        let max = -Infinity;
        for (let j = 0; j < nk; j++) if (p[j] > max) max = p[j]; // NaN scores are passed over here
        dqAcc.fill(0);
        if (max !== -Infinity) {
          let sum = 0;
          for (let j = 0; j < nk; j++) {
            p[j] = Math.exp(p[j] - max);
            sum += p[j];
          }
          let D = 0;
          for (let c = 0; c < dh; c++) D += dout[qo + c] * out[qo + c];
          for (let j = 0; j < nk; j++) {
            const pj = p[j] / sum;
            if (pj === 0) continue;
            const ko = (b * nk + j) * kw + kh * dh;
            let dp = 0;
            for (let c = 0; c < dh; c++) dp += dout[qo + c] * v[ko + c];
            const ds = pj * (dp - D);
            for (let c = 0; c < dh; c++) {
              dvAcc[ko + c] += pj * dout[qo + c];
              dqAcc[c] += scale * ds * k[ko + c];
              dkAcc[ko + c] += scale * ds * q[qo + c];
            }
          }
        }
        for (let c = 0; c < dh; c++) dq[qo + c] = dqAcc[c];
      }
    }
  }
  dk.set(dkAcc);
  dv.set(dvAcc);
}

export const attentionBackwardReference: Pick<Kernels, "attentionBackward"> = { attentionBackward };
