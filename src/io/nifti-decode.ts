/**
 * VoxelWriter: NIfTI voxel bytes in file order (i fastest, any chunking) -> float32 values written
 * straight to their place in the canonical [D, H, W] array, so reading needs the result and one small
 * scratch block, never a second copy of the volume. Scaling, byte order and the finite-value check
 * as docs/INPUT.md section 3 says. Not the header checks (./nifti.ts) nor the geometry (./orient.ts).
 *
 *   out[base + i*step[0] + j*step[1] + k*step[2]] = fround(raw(i, j, k) * slope + inter)
 */
import { FormatError } from "../errors.js";
import { HOST_LITTLE_ENDIAN, swapBytes } from "./dtype.js";
import type { DatatypeInfo } from "./nifti-header.js";
import type { Reorientation } from "./orient.js";

/** Bytes converted per block when the data needs a copy (unaligned or the other byte order). */
const BLOCK = 1 << 20;

export interface VoxelLayout {
  dims: [number, number, number]; // the file's extents along i, j, k
  dt: DatatypeInfo;
  littleEndian: boolean;
  scaling: { slope: number; inter: number } | null;
  plan: Reorientation;
  file: string;
}

export class VoxelWriter {
  readonly out: Float32Array;
  readonly total: number;
  private written = 0;
  private readonly step: [number, number, number];
  private readonly base: number;
  private ijk = [0, 0, 0];
  private at: number; // out index of the next voxel
  private readonly carry: Uint8Array; // a voxel split between two chunks
  private carried = 0;
  private scratch: ArrayBuffer | null = null;
  private readonly check: boolean;

  constructor(private readonly l: VoxelLayout) {
    const [nx, ny, nz] = l.dims;
    this.total = nx * ny * nz;
    this.out = new Float32Array(this.total);
    const [, H, W] = l.plan.shape;
    const cstride = [1, W, W * H]; // canonical w, h, d
    const step: [number, number, number] = [0, 0, 0];
    let base = 0;
    for (let t = 0; t < 3; t++) {
      const c = l.plan.src[t];
      step[c] = l.plan.flip[t] ? -cstride[t] : cstride[t];
      if (l.plan.flip[t]) base += (l.dims[c] - 1) * cstride[t];
    }
    this.step = step;
    this.base = this.at = base;
    this.carry = new Uint8Array(l.dt.bytes);
    this.check = l.scaling !== null || l.dt.name === "float32" || l.dt.name === "float64";
  }

  get done(): boolean {
    return this.written === this.total;
  }
  /** Voxel bytes still wanted. */
  get bytesLeft(): number {
    return (this.total - this.written) * this.l.dt.bytes - this.carried;
  }

  /** Consumes voxel bytes; returns how many of `bytes` were used (the rest lies past the last voxel). */
  write(bytes: Uint8Array): number {
    const item = this.l.dt.bytes;
    const use = Math.min(bytes.length, this.bytesLeft);
    let pos = 0;
    if (this.carried > 0) {
      const n = Math.min(item - this.carried, use);
      this.carry.set(bytes.subarray(0, n), this.carried);
      this.carried += n;
      pos = n;
      if (this.carried < item) return pos;
      this.carried = 0;
      this.run(this.carry, 0, 1);
    }
    while (use - pos >= item) {
      const n = Math.min(Math.floor((use - pos) / item), Math.floor(BLOCK / item));
      this.run(bytes, pos, n);
      pos += n * item;
    }
    if (pos < use) {
      this.carry.set(bytes.subarray(pos, use));
      this.carried = use - pos;
      pos = use;
    }
    return pos;
  }

  /** Decodes n whole voxels starting at bytes[pos]. */
  private run(bytes: Uint8Array, pos: number, n: number): void {
    const { dt, littleEndian } = this.l;
    const at = bytes.byteOffset + pos;
    let src: ArrayLike<number>;
    if (littleEndian === HOST_LITTLE_ENDIAN && at % dt.bytes === 0) {
      src = new dt.array(bytes.buffer, at, n); // a view: no copy
    } else {
      const len = n * dt.bytes;
      if (!this.scratch || this.scratch.byteLength < len) this.scratch = new ArrayBuffer(Math.max(len, Math.min(BLOCK, 64 * dt.bytes)));
      const copy = new Uint8Array(this.scratch, 0, len);
      copy.set(bytes.subarray(pos, pos + len));
      if (littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(copy, dt.bytes);
      src = new dt.array(this.scratch, 0, n);
    }
    if (this.l.plan.identity && !this.l.scaling) {
      this.out.set(src as unknown as ArrayLike<number>, this.written);
      if (this.check) this.checkFinite(src, n, this.written);
      this.advance(n);
      return;
    }
    this.scatter(src, n);
  }

  /** The general case: each voxel to its canonical index, scaled in float64, rounded once. */
  private scatter(src: ArrayLike<number>, n: number): void {
    const out = this.out, [nx, ny] = this.l.dims, [si, sj, sk] = this.step;
    const slope = this.l.scaling?.slope ?? 1, inter = this.l.scaling?.inter ?? 0, scaled = this.l.scaling !== null;
    let [i, j, k] = this.ijk, o = this.at;
    for (let x = 0; x < n; x++) {
      out[o] = scaled ? src[x] * slope + inter : src[x];
      if (this.check && !Number.isFinite(out[o])) this.fail([i, j, k], src[x], out[o]);
      o += si;
      if (++i === nx) {
        i = 0;
        o += sj - nx * si;
        if (++j === ny) {
          j = 0;
          k++;
          o += sk - ny * sj;
        }
      }
    }
    this.ijk = [i, j, k];
    this.at = o;
    this.written += n;
  }

  private checkFinite(src: ArrayLike<number>, n: number, first: number): void {
    const out = this.out, [nx, ny] = this.l.dims;
    for (let x = 0; x < n; x++) {
      if (!Number.isFinite(out[first + x])) {
        const s = first + x;
        this.fail([s % nx, Math.floor(s / nx) % ny, Math.floor(s / (nx * ny))], src[x], out[first + x]);
      }
    }
  }

  /** Moves the position by n voxels (identity layout: the out index is the file index). */
  private advance(n: number): void {
    this.written += n;
    const [nx, ny] = this.l.dims, s = this.written;
    this.ijk = [s % nx, Math.floor(s / nx) % ny, Math.floor(s / (nx * ny))];
    this.at = this.base + s;
  }

  private fail(ijk: number[], stored: number, value: number): never {
    const why = Number.isNaN(stored) ? "" : this.l.scaling ? " after scl_slope / scl_inter and float32 rounding" : " after float32 rounding";
    throw new FormatError(`${this.l.file}: data: voxel (i, j, k) = (${ijk.join(", ")}) is ${value}${why} (stored value ${stored}); voxels must be finite`);
  }
}
