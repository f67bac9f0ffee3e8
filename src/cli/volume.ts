/**
 * The CLI's `--volume PATH`: a NIfTI file, or a folder (searched recursively) or DICOM file of one
 * series, read with readVolumeFiles, preprocessed with the model's preset; the reader's and the
 * input-sanity warnings are printed to stderr (also with --quiet) and returned for --json. Shared
 * by `run` and `route-map`. Not the readers (src/io/).
 */
import { join } from "node:path";
import type { TghModel } from "../api.js";
import { folderEntries, pathInfo, readBytes } from "../io/fs.js";
import { readVolumeFiles, type CtVolume, type VolumeFile } from "../io/volume.js";
import { PREPROCESS_PRESET_NAMES } from "../preprocess/index.js";
import type { F32Tensor } from "../tensor.js";
import { UsageError, type Io } from "./command.js";
import { fsCode } from "./files.js";
import { fmtMs, type Progress } from "./progress.js";

/** Help lines of the volume options, shared by run and route-map. */
export const VOLUME_OPTIONS_HELP = `  --volume PATH         CT in Hounsfield units: a NIfTI-1/2 file (.nii, .nii.gz), or a folder
                        (searched recursively) holding the DICOM files of one series
  --volumes first|N     a 4D NIfTI file: read its first volume, or volume N (from 0)
  --series UID          a folder with several DICOM series: read the one with this SeriesInstanceUID`;

/** Most files read from a --volume folder (a CT series has hundreds to a few thousand). */
export const MAX_FOLDER_FILES = 20_000;

export interface VolumeArgs {
  volumes?: string;
  series?: string;
}

export interface ReadVolume {
  volume: CtVolume; // as read, canonical LPS+, HU
  data: F32Tensor; // [1, 1, D, H, W] preprocessed
  warnings: string[];
  readMs: number;
  preprocessMs: number;
}

/** Fails before any work when --volume is missing; a folder is fine (a DICOM series). */
export async function checkVolumePath(cmd: string, path: string): Promise<void> {
  if (!(await pathInfo(path))) throw new UsageError(`tgh-moe ${cmd}: --volume: ${path}: no such file or folder`);
}

/** --volumes: "first" or a volume index. */
export function volumesOption(cmd: string, text: string | undefined): "first" | number | undefined {
  if (text === undefined || text === "first") return text;
  if (!/^[0-9]{1,9}$/.test(text)) throw new UsageError(`tgh-moe ${cmd}: --volumes: expected "first" or a volume index N >= 0, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** Reads --volume (file or folder) and preprocesses it with the model's preset; warnings go to stderr. */
export async function readVolume(cmd: string, path: string, model: TghModel, progress: Progress, io: Io, args: VolumeArgs = {}): Promise<ReadVolume> {
  const t0 = performance.now();
  progress.status(`reading ${path} ...`);
  const files = await volumeFiles(cmd, path);
  const volume = readVolumeFiles(files, { volumes: volumesOption(cmd, args.volumes), series: args.series });
  const t1 = performance.now();
  const preset = model.preprocess;
  if (!preset) throw new UsageError(`tgh-moe ${cmd}: the checkpoint has no preprocessing preset; pass --preset NAME (${PREPROCESS_PRESET_NAMES.join(", ")})`);
  const { volume: data, warnings } = model.prepareInput(volume, cmd);
  const t2 = performance.now();
  const mm = volume.spacing.map((s) => String(Math.round(s * 100) / 100)).join(" x ");
  const what = volume.format === "dicom" ? `DICOM series, ${volume.meta.slices} slices` : volume.meta.sourceAxcodes;
  progress.line(`volume: ${path} (${volume.shape.join(" x ")} voxels of ${mm} mm, ${what}) -> ${preset.name} v${preset.version} [${data.shape.slice(2).join(", ")}] in ${fmtMs(t2 - t0)}`);
  for (const w of warnings) io.err(`warning: ${w}`);
  return { volume, data, warnings, readMs: t1 - t0, preprocessMs: t2 - t1 };
}

/** One file, or every regular file under a folder (dot files skipped), in sorted path order. */
async function volumeFiles(cmd: string, path: string): Promise<VolumeFile[]> {
  const s = await pathInfo(path);
  if (!s) throw new UsageError(`tgh-moe ${cmd}: --volume: ${path}: no such file or folder`);
  if (!s.folder) return [{ name: path, bytes: await readInput(cmd, "volume", path) }];
  const paths: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = (await folderEntries(dir)).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      if (e.folder) await walk(join(dir, e.name));
      else if (e.file) paths.push(join(dir, e.name));
      if (paths.length > MAX_FOLDER_FILES) throw new UsageError(`tgh-moe ${cmd}: --volume: ${path}: more than ${MAX_FOLDER_FILES} files; point it at the folder of one series`);
    }
  };
  await walk(path);
  if (paths.length === 0) throw new UsageError(`tgh-moe ${cmd}: --volume: ${path}: an empty folder (expected the DICOM files of one series)`);
  const files: VolumeFile[] = [];
  for (let i = 0; i < paths.length; i += 64) { // 64 at a time: a series of thousands of files must not exhaust file descriptors
    files.push(...(await Promise.all(paths.slice(i, i + 64).map(async (p) => ({ name: p, bytes: await readInput(cmd, "volume", p) })))));
  }
  return files;
}

/** Reads a whole input file; a missing or unreadable one is a UsageError naming the option. */
async function readInput(cmd: string, name: string, path: string): Promise<Uint8Array> {
  try {
    return await readBytes(path);
  } catch (e) {
    const code = fsCode(e);
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a folder, not a file" : code === "EACCES" ? "permission denied" : code === "ERR_FS_FILE_TOO_LARGE" ? "larger than 2 GiB, more than this reader takes" : null;
    if (why === null) throw e;
    throw new UsageError(`tgh-moe ${cmd}: --${name}: ${path}: ${why}`);
  }
}
