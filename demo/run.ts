/**
 * What the web app computes, without the DOM: the prompts it offers, the shipped samples' records,
 * one generation (greedy, the task gate's choice) and the routing map PNG drawn from it. Only the
 * public API (src/index.ts), so the browser test reruns exactly this in Node and compares bits.
 * Legend: D,H,W volume · T tasks · E experts.
 */
import { formatAnswer, formatQuestion, type Question } from "../src/data/questions.js";
import { REPORT_PROMPTS } from "../src/recipe/data.js";
import { routingMaps, type F32Tensor, type GenerateProgress, type GenerateResult, type GeneratedToken, type TghModel } from "../src/index.js";

/** Report mode: the report requests of training (the first is the evaluation prompt). */
export const REPORT_REQUESTS: readonly string[] = [...REPORT_PROMPTS];
/** Question mode when the volume has no questions of its own (a user's scan). */
export const GENERIC_QUESTIONS: readonly string[] = [
  "Is there a pleural effusion?", "Is there a nodule in the right upper zone?", "Is there a cyst in the liver?",
];

/** One line of samples/samples.jsonl (the fields the page uses). */
export interface SampleRecord {
  id: string;
  file: string;
  shape: number[];
  report: string;
  questions: Question[];
}

/** The records of a samples.jsonl text. */
export function parseSamples(jsonl: string): SampleRecord[] {
  return jsonl.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as SampleRecord);
}

/** Question mode's prompts: the sample's questions as trained (options on their own lines), once each. */
export function questionPrompts(sample: SampleRecord | null): string[] {
  const all = sample ? sample.questions.map(formatQuestion) : [...GENERIC_QUESTIONS];
  return [...new Set(all)];
}

/** The true answer of a sample's question prompt, if it is one. */
export function trueAnswer(sample: SampleRecord | null, prompt: string): string | null {
  const q = sample?.questions.find((x) => formatQuestion(x) === prompt);
  return q ? formatAnswer(q) : null;
}

/** The routing map as the page shows it: 4 pixels per model voxel, 2x the CSS size it is shown at. */
export const MAP_OPTIONS = { scale: 4, textScale: 2 } as const;

export interface PageRun {
  gen: GenerateResult;
  png: Uint8Array | null; // every MoE layer's routing map, null without MoE layers
}

export interface PageRunOptions {
  prompt: string;
  maxNewTokens: number;
  onToken?: (e: GeneratedToken) => void;
  onProgress?: (e: GenerateProgress) => void;
  signal?: AbortSignal;
}

/** Greedy generation on the preprocessed input [1, 1, D, H, W], then the routing map of its trace. */
export async function runPage(model: TghModel, input: F32Tensor, o: PageRunOptions): Promise<PageRun> {
  const gen = await model.generate({ volume: input, prompt: o.prompt, maxNewTokens: o.maxNewTokens, onToken: o.onToken, onProgress: o.onProgress, signal: o.signal });
  const D = input.dim(2), H = input.dim(3), W = input.dim(4);
  const png = gen.routing.length === 0 ? null : routingMaps({ volume: input.data.subarray(0, D * H * W), cfg: model.cfg, traces: gen.routing, sample: 0, opts: MAP_OPTIONS });
  return { gen, png };
}

/** SHA-256 of bytes as hex (WebCrypto: browsers in a secure context, and Node >= 20). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", new Uint8Array(bytes)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Base64 of bytes, in chunks (String.fromCharCode takes a bounded number of arguments). */
export function bytesToBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
