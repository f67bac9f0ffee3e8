/**
 * Node-only file helpers over the byte-level cores (./safetensors.ts, ./nifti.ts), through ./fs.ts;
 * browsers use the cores with bytes from fetch, or a File through ./source.ts. Files are read as ByteSources: the
 * header is checked first, then only what it describes is read, never the whole file at once.
 */
import type { Tensor } from "../tensor.js";
import { readNiftiSource, type NiftiVolume, type ReadNiftiOptions } from "./nifti.js";
import { openFileSource, writeAtomic } from "./fs.js";
import type { ByteSource } from "./source.js";
import {
  loadCheckedSource, readHeaderSource, readSafetensorsSource, writeSafetensors,
  type CheckedOptions, type Expected, type ReadOptions, type SafetensorsContents, type SafetensorsHeader, type WriteOptions,
} from "./safetensors.js";

/** Runs f on the file opened as a ByteSource, and closes it. */
async function withFile<T>(path: string, f: (src: ByteSource) => Promise<T>): Promise<T> {
  const src = await openFileSource(path);
  try {
    return await f(src);
  } finally {
    await src.close();
  }
}

/** Reads a .safetensors file (header first, then each tensor into its own buffer); errors are labelled with its path. */
export async function readSafetensorsFile(path: string, opts: Omit<ReadOptions, "file"> = {}): Promise<SafetensorsContents> {
  return withFile(path, (src) => readSafetensorsSource(src, { ...opts, file: path }));
}

/** loadChecked on a file: only the expected tensors are read; errors are labelled with its path. */
export async function loadCheckedFile(
  path: string,
  expected: ReadonlyMap<string, Expected>,
  opts: Omit<CheckedOptions, "file"> = {},
): Promise<Map<string, Tensor>> {
  return withFile(path, async (src) => {
    const header = await readHeaderSource(src, { ...opts, file: path });
    return loadCheckedSource(src, header, expected, { ...opts, file: path });
  });
}

/** The checked header of a .safetensors file (nothing past it is read). */
export async function readSafetensorsHeaderFile(path: string, opts: Omit<ReadOptions, "file"> = {}): Promise<SafetensorsHeader & { fileSize: number }> {
  return withFile(path, async (src) => ({ ...(await readHeaderSource(src, { ...opts, file: path })), fileSize: src.size }));
}

/** Writes a .safetensors file atomically (./fs.ts writeAtomic: temporary file, fsync, rename). */
export async function writeSafetensorsFile(
  path: string,
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  opts: WriteOptions = {},
): Promise<void> {
  await writeAtomic(path, writeSafetensors(tensors, opts));
}

/** readNifti on a file: the header is checked before the voxels are read; memory is the result plus a few MiB. */
export async function readNiftiFile(path: string, opts: ReadNiftiOptions = {}): Promise<NiftiVolume> {
  return withFile(path, (src) => readNiftiSource(src, { file: path, ...opts }));
}
