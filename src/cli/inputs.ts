/**
 * The inputs `run`, `route-map` and `eval` share: option values (decimals, --task), the package root,
 * the checkpoint (streamed from its file: header checked first) and the CT volume (read before the
 * checkpoint, so a bad volume costs nothing; preprocessed once the model's preset is known).
 */
import { readFile, stat } from "node:fs/promises";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel, type TghModel } from "../api.js";
import type { BackendName } from "../backend/index.js";
import { readNiftiFile } from "../io/node.js";
import type { NiftiVolume } from "../io/nifti.js";
import { preprocess, preprocessPreset, PREPROCESS_PRESET_NAMES, type PreprocessPreset } from "../preprocess/index.js";
import type { F32Tensor } from "../tensor.js";
import { oneOf, UsageError } from "./command.js";
import { fileProblem, fsCode } from "./files.js";

/**
 * The model `run` uses without --checkpoint: the trained `small` preset, relative to the package
 * root (the repository on a clone), so the command works from any directory.
 */
export const DEFAULT_CHECKPOINT = "checkpoints/tgh-moe-small.safetensors";

/** Where progress goes (cli/run.ts Progress). */
export interface ProgressSink {
  line(text: string): void;
  status(text: string): void;
}

/** A decimal number in [lo, hi] (lo excluded unless loInclusive). */
export function decimal(cmd: string, name: string, text: string, lo: number, hi: number, loInclusive: boolean): number {
  const x = /^[0-9]*\.?[0-9]+(e[-+]?[0-9]+)?$/i.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(x) || x > hi || x < lo || (!loInclusive && x === lo)) {
    throw new UsageError(`tgh-moe ${cmd}: --${name}: expected a number in ${loInclusive ? "[" : "("}${lo}, ${hi}], got ${JSON.stringify(text)}`);
  }
  return x;
}

/** --task: a name ("report", "vqa") or an index; checked against the model's task count by generate. */
export function taskOption(text: string | undefined): string | number | undefined {
  return text !== undefined && /^[0-9]+$/.test(text) ? Number(text) : text;
}

/** The package root: the nearest folder above this module whose package.json is tgh-moe's. */
export async function packageRoot(): Promise<string> {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(await readFile(resolve(dir, "package.json"), "utf8")) as { name?: string };
      if (pkg.name === "tgh-moe") return dir;
    } catch {
      // not here; keep walking up
    }
  }
  return process.cwd();
}

/** Runs f; a file system error about the file of option --name becomes a UsageError naming both. */
async function asInput<T>(cmd: string, name: string, path: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (fsCode(e) === null) throw e;
    throw new UsageError(`tgh-moe ${cmd}: --${name}: ${fileProblem(e, path).replace(/ \((ENOENT|EISDIR|EACCES)\)$/, "")}`);
  }
}

/** Loads --checkpoint (default: DEFAULT_CHECKPOINT in the package root) on a backend, with --preset if given. */
export async function openModel(cmd: string, checkpoint: string | undefined, backend: BackendName, presetName: string | undefined, progress: ProgressSink): Promise<{ model: TghModel; file: string; ms: number }> {
  const preset = presetName === undefined ? undefined : preprocessPreset(oneOf(cmd, "preset", presetName, PREPROCESS_PRESET_NAMES));
  let file = checkpoint;
  if (file === undefined) {
    const root = await packageRoot();
    file = relative(process.cwd(), resolve(root, DEFAULT_CHECKPOINT)) || DEFAULT_CHECKPOINT;
    if (!(await stat(file).catch(() => null))) {
      throw new UsageError(`tgh-moe ${cmd}: no checkpoint at ${file} (the trained small model is not in this tree); pass --checkpoint FILE`);
    }
  }
  const path = file;
  const t0 = performance.now();
  progress.status(`loading ${file} ...`);
  const size = await asInput(cmd, "checkpoint", path, async () => (await stat(path)).size);
  const model = await asInput(cmd, "checkpoint", path, () => loadModel(path, { backend, file: path, ...(preset ? { preprocess: preset } : {}) }));
  const ms = performance.now() - t0;
  const c = model.cfg;
  progress.line(`checkpoint: ${file} (${(size / 2 ** 20).toFixed(1)} MiB; vision ${c.vision.layers} blocks, MoE in ${c.vision.moeLayers.join(", ") || "none"}; LM ${c.lm.layers} blocks, vocab ${c.lm.vocab}) loaded in ${fmtMs(ms)} on ${model.backend.name}`);
  return { model, file, ms };
}

/** A NIfTI file read (header first, then only its voxels); file system errors name --volume. */
export async function readVolumeFile(cmd: string, file: string, progress: ProgressSink): Promise<{ nifti: NiftiVolume; ms: number }> {
  const t0 = performance.now();
  progress.status(`reading ${file} ...`);
  const nifti = await asInput(cmd, "volume", file, () => readNiftiFile(file));
  return { nifti, ms: performance.now() - t0 };
}

export interface ReadVolume {
  nifti: NiftiVolume; // as read, canonical LPS+, HU
  data: F32Tensor; // [1, 1, D, H, W] preprocessed
  readMs: number;
  preprocessMs: number;
}

/** Preprocesses a volume read by readVolumeFile with the model's preset; NIfTI warnings go to stderr. */
export function prepareVolume(cmd: string, file: string, read: { nifti: NiftiVolume; ms: number }, model: TghModel, progress: ProgressSink): ReadVolume {
  const { nifti } = read;
  for (const w of nifti.meta.warnings) progress.line(`warning: ${file}: ${w}`);
  const preset: PreprocessPreset | null = model.preprocess;
  if (!preset) throw new UsageError(`tgh-moe ${cmd}: the checkpoint has no preprocessing preset; pass --preset NAME (${PREPROCESS_PRESET_NAMES.join(", ")})`);
  const t1 = performance.now();
  const data = preprocess(nifti, preset).data;
  const ms = performance.now() - t1;
  const mm = nifti.spacing.map((s) => String(Math.round(s * 100) / 100)).join(" x ");
  progress.line(`volume: ${file} (${nifti.shape.join(" x ")} voxels of ${mm} mm, ${nifti.meta.sourceAxcodes}) -> ${preset.name} v${preset.version} [${data.shape.slice(2).join(", ")}] in ${fmtMs(read.ms + ms)}`);
  return { nifti, data, readMs: read.ms, preprocessMs: ms };
}

export function fmtMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`;
}
