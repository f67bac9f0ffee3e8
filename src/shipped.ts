/**
 * Where the shipped, trained checkpoint is, so `loadModel()` needs no argument: in Node the
 * package's own file (found from this module's URL, in a clone or in node_modules); in browsers a
 * file of the same name next to this module (the web build copies it next to its bundle). Not the
 * loader (src/api.ts).
 */
import { TghError } from "./errors.js";
import { readText } from "./io/fs.js";

/** The shipped checkpoint, relative to the package root (`tgh-moe/checkpoints/...` in `exports`). */
export const DEFAULT_CHECKPOINT = "checkpoints/tgh-moe-small.safetensors";
/** Its file name: what a browser build puts next to the bundle. */
export const DEFAULT_CHECKPOINT_NAME = "tgh-moe-small.safetensors";

const isNode = typeof process !== "undefined" && !!process.versions?.node;

/** The URL of the shipped checkpoint: a file: URL in Node, a URL next to this module elsewhere. */
export async function defaultCheckpointUrl(): Promise<URL> {
  if (!isNode) return new URL(DEFAULT_CHECKPOINT_NAME, import.meta.url);
  return new URL(DEFAULT_CHECKPOINT, await packageRootUrl());
}

/**
 * The folder of the nearest package.json named tgh-moe above this module (src/ in a clone,
 * dist/src/ in the package). Node only.
 */
export async function packageRootUrl(): Promise<URL> {
  let url = new URL("./", import.meta.url);
  for (let i = 0; i < 6; i++, url = new URL("../", url)) {
    try {
      const pkg = JSON.parse(await readText(new URL("package.json", url))) as { name?: string };
      if (pkg.name === "tgh-moe") return url;
    } catch {
      // not here; keep walking up
    }
  }
  throw new TghError(`loadModel: no source given and the tgh-moe package root (its package.json) is not above ${import.meta.url}: pass a checkpoint`);
}
