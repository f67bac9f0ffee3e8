/**
 * The fixed computations of the real-browser test, run the same way in Node (over src/) and in the
 * page (over the library bundle build/web/tgh-moe.js): kernel calls on seeded inputs with odd shapes
 * and extreme values, seeded weight init, and the whole tiny-model forward on the committed golden
 * file. Each output is reduced to the SHA-256 of its bytes. Only `import type` from src: the library
 * is passed in, so the page exercises the bundle and not a second copy of the sources.
 * Legend: B batch · C width · NH heads · dh head size · k top-k · L text tokens · V vocab.
 */
import type * as Lib from "../../src/index.js";
import type { Backend, F32Tensor, I32Tensor, Tensor } from "../../src/index.js";

export type TghLib = typeof Lib;

/** One output: its bits as SHA-256, and the first values for a readable diff when hashes differ. */
export interface CaseOutput {
  name: string;
  dtype: string;
  shape: number[];
  sha256: string;
  head: number[];
  /** NaN count (hashed as the canonical quiet NaN: see canonicalBytes). */
  nans: number;
}

export interface CaseRun {
  backend: string;
  outputs: CaseOutput[];
  /** verifyGolden on the committed file with this backend (null when forward is not run). */
  verify: { pass: boolean; firstDivergence: string | null; checked: number } | null;
}

/** File name of the committed golden file, served next to the page. */
export const GOLDEN_FILE = "tiny-seed0.safetensors";

/**
 * The bytes to hash: the data's little-endian bytes with every f32 NaN replaced by 0x7fc00000.
 * WebAssembly leaves the sign and payload of a NaN result unspecified (spec, "NaN propagation"), so
 * NaN bits are not part of the same-bits promise; everything else is, bit for bit (including -0).
 */
export function canonicalBytes(t: Tensor): { bytes: Uint8Array; nans: number } {
  const bits = new Uint32Array(t.data.length);
  bits.set(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length));
  let nans = 0;
  if (t.dtype === "f32") {
    const f = t.data as Float32Array;
    for (let i = 0; i < f.length; i++) {
      if (Number.isNaN(f[i])) {
        bits[i] = 0x7fc00000;
        nans++;
      }
    }
  }
  return { bytes: new Uint8Array(bits.buffer), nans };
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", new Uint8Array(bytes)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A hashed output of one tensor (or of several, concatenated in the given order). */
async function output(name: string, ts: Tensor | Tensor[]): Promise<CaseOutput> {
  const list = Array.isArray(ts) ? ts : [ts];
  const parts = list.map(canonicalBytes);
  const all = new Uint8Array(parts.reduce((n, p) => n + p.bytes.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p.bytes, at);
    at += p.bytes.length;
  }
  const first = list[0];
  return {
    name, dtype: first.dtype, shape: list.length === 1 ? [...first.shape] : [list.reduce((n, t) => n + t.size, 0)],
    sha256: await sha256(all), head: Array.from(first.data.subarray(0, 4)), nans: parts.reduce((n, p) => n + p.nans, 0),
  };
}

/** Extreme inputs appended to activation inputs: infinities, NaN, signed zero, subnormals, overflow range. */
const EXTREMES = [Infinity, -Infinity, NaN, 0, -0, 1e-40, -1e-40, 1e-7, 88.7, -88.7, 104, -104, 1e30, -1e30, 3.4e38, -3.4e38];

