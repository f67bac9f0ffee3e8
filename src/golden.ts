/**
 * Golden vectors (spec section 8): write one (`makeGolden`) and check any one against this
 * implementation (`verifyGolden`). File layout and tolerance: docs/FORMATS.md, "Golden vectors and verify".
 *
 *   const { bytes } = await makeGolden({ preset: "tiny", seed: 0 });
 *   const report = await verifyGolden(bytes, { backend: "reference" }); // report.pass, report.firstDivergence
 */
export { GOLDEN_SPEC, INPUT_IDS, INPUT_VOLUME, actSlots, isWeightName, type TensorSlot } from "./golden/layout.js";
export {
  GOLDEN_ATOL, GOLDEN_BATCH, GOLDEN_RTOL, MAX_DRAWS, MAX_GOLDEN_PARAMS, MIN_MARGINS, goldenInitStd, makeGolden,
  type Golden, type GoldenOptions, type WeightDtype,
} from "./golden/make.js";
export { formatReport, verifyGolden, type RecomputeInput, type TokenizerCheck, type VerifyOptions, type VerifyReport } from "./golden/verify.js";
export { compareTensor, formatCheck, type TensorCheck } from "./golden/compare.js";
export { routingMargins, type RoutingMargins } from "./golden/margins.js";
export { goldenCorpus, goldenTokenizer } from "./golden/corpus.js";
