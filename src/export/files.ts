/**
 * An export as a folder (Node): `encoder.onnx`, `lm.onnx`, and `<name>.data` beside a graph whose
 * weights are external; reading a folder back for onnxruntime. Atomic writes (io/fs.ts); a data
 * file left by an earlier export of the same name is removed when the new graph is inline.
 */
import { FormatError } from "../errors.js";
import { listFolder, makeFolder, readBytes, removePath, writeAtomic } from "../io/fs.js";
import { ONNX_FILES, type OnnxExport } from "./build.js";
import type { GraphBytes } from "./session.js";

/** Writes the export into `dir` (created if needed); returns the paths written. */
export async function writeOnnxFolder(dir: string, exp: OnnxExport): Promise<string[]> {
  const { join } = await import("node:path");
  await makeFolder(dir);
  const written: string[] = [];
  for (const [name, enc] of exp.files) {
    const data = join(dir, `${name}.data`);
    if (enc.external) {
      await writeAtomic(data, enc.data);
      written.push(data);
    } else {
      await removePath(data);
    }
    await writeAtomic(join(dir, name), enc.model);
    written.push(join(dir, name));
  }
  return written;
}

/** encoder.onnx and lm.onnx of `dir`, each with its external data when the folder holds it. */
export async function readOnnxFolder(dir: string): Promise<{ encoder: GraphBytes; lm: GraphBytes }> {
  const { join } = await import("node:path");
  const names = await listFolder(dir);
  const read = async (name: string): Promise<GraphBytes> => {
    if (!names.includes(name)) throw new FormatError(`${dir}: ${name}: missing (expected the folder written by tgh-moe export-onnx)`);
    return { model: await readBytes(join(dir, name)), data: names.includes(`${name}.data`) ? await readBytes(join(dir, `${name}.data`)) : null };
  };
  return { encoder: await read(ONNX_FILES.encoder), lm: await read(ONNX_FILES.lm) };
}
