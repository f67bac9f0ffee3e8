/**
 * The primitive set: the one interface that `reference/` (scalar TS, float64 accumulation) and
 * `kernels/` (AssemblyScript SIMD, via src/backend/wasm.ts) both implement. Raw typed arrays,
 * output first, sizes explicit, row-major and contiguous. No validation happens here: callers go
 * through `Backend` (backend.ts), which checks shapes and dtypes once and allocates outputs.
 * Outputs never alias inputs unless a comment says so.
 *
 * Legend: B batch · D,H,W volume · p patch · n=W/p · S=1+n^2 tokens per slice · C width ·
 * NH heads · dh head size · E experts · T tasks · k top-k · L text tokens · V vocab.
 */
export type F32 = Float32Array;
export type I32 = Int32Array;

/** out[b] (m x n) = op(A[b]) op(B[b]) (+ out[b] if accumulate). op(A) = A^T when transA. */
export interface MatmulDims {
  batch: number;
  m: number;
  n: number;
  k: number;
  /** A[b] is stored [k, m] instead of [m, k]. */
  transA: boolean;
  /** B[b] is stored [n, k] instead of [k, n] (the PyTorch Linear weight layout). */
  transB: boolean;
  /** Add into the existing contents of out instead of overwriting them. */
  accumulate: boolean;
  /** A has batch extent 1 and is shared by every batch entry. */
  broadcastA: boolean;
  /** B has batch extent 1 and is shared by every batch entry (a weight). */
  broadcastB: boolean;
}

/**
 * Row softmax over `cols`, max-subtracted. Rows are [rows/maskRows... , qLen] blocks.
 * A -Infinity score (mask entry or causal cut) gives exactly 0; a row whose scores are all
 * -Infinity gives all zeros, not NaN. A NaN or +Infinity score makes its row NaN.
 */
export interface SoftmaxDims {
  rows: number;
  cols: number;
  /** Additive mask [maskRows, cols], repeated over rows (row r uses mask row r % maskRows); null: none. */
  mask: F32 | null;
  maskRows: number;
  /**
   * Causal: row r is query q = r % qLen at absolute position q + (cols - qLen); it keeps
   * columns j <= q + cols - qLen. (qLen = cols: plain lower triangle; qLen = 1: KV-cache step.)
   */
  causal: boolean;
  qLen: number;
}

/** Rotary embedding, rotate-half, on x [tokens, NH*dh] with integer positions pos [tokens, axes]. */
export interface RopeDims {
  tokens: number;
  heads: number;
  dh: number;
  /** Position axes per token (1: plain 1D; 3: depth,row,col of the spec's "dhw" form). */
  axes: number;
  /** Pairs per axis, summing to dh/2; pair j uses pos[axis(j)], angle pos * base^(-2j/dh) (j global). */
  sections: readonly number[];
  base: number;
}

/**
 * Strided convolution, kernel = stride = (t, p, p), no bias.
 * vol [B, cv, D, H, W] with cv = cin, or cv = 1 meaning "replicate the one channel cin times";
 * weight [C, cin, t, p, p]; out [B, D/t, n_h*n_w, C], patches in raster order (row-major r, c).
 */
export interface PatchDims {
  batch: number;
  cv: number;
  cin: number;
  depth: number;
  height: number;
  width: number;
  channels: number;
  patch: number;
  tdepth: number;
}

/**
 * softmax(q k^T * scale + mask) v per head. q [B, nq, NH*dh], k and v [B, nk, KV*dh],
 * out [B, nq, NH*dh]; query head h reads kv head floor(h / (NH/KV)) (grouped-query).
 * Memory O(nq*dh) beyond the operands: no [nq, nk] score matrix is materialised.
 */
export interface AttentionDims {
  batch: number;
  nq: number;
  nk: number;
  heads: number;
  kvHeads: number;
  dh: number;
  scale: number;
  /** Causal with KV-cache offset: query i sits at position i + nk - nq and keeps keys j <= that. */
  causal: boolean;
  /** Additive mask [maskBatch, nq, nk] (maskBatch 1 or B, shared by heads); null: none. */
  mask: F32 | null;
  maskBatch: number;
}

/**
 * The scalars of one AdamW step (see `Kernels.adamw`), each taken as a float32 (Math.fround), as
 * the optimizer rounds them (src/train/adamw.ts).
 */
export interface AdamwScalars {
  /** 1 - lr * weightDecay (1: no decay). */
  decay: number;
  b1: number;
  /** 1 - b1 */
  c1: number;
  b2: number;
  /** 1 - b2 */
  c2: number;
  /** lr / (1 - b1^t) */
  stepSize: number;
  /** sqrt(1 - b2^t) */
  bc2Sqrt: number;
  eps: number;
}

export interface Kernels {
  readonly name: string;
  /** Threads the kernels run on (absent: 1). Any count gives the same bits. */
  readonly threads?: number;
  /** Stops worker threads, if any (the kernels must not be used afterwards). */
  close?(): void;

  // ---- linear algebra
  matmul(out: F32, a: F32, b: F32, d: MatmulDims): void;
  /**
   * Optional: keep this array (a weight, used as matmul's b) in the kernels' memory from its first
   * use on, instead of copying it per call. The caller must report every later write to it.
   */
  keepResident?(data: F32): void;
  /** Optional: the kept array's values changed (an optimizer step); the next use copies it again. */
  weightsChanged?(data: F32): void;

