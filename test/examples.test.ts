/**
 * examples/ run against the shipped checkpoint as a user runs them (a child process, tsx, imports
 * from "tgh-moe" resolved to this package's dist/), and print the library's answer: on the default
 * shipped sample, and on a DICOM folder written from it.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "../src/api.js";
import { readNifti } from "../src/io/nifti.js";
import { readSamples, ROOT, SAMPLES_DIR } from "../scripts/make-samples.js";
import { writeDicomSeries } from "./fixtures/dicom-writer.js";

const run = promisify(execFile);
let dir = "";
const example = (...args: string[]) => run(process.execPath, ["--import", "tsx", "examples/node-generate.ts", ...args], { cwd: ROOT, timeout: 150_000 });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tgh-moe-examples-"));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("examples/node-generate.ts", () => {
  it("answers about the first shipped sample, then about the same CT as a DICOM folder, as the library does", async () => {
    const sample = (await readSamples())[0];
    const volume = readNifti(await readFile(join(ROOT, SAMPLES_DIR, sample.file)));
    const model = await loadModel();
    const prompt = "Is there a pleural effusion?";
    const want = await model.generate({ volume, prompt, maxNewTokens: 12 });
    const series = join(dir, "series");
    await mkdir(series);
    for (const f of writeDicomSeries(volume)) await writeFile(join(series, f.name), f.bytes);
    for (const args of [[], ["--volume", series]]) {
      const { stdout } = await example(...args, "--prompt", prompt, "--max-tokens", "12");
      expect(stdout).toContain(`prompt: ${prompt}\n\n${want.text}\n\n${want.tokens.length} tokens, stopped by ${want.stopReason}\n`);
      expect(stdout).toContain(`task gate: ${want.task!.name}`);
      expect(stdout).not.toMatch(/^warning:/m);
    }
  }, 360_000);
});
