/**
 * Node file helpers of the CLI: whole-file reads, atomic writes (temp file + rename), the checks an
 * input or output path gets before any work starts, and the one-line wording of file system errors
 * (ENOENT, EACCES, ERR_FS_FILE_TOO_LARGE, ...). No command logic here.
 */
import { open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { FileError } from "../errors.js";
import { UsageError } from "./command.js";

/** What each system error code means, in the words the CLI prints. */
const WHY: Readonly<Record<string, string>> = {
  ENOENT: "no such file", EISDIR: "is a folder, not a file", ENOTDIR: "a part of the path is not a folder",
  EACCES: "permission denied", EPERM: "operation not permitted", EROFS: "read-only file system",
  ENOSPC: "no space left on the device", EDQUOT: "disk quota exceeded", EFBIG: "file too large",
  ERR_FS_FILE_TOO_LARGE: "larger than 2 GiB, the most Node reads into memory at once", ENAMETOOLONG: "name too long",
  ELOOP: "too many symbolic links", EMFILE: "too many open files", EIO: "input/output error", EBUSY: "busy",
  EINVAL: "invalid path", EEXIST: "already exists", ETXTBSY: "busy", ENXIO: "no such device",
};

/** The code of a Node file system error (ENOENT, ERR_FS_FILE_TOO_LARGE, ...), or null for anything else. */
export function fsCode(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && (/^E[A-Z]+$/.test(code) || code.startsWith("ERR_FS_")) ? code : null;
}

/** One line for a file system error about `path` (default the error's own; null: none): "<path>: <why> (<code>)". */
export function fileProblem(e: unknown, path?: string | null): string {
  const code = fsCode(e) ?? "unknown";
  const where = path === null ? undefined : path ?? (e as { path?: string }).path;
  const why = WHY[code] ?? (e as Error).message.split("\n")[0];
  return `${where === undefined ? "" : `${where}: `}${why} (${code})`;
}

/** Runs f; a file system error becomes a FileError naming `path` (other errors pass through). */
export async function asFileError<T>(path: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    const code = fsCode(e);
    if (code === null) throw e;
    throw new FileError(fileProblem(e, path), code);
  }
}

export async function readBytes(path: string): Promise<Uint8Array> {
  const buf = await asFileError(path, () => readFile(path));
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Writes `bytes` to a temporary file next to `path`, then renames it over `path`. */
export async function writeBytesAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  await asFileError(path, async () => {
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  });
}

/** Fails before any work when an input file is missing or is a folder (a UsageError naming the option). */
export async function checkReadable(cmd: string, name: string, path: string): Promise<void> {
  if (path === "") throw new UsageError(`tgh-moe ${cmd}: --${name}: expected a file path, got an empty string`);
  const s = await stat(path).catch((e: unknown) => e);
  if (s instanceof Error) throw new UsageError(`tgh-moe ${cmd}: --${name}: ${fileProblem(s, path).replace(/ \(ENOENT\)$/, "")}`);
  if ((s as { isDirectory(): boolean }).isDirectory()) throw new UsageError(`tgh-moe ${cmd}: --${name}: ${path}: is a folder, not a file`);
}

/**
 * Fails before any work when the output cannot be written: an empty path, a missing folder, a
 * folder in its place, or a folder that refuses a new file (a probe file is created and removed).
 */
export async function checkWritable(cmd: string, name: string, path: string): Promise<void> {
  const fail = (why: string): never => {
    throw new UsageError(`tgh-moe ${cmd}: --${name}: ${why}`);
  };
  if (path === "") fail("expected a file path, got an empty string");
  const folder = dirname(resolve(path));
  const f = await stat(folder).catch(() => null);
  if (!f?.isDirectory()) fail(`${path}: folder ${dirname(path)} does not exist`);
  const self = await stat(path).catch(() => null);
  if (self?.isDirectory()) fail(`${path}: is a folder, not a file`);
  const probe = join(folder, `.${basename(path)}.probe-${process.pid}`);
  try {
    await (await open(probe, "wx")).close();
  } catch (e) {
    fail(`${path}: cannot write in folder ${dirname(path)}: ${fileProblem(e, null)}`);
  } finally {
    await rm(probe, { force: true });
  }
}
