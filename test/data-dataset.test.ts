/**
 * The synthetic CT dataset on disk and its splits: ids, split ratios and nesting, no volume in two
 * splits, writeDataset (NIfTI read back exactly, samples.jsonl schema, manifest, same bytes twice),
 * and the `tgh-moe data` command.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT, type Io } from "../src/cli/command.js";
import { runCli } from "../src/cli/main.js";
import { readNifti } from "../src/io/nifti.js";
import { GENERATOR_VERSION, iterateSamples, makeSample, parseSplit, sampleId, splitOf, SPLITS, type SplitName } from "../src/data/dataset.js";
import { volumeHash } from "../src/data/seed.js";
import { writeDataset, type Manifest, type SampleRecord } from "../src/data/write.js";

let root = "";
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "tgh-data-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("splits", () => {
  it("exact ratios per block of 20, stable per index, seeded", () => {
    const count = (seed: number, n: number, ratios: [number, number, number]) => {
      const c: Record<SplitName, number> = { train: 0, validation: 0, test: 0 };
      for (let i = 0; i < n; i++) c[splitOf(seed, i, ratios)]++;
      return c;
    };
    expect(count(3, 200, [0.8, 0.1, 0.1])).toEqual({ train: 160, validation: 20, test: 20 });
    expect(count(4, 60, [0.7, 0.15, 0.15])).toEqual({ train: 42, validation: 9, test: 9 });
    expect(count(4, 40, [1, 0, 0])).toEqual({ train: 40, validation: 0, test: 0 });
    const a = Array.from({ length: 40 }, (_, i) => splitOf(9, i)), b = Array.from({ length: 40 }, (_, i) => splitOf(10, i));
    expect(a).toEqual(Array.from({ length: 40 }, (_, i) => splitOf(9, i)));
    expect(a).not.toEqual(b);
  });

  it("parses ratios and refuses bad ones", () => {
    expect(parseSplit("0.8,0.1,0.1")).toEqual([0.8, 0.1, 0.1]);
    for (const bad of ["0.8,0.1", "0.5,0.5,0.5", "a,b,c", "1.2,-0.1,-0.1"]) expect(() => parseSplit(bad)).toThrow(/split/);
  });

  it("ids are derived from seed and index; no two samples share a volume, so splits are disjoint", () => {
    expect(sampleId(42, 7)).toBe("ct-42-000007");
    const seen = new Map<string, SplitName>();
    let i = 0;
    for (const s of iterateSamples(8, 40, "tiny")) {
      expect(s.id).toBe(sampleId(8, i));
      const h = volumeHash(s.volumeHU);
      expect(seen.has(h)).toBe(false);
      seen.set(h, splitOf(8, i++));
    }
    expect(new Set(seen.values()).size).toBe(3);
  });
});

/** Checks one samples.jsonl record's fields and types. */
function checkRecord(r: SampleRecord, manifest: Manifest): void {
  expect(Object.keys(r).sort()).toEqual(
    ["affine", "captions", "contrast", "file", "findings", "hash", "id", "index", "questions", "report", "seed", "shape", "spacing", "split"].sort(),
  );
  expect(r.id).toBe(sampleId(manifest.seed, r.index));
  expect(SPLITS).toContain(r.split);
  expect(r.file).toBe(`volumes/${r.id}.nii.gz`);
  expect(r.hash).toMatch(/^[0-9a-f]{16}$/);
  expect(r.shape).toEqual(manifest.grid.shape);
  expect(r.spacing).toEqual(manifest.grid.spacing);
  expect(typeof r.contrast).toBe("boolean");
  expect(r.report).toMatch(/IMPRESSION|Impression/);
  expect(r.captions).toHaveLength(r.shape[0]);
  for (const f of r.findings) {
    expect(["nodule", "effusion", "cyst"]).toContain(f.kind);
    expect(["left", "right"]).toContain(f.side);
    expect(Array.isArray(f.slices)).toBe(true);
    if (f.kind !== "effusion") expect(f.centerVoxel).toHaveLength(3);
  }
  for (const q of r.questions) {
    expect(["closed", "open"]).toContain(q.kind);
    expect(typeof q.question).toBe("string");
    expect(typeof q.answer).toBe("string");
    if (q.kind === "closed") expect(q.options).toHaveLength(4);
  }
}

