/**
 * The in-memory API of the synthetic CT benchmark: one sample (volume in HU, geometry, findings,
 * report, questions, slice captions) from a master seed and an index, ids, and the split of each
 * index. Pure TS for Node and browsers; files are written by write.ts.
 */
import { assertInt, ValueError } from "../errors.js";
import { Rng } from "../rng.js";
import { drawSubject } from "./anatomy.js";
import { sliceCaptions, visibleSlices } from "./captions.js";
import { shuffled } from "./draw.js";
import { drawFindings, findingLayers, type Finding } from "./findings.js";
import { makeGrid, niftiAffine, patientToVoxel, type Grid, type GridName, type Shape3, type Spacing3 } from "./geometry.js";
import { baseLayers, topLayers } from "./phantom.js";
import { makeQuestions, type Question } from "./questions.js";
import { addNoise, renderLayers } from "./render.js";
import { writeReport } from "./report.js";
import { sampleSeed, streamSeed } from "./seed.js";
import { drawVessels } from "./vessels.js";

/** Bumped whenever the same seed would give different bytes or texts. Stored in manifest.json. */
export const GENERATOR_VERSION = "tgh-moe-synth-ct/2";

/** A finding with where it is on this grid: voxel centre `[k, j, i]` and the slices it shows on. */
export type PlacedFinding = Finding & { centerVoxel?: [number, number, number]; slices: number[] };

export interface Sample {
  id: string;
  index: number;
  /** The sample's own seed (seed.ts sampleSeed of the master seed and the index). */
  seed: number;
  /** Hounsfield units (integers in [-1024, 3071]) as float32, `[D, H, W]`, LPS+ (geometry.ts). */
  volumeHU: Float32Array;
  shape: Shape3;
  /** mm per voxel along `[D, H, W]`. */
  spacing: Spacing3;
  /** NIfTI affine, row-major 4x4: voxel `(i, j, k, 1)` -> RAS+ mm. */
  affine: number[][];
  contrast: boolean;
  findings: PlacedFinding[];
  report: string;
  questions: Question[];
  /** One caption per slice, k = 0 (inferior) .. D-1. */
  captions: string[];
}

export interface SampleOptions {
  /** Also return per-voxel coverage of every finding `[D, H, W]` (tests, visualisation). */
  masks?: boolean;
}

/** Id of sample `index` of the dataset with master seed `seed`: "ct-<seed>-<index, 6 digits>". */
export function sampleId(seed: number, index: number): string {
  return `ct-${seed}-${String(index).padStart(6, "0")}`;
}

/** Sample `index` of the dataset with master seed `seed`, rendered on `grid`. */
export function makeSample(seed: number, index: number, grid: Grid | GridName | Shape3 = "small", opts: SampleOptions = {}): Sample & { masks?: Float32Array[] } {
  const g = makeGrid(grid);
  const { own, subject, findings, rendered, stream } = renderStudy(seed, index, g, { masks: opts.masks === true });
  const tracks = findings.map((_, n) => rendered.tracks.get(`finding:${n}`)!);
  const visible = visibleSlices(tracks.map((t) => t.perSlice));
  const placed: PlacedFinding[] = findings.map((f, n) => ({
    ...f, ...(f.kind === "effusion" ? {} : { centerVoxel: round3(patientToVoxel(g, f.center)) }), slices: visible[n],
  }));
  const sample: Sample & { masks?: Float32Array[] } = {
    id: sampleId(seed, index), index, seed: own, volumeHU: rendered.hu, shape: [...g.shape], spacing: [...g.spacing],
    affine: niftiAffine(g), contrast: subject.contrast, findings: placed,
    report: writeReport(stream("report"), findings, subject.contrast),
    questions: makeQuestions(stream("questions"), findings, subject.contrast),
    captions: sliceCaptions(subject, g, findings, visible),
  };
  if (opts.masks === true) sample.masks = tracks.map((t) => t.mask!);
  return sample;
}

/**
 * The texts and truth of sample `index` without rendering its volume (fast: for statistics over
 * many studies, such as the blind baselines of the evaluation). Equal to makeSample's fields.
 */
