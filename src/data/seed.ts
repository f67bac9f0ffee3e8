/**
 * Seeds and hashes of the synthetic CT benchmark: integer arithmetic only, so every JS engine derives
 * the same streams and the same volume hash. Not cryptographic.
 */

/** murmur3's 32-bit finaliser: a bijection of uint32 that mixes every input bit into every output bit. */
export function fmix32(h: number): number {
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b);
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a (32-bit) of the UTF-16 code units of `text`. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Seed of sample `index` of the dataset with master seed `master`: `fmix32(fmix32(master) + index)`.
 * For a fixed master this is a bijection of the index (mod 2^32), so two samples never share a seed.
 */
export function sampleSeed(master: number, index: number): number {
  return fmix32((fmix32(master >>> 0) + index) >>> 0);
}

/** Seed of the named stream of a sample ("anatomy", "findings", "noise", "report", ...). */
export function streamSeed(seed: number, label: string): number {
  return fmix32((seed ^ fnv1a32(label)) >>> 0);
}

/**
 * FNV-1a (64-bit) of the little-endian bytes of a float32 array, as 16 hex digits. The 64-bit
 * state is kept in four 16-bit limbs (h0 lowest); the prime 2^40 + 0x1b3 multiplies as
 * `h * 0x1b3 + (h << 40)`, and `h << 40` only reaches limbs 2 and 3 (as `h0 << 8`, `h1 << 8`).
 */
export function volumeHash(data: Float32Array): string {
  const words = new Uint32Array(data.buffer, data.byteOffset, data.length); // the float bits
  let h0 = 0x2325, h1 = 0x8422, h2 = 0x9ce4, h3 = 0xcbf2; // offset basis 0xcbf29ce484222325
  for (let n = 0; n < words.length; n++) {
    const w = words[n];
    for (let b = 0; b < 32; b += 8) {
      h0 ^= (w >>> b) & 0xff;
      const t0 = h0 * 0x1b3;
      const t1 = h1 * 0x1b3 + (t0 >>> 16);
      const t2 = h2 * 0x1b3 + (h0 << 8) + (t1 >>> 16);
      const t3 = h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16);
      h0 = t0 & 0xffff;
      h1 = t1 & 0xffff;
      h2 = t2 & 0xffff;
      h3 = t3 & 0xffff;
    }
  }
  return [h3, h2, h1, h0].map((x) => x.toString(16).padStart(4, "0")).join("");
}
