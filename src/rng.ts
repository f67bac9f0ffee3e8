/** Seeded random numbers (uniform, integer, normal) with identical bits in every JS engine. */
import { cos, log } from "./detmath.js";

/**
 * Seeded PRNG (xoshiro128**, 32-bit integer arithmetic only), so that the same seed gives the same
 * numbers in every JS engine. `uniform()` has 53 random bits. State is 4 uint32 and can be saved.
 */
export class Rng {
  private s: Uint32Array;

  constructor(seed: number | Uint32Array) {
    if (seed instanceof Uint32Array) {
      this.s = Uint32Array.from(seed);
    } else {
      // splitmix32 expands the seed into the 128-bit state (never all zero)
      this.s = new Uint32Array(4);
      let z = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        z = (z + 0x9e3779b9) >>> 0;
        let t = z;
        t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
        t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
        this.s[i] = (t ^ (t >>> 16)) >>> 0;
      }
      if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
    }
  }

  /** The state, to save in a checkpoint. */
  state(): Uint32Array {
    return Uint32Array.from(this.s);
  }

  /** Next uint32. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5, lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /**
   * Standard normal N(0, 1) by Box-Muller, cosine branch only: sqrt(-2 log(1 - u1)) cos(2 pi u2),
   * two uniforms per draw and no cached spare (so `state()` alone resumes the stream). log and cos
   * are src/detmath.ts polynomials, sqrt is IEEE: the same bits in every engine.
   */
  normal(): number {
    const u1 = 1 - this.uniform(); // (0, 1]: log stays finite
    const u2 = this.uniform();
    return Math.sqrt(-2 * log(u1)) * cos(2 * Math.PI * u2);
  }

  /** Float32Array of uniform values in [lo, hi). */
  fill(n: number, lo = -1, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
