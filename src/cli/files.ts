/**
 * The checks an output path gets before any work starts, and the one-line wording of file system
 * errors (ENOENT, EACCES, ERR_FS_FILE_TOO_LARGE, ...). Reads and atomic writes are src/io/fs.ts,
 * the one module that touches the file system. No command logic here.
 */
import { basename, dirname, resolve } from "node:path";
import { pathInfo, probeWritable } from "../io/fs.js";
import { fileProblem } from "../io/source.js";
import { UsageError } from "./command.js";

export { fileProblem, fsCode } from "../io/source.js";

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
  if (!(await pathInfo(folder))?.folder) fail(`${path}: folder ${dirname(path)} does not exist`);
  if ((await pathInfo(path))?.folder) fail(`${path}: is a folder, not a file`);
  try {
    await probeWritable(folder, basename(path));
  } catch (e) {
    fail(`${path}: cannot write in folder ${dirname(path)}: ${fileProblem(e, null)}`);
  }
}
