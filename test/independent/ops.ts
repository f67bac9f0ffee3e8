/**
 * Float64 primitives of the independent TGH-MoE oracle, written from /work/shared/SPEC.md section 0 alone.
 * Plain loops over Float64Array, never optimised, sharing nothing with src/, reference/ or kernels/.
 *
 * Legend: B batch · D,H,W volume · p patch · n=W/p · S=1+n^2 tokens per slice · C width · NH heads ·
 * dh head size · E experts · T tasks · k top-k · L text tokens · V vocab. Rows are tokens, row-major.
 */

export type F64 = Float64Array;

/** y[r, o] = sum_i x[r, i] W[o, i] + b[o]  (spec 0: y = x @ W^T + b, W is [out, in]). x: [rows, nIn]. */
export function linear(x: F64, rows: number, nIn: number, W: F64, b: F64 | null, nOut: number): F64 {
  if (W.length !== nOut * nIn) throw new Error(`linear: W has ${W.length} elements, expected ${nOut}x${nIn}`);
  const y = new Float64Array(rows * nOut);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < nOut; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < nIn; i++) acc += x[r * nIn + i] * W[o * nIn + i];
      y[r * nOut + o] = acc;
    }
  }
  return y;
}

/** LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta, biased variance. */
export function layerNorm(x: F64, rows: number, C: number, gamma: F64, beta: F64, eps: number): F64 {
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c];
    mean /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - mean) ** 2;
    v /= C;
    const inv = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] - mean) * inv * gamma[c] + beta[c];
  }
  return y;
}

/** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * gamma. */
export function rmsNorm(x: F64, rows: number, C: number, gamma: F64, eps: number): F64 {
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    let ms = 0;
    for (let c = 0; c < C; c++) ms += x[r * C + c] ** 2;
    const inv = 1 / Math.sqrt(ms / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = x[r * C + c] * inv * gamma[c];
  }
  return y;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** The activations of spec 0, by config name. */
export function activation(name: string, x: F64): F64 {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const z = x[i];
    if (name === "gelu_tanh") y[i] = 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z * z * z)));
    else if (name === "quick_gelu") y[i] = z * sigmoid(1.702 * z);
    else if (name === "silu") y[i] = z * sigmoid(z);
    else throw new Error(`activation: unknown ${name}`);
  }
  return y;
}

/** Softmax of one vector, subtracting its max. */
export function softmax(v: ArrayLike<number>): F64 {
  let mx = -Infinity;
  for (let i = 0; i < v.length; i++) mx = Math.max(mx, v[i]);
  const out = new Float64Array(v.length);
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += out[i] = Math.exp(v[i] - mx);
  for (let i = 0; i < v.length; i++) out[i] /= sum;
  return out;
}

/** Indices of the k largest, descending; equal scores: lower index first (ONNX TopK). */
export function topk(v: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: v.length }, (_, i) => i);
  idx.sort((a, b) => (v[b] !== v[a] ? v[b] - v[a] : a - b));
  return idx.slice(0, k);
}

/** argmax with ties to the lower index. */
export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/**
 * Rotary embedding, rotate-half, in place on x: [rows, heads*dh]. posOf(row, j) is the position used
 * by pair j of that row; angle a = pos * base^(-2j/dh);
 * x'[j] = x[j] cos a - x[j+dh/2] sin a, x'[j+dh/2] = x[j+dh/2] cos a + x[j] sin a.
 * `interleaved` pairs (2j, 2j+1) instead (GPT-J form): a rejected alternative, for the oracle test only.
 */
export function rope(
  x: F64, rows: number, heads: number, dh: number, base: number, posOf: (row: number, j: number) => number, interleaved = false,
): void {
  const half = dh / 2, width = heads * dh;
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < heads; h++) {
      const o = r * width + h * dh;
      for (let j = 0; j < half; j++) {
        const a = posOf(r, j) * Math.pow(base, (-2 * j) / dh);
        const c = Math.cos(a), s = Math.sin(a);
        const i1 = interleaved ? o + 2 * j : o + j, i2 = interleaved ? i1 + 1 : o + j + half;
        const x1 = x[i1], x2 = x[i2];
        x[i1] = x1 * c - x2 * s;
        x[i2] = x2 * c + x1 * s;
      }
    }
  }
}

/**
 * softmax(q k^T / sqrt(dh) + mask) v for one sequence of T tokens. q: [T, NH*dh], k and v:
 * [T, KV*dh]; query head h reads kv head floor(h / (NH/KV)) (LLaMA repeat_kv; `tileKv` = h % KV, a
 * rejected alternative). causal masks j > i; `keyMask[j] = false` masks key j (-inf logit) everywhere.
 * Returns [T, NH*dh].
 */
export function attention(
  q: F64, k: F64, v: F64, T: number, NH: number, KV: number, dh: number, causal: boolean, keyMask?: boolean[], tileKv = false,
): F64 {
  const out = new Float64Array(T * NH * dh);
  const group = NH / KV, scale = 1 / Math.sqrt(dh);
  const logits = new Float64Array(T);
  for (let h = 0; h < NH; h++) {
    const kvh = tileKv ? h % KV : Math.floor(h / group);
    for (let i = 0; i < T; i++) {
      const n = causal ? i + 1 : T;
      for (let j = 0; j < n; j++) {
        let dot = 0;
        for (let c = 0; c < dh; c++) dot += q[i * NH * dh + h * dh + c] * k[j * KV * dh + kvh * dh + c];
        logits[j] = keyMask && !keyMask[j] ? -Infinity : dot * scale;
      }
      const p = softmax(logits.subarray(0, n));
      for (let j = 0; j < n; j++) {
        for (let c = 0; c < dh; c++) out[i * NH * dh + h * dh + c] += p[j] * v[j * KV * dh + kvh * dh + c];
      }
    }
  }
  return out;
}

/** x += a * y, elementwise, in place. */
export function addScaled(x: F64, y: F64, a = 1): void {
  for (let i = 0; i < x.length; i++) x[i] += a * y[i];
}
