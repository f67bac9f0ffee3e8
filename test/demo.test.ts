// `npm run demo` end to end in a child process (few tokens, two samples), the shipped samples (exactly
// what scripts/make-samples.ts writes, test split, size budget) and the demo's choice of questions.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chooseQuestions } from "../scripts/demo.js";
import { PICKS, readSamples, ROOT, SAMPLE_SEED, SAMPLES_DIR, sampleFiles } from "../scripts/make-samples.js";
import { makeSample, splitOf } from "../src/data/dataset.js";
import { makeGrid } from "../src/data/geometry.js";
import type { SampleRecord } from "../src/data/write.js";
import { readNifti } from "../src/io/nifti.js";
import { decodePng } from "../src/viz/png.js";
import { check } from "./util/prop.js";

let dir: string;
let samples: SampleRecord[];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tgh-moe-demo-"));
  samples = await readSamples();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function demo(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "scripts/demo.ts", ...args], { cwd: ROOT, timeout: 90_000, encoding: "utf8" }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe("npm run demo", () => {
  it("runs end to end: reports and answers beside the truth, a summary, routing maps as PNG files", async () => {
    const out = join(dir, "out");
    const r = await demo("--samples", "2", "--questions", "3", "--max-tokens", "6", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    for (const s of samples.slice(0, 2)) {
      expect(r.stdout).toContain(`== ${s.id} · ${s.shape.join("x")} voxels of ${s.spacing.join("x")} mm`);
      expect(r.stdout).toContain(s.report.split(" ").slice(0, 6).join(" ")); // the true report, wrapped
      for (const q of chooseQuestions(s.questions, 3)) expect(r.stdout).toContain(q.question);
    }
    expect(r.stdout).not.toContain(samples[2].id);
    expect(r.stdout.match(/^ {9}model: .* {3}truth: ".*" {3}[✓✗]$/gm)).toHaveLength(2 * 3);
    expect(r.stdout.match(/^ {3}generated report \((\d+) tokens, /gm)).toHaveLength(2);
    expect(r.stdout).toMatch(/^ {3}closed questions: \d\/\d right \(\d\/\d chosen among the options\) · open questions: \d\/\d exact$/m);
    // every closed question is also answered by choice: "L. text" of one of its options
    const closedAsked = r.stdout.match(/^ {3}\[A-D\] /gm)?.length ?? 0;
    expect(closedAsked).toBeGreaterThan(0);
    expect(r.stdout.match(/^ {9}chosen among the options by likelihood: "[A-D]\. [^"]+" [✓✗]$/gm)?.length).toBe(closedAsked);
    expect(r.stdout).toMatch(/^ {3}report findings \(strict\): precision (\d\.\d\d|undefined), recall (\d\.\d\d|undefined), F1 (\d\.\d\d|undefined)$/m);
    expect(r.stdout).toMatch(/^ {3}blind baselines on the same \d+ questions: majority answer \d+\/\d+ · text-only \d+\/\d+ · model \d+\/\d+$/m);
    expect(r.stdout).toMatch(/^ {3}image swap: \d+\/\d+ answers changed/m);

    const files = (await readdir(out)).sort();
    expect(files).toEqual(samples.slice(0, 2).flatMap((s) => [`${s.id}-report.png`, `${s.id}-vqa.png`]).sort());
    expect(r.stdout).toContain(`routing maps (4) in `);
    for (const f of files) {
      const img = decodePng(new Uint8Array(await readFile(join(out, f))));
      expect(img.height).toBe(2 * 228 + 1); // two MoE layers of 228 px (one legend row), a 1 px rule
      expect(img.text.Software).toBe("tgh-moe routing map");
    }
  });

  it("a bad option exits 1 with the usage line", async () => {
    const r = await demo("--samples", "0");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/demo: --samples: expected an integer >= 1, got "0"\nusage: npm run demo/);
  });
});

describe("samples/: the shipped volumes", () => {
  it("are exactly what `npx tsx scripts/make-samples.ts` writes, under 3 MB (four 32 x 128 x 128 int16 volumes), test split, one per pick", async () => {
    const want = sampleFiles();
    const have = (await readdir(join(ROOT, SAMPLES_DIR))).filter((f) => f !== "README.md").sort();
    expect(have).toEqual([...want.keys()].sort());
    let total = 0;
    for (const [name, bytes] of want) {
      const disk = await readFile(join(ROOT, SAMPLES_DIR, name));
      expect(Buffer.from(bytes).equals(disk), `${SAMPLES_DIR}/${name} differs from the generator's output`).toBe(true);
      total += (await stat(join(ROOT, SAMPLES_DIR, name))).size;
    }
    expect(total).toBeLessThan(3 * 1024 * 1024);
    expect(samples).toHaveLength(PICKS.length);
    for (const [i, s] of samples.entries()) {
      expect(s.split).toBe("test");
      expect(splitOf(SAMPLE_SEED, s.index)).toBe("test");
      const regenerated = makeSample(SAMPLE_SEED, s.index, "small");
      expect(PICKS[i].test(regenerated)).toBe(true);
      // readNifti returns the generator's HU volume (int16 storage of integer HU is exact)
      const vol = readNifti(await readFile(join(ROOT, SAMPLES_DIR, s.file)));
      expect(vol.shape).toEqual([...makeGrid("small").shape]);
      expect(Buffer.from(vol.data.buffer).equals(Buffer.from(regenerated.volumeHU.buffer))).toBe(true);
    }
  });
});

describe("chooseQuestions", () => {
  it("at most n distinct questions of the sample, closed and open alternating while both last, general ones first", () => {
    check(fc.record({ index: fc.integer({ min: 0, max: 400 }), n: fc.integer({ min: 0, max: 8 }) }), ({ index, n }) => {
      const s = makeSample(SAMPLE_SEED, index, "tiny");
      const q = chooseQuestions(s.questions, n);
      expect(q.length).toBe(Math.min(n, s.questions.length));
      expect(new Set(q).size).toBe(q.length);
      for (const x of q) expect(s.questions).toContain(x);
      if (n >= 1) expect(q[0].template).toBe("present"); // asked of every study
      if (n >= 4) expect(q.slice(0, 4).map((x) => x.kind)).toEqual(["closed", "open", "closed", "open"]);
    }, 12);
  });
});
