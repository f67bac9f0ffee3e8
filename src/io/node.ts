/**
 * Node-only file helpers over the Uint8Array core in ./safetensors.ts (browsers use the core with
 * bytes from fetch or a File). The whole file is read into memory; no memory mapping.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import type { Tensor } from "../tensor.js";
import {
  loadChecked, readSafetensors, writeSafetensors,
  type CheckedOptions, type Expected, type SafetensorsContents, type WriteOptions,
} from "./safetensors.js";

function bytesOf(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Reads a .safetensors file; errors are labelled with its path. */
export async function readSafetensorsFile(path: string): Promise<SafetensorsContents> {
  return readSafetensors(bytesOf(await readFile(path)), { file: path });
}

/** loadChecked on a file; errors are labelled with its path. */
export async function loadCheckedFile(
  path: string,
  expected: ReadonlyMap<string, Expected>,
  opts: Omit<CheckedOptions, "file"> = {},
): Promise<Map<string, Tensor>> {
  return loadChecked(bytesOf(await readFile(path)), expected, { ...opts, file: path });
}

/** Writes a .safetensors file atomically (a temporary file in the same folder, then a rename). */
export async function writeSafetensorsFile(
  path: string,
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  opts: WriteOptions = {},
): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, writeSafetensors(tensors, opts));
  await rename(tmp, path);
}
