/**
 * readNifti: a .nii or .nii.gz file (NIfTI-1 or NIfTI-2, either byte order) as one float32 volume
 * [D, H, W] in the canonical LPS+ frame, with voxel spacing in mm and the canonical affine.
 * Works on bytes (Node and browsers); no file system access, no resampling. Conventions and every
 * check: docs/INPUT.md.
 *
 *   const vol = readNifti(await fs.readFile("ct.nii.gz"));   // or the bytes of a fetch / File
 *   vol.shape     // [D, H, W]: d toward Superior, h toward Posterior, w toward the patient's Left
 *   vol.spacing   // mm along d, h, w
 *   vol.affine    // 4x4: (w, h, d, 1) -> NIfTI world (RAS+, mm)
 */
import { FormatError, ValueError } from "../errors.js";
import { MAX_ELEMENTS } from "../tensor.js";
import { GunzipStream, MAX_DEFLATE_RATIO, maxInflated, type GunzipSink } from "./gunzip.js";
import { VoxelWriter } from "./nifti-decode.js";
import { parseNiftiHeader, type NiftiDatatype, type NiftiHeader } from "./nifti-header.js";
import { planGeometry, planRead, type Geometry, type OrientationSource, type ReadPlan } from "./nifti-plan.js";
import { axcodes, type Mat4 } from "./orient.js";
import type { ByteSource } from "./source.js";

export { parseNiftiHeader, type NiftiDatatype, type NiftiHeader } from "./nifti-header.js";
export type { Mat4 } from "./orient.js";

/** Default bound on the voxels of one 3D volume: 512^3 (512 MiB as float32). */
export const DEFAULT_MAX_VOXELS = 512 ** 3;
/** Default bound on vox_offset (header plus extensions): 16 MiB, far above any extension CT writers leave. */
export const DEFAULT_MAX_VOX_OFFSET = 2 ** 24;

export interface ReadNiftiOptions {
  /** Label for error messages, e.g. the file name. Default "nifti". */
  file?: string;
  /** Largest dim[1]*dim[2]*dim[3] accepted (default 512^3); a bigger image is a FormatError. */
  maxVoxels?: number;
  /** A 4D file with dim[4] > 1: "refuse" (default, FormatError), "first" (read volume 0) or an index (read that one); a warning says which. */
  volumes?: "refuse" | "first" | number;
  /** Largest vox_offset accepted (default 16 MiB): the bytes before the voxels are skipped, never kept. */
  maxVoxOffset?: number;
}

export type { OrientationSource } from "./nifti-plan.js";

export interface NiftiMeta {
  version: 1 | 2;
  littleEndian: boolean;
  gzip: boolean;
  datatype: NiftiDatatype;
  /** Where the affine came from: sform_code > 0, else qform_code > 0, else pixdim (method 0). */
  orientationSource: OrientationSource;
  /** Axis codes of the file's own voxel axes i, j, k (e.g. "RAS", "LPS", "LIP"). */
  sourceAxcodes: string;
  /** The file's dim[1], dim[2], dim[3]. */
  sourceDims: [number, number, number];
  /** scl_slope / scl_inter when applied (slope finite and non-zero), else null. */
  scaling: { slope: number; inter: number } | null;
  /** dim[4] (1 for a 3D file). */
  volumes: number;
  /** Things accepted but worth knowing (first of several volumes taken, bitpix mismatch, units). */
  warnings: string[];
  header: NiftiHeader;
}

export interface NiftiVolume {
  /** [D, H, W] row-major, canonical LPS+ (w fastest), values after scl_slope / scl_inter. */
  data: Float32Array;
  shape: [number, number, number];
  /** Voxel size in mm along d, h, w. */
  spacing: [number, number, number];
  /** 4x4 rows: canonical index (w, h, d, 1) -> NIfTI world (RAS+, mm). */
  affine: Mat4;
  meta: NiftiMeta;
}

