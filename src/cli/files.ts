/**
 * Node file helpers of the CLI: whole-file reads, atomic writes (temp file + rename), the checks an
 * input or output path gets before any work starts, and the one-line wording of file system errors
 * (ENOENT, EACCES, ERR_FS_FILE_TOO_LARGE, ...). No command logic here.
 */
import { open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { FileError } from "../errors.js";
import { fileProblem, fsCode } from "../io/source.js";
import { UsageError } from "./command.js";

export { fileProblem, fsCode } from "../io/source.js";

/** Runs f; a file system error becomes a FileError naming `path` (other errors pass through). */
export async function asFileError<T>(path: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    const code = fsCode(e);
    if (code === null || e instanceof FileError) throw e;
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
