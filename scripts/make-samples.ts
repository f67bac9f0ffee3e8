/**
 * The shipped demo assets: which sample volumes (samples/), which checkpoint the demo, the CLI
 * expected-output test and the end-to-end bench run, and the prompt used for reports. Run it to
 * (re)write samples/ (`npx tsx scripts/make-samples.ts`) or test/expected/ (`... --expected`).
 * Deterministic: the same generator version gives the same bytes. Not the demo itself (demo.ts).
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { makeCheckpoint } from "../src/api.js";
import type { Io } from "../src/cli/command.js";
import { runCli } from "../src/cli/main.js";
import { DEFAULT_CHECKPOINT } from "../src/shipped.js";
import { GENERATOR_VERSION, makeSample, splitOf, type Sample } from "../src/data/dataset.js";
import { formatQuestion } from "../src/data/questions.js";
import { sampleRecord, type SampleRecord } from "../src/data/write.js";
import { writeNifti } from "../src/io/nifti-write.js";
import { initParams, preset, specialsAtEnd, withConfig } from "../src/model/index.js";
import { preprocessPreset } from "../src/preprocess/index.js";
import { REPORT_PROMPTS } from "../src/recipe/data.js";
import { trainBpe } from "../src/tokenizer/train.js";

/** The repository root (this file is scripts/make-samples.ts). */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * The checkpoint the demo, test/run-cli.test.ts, test/demo.test.ts and bench/e2e.ts run, relative
 * to ROOT. null: the trained one is not in the tree yet, so they build an UNTRAINED placeholder of
 * the same preset in memory (placeholderCheckpoint; its text is noise). Switching is this one line:
 * `= DEFAULT_CHECKPOINT;`, then rerun `npx tsx scripts/make-samples.ts --expected` and update the
 * example output in README.md ("Main job").
 */
export const DEMO_CHECKPOINT: string | null = DEFAULT_CHECKPOINT;
export { DEFAULT_CHECKPOINT };

/** The report request of the demo and the tests: the training recipe's evaluation prompt (src/recipe/data.ts). */
export const REPORT_PROMPT: string = REPORT_PROMPTS[0];

/** Master seed, grid and split of the shipped samples: test split of the benchmark seed 2026 (docs/DATA.md). */
export const SAMPLE_SEED = 2026;
export const SAMPLE_GRID = "small";
export const SAMPLES_DIR = "samples";

/**
 * The first test-split sample of seed 2026 (default split 0.8, 0.1, 0.1) of each kind, in this
 * order. A model trained on the train split of seed 2026 has never seen these volumes.
 */
export const PICKS: readonly { label: string; test: (s: Sample) => boolean }[] = [
  { label: "three findings of three kinds", test: (s) => new Set(s.findings.map((f) => f.kind)).size === 3 },
  { label: "one nodule, nothing else", test: (s) => s.findings.length === 1 && s.findings[0].kind === "nodule" },
  { label: "one pleural effusion, nothing else", test: (s) => s.findings.length === 1 && s.findings[0].kind === "effusion" },
  { label: "a normal study", test: (s) => s.findings.length === 0 },
];

/** The picked samples, scanning test-split indices of SAMPLE_SEED in order. */
export function pickSamples(): { sample: Sample; label: string }[] {
  const out: { sample: Sample; label: string }[] = [];
  for (let i = 0; out.length < PICKS.length; i++) {
    if (i > 10_000) throw new Error(`make-samples: no test sample found for "${PICKS[out.length].label}" in 10000 indices`);
    if (splitOf(SAMPLE_SEED, i) !== "test") continue;
    const s = makeSample(SAMPLE_SEED, i, SAMPLE_GRID);
    const pick = PICKS.find((p) => !out.some((o) => o.label === p.label) && p.test(s));
    if (pick) out.push({ sample: s, label: pick.label });
  }
  return PICKS.map((p) => out.find((o) => o.label === p.label)!);
}

/** The files of samples/: `<id>.nii.gz` (int16 HU, LPS+, as `tgh-moe data` writes them) and samples.jsonl. */
export function sampleFiles(): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const lines: string[] = [];
  for (const { sample: s } of pickSamples()) {
    const file = `${s.id}.nii.gz`;
    files.set(file, writeNifti({ data: Int16Array.from(s.volumeHU), shape: s.shape, affine: s.affine }, { gzip: true, description: GENERATOR_VERSION }));
    lines.push(JSON.stringify(sampleRecord(s, "test", file)));
  }
  files.set("samples.jsonl", new TextEncoder().encode(`${lines.join("\n")}\n`));
  return files;
}

/** samples/samples.jsonl, one record per shipped volume (docs/DATA.md format; `file` relative to samples/). */
export async function readSamples(root = ROOT): Promise<SampleRecord[]> {
  const text = await readFile(join(root, SAMPLES_DIR, "samples.jsonl"), "utf8");
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as SampleRecord);
}

/**
 * An UNTRAINED stand-in for the trained checkpoint: the `small` preset with seeded weights, a BPE
 * tokenizer trained on benchmark texts (at most the preset's 2048 tokens) and the small CT preset.
 * Deterministic bytes; about 17 MB; a few seconds to build. initParams seed 1: with seed 0 greedy
 * decoding repeats <sep> (an untrained model with a tied head echoes its last input token), a
 * special token that decodes to nothing, so every answer would print empty.
 */
