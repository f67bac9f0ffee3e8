/**
 * The public API of tgh-moe (Node >= 20 and browsers; nothing here imports a Node module, so a
 * bundler can take it whole). Node-only file helpers live in src/io/node.ts; the CLI in src/cli.ts.
 *
 *   import { createBackend, preset, initParams, forward, makeGolden, verifyGolden } from "tgh-moe";
 *   const be = await createBackend("wasm");
 *   const cfg = preset("tiny");
 *   const out = forward(be, initParams(cfg, 0), cfg, { volume, ids }); // out.logits [B, L, V], out.trace
 *
 * Legend: B batch · D,H,W volume · p patch · n=W/p · S=1+n^2 · C width · NH heads · dh head size ·
 * E experts · T tasks · k top-k · L text tokens · V vocab.
 */

// tensors, errors, seeded randomness
export { Tensor, fromArray, fromInts, zeros, type DType, type F32Tensor, type I32Tensor } from "./tensor.js";
export { AbortError, DTypeError, FileError, FormatError, MemoryError, ShapeError, TghError, ValueError } from "./errors.js";
export { Rng } from "./rng.js";

// backends: the same Tensor ops over the wasm SIMD kernels or the scalar float64 reference
export { Backend, createBackend, type BackendName, type Kernels } from "./backend/index.js";
export { ACTIVATIONS, type Activation } from "./backend/backend.js";
export type { LoadOptions } from "./backend/wasm/runtime.js";

// the model: config and presets (section 9), parameters, forward pass, weight conversions
export * from "./model/index.js";

// files: safetensors (bytes in, bytes out; Node file helpers in src/io/node.ts)
export {
  loadChecked, readSafetensors, writeSafetensors,
  type CheckedOptions, type Expected, type ReadOptions, type SafetensorsContents, type StDType, type WriteOptions,
} from "./io/safetensors.js";

// tokenizer: byte-level BPE stored with every checkpoint
export { BpeTokenizer, STANDARD_SPECIALS, type BpeParts } from "./tokenizer/bpe.js";
export { trainBpe, type TrainOptions } from "./tokenizer/train.js";

// golden vectors (section 8): write one, verify any one
export {
  GOLDEN_ATOL, GOLDEN_RTOL, GOLDEN_SPEC, actSlots, formatReport, makeGolden, routingMargins, verifyGolden,
  type Golden, type GoldenOptions, type RecomputeInput, type RoutingMargins, type TensorCheck, type VerifyOptions, type VerifyReport,
} from "./golden.js";

// the model object: load a checkpoint, generate with a KV cache, encode; write a checkpoint
export {
  LOADABLE_FORMATS, MODEL_FORMAT, TghModel, loadModel, makeCheckpoint, parseModel,
  type CheckpointContents, type EncodeRequest, type EncodeResult, type LoadModelOptions, type ModelContents,
  type ModelChooseOptions, type ModelChooseResult, type ModelGenerateOptions, type ModelGenerateResult, type ModelSource, type PreparedInput, type VolumeInput,
} from "./api.js";
export { DEFAULT_CHECKPOINT, DEFAULT_CHECKPOINT_NAME, defaultCheckpointUrl } from "./shipped.js";
export {
  checkTokenizer, generate, makeSampler, nextToken, taskIndex, taskName,
  type GenerateModel, type GenerateOptions, type GenerateProgress, type GenerateResult, type GeneratedToken,
  type Sampler, type SamplingOptions, type StopReason,
} from "./generate.js";
export { choose, logProb, type ChooseOptions, type ChooseResult } from "./generate/choose.js";
export { KvCache, lmExtend, type ExtendOptions } from "./model/decode.js";
// what generate takes as a volume: a NIfTI file or a DICOM series, preprocessed with a checkpoint's preset
export { readNifti, type NiftiVolume, type ReadNiftiOptions } from "./io/nifti.js";
export { isDicom, readDicomSeries, type DicomMeta, type DicomVolume, type ReadDicomOptions } from "./io/dicom.js";
export { readVolumeFiles, type CtVolume, type ReadVolumeOptions, type VolumeFile } from "./io/volume.js";
export { preprocess, preprocessPreset, type PreprocessPreset, type VolumeLike } from "./preprocess/index.js";
export { SANITY, inputWarnings, type SanityInput } from "./preprocess/sanity.js";

// ONNX export: the same model as standard ONNX graphs for onnxruntime (CPU, CUDA, WebGPU), checked against golden files
export { ONNX_FILES, exportOnnx, type ExportOptions, type OnnxExport } from "./export/build.js";
export { EXTERNAL_DATA_THRESHOLD, OPSET, type EncodedModel } from "./export/graph.js";
export { readExportSource, type ExportSource } from "./export/source.js";
export { OnnxSessions, type GraphBytes, type OnnxCache, type SessionOptions } from "./export/session.js";
export { verifyGoldenOnnx, type VerifyOnnxOptions } from "./export/verify.js";
export { generateOnnx, type OnnxGenerateOptions, type OnnxGenerateResult } from "./export/generate.js";
export { readOnnxFolder, writeOnnxFolder } from "./export/files.js";

// figures: routing maps (PNG, no canvas), the PNG codec and the expert palette behind them
export {
  renderRoutingMap, routingMap, routingMapLayout, routingMaps,
  type RoutingMapInput, type RoutingMapLayout, type RoutingMapMode, type RoutingMapOptions, type RoutingMapsInput,
} from "./viz/routing-map.js";
export { decodePng, encodePng, type DecodePngOptions, type DecodedPng, type PngFilter, type PngImage, type PngOptions } from "./viz/png.js";
export { PALETTE, expertColor, paletteFor, type PaletteEntry } from "./viz/palette.js";
