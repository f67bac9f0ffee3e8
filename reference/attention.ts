/**
 * Reference attention: the unfused composition softmax(q k^T * scale + mask) v, one query row at a
 * time, in plain scalar loops with float64 accumulation. The correctness oracle; never optimised.
 *
 * Legend: B batch · NH heads · KV kv heads · dh head size · nq queries · nk keys.
 */
import type { AttentionDims, F32, Kernels } from "../src/backend/kernels.js";

/**
 * The scores of query i of head h in batch b, into s [nk]: s_j = scale * (q_i . k_j) + mask[b, i, j],
 * and s_j = -Infinity for the keys a causal query does not see (j > i + nk - nq). The backward
 * (reference/attention_backward.ts) recomputes its probabilities from these.
 */
export function scoreRow(s: Float64Array, q: F32, k: F32, d: AttentionDims, b: number, h: number, i: number): void {
  const { nq, nk, heads, kvHeads, dh, scale, causal, mask, maskBatch } = d;
  const group = heads / kvHeads; // query heads per kv head
  const qw = heads * dh, kw = kvHeads * dh; // row widths of q/out and of k/v
  const mb = maskBatch === 1 ? 0 : b;
  const kh = Math.floor(h / group);
  const qo = (b * nq + i) * qw + h * dh;
  const last = causal ? i + nk - nq : nk - 1; // the last key query i may see
  for (let j = 0; j < nk; j++) {
    if (j > last) {
      s[j] = -Infinity;
      continue;
    }
    const ko = (b * nk + j) * kw + kh * dh;
    let dot = 0;
    for (let c = 0; c < dh; c++) dot += q[qo + c] * k[ko + c];
    s[j] = scale * dot + (mask ? mask[(mb * nq + i) * nk + j] : 0);
  }
}

/**
 * q [B, nq, NH*dh], k and v [B, nk, KV*dh] -> out [B, nq, NH*dh]; mask [maskBatch, nq, nk].
 * Per (b, h, i): scores s_j = scale * (q_i . k_j) + mask[b, i, j], with s_j = -Infinity for the keys
 * a causal query does not see (j > i + nk - nq); p = softmax(s) (the row max subtracted first);
 * out_i = sum_j p_j v_j. A row whose keys are all masked (every s_j = -Infinity) gives zeros,
 * not NaN: it attends to nothing.
 */
function attention(out: F32, q: F32, k: F32, v: F32, d: AttentionDims): void {
  const { batch, nq, nk, heads, kvHeads, dh } = d;
  const group = heads / kvHeads; // query heads per kv head
  const qw = heads * dh, kw = kvHeads * dh; // row widths of q/out and of k/v
  const s = new Float64Array(nk); // scores, then probabilities, of one query row
  const acc = new Float64Array(dh);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kh = Math.floor(h / group);
      for (let i = 0; i < nq; i++) {
        const qo = (b * nq + i) * qw + h * dh;
        scoreRow(s, q, k, d, b, h, i);
        let max = -Infinity;
        for (let j = 0; j < nk; j++) max = Math.max(max, s[j]); // a NaN score makes the row NaN
        // softmax, max subtracted; all keys masked: the row stays zero
        acc.fill(0);
        if (max !== -Infinity) {
          let sum = 0;
          for (let j = 0; j < nk; j++) {
            s[j] = Math.exp(s[j] - max);
            sum += s[j];
          }
          // weighted sum of values
          for (let j = 0; j < nk; j++) {
            const p = s[j] / sum;
            const vo = (b * nk + j) * kw + kh * dh;
            for (let c = 0; c < dh; c++) acc[c] += p * v[vo + c];
          }
        }
        for (let c = 0; c < dh; c++) out[qo + c] = acc[c];
      }
    }
  }
}

export const attentionReference: Pick<Kernels, "attention"> = { attention };
