// Top-k per row (routing) and row scatter-add (expert combine), f32x4 SIMD.
// Indices arrive validated (in range); nothing here checks them.
export { heap_base, memory_base } from "./lib/heap";

// ---------------------------------------------------------------- top-k
// The order (reference/indexing.ts, topkBefore): larger first, equal values by lower index first,
// -0 == +0, NaN below every number. It is the order of the integer key
//   key(x) = NaN ? i32.MIN : (b ^ ((b >> 31) & 0x7fffffff)),  b = bits(x) with -0 mapped to +0
// (positive floats keep their bits, negative ones flip their magnitude bits, so the keys of the
// numbers increase with the numbers; -inf has key 0x807fffff > i32.MIN).
//
// Scalar loop this replaces, per row (best[] sorted by descending key, at most k entries):
//   for c in 0..cols: if (len < k || key(x[c]) > key(best[k-1])) insert c after every entry with
//   key >= key(x[c])            // strict >: an equal later value never displaces an earlier one
//

// @ts-ignore: decorator
@inline
function keyOf(x: f32): i32 {
  if (x != x) return i32.MIN_VALUE;
  let b = reinterpret<i32>(x);
  if (b == i32.MIN_VALUE) b = 0; // -0 -> +0
  return b ^ ((b >> 31) & 0x7fffffff);
}

/** Four keys at once: [x0 x1 x2 x3] -> [key(x0) .. key(x3)], the same map as keyOf. */
// @ts-ignore: decorator
@inline
function keyOf4(x: v128): v128 {
  let b = v128.andnot(x, i32x4.eq(x, i32x4.splat(i32.MIN_VALUE))); // -0 -> +0
  b = v128.xor(b, v128.and(i32x4.shr_s(b, 31), i32x4.splat(0x7fffffff)));
  return v128.bitselect(i32x4.splat(i32.MIN_VALUE), b, f32x4.ne(x, x)); // NaN -> i32.MIN
}

/** Insert (key, c) into best (keys, idx; len entries, capacity k) after every key >= key. */
// @ts-ignore: decorator
@inline
function insert(keys: usize, idx: usize, len: i32, k: i32, key: i32, c: i32): void {
  let at = len < k ? len : k - 1; // full: the last entry drops out
  while (at > 0 && key > load<i32>(keys + (<usize>(at - 1) << 2))) {
    store<i32>(keys + (<usize>at << 2), load<i32>(keys + (<usize>(at - 1) << 2)));
    store<i32>(idx + (<usize>at << 2), load<i32>(idx + (<usize>(at - 1) << 2)));
    at--;
  }
  store<i32>(keys + (<usize>at << 2), key);
  store<i32>(idx + (<usize>at << 2), c);
}

// For k > SMALL_K the best k are kept in a binary heap instead (O(cols log k) against the sorted
// list's O(cols k) worst case), its root the worst entry: lower key, or equal key and higher index.
// A heap sort puts them in order at the end. Both give the same result (the order is total).
const SMALL_K: i32 = 16;

/** Entry i is worse than entry j: a lower key, or an equal key at a higher index. */
// @ts-ignore: decorator
@inline
function worse(keys: usize, idx: usize, i: i32, j: i32): bool {
  const ki = load<i32>(keys + (<usize>i << 2)), kj = load<i32>(keys + (<usize>j << 2));
  return ki < kj || (ki == kj && load<i32>(idx + (<usize>i << 2)) > load<i32>(idx + (<usize>j << 2)));
}

/** Restores the heap (worst entry at the root) below entry i of a heap of n entries. */
function siftDown(keys: usize, idx: usize, i: i32, n: i32): void {
  while (true) {
    const l = 2 * i + 1, r = l + 1;
    let w = i;
    if (l < n && worse(keys, idx, l, w)) w = l;
    if (r < n && worse(keys, idx, r, w)) w = r;
    if (w == i) return;
    const kw = load<i32>(keys + (<usize>w << 2)), iw = load<i32>(idx + (<usize>w << 2));
    store<i32>(keys + (<usize>w << 2), load<i32>(keys + (<usize>i << 2)));
    store<i32>(idx + (<usize>w << 2), load<i32>(idx + (<usize>i << 2)));
    store<i32>(keys + (<usize>i << 2), kw);
    store<i32>(idx + (<usize>i << 2), iw);
    i = w;
  }
}

/** Takes (key, c), which beats the k-th best: sorted insert (small k) or replace the heap root. */
// @ts-ignore: decorator
@inline
function accept(keys: usize, idx: usize, k: i32, heap: bool, key: i32, c: i32): void {
  if (!heap) {
    insert(keys, idx, k, k, key, c);
    return;
  }
  store<i32>(keys, key);
  store<i32>(idx, c);
  siftDown(keys, idx, 0, k);
}

