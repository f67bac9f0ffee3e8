/**
 * Incremental decoding of the language model (spec section 6): the KV cache, and lmExtend, which is
 * lm.ts:lmForward with a cache: each call appends n positions to the cached keys and values of
 * every layer and returns their logits. Prefill is one call with the whole prompt, a decoding step
 * a call with one token; the blocks are training's (lm.ts:lmBlock). Not the sampler (src/generate/).
 * Legend: B batch · n positions of one call · KV kv heads · dh head size · V vocab · d = lm width.
 */
import type { Backend } from "../backend/backend.js";
import { ShapeError, ValueError, fmtShape } from "../errors.js";
import { Tensor, type F32Tensor } from "../tensor.js";
import type { LmConfig } from "./config.js";
import { lmForward } from "./lm.js";
import type { Params } from "./params.js";
import type { KvLayer, KvStore } from "./types.js";


/**
 * Keys (after rotary) and values of the positions seen so far, per layer: [B, length, KV*dh] each,
 * position p at row p. GQA: only the KV heads are cached. Storage grows by doubling.
 */
export class KvCache implements KvStore {
  /** Positions cached (the next position to be appended). */
  length = 0;
  readonly width: number; // KV*dh
  private capacity: number;
  private readonly k: Float32Array[] = [];
  private readonly v: Float32Array[] = [];

  constructor(readonly lm: LmConfig, readonly batch: number, capacity = 64) {
    if (!Number.isInteger(batch) || batch < 1) throw new ValueError(`KvCache: batch: expected a positive integer, got ${batch}`);
    if (!Number.isInteger(capacity) || capacity < 1) throw new ValueError(`KvCache: capacity: expected a positive integer, got ${capacity}`);
    this.width = lm.kvHeads * (lm.width / lm.heads);
    this.capacity = capacity;
    for (let l = 0; l < lm.layers; l++) {
      this.k.push(new Float32Array(batch * capacity * this.width));
      this.v.push(new Float32Array(batch * capacity * this.width));
    }
  }

  /** Bytes held now (both k and v, every layer). */
  get bytes(): number {
    return 2 * this.lm.layers * this.batch * this.capacity * this.width * 4;
  }

  /**
   * Writes k, v [B, n, KV*dh] of layer l at positions length .. length+n-1 and returns the layer's
   * keys and values [B, length+n, KV*dh] (a view for B = 1, a copy otherwise). `advance(n)` then
   * moves `length` once every layer has appended.
   */
  append(l: number, k: F32Tensor, v: F32Tensor): { k: F32Tensor; v: F32Tensor } {
    const { batch: B, width: w } = this;
    const n = k.dim(1), total = this.length + n;
    if (k.rank !== 3 || k.dim(0) !== B || k.dim(2) !== w || fmtShape(v.shape) !== fmtShape(k.shape)) {
      throw new ShapeError(`KvCache.append: k, v: expected [${B}, n, ${w}], got ${fmtShape(k.shape)} and ${fmtShape(v.shape)}`);
    }
    if (total > this.capacity) this.grow(Math.max(2 * this.capacity, total));
    const cap = this.capacity;
    for (let b = 0; b < B; b++) {
      this.k[l].set(k.data.subarray(b * n * w, (b + 1) * n * w), (b * cap + this.length) * w);
      this.v[l].set(v.data.subarray(b * n * w, (b + 1) * n * w), (b * cap + this.length) * w);
    }
    return { k: this.prefix(this.k[l], total), v: this.prefix(this.v[l], total) };
  }

  advance(n: number): void {
    this.length += n;
  }

  /** Layer l, for lm.ts:lmBlock. */
  layer(l: number): KvLayer {
    return { append: (k, v) => this.append(l, k, v) };
  }

  /** Throws unless x [B, n, d] holds n >= 1 positions of this cache's B samples. */
  check(x: F32Tensor, op: string): void {
    if (x.rank !== 3 || x.dim(0) !== this.batch || x.dim(2) !== this.lm.width || x.dim(1) < 1) {
      throw new ShapeError(`${op}: x: expected [B=${this.batch}, n >= 1, d=${this.lm.width}], got ${fmtShape(x.shape)}`);
    }
  }

  /** Rows 0..len-1 of every sample as a contiguous [B, len, w] tensor. */
  private prefix(buf: Float32Array, len: number): F32Tensor {
    const { batch: B, width: w, capacity: cap } = this;
    if (B === 1) return new Tensor("f32", [1, len, w], buf.subarray(0, len * w));
    const out = new Tensor("f32", [B, len, w]);
    for (let b = 0; b < B; b++) out.data.set(buf.subarray(b * cap * w, (b * cap + len) * w), b * len * w);
    return out;
  }

  private grow(capacity: number): void {
    const { batch: B, width: w } = this;
    for (const bufs of [this.k, this.v]) {
      bufs.forEach((old, l) => {
        const next = new Float32Array(B * capacity * w);
        for (let b = 0; b < B; b++) next.set(old.subarray(b * this.capacity * w, (b * this.capacity + this.length) * w), b * capacity * w);
        bufs[l] = next;
      });
    }
    this.capacity = capacity;
  }
}

export interface ExtendOptions {
  /** "all": logits of every appended position [B, n, V]; "last" (default): only the last [B, 1, V]. */
  logits?: "all" | "last";
}

/**
 * Appends x [B, n, d] (input embeddings, image rows already spliced in) at positions
 * cache.length .. cache.length+n-1 and returns their logits: [B, n, V] or [B, 1, V].
 */
export function lmExtend(be: Backend, params: Params, lm: LmConfig, x: F32Tensor, cache: KvCache, o: ExtendOptions = {}): F32Tensor {
  cache.check(x, "lmExtend");
  return lmForward(be, params, lm, x, undefined, cache, o.logits === "all" ? "all" : "last");
}
