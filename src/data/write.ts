/**
 * Writes a synthetic CT dataset to a folder (Node only, through src/io/fs.ts): volumes as NIfTI-1
 * (.nii.gz, int16 HU, LPS+ with its affine), samples.jsonl (one line per sample) and manifest.json,
 * the last two written atomically, the manifest last. Format: docs/DATA.md.
 */
import { join } from "node:path";
import { ValueError } from "../errors.js";
import { listFolder, makeFolder, openAtomicWriter, removePath, writeAtomic, writeBytes } from "../io/fs.js";
import { writeNifti } from "../io/nifti-write.js";
import { GENERATOR_VERSION, makeSample, splitOf, type Sample, type SplitName } from "./dataset.js";
import { makeGrid, type Grid, type GridName, type Shape3 } from "./geometry.js";
import { volumeHash } from "./seed.js";

export interface WriteDatasetOptions {
  count: number;
  seed: number;
  grid?: Grid | GridName | Shape3;
  /** train, validation, test fractions (dataset.ts splitOf). Default [0.8, 0.1, 0.1]. */
  split?: [number, number, number];
  /** .nii.gz (default) or .nii. */
  gzip?: boolean;
  /** Replace an existing dataset in `dir` (default: refuse a folder that is not empty). */
  overwrite?: boolean;
  onProgress?: (done: number, total: number, sample: Sample) => void;
}

export interface Manifest {
  generator: string;
  seed: number;
  count: number;
  grid: { shape: Shape3; spacing: [number, number, number] };
  split: { ratios: [number, number, number]; counts: Record<SplitName, number> };
  volumes: { format: string; datatype: "int16"; units: "HU"; orientation: "LPS+"; folder: string };
  samples: string;
}

/** One line of samples.jsonl: the sample without its voxels, plus split, file and volume hash. */
export interface SampleRecord extends Omit<Sample, "volumeHU" | "affine"> {
  split: SplitName;
  file: string;
  /** FNV-1a 64 of the float32 HU volume's little-endian bytes (seed.ts volumeHash). */
  hash: string;
  affine: number[][];
}

export function sampleRecord(s: Sample, split: SplitName, file: string): SampleRecord {
  const { volumeHU, ...rest } = s;
  return { ...rest, split, file, hash: volumeHash(volumeHU) };
}

/** Generates samples 0..count-1 of `seed` and writes them under `dir`; returns the manifest. */
export async function writeDataset(dir: string, opts: WriteDatasetOptions): Promise<Manifest> {
  const grid = makeGrid(opts.grid ?? "small");
  const ratios = opts.split ?? [0.8, 0.1, 0.1];
  const ext = opts.gzip === false ? ".nii" : ".nii.gz";
  await prepareFolder(dir, opts.overwrite === true);
  const counts: Record<SplitName, number> = { train: 0, validation: 0, test: 0 };
  const jsonl = await openAtomicWriter(join(dir, "samples.jsonl"));
  try {
    for (let i = 0; i < opts.count; i++) {
      const s = makeSample(opts.seed, i, grid);
      const split = splitOf(opts.seed, i, ratios);
      const file = `volumes/${s.id}${ext}`;
      const nifti = writeNifti({ data: Int16Array.from(s.volumeHU), shape: s.shape, affine: s.affine }, { gzip: ext === ".nii.gz", description: GENERATOR_VERSION });
      await writeBytes(join(dir, file), nifti);
      await jsonl.write(`${JSON.stringify(sampleRecord(s, split, file))}\n`);
      counts[split]++;
      opts.onProgress?.(i + 1, opts.count, s);
    }
  } catch (e) {
    await jsonl.abort();
    throw e;
  }
  await jsonl.commit();
  const manifest: Manifest = {
    generator: GENERATOR_VERSION, seed: opts.seed, count: opts.count,
    grid: { shape: grid.shape, spacing: grid.spacing },
    split: { ratios, counts },
    volumes: { format: `NIfTI-1${ext}`, datatype: "int16", units: "HU", orientation: "LPS+", folder: "volumes" },
    samples: "samples.jsonl",
  };
  await writeAtomic(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Creates `dir/volumes`; an existing non-empty `dir` is refused, or emptied of our files with overwrite. */
async function prepareFolder(dir: string, overwrite: boolean): Promise<void> {
  const existing = await listFolder(dir);
  if (existing.length > 0) {
    if (!overwrite) throw new ValueError(`writeDataset: dir: "${dir}" is not empty (pass overwrite to replace a dataset there)`);
    const ours = new Set(["volumes", "samples.jsonl", "samples.jsonl.tmp", "manifest.json"]);
    const foreign = existing.filter((f) => !ours.has(f) && !/^\.(samples\.jsonl|manifest\.json)\.tmp-/.test(f)); // a crashed writer's temporary files
    if (foreign.length > 0) throw new ValueError(`writeDataset: dir: "${dir}" holds files that are not a dataset (${foreign.slice(0, 3).join(", ")}); refusing to overwrite`);
    await removePath(join(dir, "volumes"), { recursive: true });
    await removePath(join(dir, "manifest.json"));
  }
  await makeFolder(join(dir, "volumes"));
}
