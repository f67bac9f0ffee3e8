/**
 * What `--volume` takes and what the user is told about it: a DICOM series folder gives the same
 * answer as the NIfTI file it was written from; input sanity warnings (not CT in HU, resampling by
 * more than 2x, a field of view that is not a chest's) on stderr, in --json and in the API result;
 * 4D NIfTI with --volumes; a mixed DICOM folder with --series; loadModel() with no source.
 * Derived from the shipped checkpoint and samples/, nothing about them hard-coded.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type TghModel } from "../src/api.js";
import { EXIT, type Io } from "../src/cli/command.js";
import { runCli } from "../src/cli/main.js";
import { readNifti } from "../src/io/nifti.js";
import { writeNifti } from "../src/io/nifti-write.js";
import { DEFAULT_CHECKPOINT } from "../src/shipped.js";
import { readSamples, ROOT, SAMPLES_DIR } from "../scripts/make-samples.js";
import { writeDicomSeries } from "./fixtures/dicom-writer.js";

let dir: string, model: TghModel, samples: string[];
const PROMPT = "Is there a pleural effusion?";

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [], err: string[] = [];
  const io: Io = { out: (l) => out.push(`${l}\n`), err: (l) => err.push(`${l}\n`) };
  const code = await runCli(args, io);
  return { code, stdout: out.join(""), stderr: err.join("") };
}
const runJson = async (volume: string, ...extra: string[]) => {
  const r = await cli("run", "--volume", volume, "--prompt", PROMPT, "--max-tokens", "6", "--json", "--quiet", ...extra);
  expect(r.code, r.stderr).toBe(EXIT.ok);
  return { ...r, json: JSON.parse(r.stdout) as { tokens: number[]; warnings: string[]; input: { format: string; shape: number[] } } };
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tgh-moe-input-"));
  model = await loadModel(join(ROOT, DEFAULT_CHECKPOINT));
  samples = (await readSamples()).map((s) => join(SAMPLES_DIR, s.file));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("--volume DIR: a DICOM series", () => {
  it("a folder (nested, with a stray text file) gives the same tokens as the NIfTI file it was written from", async () => {
    const vol = readNifti(await readFile(join(ROOT, samples[0])));
    const series = join(dir, "series"), nested = join(series, "sub");
    await mkdir(nested, { recursive: true });
    const files = writeDicomSeries(vol);
    await Promise.all(files.map((f, i) => writeFile(join(i % 2 ? nested : series, f.name), f.bytes)));
    await writeFile(join(series, "notes.txt"), "exported by a PACS");
    const a = await runJson(samples[0]), b = await runJson(series);
    expect(b.json.tokens).toEqual(a.json.tokens);
    expect(b.json.input.format).toBe("dicom");
    expect(b.json.input.shape).toEqual(vol.shape);
    expect(b.json.warnings).toEqual([`1 file(s) without a DICOM image ignored: ${join(series, "notes.txt")}`]);
    expect(b.stderr).toBe(`warning: ${b.json.warnings[0]}\n`); // warnings are printed even with --quiet
  });

  it("a folder with two series is refused (exit 2, naming --series); --series picks one", async () => {
    const mixed = join(dir, "mixed");
    await mkdir(mixed);
    const a = readNifti(await readFile(join(ROOT, samples[0]))), b = readNifti(await readFile(join(ROOT, samples[1])));
    for (const f of [...writeDicomSeries(a, { prefix: "A" }), ...writeDicomSeries(b, { prefix: "B", seriesUid: "1.2.3.99" })]) await writeFile(join(mixed, f.name), f.bytes);
    const r = await cli("run", "--volume", mixed, "--prompt", PROMPT, "--quiet");
    expect([r.code, r.stdout]).toEqual([EXIT.usage, ""]);
    expect(r.stderr).toMatch(/^FormatError: mixed series: the files hold 2 series .*CLI --series UID\)\n$/);
    const picked = await runJson(mixed, "--series", "1.2.3.99");
    expect(picked.json.tokens).toEqual((await runJson(samples[1])).json.tokens);
  });
});

describe("input sanity warnings", () => {
  it("not CT in HU (an MRI-like volume), on stderr, in --json and in the API result; the run still answers", async () => {
    const vol = readNifti(await readFile(join(ROOT, samples[0])));
    const mri = join(dir, "mri.nii.gz");
    await writeFile(mri, writeNifti({ ...vol, data: vol.data.map((x) => x + 2100) }, { gzip: true }));
    const r = await runJson(mri);
    expect(r.json.warnings).toHaveLength(1);
    expect(r.json.warnings[0]).toMatch(/^intensities do not look like CT in Hounsfield units: \d+\.\d% of voxels above 1000 HU .*no voxel below -500 HU/);
    expect(r.stderr).toBe(`warning: ${r.json.warnings[0]}\n`);
    const out = await model.generate({ volume: readNifti(await readFile(mri)), prompt: PROMPT, maxNewTokens: 6 });
    expect(out.warnings).toEqual(r.json.warnings);
    expect(out.tokens).toEqual(r.json.tokens);
  });

  it("a 7 x 5 x 4 volume: resampled by more than 2x and not a chest's field of view", async () => {
    const tiny = join(dir, "tiny.nii");
    const data = Float32Array.from({ length: 4 * 5 * 7 }, (_, i) => (i % 3 === 0 ? -1000 : 40));
    await writeFile(tiny, writeNifti({ data, shape: [4, 5, 7], affine: [[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] }));
    const { json } = await runJson(tiny);
    const grid = model.preprocess!.grid;
    expect(json.warnings).toEqual([
      `resampled by more than 2x to the model's grid [${grid.join(", ")}] (preset ${model.preprocess!.name}): ` +
        [[4, grid[0]], [5, grid[1]], [7, grid[2]]].map(([n, g], a) => `${"dhw"[a]} ${n} -> ${g} (${Math.round((g / n) * 10) / 10}x more voxels)`).join(", "),
      "the field of view 4 x 5 x 7 mm (d x h x w) does not look like a chest CT's (200-650 mm across, 100-900 mm long): another body part, a crop, or wrong voxel sizes?",
    ]);
  });

  it("the shipped samples raise none (they are chest CTs in HU)", async () => {
    for (const s of samples) expect((await model.generate({ volume: readNifti(await readFile(join(ROOT, s))), prompt: PROMPT, maxNewTokens: 0 })).warnings, s).toEqual([]);
  });
});

describe("4D NIfTI: --volumes first|N", () => {
  it("refused with a message naming --volumes; --volumes 1 reads the second volume", async () => {
    const a = await readFile(join(ROOT, samples[0])), b = await readFile(join(ROOT, samples[1]));
    const va = readNifti(a), vb = readNifti(b);
    const plain = writeNifti({ ...va, data: va.data }), second = writeNifti({ ...vb, data: vb.data });
    const four = new Uint8Array(plain.length + second.length - 352);
    four.set(plain);
    four.set(second.subarray(352), plain.length);
    const dv = new DataView(four.buffer);
    dv.setInt16(40, 4, true); // dim[0] = 4
    dv.setInt16(48, 2, true); // dim[4] = 2 volumes
    const file = join(dir, "four.nii");
    await writeFile(file, four);
    const refused = await cli("run", "--volume", file, "--prompt", PROMPT, "--quiet");
    expect(refused.code).toBe(EXIT.usage);
    expect(refused.stderr).toMatch(/dim\[4\]: 2 volumes; one 3D volume is read: pick one \(.*CLI --volumes first\|N\)\n$/);
    const r = await runJson(file, "--volumes", "1");
    expect(r.json.tokens).toEqual((await runJson(samples[1])).json.tokens);
    expect(r.json.warnings).toEqual(["dim[4] = 2 volumes: only volume 1 was read"]);
    expect((await runJson(file, "--volumes", "first")).json.tokens).toEqual((await runJson(samples[0])).json.tokens);
  });
});

describe("loadModel() without a source", () => {
  it("loads the shipped checkpoint: the same model as loading the file by path", async () => {
    const m = await loadModel();
    expect(m.cfg).toEqual(model.cfg);
    expect(m.preprocess).toEqual(model.preprocess);
    const volume = readNifti(await readFile(join(ROOT, samples[0])));
    const [x, y] = await Promise.all([m, model].map((mm) => mm.generate({ volume, prompt: PROMPT, maxNewTokens: 6 })));
    expect(x.tokens).toEqual(y.tokens);
  });
});