/** The kernel calls: every primitive the brief names, on shapes that are not multiples of 4. */
async function kernelCases(lib: TghLib, be: Backend): Promise<CaseOutput[]> {
  const rng = new lib.Rng(20240611);
  const f = (shape: number[], lo = -1, hi = 1): F32Tensor => lib.fromArray(shape, rng.fill(shape.reduce((a, b) => a * b, 1), lo, hi));
  const out: Promise<CaseOutput>[] = [];

  // matmul: a [17, 33] @ b[5, 33]^T -> [17, 5]; batched a [3, 7, 9] @ shared b [9, 13] -> [3, 7, 13]
  out.push(output("matmul.transB", be.matmul(f([17, 33]), f([5, 33]), { transB: true })));
  out.push(output("matmul.batched", be.matmul(f([3, 7, 9], -4, 4), f([9, 13]))));

  // softmax: rows of 19 with a causal lower triangle [3, 5, 19]; a row with huge and -Infinity entries
  out.push(output("softmax.causal", be.softmax(f([3, 5, 19], -8, 8), { causal: true })));
  out.push(output("softmax.extreme", be.softmax(lib.fromArray([2, 5], [1e30, 0, -Infinity, 1e30, -1e30, -Infinity, 3, -Infinity, 2.5, 3]))));

  // layerNorm over C = 37 with gamma, beta; constant rows (variance 0)
  const ln = f([7, 37], -3, 5);
  ln.data.fill(2.5, 0, 37);
  out.push(output("layerNorm", be.layerNorm(ln, f([37]), f([37]), 1e-5)));

  // activations: 1001 values in [-10, 10] and the extremes
  const xs = lib.fromArray([1001 + EXTREMES.length], [...rng.fill(1001, -10, 10), ...EXTREMES]);
  out.push(output("gelu_tanh", be.act("gelu_tanh", xs)));
  out.push(output("quick_gelu", be.act("quick_gelu", xs)));

  // rope: x [2, 9, NH*dh] with NH = 4, dh = 6; 1D positions, then three sections [1, 1, 1] (pos [9, 3])
  const rx = f([2, 9, 24], -2, 2);
  out.push(output("rope.1d", be.rope(rx, lib.fromInts([9], [0, 1, 2, 3, 5, 8, 13, 21, 1000]), { heads: 4 })));
  const pos3 = lib.fromInts([9, 3], Array.from({ length: 27 }, (_, i) => (i * 7) % 11));
  out.push(output("rope.sections", be.rope(rx, pos3, { heads: 4, sections: [1, 1, 1] })));

  // attention: q [2, 5, 4*8], k and v [2, 7, 2*8] (grouped-query), causal (KV-cache offset 2); then masked
  const q = f([2, 5, 32], -2, 2), k = f([2, 7, 16], -2, 2), v = f([2, 7, 16]);
  out.push(output("attention.gqa.causal", be.attention(q, k, v, { heads: 4, kvHeads: 2, causal: true })));
  const mask = f([5, 7], -1, 0);
  mask.data[3] = -Infinity;
  out.push(output("attention.mask", be.attention(q, k, v, { heads: 4, kvHeads: 2, mask })));

  // top-k: 9 rows of 13 quantised to 0.25 steps so that ties occur (lower index first)
  const tx = f([9, 13], -1, 1);
  for (let i = 0; i < tx.size; i++) tx.data[i] = Math.round(tx.data[i] * 4) / 4;
  const top = be.topk(tx, 3);
  out.push(output("topk.values", top.values), output("topk.indices", top.indices));
  return Promise.all(out);
}

/** The golden file's weights, inputs and config (weights stored F16 are widened to f32 by the reader). */
export function readGolden(lib: TghLib, bytes: Uint8Array) {
  const { tensors, metadata } = lib.readSafetensors(bytes);
  const cfg = lib.fromSpecJson(metadata.get("config") ?? "");
  const params: Lib.Params = new Map();
  for (const name of lib.paramSpecs(cfg).keys()) params.set(name, tensors.get(name) as F32Tensor);
  return { cfg, params, volume: tensors.get("input.volume") as F32Tensor, ids: tensors.get("input.ids") as I32Tensor, metadata };
}

/** Kernel cases, seeded init of the tiny preset, and the golden forward (every act.* of section 8). */
export async function runCases(lib: TghLib, be: Backend, golden: Uint8Array): Promise<CaseRun> {
  const outputs = await kernelCases(lib, be);
  const init = lib.initParams(lib.preset("tiny"), 0);
  outputs.push(await output("initParams.tiny.seed0", [...init.values()]));

  const g = readGolden(lib, golden);
  const fwd = lib.forward(be, g.params, g.cfg, { volume: g.volume, ids: g.ids }, { acts: true });
  for (const [name, t] of [...fwd.acts!].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) outputs.push(await output(`forward.${name}`, t));
  const report = await lib.verifyGolden(golden, { backend: be, file: GOLDEN_FILE });
  return {
    backend: be.name, outputs,
    verify: { pass: report.pass, firstDivergence: report.firstDivergence, checked: report.tensors.length },
  };
}
