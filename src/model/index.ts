/** The model's public surface: config, parameters, forward, and the weight conversions. */
export * from "./config.js";
export { checkParams, getParam, initParams, paramCount, paramSpecs, type Params, type ParamSpecs } from "./params.js";
export { forward, type ForwardInput, type ForwardOptions, type ForwardOutput } from "./model.js";
export type { MoeTrace } from "./moe.js";
export type { BalanceTerm, Losses } from "./types.js";
export { upcycle } from "./upcycle.js";
export { fromHfClipVision, hfClipKeyMap, transferTo3d, type TransferOptions } from "./transfer.js";
export { inflateDepth } from "./inflate.js";
export { sizes, type Sizes } from "./sizes.js";
export { CONFIG_LIMITS, CONTEXT_TOKENS, MAX_PARAMS, MAX_WEIGHT_TENSORS, configTotals, type ConfigTotals } from "./limits.js";
