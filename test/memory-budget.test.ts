/**
 * The memory budgets of reading what users hand us (docs/FUZZ.md, "Memory budgets"), measured in a
 * fresh process as the peak RSS over the RSS before the read (test/fixtures/read-peak.ts):
 *   a volume (NIfTI, plain or gzip, any datatype and orientation) <= 1.5 x its float32 result + 64 MB
 *   a safetensors file or checkpoint                             <= 1.2 x its tensors' bytes + 64 MB
 * Inputs are modest (a 256^3 volume, about 96 MB of weights) so the suite stays fast; each is large
 * enough that reading the whole file and then copying it would break its budget.
 */
import { execFile } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCheckpoint } from "../src/api.js";
import { writeSafetensors } from "../src/io/safetensors.js";
import { preset, specialsAtEnd, withConfig } from "../src/model/config.js";
import { paramSpecs } from "../src/model/params.js";
import { Tensor } from "../src/tensor.js";
import { tinyTokenizer } from "./util/generate.js";
import { buildNifti } from "./nifti-fixtures.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MB = 1e6;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "tgh-memory-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Peak {
  before: number;
  peak: number;
  resultBytes: number;
  error: string | null;
}
function readPeak(kind: string, file: string): Promise<Peak> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--import", "tsx", "--expose-gc", "test/fixtures/read-peak.ts", kind, file], { cwd: ROOT, timeout: 240_000, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) reject(new Error(`read-peak ${kind} ${file}: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as Peak);
    });
  });
}

/** A 256^3 NIfTI-1 file (no sform/qform: RAS, so reading flips w and h) of int16 or float64 voxels, written slice by slice. */
function writeVolume(path: string, datatype: 4 | 64): void {
  const n = 256, item = datatype === 4 ? 2 : 8;
  const fd = openSync(path, "w");
  writeSync(fd, buildNifti({ dims: [n, n, n], values: [], datatype }));
  const slice = new Uint8Array(n * n * item), v = new DataView(slice.buffer);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n * n; i++) {
      const x = ((i * 31 + k * 17) % 3000) - 1000;
      if (datatype === 4) v.setInt16(2 * i, x, true);
      else v.setFloat64(8 * i, x + 0.25, true);
    }
    writeSync(fd, slice);
  }
  closeSync(fd);
}

describe("memory budgets (peak RSS over the RSS before the read, in a fresh process)", () => {
  const volumeBudget = (p: Peak) => 1.5 * p.resultBytes + 64 * MB;
  const weightBudget = (p: Peak) => 1.2 * p.resultBytes + 64 * MB;

  it("NIfTI: 256^3 int16 needing reorientation, 256^3 float64, and the int16 file gzipped", async () => {
    const int16 = join(dir, "int16.nii"), f64 = join(dir, "f64.nii"), gz = join(dir, "int16.nii.gz");
    writeVolume(int16, 4);
    writeVolume(f64, 64);
    writeFileSync(gz, gzipSync(readFileSync(int16), { level: 1 }));
    for (const file of [int16, f64, gz]) {
      const p = await readPeak("nifti", file);
      expect([p.error, p.resultBytes]).toEqual([null, 4 * 256 ** 3]);
      const used = p.peak - p.before;
      expect(used, `${file}: ${(used / MB).toFixed(0)} MB over the start, budget ${(volumeBudget(p) / MB).toFixed(0)} MB`).toBeLessThanOrEqual(volumeBudget(p));
    }
  }, 600_000);

  it("safetensors (96 MiB of F32) and a checkpoint (about 98 MB of weights)", async () => {
    const st = join(dir, "w.safetensors");
    const tensors = new Map(Array.from({ length: 12 }, (_, i) => [`w${i}`, new Tensor("f32", [2048, 1024], new Float32Array(2048 * 1024).fill(i))] as const));
    writeFileSync(st, writeSafetensors(tensors));
    tensors.clear();
    const tok = tinyTokenizer(), V = tok.vocabSize;
    const cfg = withConfig(preset("small"), { lm: { vocab: V, width: 512, heads: 8, kvHeads: 4, layers: 8, mlpHidden: 1376 }, tokens: specialsAtEnd(V) });
    const params = new Map([...paramSpecs(cfg)].map(([name, shape]) => [name, new Tensor("f32", shape)]));
    const ckpt = join(dir, "model.safetensors");
    writeFileSync(ckpt, makeCheckpoint({ cfg, params, tokenizer: tok }));
    params.clear();
    for (const [kind, file] of [["safetensors", st], ["checkpoint", ckpt]] as const) {
      const p = await readPeak(kind, file);
      expect(p.error).toBeNull();
      expect(p.resultBytes).toBeGreaterThan(90 * MB);
      const used = p.peak - p.before;
      expect(used, `${kind}: ${(used / MB).toFixed(0)} MB over the start, budget ${(weightBudget(p) / MB).toFixed(0)} MB`).toBeLessThanOrEqual(weightBudget(p));
    }
  }, 600_000);
});