export function placeholderCheckpoint(): Uint8Array {
  const texts: string[] = [];
  for (let i = 0; i < 24; i++) {
    const s = makeSample(SAMPLE_SEED, i, "tiny"); // the texts barely depend on the grid; tiny renders fast
    texts.push(s.report, ...s.questions.map((q) => `${formatQuestion(q)} ${q.answer} ${q.answerText}`), ...s.captions);
  }
  texts.push(REPORT_PROMPT);
  const tokenizer = trainBpe(texts, preset("small").lm.vocab);
  const V = tokenizer.vocabSize;
  const cfg = withConfig(preset("small"), { lm: { vocab: V }, tokens: specialsAtEnd(V) });
  return makeCheckpoint({
    cfg, params: initParams(cfg, 1), tokenizer, preprocess: preprocessPreset("small"),
    metadata: { description: "UNTRAINED placeholder (scripts/make-samples.ts placeholderCheckpoint): seeded weights, text is noise" },
  });
}

/** The demo checkpoint as bytes, with a label; `trained` false for the placeholder. */
export async function demoCheckpoint(root = ROOT): Promise<{ bytes: Uint8Array; label: string; trained: boolean }> {
  if (DEMO_CHECKPOINT === null) return { bytes: placeholderCheckpoint(), label: "untrained placeholder (small preset, seeded weights)", trained: false };
  const buf = await readFile(resolve(root, DEMO_CHECKPOINT));
  return { bytes: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), label: DEMO_CHECKPOINT, trained: true };
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

// ------------------------------------------------------------------------------ expected CLI output

/** One documented `tgh-moe` invocation whose stdout is stored in test/expected/<stdout>. */
export interface ExpectedCase {
  name: string;
  /** argv after `tgh-moe`, paths relative to ROOT; `--checkpoint <demo checkpoint>` is appended. */
  args: string[];
  stdout: string;
}
export interface ExpectedManifest {
  command: string;
  checkpoint: { label: string; sha256: string };
  cases: ExpectedCase[];
}
export const EXPECTED_DIR = "test/expected";
export const EXPECTED_MANIFEST = "run-cli.json";

/** The documented cases: a report (greedy), a closed question (greedy), an open question (seeded sampling, forced task). */
export async function expectedCases(root = ROOT): Promise<ExpectedCase[]> {
  const [a, b, c] = await readSamples(root);
  const closed = b.questions.find((q) => q.kind === "closed")!;
  const open = c.questions.find((q) => q.kind === "open")!;
  const vol = (r: SampleRecord) => `${SAMPLES_DIR}/${r.file}`;
  return [
    { name: "report", args: ["run", "--volume", vol(a), "--prompt", REPORT_PROMPT, "--max-tokens", "48", "--quiet"], stdout: "run-report.txt" },
    { name: "closed question", args: ["run", "--volume", vol(b), "--prompt", formatQuestion(closed), "--max-tokens", "12", "--quiet"], stdout: "run-closed.txt" },
    {
      name: "open question, sampled",
      args: ["run", "--volume", vol(c), "--prompt", open.question, "--task", "vqa", "--max-tokens", "12", "--temperature", "0.8", "--top-p", "0.9", "--seed", "7", "--quiet"],
      stdout: "run-open-sampled.txt",
    },
  ];
}

/** Runs the CLI in this process and returns its stdout as the process would write it. */
export async function cliStdout(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [], err: string[] = [];
  const io: Io = { out: (l) => out.push(`${l}\n`), err: (l) => err.push(`${l}\n`) };
  const code = await runCli(argv, io);
  return { code, stdout: out.join(""), stderr: err.join("") };
}

async function writeExpected(): Promise<void> {
  const ckpt = await demoCheckpoint();
  const tmp = await mkdtemp(join(tmpdir(), "tgh-moe-expected-"));
  try {
    const file = join(tmp, "checkpoint.safetensors");
    await writeFile(file, ckpt.bytes);
    const cases = await expectedCases();
    await mkdir(join(ROOT, EXPECTED_DIR), { recursive: true });
    const cwd = process.cwd();
    process.chdir(ROOT); // paths in the cases are relative to the repository root
    try {
      for (const c of cases) {
        const r = await cliStdout([...c.args, "--checkpoint", file]);
        if (r.code !== 0) throw new Error(`make-samples --expected: ${c.name}: exit ${r.code}: ${r.stderr}`);
        await writeFile(join(ROOT, EXPECTED_DIR, c.stdout), r.stdout);
        console.log(`${EXPECTED_DIR}/${c.stdout}: ${JSON.stringify(r.stdout.slice(0, 60))}...`);
      }
    } finally {
      process.chdir(cwd);
    }
    const manifest: ExpectedManifest = {
      command: "npx tsx scripts/make-samples.ts --expected",
      checkpoint: { label: ckpt.label, sha256: sha256(ckpt.bytes) },
      cases,
    };
    await writeFile(join(ROOT, EXPECTED_DIR, EXPECTED_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function writeSamples(): Promise<void> {
  const dir = join(ROOT, SAMPLES_DIR);
  await mkdir(dir, { recursive: true });
  let total = 0;
  for (const [name, bytes] of sampleFiles()) {
    await writeFile(join(dir, name), bytes);
    total += bytes.length;
    console.log(`${SAMPLES_DIR}/${name}: ${bytes.length} bytes`);
  }
  console.log(`${total} bytes in total`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== "--expected");
  if (unknown.length > 0) throw new Error(`make-samples: unknown argument ${unknown.join(" ")} (usage: npx tsx scripts/make-samples.ts [--expected])`);
  if (args.includes("--expected")) await writeExpected();
  else await writeSamples();
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exit(1);
  });
}