export function readNifti(bytes: Uint8Array | ArrayBuffer, opts: ReadNiftiOptions = {}): NiftiVolume {
  const input = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
  const gzip = isGzip(input);
  const reader = new NiftiReader({ ...opts, gzip, available: gzip ? maxInflated(input.length) : input.length });
  if (gzip) new GunzipStream(reader, reader.file).push(input, true);
  else reader.push(input);
  return reader.finish();
}

/**
 * readNifti from a ByteSource (a Node file through src/io/node.ts readNiftiFile, or a browser File):
 * reads the header first and then only the bytes the volume needs, so memory is the result plus a
 * few MiB, whatever the size of the file.
 */
export async function readNiftiSource(src: ByteSource, opts: ReadNiftiOptions = {}): Promise<NiftiVolume> {
  const o = { file: src.name, ...opts };
  const head = new Uint8Array(Math.min(src.size, CHUNK));
  await src.read(0, head);
  const gzip = isGzip(head);
  const reader = new NiftiReader({ ...o, gzip, available: gzip ? maxInflated(src.size) : src.size });
  if (gzip) {
    const g = new GunzipStream(reader, reader.file);
    let pos = 0, chunk = head;
    for (;;) {
      const final = pos + chunk.length >= src.size;
      g.push(chunk, final);
      pos += chunk.length;
      if (reader.done || final) break;
      chunk = new Uint8Array(Math.min(CHUNK, src.size - pos));
      chunk = chunk.subarray(0, await src.read(pos, chunk));
      if (chunk.length === 0) break;
    }
  } else {
    reader.push(head);
    let pos = head.length;
    const buf = new Uint8Array(CHUNK);
    while (!reader.done && pos < src.size) {
      pos = reader.skipTo(); // the bytes before vox_offset are not read
      if (pos >= src.size) break;
      const got = await src.read(pos, buf.subarray(0, Math.min(CHUNK, src.size - pos)));
      if (got === 0) break;
      reader.push(buf.subarray(0, got));
      pos += got;
    }
  }
  return reader.finish();
}

/** Bytes read from a source per step (and the first read, which holds any header). */
const CHUNK = 1 << 22;

function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

interface ReaderOptions extends ReadNiftiOptions {
  gzip: boolean;
  /** Most uncompressed bytes the input can hold (its length, or maxInflated of a gzip length). */
  available: number;
}

/**
 * The uncompressed NIfTI stream, pushed in chunks of any size: header (checked whole, including the
 * size of everything the read will allocate) -> skipped bytes up to vox_offset -> voxels, each written
 * to its canonical place. Bytes after the last voxel are ignored.
 */
class NiftiReader implements GunzipSink {
  readonly file: string;
  private readonly maxVoxels: number;
  private readonly maxVoxOffset: number;
  private readonly volumes: "refuse" | "first" | number;
  private readonly head = new Uint8Array(540);
  private pos = 0; // bytes of the stream received (or skipped)
  private layout: ReadPlan | null = null;
  private geometry: Geometry | null = null;
  private writer: VoxelWriter | null = null;

  constructor(private readonly o: ReaderOptions) {
    this.file = o.file ?? "nifti";
    this.maxVoxels = checkedOption("maxVoxels", o.maxVoxels ?? DEFAULT_MAX_VOXELS, MAX_ELEMENTS);
    this.maxVoxOffset = checkedOption("maxVoxOffset", o.maxVoxOffset ?? DEFAULT_MAX_VOX_OFFSET, Number.MAX_SAFE_INTEGER);
    this.volumes = o.volumes ?? "refuse";
    const v = this.volumes;
    if (v !== "refuse" && v !== "first" && !(Number.isInteger(v) && (v as number) >= 0)) {
      throw new ValueError(`readNifti: volumes: expected "refuse", "first" or a volume index >= 0, got ${String(v)}`);
    }
  }

  get done(): boolean {
    return this.writer?.done ?? false;
  }

