/**
 * Deterministic inputs of a golden file from its seed: a CT-like phantom volume (values in [0, 1],
 * as after windowing) and the section 6 token sequences (sample 0 a report request, sample 1 a
 * question, prompts of different token lengths, right-padded with <pad>). Only + - * and comparisons
 * of float64 values and the seeded Rng: the same bits in every JS engine. Not a data generator.
 * Legend: B batch · D,H,W volume · L text tokens.
 */
import { ValueError } from "../errors.js";
import { Rng } from "../rng.js";
import { Tensor, type F32Tensor, type I32Tensor } from "../tensor.js";
import type { BpeTokenizer } from "../tokenizer/bpe.js";
import type { TokenIds } from "../model/config.js";
import { QUESTIONS, REPORTS, REPORT_PROMPTS } from "./corpus.js";

/** Windowed CT values of the phantom's materials. */
const AIR = 0, LUNG = 0.08, SOFT = 0.45, HEART = 0.55, NODULE = 0.6, BONE = 0.95;

interface Ellipse {
  cx: number; cy: number; rx: number; ry: number; value: number;
}
function inside(e: Ellipse, x: number, y: number): boolean {
  const u = (x - e.cx) / e.rx, v = (y - e.cy) / e.ry;
  return u * u + v * v <= 1; // products, not **: Math.pow is not pinned across engines
}

/**
 * One chest-like volume [D, H, W]: body ellipse of soft tissue in air, two lungs that are widest at
 * mid-depth, a vertebra, a heart in the lower half, one nodule in a lung on two adjacent slices,
 * plus uniform noise of +-0.03, clamped to [0, 1]. Shape parameters jitter with the rng.
 */
export function phantom(rng: Rng, D: number, H: number, W: number): Float32Array {
  const j = (a: number) => a * (0.9 + 0.2 * rng.uniform()); // +-10% jitter
  const body: Ellipse = { cx: 0, cy: 0, rx: j(0.85), ry: j(0.65), value: SOFT };
  const spine: Ellipse = { cx: 0, cy: j(0.42), rx: 0.12, ry: 0.12, value: BONE };
  const heart: Ellipse = { cx: j(0.12), cy: j(0.05), rx: j(0.24), ry: j(0.2), value: HEART };
  const side = rng.uniform() < 0.5 ? -1 : 1;
  const nodule: Ellipse = { cx: side * j(0.38), cy: 0.3 * (rng.uniform() - 0.5), rx: 0.1, ry: 0.1, value: NODULE };
  const noduleSlice = rng.int(Math.max(D - 1, 1));
  const out = new Float32Array(D * H * W);
  for (let d = 0; d < D; d++) {
    const z = D === 1 ? 0.5 : d / (D - 1); // 0 (apex) .. 1 (base)
    const widen = 1 - 1.2 * (z - 0.5) * (z - 0.5); // lungs widest at mid-depth
    const lungs: Ellipse[] = [-1, 1].map((s) => ({ cx: s * 0.38, cy: -0.05, rx: 0.26 * widen, ry: 0.42 * widen, value: LUNG }));
    for (let r = 0; r < H; r++) {
      for (let c = 0; c < W; c++) {
        const x = (2 * c + 1) / W - 1, y = (2 * r + 1) / H - 1; // pixel centres in [-1, 1]
        let v = AIR;
        if (inside(body, x, y)) v = SOFT;
        if (lungs.some((e) => inside(e, x, y))) v = LUNG;
        if (z > 0.45 && inside(heart, x, y)) v = HEART;
        if ((d === noduleSlice || d === noduleSlice + 1) && inside(nodule, x, y)) v = NODULE;
        if (inside(spine, x, y)) v = BONE;
        v += 0.06 * (rng.uniform() - 0.5);
        out[(d * H + r) * W + c] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
  }
  return out;
}

/** B phantom volumes [B, 1, D, H, W], each drawn from the same rng in turn. */
export function phantomBatch(rng: Rng, B: number, D: number, H: number, W: number): F32Tensor {
  const out = new Tensor("f32", [B, 1, D, H, W]);
  for (let b = 0; b < B; b++) out.data.set(phantom(rng, D, H, W), b * D * H * W);
  return out;
}

export interface GoldenText {
  prompt: string;
  answer: string;
}

/** The two samples' texts: a report request with a report, then a question with its answer. */
export function goldenTexts(rng: Rng, tok: BpeTokenizer): [GoldenText, GoldenText] {
  const report = { prompt: REPORT_PROMPTS[rng.int(REPORT_PROMPTS.length)], answer: REPORTS[rng.int(REPORTS.length)] };
  const start = rng.int(QUESTIONS.length);
  const len = tok.encode(report.prompt).length;
  // the next question (cyclically) whose prompt has a different token length than the report request
  for (let i = 0; i < QUESTIONS.length; i++) {
    const [prompt, answer] = QUESTIONS[(start + i) % QUESTIONS.length];
    if (tok.encode(prompt).length !== len) return [report, { prompt, answer }];
  }
  throw new ValueError("goldenTexts: every question has as many tokens as the report request");
}

/**
 * ids [B, Lseq]: per sample `<bos> <img> <image>*m </img> prompt <sep> answer <eos>`, right-padded
 * with <pad> to the longest sample.
 */
export function goldenIds(tok: BpeTokenizer, tokens: TokenIds, m: number, texts: readonly GoldenText[]): I32Tensor {
  const rows = texts.map(({ prompt, answer }) => [
    tokens.bos, tokens.imgStart, ...new Array<number>(m).fill(tokens.image), tokens.imgEnd,
    ...tok.encode(prompt), tokens.sep, ...tok.encode(answer), tokens.eos,
  ]);
  const L = Math.max(...rows.map((r) => r.length));
  const ids = new Tensor("i32", [texts.length, L]);
  ids.data.fill(tokens.pad);
  rows.forEach((r, b) => ids.data.set(r, b * L));
  return ids;
}

/** The token ids of the tokenizer's specials, in the config's form. */
export function tokenIdsOf(tok: BpeTokenizer): TokenIds {
  return {
    bos: tok.specialId("<bos>"), eos: tok.specialId("<eos>"), pad: tok.specialId("<pad>"),
    imgStart: tok.specialId("<img>"), imgEnd: tok.specialId("</img>"), image: tok.specialId("<image>"), sep: tok.specialId("<sep>"),
  };
}
