/**
 * src/io/fs.ts, the one module that touches the file system: atomic writes replace a file whole
 * and leave nothing behind when they fail; reads and writes fail with a FileError naming the path
 * and the system's code; the streamed writer's file appears only on commit.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileError } from "../src/errors.js";
import { listFolder, openAtomicWriter, pathInfo, readBytes, readText, writeAtomic } from "../src/io/fs.js";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tgh-fs-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writeAtomic", () => {
  it("writes bytes and text, replaces an existing file whole, and leaves no temporary file", async () => {
    const f = join(dir, "a.bin");
    await writeAtomic(f, Uint8Array.from([1, 2, 3]));
    expect(Array.from(await readBytes(f))).toEqual([1, 2, 3]);
    await writeAtomic(f, "hello\n");
    expect(await readText(f)).toBe("hello\n");
    expect(await readdir(dir)).toEqual(["a.bin"]);
  });

  it("fails with a FileError naming the path; the old file is untouched and no temporary file is left", async () => {
    const sub = join(dir, "keep");
    await mkdir(sub);
    await writeFile(join(sub, "x.txt"), "old");
    const folderInTheWay = join(sub, "x.txt.d");
    await mkdir(folderInTheWay);
    // renaming a file over a folder fails after the temporary file was written
    const e = await writeAtomic(folderInTheWay, "new").then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(FileError);
    expect((e as FileError).message).toContain(folderInTheWay);
    expect((await readdir(sub)).sort()).toEqual(["x.txt", "x.txt.d"]);
    expect(await readFile(join(sub, "x.txt"), "utf8")).toBe("old");
    const missing = join(dir, "no-such-folder", "y.bin");
    await expect(writeAtomic(missing, "z")).rejects.toThrow(new RegExp(`${missing.replace(/[/.]/g, "\\$&")}: .*\\(ENOENT\\)`));
  });
});

describe("reads and the streamed writer", () => {
  it("readBytes of a missing file or a folder: FileError with the code", async () => {
    const e = await readBytes(join(dir, "nope")).catch((err: unknown) => err);
    expect([e instanceof FileError, (e as FileError).code]).toEqual([true, "ENOENT"]);
    const f = await readBytes(dir).catch((err: unknown) => err);
    expect([f instanceof FileError, (f as FileError).code]).toEqual([true, "EISDIR"]);
    expect(await pathInfo(join(dir, "nope"))).toBeNull();
    expect(await listFolder(join(dir, "nope"))).toEqual([]);
  });

  it("openAtomicWriter: nothing at the path until commit; abort leaves nothing", async () => {
    const f = join(dir, "lines.jsonl");
    const w = await openAtomicWriter(f);
    await w.write("a\n");
    await w.write("b\n");
    expect(await pathInfo(f)).toBeNull();
    await w.commit();
    expect(await readText(f)).toBe("a\nb\n");
    const g = join(dir, "aborted.jsonl");
    const w2 = await openAtomicWriter(g);
    await w2.write("x\n");
    await w2.abort();
    expect((await readdir(dir)).filter((n) => n.includes("aborted"))).toEqual([]);
  });
});