  push(chunk: Uint8Array): void {
    let c = chunk;
    if (!this.layout) {
      const n = Math.min(c.length, this.head.length - this.pos);
      this.head.set(c.subarray(0, n), this.pos);
      this.pos += n;
      c = c.subarray(n);
      if (!this.headerReady()) return;
      this.start();
    }
    const off = dataStart(this.layout!);
    if (this.pos < off) {
      const skip = Math.min(c.length, off - this.pos);
      this.pos += skip;
      c = c.subarray(skip);
    }
    if (c.length === 0) return;
    this.pos += c.length;
    if (!this.writer!.done) this.writer!.write(c);
  }

  /** Skips the bytes before vox_offset without receiving them; returns the stream position wanted next. */
  skipTo(): number {
    if (this.layout && this.pos < dataStart(this.layout)) this.pos = dataStart(this.layout);
    return this.pos;
  }

  finish(): NiftiVolume {
    if (!this.layout) parseNiftiHeader(this.head.subarray(0, this.pos), this.file); // throws the truncation
    const l = this.layout!, w = this.writer!, g = this.geometry!;
    if (!w.done) throw new FormatError(`${this.file}: data: truncated: ${needs(l)}, got ${this.pos}`);
    const h = l.header;
    return {
      data: w.out,
      shape: g.canon.shape,
      spacing: g.spacing,
      affine: g.canon.affine,
      meta: {
        version: h.version, littleEndian: h.littleEndian, gzip: this.o.gzip, datatype: l.dt.name,
        orientationSource: g.source, sourceAxcodes: axcodes(g.affine), sourceDims: l.dims, scaling: g.scaling,
        volumes: h.dim[0] === 4 ? h.dim[4] : 1, warnings: g.warnings, header: h,
      },
    };
  }

  /** True once the whole header is here (348 or 540 bytes, by sizeof_hdr). */
  private headerReady(): boolean {
    if (this.pos < 4) return false;
    const dv = new DataView(this.head.buffer, 0, 4);
    const v1 = dv.getInt32(0, true) === 348 || dv.getInt32(0, false) === 348;
    return this.pos >= (v1 ? 348 : 540);
  }

  /** Every header check, the truncation check and the allocation of the result, before any voxel. */
  private start(): void {
    const h = parseNiftiHeader(this.head.subarray(0, this.pos), this.file);
    const l = planRead(h, this.file, this.maxVoxels, this.volumes);
    if (h.voxOffset > this.maxVoxOffset) {
      throw new FormatError(`${this.file}: vox_offset: ${h.voxOffset} is beyond the bound of ${this.maxVoxOffset} bytes of header and extensions (option maxVoxOffset)`);
    }
    const need = dataStart(l) + l.nvox * l.dt.bytes;
    if (need > this.o.available) {
      const why = this.o.gzip ? `more than ${this.o.available / MAX_DEFLATE_RATIO} gzip bytes can hold (deflate expands at most ${MAX_DEFLATE_RATIO}:1)` : `got ${this.o.available}`;
      throw new FormatError(`${this.file}: data: truncated: ${needs(l)}, ${why}`);
    }
    const g = planGeometry(l, this.file);
    this.geometry = g;
    this.writer = new VoxelWriter({ dims: l.dims, dt: l.dt, littleEndian: h.littleEndian, scaling: g.scaling, plan: g.canon, file: this.file });
    this.layout = l;
    if (this.pos > dataStart(l)) this.writer.write(this.head.subarray(dataStart(l), this.pos)); // voxels among the first 540 bytes
  }
}

/** Where the voxels read start: vox_offset, plus the volumes skipped in a 4D file. */
function dataStart(l: ReadPlan): number {
  return l.header.voxOffset + l.skip;
}

function needs(l: ReadPlan): string {
  const skipped = l.skip > 0 ? ` + ${l.skip} bytes of earlier volumes` : "";
  return `vox_offset ${l.header.voxOffset}${skipped} + ${l.nvox} voxels x ${l.dt.bytes} bytes needs ${dataStart(l) + l.nvox * l.dt.bytes} bytes`;
}

function checkedOption(name: string, x: number, hi: number): number {
  if (!Number.isInteger(x) || x < 1 || x > hi) throw new ValueError(`readNifti: ${name}: expected an integer in [1, ${hi}], got ${String(x)}`);
  return x;
}
