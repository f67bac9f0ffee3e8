/**
 * Streaming gunzip for readers that stop early: compressed bytes go in small slices, so one push
 * never inflates more than SLICE * 1032 bytes, and pushing stops as soon as the reader has what it
 * needs. Several members are read in turn (as gzip does); whatever follows the bytes the reader
 * needs (padding, another member, garbage, the CRC) is never looked at. fflate does the inflating.
 */
import { Gunzip } from "fflate";
import { FormatError, TghError } from "../errors.js";

/** The most a deflate stream can expand: 258 bytes from a 2-bit length/distance pair. */
export const MAX_DEFLATE_RATIO = 1032;
/** Compressed bytes per push: at most 4 MiB of output each (a bomb costs its output, never more at once). */
const SLICE = 1 << 12;

export interface GunzipSink {
  /** Receives decompressed bytes in order (the chunk may be reused after the call). */
  push(chunk: Uint8Array): void;
  /** True once the sink needs no more bytes. */
  readonly done: boolean;
}

/** Upper bound of what `compressedBytes` of gzip can decompress to. */
export function maxInflated(compressedBytes: number): number {
  return compressedBytes * MAX_DEFLATE_RATIO;
}

export class GunzipStream {
  private readonly g: Gunzip;
  private inflated = 0;
  private stopped = false;

  constructor(private readonly sink: GunzipSink, private readonly file: string) {
    this.g = new Gunzip((chunk) => {
      this.inflated += chunk.length;
      if (!this.sink.done) this.sink.push(chunk);
    });
  }

  /** Decompressed bytes so far. */
  get bytesOut(): number {
    return this.inflated;
  }

  /**
   * Pushes compressed bytes (`final` on the last piece of the file). An inflate error once the sink
   * is done is ignored (it is past the data); before, it is a FormatError.
   */
  push(gz: Uint8Array, final: boolean): void {
    for (let pos = 0; !this.stopped && (pos < gz.length || (final && pos === 0)); ) {
      const end = Math.min(gz.length, pos + SLICE);
      try {
        this.g.push(gz.subarray(pos, end), final && end === gz.length);
      } catch (e) {
        this.stopped = true;
        if (e instanceof TghError) throw e; // the sink's own error (a header check), not the stream's
        if (this.sink.done) return;
        throw new FormatError(`${this.file}: gzip: corrupt or truncated compressed stream after ${this.inflated} decompressed bytes (${(e as Error).message})`);
      }
      pos = end;
      if (this.sink.done) this.stopped = true;
      if (end === gz.length) break;
    }
  }
}