export function studyTexts(seed: number, index: number, grid: Grid | GridName | Shape3 = "small"): Pick<Sample, "contrast" | "report" | "questions"> & { findings: Finding[] } {
  const g = makeGrid(grid);
  const stream = (label: string) => new Rng(streamSeed(sampleSeed(seed, index), label));
  const subject = drawSubject(stream("anatomy")); // the vessels, drawn next from this stream, play no part in the texts
  const findings = drawFindings(stream("findings"), subject, g);
  return {
    contrast: subject.contrast, findings,
    report: writeReport(stream("report"), findings, subject.contrast),
    questions: makeQuestions(stream("questions"), findings, subject.contrast),
  };
}

/**
 * The drawing and rendering of one study (noise included, not yet quantised differently from
 * makeSample): `omit` leaves finding n out of the picture (same subject, same noise), so that a
 * finding's visibility can be measured as the difference it makes (visibility.ts).
 */
export function renderStudy(seed: number, index: number, g: Grid, opts: { masks?: boolean; omit?: number } = {}) {
  assertInt("makeSample", "seed", seed, 0, 0xffffffff);
  assertInt("makeSample", "index", index, 0, 0xffffffff);
  const own = sampleSeed(seed, index);
  const stream = (label: string) => new Rng(streamSeed(own, label));
  const anatomy = stream("anatomy");
  const subject = drawSubject(anatomy);
  const vessels = drawVessels(anatomy, subject);
  const findings: Finding[] = drawFindings(stream("findings"), subject, g);
  const shown = findingLayers(subject, findings, g).filter((_, n) => n !== opts.omit);
  const rendered = renderLayers(g, [...baseLayers(subject, vessels), ...shown, ...topLayers(subject)], opts.masks === true);
  addNoise(g, rendered.hu, subject.noiseSigma, stream("noise"));
  return { own, subject, findings, rendered, stream };
}

function round3(v: [number, number, number]): [number, number, number] {
  return [Math.round(v[0] * 100) / 100, Math.round(v[1] * 100) / 100, Math.round(v[2] * 100) / 100];
}

export type SplitName = "train" | "validation" | "test";
export const SPLITS: readonly SplitName[] = ["train", "validation", "test"];
/** Split blocks: within each block of 20 consecutive indices the ratios hold exactly (rounded to 5%). */
export const SPLIT_BLOCK = 20;

/** Parses "0.8,0.1,0.1" (three non-negative numbers summing to 1 within 1e-6). */
export function parseSplit(text: string): [number, number, number] {
  const parts = text.split(",").map((p) => Number(p.trim()));
  if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p) || p < 0) || Math.abs(parts[0] + parts[1] + parts[2] - 1) > 1e-6) {
    throw new ValueError(`parseSplit: split: expected three non-negative fractions summing to 1 (e.g. 0.8,0.1,0.1), got "${text}"`);
  }
  return parts as [number, number, number];
}

/**
 * The split of sample `index`: indices come in blocks of SPLIT_BLOCK; each block's positions are
 * permuted by a seeded shuffle and the first round(train * 20) positions are train, the next
 * round((train + validation) * 20) - that are validation, the rest test. A sample's split depends
 * only on (seed, index, ratios): a larger dataset from the same seed keeps every split of a
 * smaller one, so its test set never leaks into the other's training set.
 */
export function splitOf(seed: number, index: number, ratios: readonly [number, number, number] = [0.8, 0.1, 0.1]): SplitName {
  const block = Math.floor(index / SPLIT_BLOCK), pos = index % SPLIT_BLOCK;
  const order = shuffled(new Rng(streamSeed(sampleSeed(seed, block), "split")), Array.from({ length: SPLIT_BLOCK }, (_, i) => i));
  const rank = order.indexOf(pos);
  const cut1 = Math.round(ratios[0] * SPLIT_BLOCK), cut2 = Math.round((ratios[0] + ratios[1]) * SPLIT_BLOCK);
  return rank < cut1 ? "train" : rank < cut2 ? "validation" : "test";
}

/** Samples 0..count-1 in order (rendered one at a time: memory stays at one volume). */
export function* iterateSamples(seed: number, count: number, grid: Grid | GridName | Shape3 = "small"): Generator<Sample> {
  assertInt("iterateSamples", "count", count, 0, 10_000_000);
  for (let i = 0; i < count; i++) yield makeSample(seed, i, grid);
}
