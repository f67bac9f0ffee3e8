/**
 * ByteSource: random-access reads of a file without holding it whole in memory, so readers can check a
 * header before they read (or allocate for) the data. Bytes in memory, a Node file (opened through a
 * guarded dynamic import, so bundles for browsers stay free of Node modules) or a browser Blob/File.
 *
 *   const src = await openFileSource("ct.nii.gz");   // Node
 *   try { const head = await readAt(src, 0, 540); ... } finally { await src.close(); }
 */
import { FormatError } from "../errors.js";

export interface ByteSource {
  /** Total bytes. */
  readonly size: number;
  /** Label for error messages (the path, or "bytes"). */
  readonly name: string;
  /** Reads bytes [offset, offset + into.length) into `into`; returns how many were read (fewer only at the end). */
  read(offset: number, into: Uint8Array): Promise<number>;
  close(): Promise<void>;
}

export function bytesSource(bytes: Uint8Array, name = "bytes"): ByteSource {
  return {
    size: bytes.length,
    name,
    read: async (offset, into) => {
      const part = bytes.subarray(offset, offset + into.length);
      into.set(part);
      return part.length;
    },
    close: async () => {},
  };
}

/** A Blob or File (browsers, Node >= 20): each read is a slice. */
export function blobSource(blob: Blob, name = "blob"): ByteSource {
  return {
    size: blob.size,
    name,
    read: async (offset, into) => {
      const part = new Uint8Array(await blob.slice(offset, offset + into.length).arrayBuffer());
      into.set(part);
      return part.length;
    },
    close: async () => {},
  };
}

/**
 * Opens a file for random-access reads (Node only). A missing, unreadable or folder path throws the
 * Node error (code ENOENT, EACCES, EISDIR, ...); the CLI turns it into one line.
 */
export async function openFileSource(path: string): Promise<ByteSource> {
  const fs = await import("node:fs/promises");
  const fh = await fs.open(path, "r");
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), { code: "EISDIR" });
    return {
      size: st.size,
      name: path,
      read: async (offset, into) => {
        let done = 0;
        while (done < into.length) {
          const { bytesRead } = await fh.read(into, done, into.length - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return done;
      },
      close: () => fh.close(),
    };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** Exactly bytes [offset, offset + length) in a fresh buffer, or a FormatError naming `field` when the source ends first. */
export async function readAt(src: ByteSource, offset: number, length: number, field = "data"): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const got = await src.read(offset, out);
  if (got !== length) {
    throw new FormatError(`${src.name}: ${field}: truncated: needs bytes [${offset}, ${offset + length}), the file has ${src.size}`);
  }
  return out;
}