describe("writeDataset", () => {
  it("writes NIfTI volumes that read back exactly, a JSONL line per sample and the manifest", async () => {
    const dir = join(root, "a");
    const manifest = await writeDataset(dir, { count: 5, seed: 17, grid: "tiny" });
    expect(manifest.generator).toBe(GENERATOR_VERSION);
    expect(manifest.split.counts.train + manifest.split.counts.validation + manifest.split.counts.test).toBe(5);
    expect(JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"))).toEqual(manifest);
    const lines = (await readFile(join(dir, "samples.jsonl"), "utf8")).trimEnd().split("\n");
    expect(lines).toHaveLength(5);
    expect((await readdir(join(dir, "volumes"))).sort()).toEqual(Array.from({ length: 5 }, (_, i) => `${sampleId(17, i)}.nii.gz`));
    for (const [i, line] of lines.entries()) {
      const r = JSON.parse(line) as SampleRecord;
      checkRecord(r, manifest);
      expect(r.index).toBe(i);
      expect(r.split).toBe(splitOf(17, i));
      const vol = readNifti(await readFile(join(dir, r.file)), { file: r.file });
      const s = makeSample(17, i, "tiny");
      expect(vol.shape).toEqual(s.shape);
      expect(vol.spacing).toEqual(s.spacing);
      expect(vol.affine).toEqual(s.affine);
      expect(vol.meta.datatype).toBe("int16");
      expect(vol.data).toEqual(s.volumeHU); // LPS+ both: the array comes back as generated
      expect(volumeHash(vol.data)).toBe(r.hash);
      expect(r.report).toBe(s.report);
    }
  });

  it("same options, same bytes; refuses a folder that is not empty unless overwrite", async () => {
    const a = join(root, "b1"), b = join(root, "b2");
    await writeDataset(a, { count: 2, seed: 3, grid: [3, 17, 5], gzip: false });
    await writeDataset(b, { count: 2, seed: 3, grid: [3, 17, 5], gzip: false });
    for (const f of ["samples.jsonl", "manifest.json", `volumes/${sampleId(3, 1)}.nii`]) {
      expect(await readFile(join(a, f))).toEqual(await readFile(join(b, f)));
    }
    await expect(writeDataset(a, { count: 1, seed: 3, grid: "tiny" })).rejects.toThrow(/not empty/);
    await writeDataset(a, { count: 1, seed: 4, grid: "tiny", overwrite: true });
    expect(await readdir(join(a, "volumes"))).toEqual([`${sampleId(4, 0)}.nii.gz`]);
    const foreign = join(root, "b3");
    await writeDataset(foreign, { count: 1, seed: 3, grid: "tiny" });
    await writeFile(join(foreign, "notes.txt"), "mine");
    await expect(writeDataset(foreign, { count: 1, seed: 3, grid: "tiny", overwrite: true })).rejects.toThrow(/not a dataset/);
  });
});

describe("tgh-moe data", () => {
  /** Runs `tgh-moe data ARGV` in this process with stdout and stderr collected. */
  async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [], err: string[] = [];
    const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) };
    const code = await runCli(["data", ...argv], io);
    return { code, out: out.join("\n"), err: err.join("\n") };
  }

  it("prints help, refuses bad arguments with exit code 2 naming the option, writes a dataset", async () => {
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/--out DIR/);
    const bad: [string[], RegExp][] = [
      [[], /--out is required/],
      [["--out", "x", "--count", "2"], /--seed is required/],
      [["--out", "x", "--count", "0", "--seed", "1"], /--count: expected an integer in \[1, 10000000\], got "0"/],
      [["--out", "x", "--count", "2", "--seed", "1", "--grid", "big"], /--grid: expected tiny, small, m3d or DxHxW/],
      [["--bogus"], /Unknown option '--bogus'/],
      [["--out", "x", "--count", "2", "--seed", "1", "--split", "1,1,1"], /--split: expected three non-negative fractions/],
      [["--out", "x", "--count", "2", "--seed", "1", "--threads", "0"], /--threads: expected an integer in \[1, 256\]/],
    ];
    for (const [argv, message] of bad) {
      const r = await run(argv);
      expect([r.code, r.out], argv.join(" ")).toEqual([EXIT.usage, ""]);
      expect(r.err, argv.join(" ")).toMatch(/^UsageError: tgh-moe data: /);
      expect(r.err, argv.join(" ")).toMatch(message);
    }
    const dir = join(root, "cli");
    const ok = await run(["--out", dir, "--count", "3", "--seed", "5", "--grid", "tiny", "--split", "0.5,0.25,0.25"]);
    expect(ok.code).toBe(0);
    expect(ok.err).toMatch(/wrote 3 volumes/);
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as Manifest;
    expect(manifest.split.ratios).toEqual([0.5, 0.25, 0.25]);
    expect(manifest.grid.shape).toEqual([4, 32, 32]);
    const again = await run(["--out", dir, "--count", "3", "--seed", "5", "--quiet"]);
    expect(again.code).toBe(EXIT.usage); // not empty
    expect(again.err).toMatch(/^ValueError: writeDataset: dir: .* is not empty/);
    const custom = await run(["--out", join(root, "cli-grid"), "--count", "1", "--seed", "0", "--grid", "8x16x16", "--no-gzip", "--quiet", "--threads", "1"]);
    expect([custom.code, custom.err]).toEqual([EXIT.ok, ""]);
    expect(await readdir(join(root, "cli-grid", "volumes"))).toEqual([expect.stringMatching(/\.nii$/)]);
    expect(readNifti(await readFile(join(root, "cli-grid", (await readdir(join(root, "cli-grid", "volumes"))).map((f) => `volumes/${f}`)[0]))).shape).toEqual([8, 16, 16]);
  });
});
