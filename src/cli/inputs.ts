/**
 * The model `run`, `route-map` and `eval` open: --checkpoint (default the shipped one, found from
 * the package root), streamed from its file (header checked first) onto --backend, with --preset if
 * given. The volume is ./volume.ts; option values are ./command.ts.
 */
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel, type TghModel } from "../api.js";
import type { BackendName } from "../backend/index.js";
import { FileError } from "../errors.js";
import { pathInfo, pathStatus } from "../io/fs.js";
import { preprocessPreset, PREPROCESS_PRESET_NAMES } from "../preprocess/index.js";
import { DEFAULT_CHECKPOINT, packageRootUrl } from "../shipped.js";
import { oneOf, UsageError } from "./command.js";
import { fileProblem, fsCode } from "./files.js";
import { fmtMs, type Progress } from "./progress.js";

/**
 * The model `run` uses without --checkpoint: the trained `small` preset, relative to the package
 * root (the repository on a clone), so the command works from any directory.
 */
export { DEFAULT_CHECKPOINT } from "../shipped.js";

/** The package root: the nearest folder above this module whose package.json is tgh-moe's (else the working folder). */
export async function packageRoot(): Promise<string> {
  return packageRootUrl().then((url) => fileURLToPath(url), () => process.cwd());
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
export async function openModel(cmd: string, checkpoint: string | undefined, backend: BackendName, presetName: string | undefined, progress: Progress): Promise<{ model: TghModel; file: string; ms: number }> {
  const preset = presetName === undefined ? undefined : preprocessPreset(oneOf(cmd, "preset", presetName, PREPROCESS_PRESET_NAMES));
  let file = checkpoint;
  if (file === undefined) {
    const root = await packageRoot();
    file = relative(process.cwd(), resolve(root, DEFAULT_CHECKPOINT)) || DEFAULT_CHECKPOINT;
    if (!(await pathInfo(file))) {
      throw new UsageError(`tgh-moe ${cmd}: no checkpoint at ${file} (the trained small model is not in this tree); pass --checkpoint FILE`);
    }
  }
  const path = file;
  const t0 = performance.now();
  progress.status(`loading ${file} ...`);
  const size = await asInput(cmd, "checkpoint", path, async () => {
    const info = await pathStatus(path);
    if (info instanceof FileError) throw info;
    return info.size;
  });
  const model = await asInput(cmd, "checkpoint", path, () => loadModel(path, { backend, file: path, ...(preset ? { preprocess: preset } : {}) }));
  const ms = performance.now() - t0;
  const c = model.cfg;
  progress.line(`checkpoint: ${file} (${(size / 2 ** 20).toFixed(1)} MiB; vision ${c.vision.layers} blocks, MoE in ${c.vision.moeLayers.join(", ") || "none"}; LM ${c.lm.layers} blocks, vocab ${c.lm.vocab}) loaded in ${fmtMs(ms)} on ${model.backend.name}`);
  return { model, file, ms };
}
