/**
 * The synthetic 3D CT benchmark (docs/DATA.md): volumes in HU with structured findings, reports,
 * questions and slice captions from a seed. Everything here runs in Node and browsers except
 * writeDataset (Node file output, through src/io/fs.ts), which lives in ./write.js; the command
 * is src/cli/data.ts.
 */
export { GENERATOR_VERSION, iterateSamples, makeSample, parseSplit, sampleId, splitOf, studyTexts, SPLITS, SPLIT_BLOCK } from "./dataset.js";
export type { PlacedFinding, Sample, SampleOptions, SplitName } from "./dataset.js";
export { COVERAGE_MM, FOV_MM, GRID_SHAPES, makeGrid, niftiAffine, parseGrid, patientToVoxel, voxelToPatient } from "./geometry.js";
export type { Grid, GridName, Shape3, Spacing3 } from "./geometry.js";
export { findingKey, GRADES, NODULE_TYPES, SIDES, ZONES } from "./findings.js";
export type { Cyst, Effusion, Finding, FindingKind, Grade, Nodule, NoduleType, Side, Zone } from "./findings.js";
export { countMatches, extractFindings, prf, truthAsExtracted } from "./extract.js";
export type { Counts, ExtractedFinding } from "./extract.js";
export { formatAnswer, formatQuestion, LETTERS, OPEN } from "./questions.js";
export { HEADERS, ROUTINE, TECHNIQUE } from "./report.js";
export type { Question } from "./questions.js";
export { volumeHash } from "./seed.js";