/**
 * values, indices [rows, k]; x [rows, cols]; keys: scratch i32[k]. Once k entries are held, four
 * entries at a time are skipped when none of their keys beats the k-th best:
 *   any_true([key(x_c) .. key(x_c+3)] > [kth kth kth kth])  (else the lanes go one by one).
 */
export function topk(values: usize, indices: usize, x: usize, rows: i32, cols: i32, k: i32, keys: usize): void {
  const heap = k > SMALL_K;
  const kth = heap ? keys : keys + (<usize>(k - 1) << 2); // where the k-th best key lives
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>r * cols) << 2);
    const idx = indices + ((<usize>r * k) << 2);
    let c = 0;
    if (heap) {
      for (; c < k; c++) {
        store<i32>(keys + (<usize>c << 2), keyOf(load<f32>(xr + (<usize>c << 2))));
        store<i32>(idx + (<usize>c << 2), c);
      }
      for (let i = k / 2 - 1; i >= 0; i--) siftDown(keys, idx, i, k);
    } else {
      for (; c < k; c++) insert(keys, idx, c, k, keyOf(load<f32>(xr + (<usize>c << 2))), c);
    }
    for (; c + 4 <= cols; c += 4) {
      const kv = keyOf4(v128.load(xr + (<usize>c << 2)));
      if (!v128.any_true(i32x4.gt_s(kv, i32x4.splat(load<i32>(kth))))) continue;
      for (let l = 0; l < 4; l++) {
        const key = keyOf(load<f32>(xr + (<usize>(c + l) << 2)));
        if (key > load<i32>(kth)) accept(keys, idx, k, heap, key, c + l);
      }
    }
    for (; c < cols; c++) { // leftovers
      const key = keyOf(load<f32>(xr + (<usize>c << 2)));
      if (key > load<i32>(kth)) accept(keys, idx, k, heap, key, c);
    }
    if (heap) { // heap sort: the worst goes last, then the next worst, ...
      for (let n = k - 1; n > 0; n--) {
        const k0 = load<i32>(keys), i0 = load<i32>(idx);
        store<i32>(keys, load<i32>(keys + (<usize>n << 2)));
        store<i32>(idx, load<i32>(idx + (<usize>n << 2)));
        store<i32>(keys + (<usize>n << 2), k0);
        store<i32>(idx + (<usize>n << 2), i0);
        siftDown(keys, idx, 0, n);
      }
    }
    const vr = values + ((<usize>r * k) << 2);
    for (let s = 0; s < k; s++) {
      const i = load<i32>(idx + (<usize>s << 2));
      store<f32>(vr + (<usize>s << 2), load<f32>(xr + (<usize>i << 2))); // the input's own bits
    }
  }
}

// ---------------------------------------------------------------- scatter-add
// Scalar loop this replaces:
//   for i < count (in order): out[idx[i], :] += w[i] * src[i, :]          (w = 0: weight 1)
// (Row gather has no kernel: it moves data without arithmetic, and the adapter copies rows between
// the JS arrays directly, which measured 2-90x faster than staging the table through wasm memory.)

/**
 * out [R, cols] += scatter of src [count, cols], rows in order of i. Four columns per step:
 *   [o0 o1 o2 o3] = [o0 o1 o2 o3] + [w w w w] * [s0 s1 s2 s3]      (without w: + [s0 .. s3])
 * then the leftover columns with the same scalar operations. w = 0 (null pointer): weight 1.
 */
export function scatter_add_rows(out: usize, src: usize, idx: usize, w: usize, count: i32, cols: i32): void {
  const bytes = <usize>cols << 2;
  for (let i = 0; i < count; i++) {
    const o = out + <usize>load<i32>(idx + (<usize>i << 2)) * bytes;
    const s = src + <usize>i * bytes;
    let c = 0;
    if (w == 0) {
      for (; c + 4 <= cols; c += 4) {
        const off = <usize>c << 2;
        v128.store(o + off, f32x4.add(v128.load(o + off), v128.load(s + off)));
      }
      for (; c < cols; c++) store<f32>(o + (<usize>c << 2), load<f32>(o + (<usize>c << 2)) + load<f32>(s + (<usize>c << 2)));
    } else {
      const wi = load<f32>(w + (<usize>i << 2));
      const wv = f32x4.splat(wi);
      for (; c + 4 <= cols; c += 4) {
        const off = <usize>c << 2;
        v128.store(o + off, f32x4.add(v128.load(o + off), f32x4.mul(wv, v128.load(s + off))));
      }
      for (; c < cols; c++) store<f32>(o + (<usize>c << 2), load<f32>(o + (<usize>c << 2)) + wi * load<f32>(s + (<usize>c << 2)));
    }
  }
}
