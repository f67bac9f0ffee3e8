/** Node file helpers of the CLI: whole-file reads as Uint8Array and atomic writes (temp file + rename). */
import { readFile, rename, rm, writeFile } from "node:fs/promises";

export async function readBytes(path: string): Promise<Uint8Array> {
  const buf = await readFile(path);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Writes `bytes` to a temporary file next to `path`, then renames it over `path`. */
export async function writeBytesAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
