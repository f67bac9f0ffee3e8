/**
 * Files a user hands the web app, as { name, bytes } for readVolumeFiles: a file input (one NIfTI
 * file or many DICOM files), a folder input, or a drop of files and folders (folders walked with the
 * File and Directory Entries API). Everything stays in the tab: nothing is uploaded. DOM only; no
 * reading of formats here (src/io/volume.ts).
 */
import { ValueError, type VolumeFile } from "../src/index.js";

/** Most files taken from one drop or folder (a CT series has hundreds to a few thousand). */
export const MAX_FILES = 20_000;

/** The bytes of File objects; hidden files (".DS_Store") are skipped. */
export async function readFiles(files: Iterable<File>): Promise<VolumeFile[]> {
  const list = [...files].filter((f) => !f.name.startsWith("."));
  if (list.length > MAX_FILES) throw new ValueError(`open: ${list.length} files: more than ${MAX_FILES}; open the folder of one series`);
  return Promise.all(list.map(async (f) => ({ name: f.webkitRelativePath || f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
}

/** Files of a drop: plain files, and every file inside dropped folders. */
export async function droppedFiles(dt: DataTransfer): Promise<VolumeFile[]> {
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  if (entries.length === 0) return readFiles(dt.files);
  const files: File[] = [];
  const walk = async (e: FileSystemEntry): Promise<void> => {
    if (files.length > MAX_FILES) return;
    if (e.isFile) files.push(await new Promise<File>((ok, fail) => (e as FileSystemFileEntry).file(ok, fail)));
    else if (e.isDirectory) for (const child of await readAll((e as FileSystemDirectoryEntry).createReader())) await walk(child);
  };
  for (const e of entries) await walk(e);
  return readFiles(files);
}

/** A directory reader returns its entries in batches until an empty one. */
async function readAll(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  const out: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
    if (batch.length === 0) return out;
    out.push(...batch);
  }
}