  // ---- elementwise (n elements); out may alias an input
  add(out: F32, a: F32, b: F32, n: number): void;
  mul(out: F32, a: F32, b: F32, n: number): void;
  /** out = a * s, s taken as a float32 (Math.fround(s)), as PyTorch does for a Python scalar. */
  scale(out: F32, a: F32, s: number, n: number): void;
  /** out[r, c] = x[r, c] + bias[c] */
  addBias(out: F32, x: F32, bias: F32, rows: number, cols: number): void;
  geluTanh(out: F32, x: F32, n: number): void;
  quickGelu(out: F32, x: F32, n: number): void;
  silu(out: F32, x: F32, n: number): void;
  /** out = silu(gate) * up (SwiGLU's product) */
  swiglu(out: F32, gate: F32, up: F32, n: number): void;

  /**
   * One AdamW step in place over n elements (w, m, v written, g read; none alias), every operation
   * a float32 rounding, in this order: m = b1 m + c1 g; v = b2 v + c2 (g g);
   * w = w decay - stepSize (m / (sqrt(v) / bc2Sqrt + eps)).
   */
  adamw(w: F32, m: F32, v: F32, g: F32, n: number, s: AdamwScalars): void;

  // ---- rows
  softmax(out: F32, x: F32, d: SoftmaxDims): void;
  layerNorm(out: F32, x: F32, gamma: F32, beta: F32, rows: number, cols: number, eps: number): void;
  rmsNorm(out: F32, x: F32, gamma: F32, rows: number, cols: number, eps: number): void;
  sumRows(out: F32, x: F32, rows: number, cols: number): void;
  meanRows(out: F32, x: F32, rows: number, cols: number): void;
  maxRows(out: F32, x: F32, rows: number, cols: number): void;
  /**
   * Per row: the k largest in descending order, equal values ordered by lower index first.
   * -0 equals +0; NaN ranks below every number (-Infinity included), so it is selected only when
   * a row has fewer than k numbers. values carry the input's own bits.
   */
  topk(values: F32, indices: I32, x: F32, rows: number, cols: number, k: number): void;

  // ---- positions, patches, attention
  rope(out: F32, x: F32, pos: I32, d: RopeDims): void;
  patchEmbed(out: F32, vol: F32, weight: F32, d: PatchDims): void;
  attention(out: F32, q: F32, k: F32, v: F32, d: AttentionDims): void;

  // ---- indexing (expert dispatch, embedding lookup); indices already validated in range
  /** out[i, :] = x[idx[i], :] for i < count */
  gatherRows(out: F32, x: F32, idx: I32, count: number, cols: number): void;
  /** out[idx[i], :] += w[i] * src[i, :] (w null: 1), in order of i (deterministic). */
  scatterAddRows(out: F32, src: F32, idx: I32, w: F32 | null, count: number, cols: number): void;

  // ---- backward (training): the gradients of the ops above. A `d` prefix names a gradient
  // (dx = dL/dx). Every output is overwritten (sums over rows included), never accumulated, and
  // never aliases an input. Matmul, rope (negated positions) and gather/scatter are their own adjoints.
  /** y = softmax(x) per row [rows, cols]: dx = y * (dy - sum_j y_j dy_j). */
  softmaxBackward(dx: F32, y: F32, dy: F32, rows: number, cols: number): void;
  /**
   * y = layerNorm(x) per row (mean and rstd recomputed from x): with xh = (x - mean) * rstd and
   * g = dy * gamma, dx = rstd * (g - mean(g) - xh * mean(g * xh)); dgamma = sum_rows dy * xh,
   * dbeta = sum_rows dy ([cols] each).
   */
  layerNormBackward(dx: F32, dgamma: F32, dbeta: F32, dy: F32, x: F32, gamma: F32, rows: number, cols: number, eps: number): void;
  /** y = x * r * gamma, r = 1/sqrt(mean(x^2) + eps): dx = r g - x r^3 mean(g x), g = dy * gamma; dgamma = sum_rows dy * x * r. */
  rmsNormBackward(dx: F32, dgamma: F32, dy: F32, x: F32, gamma: F32, rows: number, cols: number, eps: number): void;
  /** dx = dy * act'(x) for the three activations (limits at +-Infinity: 1 and 0). */
  geluTanhBackward(dx: F32, x: F32, dy: F32, n: number): void;
  quickGeluBackward(dx: F32, x: F32, dy: F32, n: number): void;
  siluBackward(dx: F32, x: F32, dy: F32, n: number): void;
  /** y = silu(gate) * up: dgate = dy * up * silu'(gate), dup = dy * silu(gate). */
  swigluBackward(dgate: F32, dup: F32, gate: F32, up: F32, dy: F32, n: number): void;
  /**
   * Gradients of `attention` (same dims): dq [B, nq, NH*dh], dk and dv [B, nk, KV*dh] (summed over
   * the NH/KV query heads that share a kv head) from dout and the forward's q, k, v and out. The
   * probabilities P are recomputed from q, k (mask, causal rule), never stored:
   *   D_i = dout_i . out_i;  dv_j = sum_i P_ij dout_i;  dS_ij = P_ij (dout_i . v_j - D_i);
   *   dq_i = scale sum_j dS_ij k_j;  dk_j = scale sum_i dS_ij q_i.
   * A query that sees no key (all masked) has out = 0 and passes no gradient.
   */
  attentionBackward(dq: F32, dk: F32, dv: F32, dout: F32, q: F32, k: F32, v: F32, out: F32, d: AttentionDims): void;
  /**
   * The weight gradient of `patchEmbed` (the volume is data, it gets none): dweight [C, cin, t, p, p]
   *   dweight[o, i, tau, y, x] = sum_{b, z, r, c} dout[b, z, r*n_w + c, o] * vol[b, cv == 1 ? 0 : i, z*t + tau, r*p + y, c*p + x].
   */
  patchEmbedBackward(dweight: F32, dout: F32, vol: F32, d: PatchDims): void;
}
