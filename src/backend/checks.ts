/** Argument checks shared by every Backend op: each throws a typed error naming op and argument. */
import { DTypeError, ShapeError, ValueError, assertFinite, fmtShape } from "../errors.js";
import type { DType, Tensor } from "../tensor.js";
import type { AttentionDims, PatchDims, RopeDims } from "./kernels.js";
import type { AttentionOptions, RopeOptions } from "./options.js";

export function expectDType<D extends DType>(op: string, name: string, t: Tensor, dtype: D): asserts t is Tensor<D> {
  if (!t || typeof t !== "object" || !("dtype" in t)) {
    throw new DTypeError(`${op}: ${name}: expected a Tensor<${dtype}>, got ${String(t)}`);
  }
  if (t.dtype !== dtype) throw new DTypeError(`${op}: ${name}: expected dtype ${dtype}, got ${t.dtype} ${fmtShape(t.shape)}`);
}

export function expectRank(op: string, name: string, t: Tensor, lo: number, hi = lo): void {
  if (t.rank < lo || t.rank > hi) {
    const want = lo === hi ? `rank ${lo}` : `rank ${lo}..${hi}`;
    throw new ShapeError(`${op}: ${name}: expected ${want}, got ${fmtShape(t.shape)}`);
  }
}

export function expectShape(op: string, name: string, t: Tensor, shape: readonly number[]): void {
  if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${op}: ${name}: expected shape ${fmtShape(shape)}, got ${fmtShape(t.shape)}`);
  }
}

export function expectSameShape(op: string, a: Tensor, aName: string, b: Tensor, bName: string): void {
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`${op}: ${bName}: expected the shape of ${aName} ${fmtShape(a.shape)}, got ${fmtShape(b.shape)}`);
  }
}

/** The tensors' data share no memory (the operands of an in-place op that reads and writes several). */
export function expectDisjoint(op: string, ts: readonly (readonly [string, Tensor])[]): void {
  for (let i = 0; i < ts.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = ts[j][1].data, b = ts[i][1].data;
      if (a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength && a.byteLength && b.byteLength) {
        throw new ValueError(`${op}: ${ts[i][0]}: expected memory apart from ${ts[j][0]}, got an overlapping view`);
      }
    }
  }
}

export function expectIndices(op: string, name: string, idx: Int32Array, limit: number): void {
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (v < 0 || v >= limit) throw new ValueError(`${op}: ${name}: expected indices in [0, ${limit}), got ${v} at position ${i}`);
  }
}

export function expectPositive(op: string, name: string, x: number): void {
  if (!Number.isInteger(x) || x <= 0) throw new ValueError(`${op}: ${name}: expected a positive integer, got ${String(x)}`);
}

/**
 * The checks of attention (forward and backward) on q [B, nq, NH*dh], k and v [B, nk, KV*dh] and
 * options; `like` are further f32 tensors of q's shape (the backward's out and dout). Returns the
 * kernel's dims.
 */
export function attentionDims(op: string, q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions, like: readonly (readonly [string, Tensor])[] = []): AttentionDims {
  for (const [name, t] of [["q", q], ["k", k], ["v", v], ...like] as const) {
    expectDType(op, name, t, "f32");
    expectRank(op, name, t, 3);
  }
  expectPositive(op, "heads", o.heads);
  const kvHeads = o.kvHeads ?? o.heads;
  expectPositive(op, "kvHeads", kvHeads);
  if (o.heads % kvHeads !== 0) throw new ValueError(`${op}: kvHeads: expected a divisor of heads=${o.heads}, got ${kvHeads}`);
  const [batch, nq, width] = q.shape;
  const dh = width / o.heads;
  if (!Number.isInteger(dh)) throw new ShapeError(`${op}: q: expected a last axis divisible by heads=${o.heads}, got ${fmtShape(q.shape)}`);
  const nk = k.dim(1);
  expectShape(op, "k", k, [batch, nk, kvHeads * dh]);
  expectSameShape(op, k, "k", v, "v");
  for (const [name, t] of like) expectSameShape(op, q, "q", t, name);
  if (o.causal && nq > nk) throw new ShapeError(`${op}: k: expected nk >= nq=${nq} for causal, got ${fmtShape(k.shape)}`);
  let maskBatch = 1;
  if (o.mask) {
    expectDType(op, "mask", o.mask, "f32");
    maskBatch = o.mask.rank === 3 ? o.mask.dim(0) : 1;
    expectShape(op, "mask", o.mask, o.mask.rank === 3 ? [maskBatch, nq, nk] : [nq, nk]);
    if (maskBatch !== 1 && maskBatch !== batch) throw new ShapeError(`${op}: mask: expected batch 1 or ${batch}, got ${fmtShape(o.mask.shape)}`);
  }
  const scale = o.scale ?? 1 / Math.sqrt(dh);
  assertFinite(op, "scale", scale);
  return { batch, nq, nk, heads: o.heads, kvHeads, dh, scale, causal: !!o.causal, mask: o.mask?.data ?? null, maskBatch };
}

/** The checks of rope on x [..., tokens, NH*dh] and pos [tokens] or [tokens, axes]; returns the geometry (dims of one repetition). */
export function ropeDims(op: string, x: Tensor, pos: Tensor, o: RopeOptions): RopeDims {
  expectDType(op, "x", x, "f32");
  expectDType(op, "pos", pos, "i32");
  expectRank(op, "x", x, 2, 8);
  expectRank(op, "pos", pos, 1, 2);
  expectPositive(op, "heads", o.heads);
  const width = x.dim(-1);
  const dh = width / o.heads;
  if (!Number.isInteger(dh) || dh % 2 !== 0) {
    throw new ShapeError(`${op}: x: expected a last axis of heads*dh with dh even (heads=${o.heads}), got ${width}`);
  }
  const tokens = pos.dim(0), axes = pos.rank === 2 ? pos.dim(1) : 1;
  if (lead(x) % tokens !== 0 || x.dim(-2) !== tokens) {
    throw new ShapeError(`${op}: pos: expected [${x.dim(-2)}] or [${x.dim(-2)}, axes] for x ${fmtShape(x.shape)}, got ${fmtShape(pos.shape)}`);
  }
  const sections = o.sections ?? [dh / 2];
  if (sections.length !== axes || sections.reduce((p, s) => p + s, 0) !== dh / 2 || sections.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new ValueError(`${op}: sections: expected ${axes} non-negative integers summing to dh/2=${dh / 2}, got ${fmtShape(sections)}`);
  }
  const base = o.base ?? 10000;
  assertFinite(op, "base", base);
  if (base <= 0) throw new ValueError(`${op}: base: expected > 0, got ${base}`);
  return { tokens, heads: o.heads, dh, axes, sections, base };
}

/** The checks of patchEmbed on vol [B, cv, D, H, W] and weight [C, cin, t, p, p]; returns the kernel's dims. */
export function patchEmbedDims(op: string, vol: Tensor, weight: Tensor): PatchDims {
  expectDType(op, "vol", vol, "f32");
  expectDType(op, "weight", weight, "f32");
  expectRank(op, "vol", vol, 5);
  expectRank(op, "weight", weight, 5);
  const [batch, cv, depth, height, width] = vol.shape;
  const [channels, cin, tdepth, p, p2] = weight.shape;
  if (p !== p2 || p === 0) throw new ShapeError(`${op}: weight: expected [C, cin, t, p, p], got ${fmtShape(weight.shape)}`);
  if (cv !== cin && cv !== 1) throw new ShapeError(`${op}: vol: expected ${cin} or 1 channels (axis 1), got ${fmtShape(vol.shape)}`);
  if (height % p || width % p || tdepth === 0 || depth % tdepth) {
    throw new ShapeError(`${op}: vol: expected D divisible by t=${tdepth} and H, W by p=${p}, got ${fmtShape(vol.shape)}`);
  }
  return { batch, cv, cin, depth, height, width, channels, patch: p, tdepth };
}

/** Product of the leading axes (all but the last `keep`). */
export function lead(t: Tensor, keep = 1): number {
  let r = 1;
  for (let i = 0; i < t.rank - keep; i++) r *= t.shape[i];
  return r;
}
