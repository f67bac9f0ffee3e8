/**
 * ByteSource: random-access reads of a file without holding it whole in memory, so readers can check a
 * header before they read (or allocate for) the data. Bytes in memory, a browser Blob/File, or a
 * Node file (openFileSource in ./fs.ts, the one module that touches the file system).
 *
 *   const src = await openFileSource("ct.nii.gz");   // Node, from ./fs.js
 *   try { const head = await readAt(src, 0, 540); ... } finally { await src.close(); }
 */
import { FileError, FormatError } from "../errors.js";

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

/** What each system error code means, in the words error messages use. */
const WHY: Readonly<Record<string, string>> = {
  ENOENT: "no such file", EISDIR: "is a folder, not a file", ENOTDIR: "a part of the path is not a folder",
  EACCES: "permission denied", EPERM: "operation not permitted", EROFS: "read-only file system",
  ENOSPC: "no space left on the device", EDQUOT: "disk quota exceeded", EFBIG: "file too large",
  ERR_FS_FILE_TOO_LARGE: "larger than 2 GiB, the most Node reads into memory at once", ENAMETOOLONG: "name too long",
  ELOOP: "too many symbolic links", EMFILE: "too many open files", EIO: "input/output error", EBUSY: "busy",
  EINVAL: "invalid path", EEXIST: "already exists", ETXTBSY: "busy", ENXIO: "no such device",
};

/** The code of a file system error (a Node error's ENOENT, ERR_FS_FILE_TOO_LARGE, ..., or a FileError's), or null for anything else. */
export function fsCode(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && (/^E[A-Z]+$/.test(code) || code.startsWith("ERR_FS_")) ? code : null;
}

/** One line for a file system error about `path` (default the error's own; null: none): "<path>: <why> (<code>)". */
export function fileProblem(e: unknown, path?: string | null): string {
  if (e instanceof FileError && path === undefined) return e.message;
  const code = fsCode(e) ?? "unknown";
  const where = path === null ? undefined : path ?? (e as { path?: string }).path;
  const why = WHY[code] ?? (e as Error).message.split("\n")[0];
  return `${where === undefined ? "" : `${where}: `}${why} (${code})`;
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
