/**
 * Every kind of error the CLI can show, each one line on stderr and exit 2 (never 3, which is kept
 * for bugs): usage errors, file system errors (missing, a folder, unwritable outputs, files over
 * 2 GiB), malformed inputs (NIfTI, checkpoint header, config bounds), values out of range (a prompt
 * longer than the context), and the typed errors a library call can raise, through the one error
 * reporter. Outputs are checked before the work, and a computed answer is printed before the error
 * of an output that fails late.
 */
import { closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCheckpoint } from "../src/api.js";
import type { Io } from "../src/cli/command.js";
import { reportError, runCli } from "../src/cli/main.js";
import { AbortError, DTypeError, FileError, FormatError, MemoryError, ShapeError, ValueError } from "../src/errors.js";
import { readSafetensors, writeSafetensors } from "../src/io/safetensors.js";
import { writeNifti } from "../src/io/nifti-write.js";
import { toSpecJson } from "../src/model/config.js";
import { preprocessPreset } from "../src/preprocess/index.js";
import { referenceBackend } from "./util/backends.js";
import { cliProcess } from "./util/cli.js";
import { tinyModel } from "./util/generate.js";
import { buildNifti } from "./nifti-fixtures.js";

let dir: string, ckpt: string, vol: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tgh-cli-errors-"));
  const m = tinyModel(await referenceBackend(), 8);
  ckpt = join(dir, "tiny.safetensors");
  writeFileSync(ckpt, makeCheckpoint({ ...m, preprocess: preprocessPreset("tiny") }));
  vol = join(dir, "ct.nii.gz");
  const data = Float32Array.from({ length: 4 * 32 * 32 }, (_, i) => ((i * 7) % 2000) - 1000);
  writeFileSync(vol, writeNifti({ data, shape: [4, 32, 32], affine: [[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]] }, { gzip: true }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  out: string[];
  err: string[];
}
async function cli(args: string[], onErr?: (line: string) => void): Promise<Run> {
  const out: string[] = [], err: string[] = [];
  const io: Io = { out: (l) => out.push(l), err: (l) => (err.push(l), onErr?.(l)) };
  return { code: await runCli(args, io), out, err };
}
/** Exit 2 and exactly one stderr line `<Name>: ...` matching re. */
function oneLine(r: Run, name: string, re: RegExp): void {
  expect(r.code, r.err.join("\n")).toBe(2);
  const err = r.err.filter((l) => !l.startsWith("warning: ")); // input-sanity warnings (not errors) may come first
  expect(err, "one error line on stderr").toHaveLength(1);
  expect(err[0]).not.toMatch(/[\r\n]/);
  expect(err[0].startsWith(`${name}: `), err[0]).toBe(true);
  expect(err[0]).toMatch(re);
}
const runArgs = (...extra: string[]) => ["run", "--checkpoint", ckpt, "--volume", vol, "--prompt", "Describe the findings.", "--max-tokens", "2", "--quiet", ...extra];
const checkpointWith = (edit: (meta: Map<string, string>) => void) => {
  const { tensors, metadata } = readSafetensors(new Uint8Array(readFileSync(ckpt)));
  edit(metadata);
  const path = join(dir, `edited-${metadata.size}-${Math.round(performance.now())}.safetensors`);
  writeFileSync(path, writeSafetensors(tensors, { metadata }));
  return path;
};

describe("the CLI's errors: one line, exit 2", () => {
  it("usage errors", async () => {
    oneLine(await cli(["frobnicate"]), "UsageError", /unknown command "frobnicate"/);
    oneLine(await cli(["run", "--volume", vol]), "UsageError", /--prompt is required/);
    oneLine(await cli(runArgs("--max-tokens", "ten")), "UsageError", /--max-tokens: expected an integer/);
    oneLine(await cli(["verify", "--frob"]), "UsageError", /Unknown option '--frob'/);
  });

  it("outputs are checked before any work: empty, missing folder, a folder that refuses files", async () => {
    oneLine(await cli(runArgs("--routing-map", "")), "UsageError", /--routing-map: expected a file path, got an empty string$/);
    oneLine(await cli(runArgs("--routing-map", join(dir, "nope", "m.png"))), "UsageError", /folder .*nope does not exist/);
    oneLine(await cli(runArgs("--routing-map", "/proc/m.png")), "UsageError", /--routing-map: \/proc\/m\.png: cannot write in folder \/proc: /);
    oneLine(await cli(["golden", "--out", "/proc/g.safetensors"]), "UsageError", /golden: --out: \/proc\/g\.safetensors: cannot write in folder \/proc/);
    oneLine(await cli(["route-map", "--volume", vol, "--prompt", "x", "--out", dir]), "UsageError", /--out: .*: is a folder, not a file/);
  });

  it("file system errors on inputs: missing, a folder, more than 2 GiB", async () => {
    oneLine(await cli(["verify", join(dir, "none.safetensors")]), "FileError", /none\.safetensors: no such file \(ENOENT\)$/);
    oneLine(await cli(["info", dir]), "FileError", /: is a folder, not a file \(EISDIR\)$/);
    const big = join(dir, "big.safetensors");
    const head = new Uint8Array(16).fill(0x20); // N = 8: "{}" and 6 spaces
    new DataView(head.buffer).setBigUint64(0, 8n, true);
    head.set([0x7b, 0x7d], 8);
    const fd = openSync(big, "w");
    writeSync(fd, head);
    ftruncateSync(fd, 2 ** 31 + 16); // sparse: 2 GiB of zeros after the header
    closeSync(fd);
    oneLine(await cli(["verify", big]), "FileError", /big\.safetensors: larger than 2 GiB, the most Node reads into memory at once \(ERR_FS_FILE_TOO_LARGE\)$/);
    oneLine(await cli(["info", big]), "FormatError", /big\.safetensors: data buffer: bytes \[0, 2147483648\) belong to no tensor/);
  });

  it("malformed inputs: NIfTI header, checkpoint header, config bounds", async () => {
    const hostile = join(dir, "offset.nii");
    const b = buildNifti({ dims: [2, 2, 2], values: new Float32Array(8) });
    new DataView(b.buffer).setFloat32(108, 1e10, true);
    writeFileSync(hostile, b);
    oneLine(await cli(runArgs().map((a) => (a === vol ? hostile : a))), "FormatError", /offset\.nii: vox_offset: 10000000000 is beyond the bound of 16777216/);
    const ex = checkpointWith((m) => {
      const c = JSON.parse(m.get("config")!) as ReturnType<typeof toSpecJson>;
      m.set("config", JSON.stringify({ ...c, moe: { ...c.moe, experts: 1e6 } }));
    });
    oneLine(await cli(runArgs().map((a) => (a === ckpt ? ex : a))), "FormatError", /__metadata__\.config: config: moe\.experts: expected at most 4096 \(this implementation's bound\), got 1000000$/);
    const grid = checkpointWith((m) => m.set("preprocess", JSON.stringify({ ...preprocessPreset("tiny"), grid: [1048576, 32, 32] })));
    oneLine(await cli(runArgs().map((a) => (a === ckpt ? grid : a))), "FormatError", /preprocess: grid: expected at most 134217728 voxels/);
  });

  it("a prompt longer than the context is a ValueError, before any encoding", async () => {
    oneLine(await cli(runArgs("--prompt", "x".repeat(200_000))), "ValueError", /generate: prompt: 200000 characters cannot fit the \d+ tokens the context of 4096 leaves/);
  });

  it("every typed error, file system errors and running out of memory go through one reporter: one line, exit 2; anything else exit 3", () => {
    const cases: [unknown, string][] = [
      [new ShapeError("matmul: b: expected [2, 3],\ngot [3, 2]"), "ShapeError"], [new DTypeError("x: expected f32"), "DTypeError"],
      [new MemoryError("too big"), "MemoryError"], [new ValueError("v"), "ValueError"], [new FormatError("f"), "FormatError"],
      [new AbortError("generate: aborted"), "AbortError"], [new FileError("p: no such file (ENOENT)", "ENOENT"), "FileError"],
      [Object.assign(new Error("EACCES: permission denied, open 'x'"), { code: "EACCES", path: "x" }), "FileError"],
      [Object.assign(new RangeError("File size (3000000000) is greater than 2 GiB"), { code: "ERR_FS_FILE_TOO_LARGE" }), "FileError"],
      [new RangeError("Array buffer allocation failed"), "MemoryError"],
    ];
    for (const [e, name] of cases) {
      const err: string[] = [];
      expect(reportError(e, { out: () => {}, err: (l) => err.push(l) }), name).toBe(2);
      expect(err).toHaveLength(1);
      expect(err[0]).not.toMatch(/\n/);
      expect(err[0].startsWith(`${name}: `), err[0]).toBe(true);
    }
    const bug: string[] = [];
    expect(reportError(new TypeError("x is undefined"), { out: () => {}, err: (l) => bug.push(l) })).toBe(3);
    expect(bug[0]).toMatch(/^internal error \(please report\)/);
  });
});

describe("an output that fails after the work: the answer first, then the error", () => {
  it("run prints its answer, then fails on the routing map whose folder vanished during the run", async () => {
    const sub = join(dir, "vanishing");
    mkdirSync(sub);
    const args = ["run", "--checkpoint", ckpt, "--volume", vol, "--prompt", "Describe the findings.", "--max-tokens", "2", "--routing-map", join(sub, "m.png")];
    const r = await cli(args, (line) => line.startsWith("decode:") && rmSync(sub, { recursive: true }));
    expect(existsSync(sub)).toBe(false);
    expect(r.code).toBe(2);
    expect(r.out).toHaveLength(1); // the answer
    expect(r.err[r.err.length - 1]).toMatch(/^FileError: .*vanishing\/m\.png: no such file \(ENOENT\)$/);
  });

  it("as a user runs it: exit 2 and one line from a fresh process", async () => {
    const r = await cliProcess(runArgs("--routing-map", "/proc/m.png"), 60_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^UsageError: tgh-moe run: --routing-map: \/proc\/m\.png: cannot write in folder \/proc: [^\n]*\n$/);
    expect(r.stdout).toBe("");
  });
});
