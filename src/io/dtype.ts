/**
 * Bit-exact conversions between float32 and the 16-bit float formats of safetensors files (IEEE
 * binary16 "F16" and bfloat16 "BF16"), plus byte-order helpers. Integer bit arithmetic only, so the
 * results never depend on the JS engine. Not a numeric library: no arithmetic in 16 bits.
 *
 *   binary16: sign 1 | exponent 5 (bias 15)  | mantissa 10    max 65504, min normal 2^-14, min subnormal 2^-24
 *   bfloat16: sign 1 | exponent 8 (bias 127) | mantissa 7     the upper half of a float32
 *
 * Widening (16 -> 32 bits) is exact. Narrowing rounds to nearest, ties to even (IEEE 754
 * roundTiesToEven); values beyond the largest finite value round to infinity. NaN stays NaN (its
 * sign and upper payload bits are kept and the quiet bit is set).
 */

/** True when the host stores typed arrays little-endian (every engine we know of does). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** float32 bit pattern (uint32) of the binary16 value `h` (exact). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let man = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (man << 13)) >>> 0; // inf, NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (man << 13)) >>> 0; // rebias 15 -> 127
  if (man === 0) return sign >>> 0; // +-0
  // subnormal man * 2^-24: shift the leading 1 up to the hidden-bit position, lowering the exponent
  let e = 113; // exponent field of 2^-14 in float32 = 127 - 14
  while ((man & 0x400) === 0) {
    man <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((man & 0x3ff) << 13)) >>> 0;
}

/** binary16 bit pattern of the float32 with bit pattern `x` (uint32), rounded to nearest even. */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const a = x & 0x7fffffff; // |x| bits
  if (a > 0x7f800000) return sign | 0x7e00 | ((a >>> 13) & 0x3ff); // NaN: quiet bit + top payload
  if (a >= 0x477ff000) return sign | 0x7c00; // |x| >= 65520 = halfway 65504..65536 (ties to even: up) -> inf
  if (a >= 0x38800000) {
    // normal in binary16 (|x| >= 2^-14): rebias the exponent (subtract 112 << 23), then round the
    // 13 dropped mantissa bits: add 0x0fff, plus 1 when the kept lsb is odd, and shift. A carry out
    // of the mantissa correctly bumps the exponent.
    return sign | ((a - 0x38000000 + 0x0fff + ((a >>> 13) & 1)) >>> 13);
  }
  if (a <= 0x33000000) return sign; // |x| <= 2^-25 = half the smallest subnormal: ties to even -> 0
  // subnormal in binary16: q = round(|x| * 2^24) = round(m * 2^(e - 126)) with m the 24-bit significand
  const e = a >>> 23;
  const m = (a & 0x7fffff) | 0x800000;
  const shift = 126 - e; // in [14, 24]
  const q = m >>> shift;
  const rem = m - q * 2 ** shift;
  const half = 2 ** (shift - 1);
  const up = rem > half || (rem === half && (q & 1) === 1) ? 1 : 0;
  return sign | (q + up); // q + up may reach 0x400: the smallest normal, encoded correctly
}

/** float32 bit pattern of the bfloat16 value `b` (exact: the upper half). */
export function bf16BitsToF32Bits(b: number): number {
  return ((b & 0xffff) << 16) >>> 0;
}

/** bfloat16 bit pattern of the float32 with bit pattern `x`, rounded to nearest even. */
export function f32BitsToBf16Bits(x: number): number {
  x >>>= 0;
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40; // NaN: keep sign/top payload, set quiet bit
  // add 0x7fff, plus 1 when the kept lsb (bit 16) is odd; the carry may round up to infinity
  return (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

/** Widens binary16 bit patterns to float32 values (exact). */
export function decodeF16(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = f16BitsToF32Bits(src[i]);
  return out;
}

/** Widens bfloat16 bit patterns to float32 values (exact). */
export function decodeBf16(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

/** Narrows float32 values to binary16 bit patterns (round to nearest even). */
export function encodeF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return out;
}

/** Narrows float32 values to bfloat16 bit patterns (round to nearest even). */
export function encodeBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToBf16Bits(bits[i]);
  return out;
}

/** Reverses the byte order of each `itemsize`-byte element of `bytes`, in place. */
export function swapBytes(bytes: Uint8Array, itemsize: number): void {
  for (let i = 0; i + itemsize <= bytes.length; i += itemsize) {
    for (let a = i, b = i + itemsize - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/** A fresh little-endian byte copy of a typed array (the layout of safetensors data). */
export function toLittleEndianBytes(a: Float32Array | Int32Array | Uint16Array | BigInt64Array): Uint8Array {
  const out = new Uint8Array(a.byteLength);
  out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  if (!HOST_LITTLE_ENDIAN) swapBytes(out, a.BYTES_PER_ELEMENT);
  return out;
}

/** A fresh, aligned copy of `bytes[begin, end)` in host byte order, for a typed-array view. */
export function copyFromLittleEndian(bytes: Uint8Array, begin: number, end: number, itemsize: number): ArrayBuffer {
  // a new ArrayBuffer (offset 0, so aligned for any view); not bytes.slice, which is a view for a Node Buffer
  const out = new Uint8Array(end - begin);
  out.set(bytes.subarray(begin, end));
  if (!HOST_LITTLE_ENDIAN) swapBytes(out, itemsize);
  return out.buffer;
}
