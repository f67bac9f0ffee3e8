/**
 * The one module that touches Node's file system: whole-file reads, atomic writes, folders, and
 * random-access reads as a ByteSource. The API (src/api.ts), training checkpoints, the dataset
 * writer and the CLI go through it; nothing else imports `node:fs`. Node is loaded by a dynamic
 * import on first use, so bundles for browsers that never call these functions stay free of it.
 * Every file system error leaves here as a FileError naming the path and the system's code.
 *
 *   await writeAtomic("model.safetensors", bytes);   // readers see the old file or the new, never half
 *   const bytes = await readBytes("model.safetensors");
 */
import { FileError } from "../errors.js";
import { fileProblem, fsCode, type ByteSource } from "./source.js";

type NodeFs = typeof import("node:fs/promises");
let fsModule: Promise<NodeFs> | null = null;
const nodeFs = (): Promise<NodeFs> => (fsModule ??= import("node:fs/promises"));

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

/** A whole file as bytes (a view of Node's buffer, no copy). */
export async function readBytes(path: string | URL): Promise<Uint8Array> {
  const fs = await nodeFs();
  const buf = await asFileError(String(path), () => fs.readFile(path));
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A whole file as UTF-8 text. */
export async function readText(path: string | URL): Promise<string> {
  const fs = await nodeFs();
  return asFileError(String(path), () => fs.readFile(path, "utf8"));
}

let tmpCounter = 0;

/**
 * Writes `data` (bytes, text, or chunks written in order) at `path` atomically: `.<name>.tmp-<pid>-<n>` in the same folder is written and
 * fsynced, renamed over `path`, and the folder is fsynced so the rename survives a power loss. On
 * any error the temporary file is removed and `path` is untouched.
 */
export async function writeAtomic(path: string, data: Uint8Array | string | Uint8Array[]): Promise<void> {
  const fs = await nodeFs();
  const { basename, dirname, join } = await import("node:path");
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${tmpCounter++}`);
  await asFileError(path, async () => {
    try {
      const fh = await fs.open(tmp, "w");
      try {
        if (Array.isArray(data)) for (const chunk of data) await fh.writeFile(chunk); // each from the current position, whole
        else await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, path);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
  });
  await syncFolder(dirname(path));
}

async function syncFolder(dir: string): Promise<void> {
  const fs = await nodeFs();
  try {
    const fh = await fs.open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // folders cannot be opened or fsynced on some platforms (Windows): the rename is still atomic
  }
}

/** A plain write (no temporary file, no fsync): for the many files of a folder whose last write commits it. */
export async function writeBytes(path: string, data: Uint8Array | string): Promise<void> {
  const fs = await nodeFs();
  await asFileError(path, () => fs.writeFile(path, data));
}

/** An appending writer whose file appears at `path` only on `commit` (written under a temporary name, then writeAtomic's steps). */
export async function openAtomicWriter(path: string): Promise<{ write(text: string): Promise<void>; commit(): Promise<void>; abort(): Promise<void> }> {
  const fs = await nodeFs();
  const { basename, dirname, join } = await import("node:path");
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${tmpCounter++}`);
  const fh = await asFileError(path, () => fs.open(tmp, "w"));
  let open = true;
  const abort = async () => {
    if (open) await fh.close();
    open = false;
    await fs.rm(tmp, { force: true });
  };
  return {
    write: async (text) => {
      await asFileError(path, () => fh.write(text)).catch(async (e: unknown) => {
        await abort();
        throw e;
      });
    },
    commit: async () => {
      try {
        await asFileError(path, async () => {
          await fh.sync();
          await fh.close();
          open = false;
          await fs.rename(tmp, path);
        });
      } catch (e) {
        await abort();
        throw e;
      }
      await syncFolder(dirname(path));
    },
    abort,
  };
}

/** Creates a folder and its parents (no error when it exists). */
export async function makeFolder(path: string): Promise<void> {
  const fs = await nodeFs();
  await asFileError(path, () => fs.mkdir(path, { recursive: true }));
}

/** The names in a folder, [] when it does not exist. */
export async function listFolder(path: string): Promise<string[]> {
  const fs = await nodeFs();
  return fs.readdir(path).catch(() => []);
}

/** The entries of a folder with their kind, in the order the system gives them. */
export async function folderEntries(path: string): Promise<{ name: string; folder: boolean; file: boolean }[]> {
  const fs = await nodeFs();
  const entries = await asFileError(path, () => fs.readdir(path, { withFileTypes: true }));
  return entries.map((e) => ({ name: e.name, folder: e.isDirectory(), file: e.isFile() }));
}

/** Removes a file or (recursive) a folder; nothing when it does not exist. */
export async function removePath(path: string, opts: { recursive?: boolean } = {}): Promise<void> {
  const fs = await nodeFs();
  await asFileError(path, () => fs.rm(path, { force: true, recursive: opts.recursive === true }));
}

/** What is at `path`: its size and whether it is a folder, or null when nothing (or nothing readable) is there. */
export async function pathInfo(path: string | URL): Promise<{ size: number; folder: boolean } | null> {
  const fs = await nodeFs();
  const s = await fs.stat(path).catch(() => null);
  return s && { size: s.size, folder: s.isDirectory() };
}

/** Like pathInfo, but the system's error (ENOENT, EACCES, ...) is returned instead of null. */
export async function pathStatus(path: string): Promise<{ size: number; folder: boolean } | FileError> {
  const fs = await nodeFs();
  return fs.stat(path).then((s) => ({ size: s.size, folder: s.isDirectory() }), (e: unknown) => {
    if (fsCode(e) === null) throw e;
    return new FileError(fileProblem(e, path), fsCode(e)!);
  });
}

/** Creates and removes a probe file in `folder`: throws the system's error when the folder refuses a new file. */
export async function probeWritable(folder: string, name: string): Promise<void> {
  const fs = await nodeFs();
  const { join } = await import("node:path");
  const probe = join(folder, `.${name}.probe-${process.pid}`);
  try {
    await (await fs.open(probe, "wx")).close();
  } finally {
    await fs.rm(probe, { force: true });
  }
}

/**
 * Opens a file for random-access reads. A missing, unreadable or folder path is a FileError naming
 * the path and the cause, with the system's code (ENOENT, EACCES, EISDIR, ...).
 */
export async function openFileSource(path: string): Promise<ByteSource> {
  const fs = await nodeFs();
  const fh = await fs.open(path, "r").catch((e: unknown) => {
    throw fsCode(e) === null ? e : new FileError(fileProblem(e, path), fsCode(e)!);
  });
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new FileError(fileProblem(Object.assign(new Error("is a folder"), { code: "EISDIR" }), path), "EISDIR");
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
