// `tgh-moe run` and `tgh-moe route-map` end to end: the documented outputs (test/expected/, byte for
// byte, in child processes), the --json schema, progress on stderr, the routing map PNG, determinism
// and error exits. Runs the demo checkpoint (scripts/make-samples.ts DEMO_CHECKPOINT).
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, makeCheckpoint, parseModel } from "../src/api.js";
import { EXIT, type Io } from "../src/cli/command.js";
import { runCli } from "../src/cli/main.js";
import { readNifti } from "../src/io/nifti.js";
import { decodePng } from "../src/viz/png.js";
import { renderRoutingMap, routingMaps } from "../src/viz/routing-map.js";
import {
  demoCheckpoint, EXPECTED_DIR, EXPECTED_MANIFEST, readSamples, REPORT_PROMPT, ROOT, SAMPLES_DIR, sha256, type ExpectedManifest,
} from "../scripts/make-samples.js";
import { cliProcess, type CliRun } from "./util/cli.js";
import { SEED } from "./util/prop.js";
import { assertClose } from "./util/close.js";

let dir: string, ckpt: string, ckptSha: string;
let sampleVolume: string; // the first shipped sample

/** The CLI as a user runs it (test/util/cli.ts). */
const cli = (...args: string[]): Promise<CliRun> => cliProcess(args, 90_000);
/** The CLI in this process (cwd is the repository root under vitest), output collected as the process would write it. */
async function inProcess(...args: string[]): Promise<CliRun> {
  const out: string[] = [], err: string[] = [];
  const io: Io = { out: (l) => out.push(`${l}\n`), err: (l) => err.push(`${l}\n`) };
  const code = await runCli(args, io);
  return { code, stdout: out.join(""), stderr: err.join("") };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tgh-moe-run-"));
  const c = await demoCheckpoint();
  ckpt = join(dir, "model.safetensors");
  ckptSha = sha256(c.bytes);
  await writeFile(ckpt, c.bytes);
  sampleVolume = `${SAMPLES_DIR}/${(await readSamples())[0].file}`;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("run: the documented outputs (child processes)", () => {
  it("each case of test/expected/run-cli.json prints exactly its stored stdout (greedy and seeded sampling are deterministic)", async () => {
    const manifest = JSON.parse(await readFile(join(ROOT, EXPECTED_DIR, EXPECTED_MANIFEST), "utf8")) as ExpectedManifest;
    expect(ckptSha, `the demo checkpoint changed since test/expected/ was written: rerun ${manifest.command}`).toBe(manifest.checkpoint.sha256);
    expect(manifest.cases.length).toBeGreaterThanOrEqual(3);
    const runs = await Promise.all(manifest.cases.map((c) => cli(...c.args, "--checkpoint", ckpt)));
    for (const [i, c] of manifest.cases.entries()) {
      const want = await readFile(join(ROOT, EXPECTED_DIR, c.stdout), "utf8");
      expect(runs[i].code, `${c.name}: ${runs[i].stderr}`).toBe(0);
      expect(runs[i].stderr, c.name).toBe(""); // --quiet
      expect(Buffer.from(runs[i].stdout).equals(Buffer.from(want)), `${c.name}: stdout differs from ${EXPECTED_DIR}/${c.stdout}:\n${JSON.stringify(runs[i].stdout)}\n${JSON.stringify(want)}`).toBe(true);
    }
  });

  it("--json: one object with the documented schema, same text as the plain run; progress on stderr as plain lines; the routing map PNG", async () => {
    const manifest = JSON.parse(await readFile(join(ROOT, EXPECTED_DIR, EXPECTED_MANIFEST), "utf8")) as ExpectedManifest;
    const report = manifest.cases[0];
    const map = join(dir, "map.png");
    const args = report.args.filter((a) => a !== "--quiet");
    const r = await cli(...args, "--checkpoint", ckpt, "--json", "--routing-map", map);
    expect(r.code, r.stderr).toBe(0);

    // stdout: exactly one line of JSON
    expect(r.stdout.endsWith("\n") && r.stdout.indexOf("\n") === r.stdout.length - 1).toBe(true);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    checkRunJson(j);
    expect(`${j.text as string}\n`).toBe(await readFile(join(ROOT, EXPECTED_DIR, report.stdout), "utf8"));
    expect(j.routingMap).toBe(map);

    // stderr is not a TTY here: one plain line per stage, no control characters at all
    expect(r.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    const stages = r.stderr.trim().split("\n").map((l) => l.split(":")[0]);
    expect(stages).toEqual(["checkpoint", "volume", "encode", "prefill", "decode", "routing map"]);
    expect(r.stderr).toMatch(/^decode: \d+ tokens? in \d+ ms \(\d+ tokens\/s\), stopped by (<eos>|--max-tokens); total \d+ ms$/m);
    // stderr and --json give the same stage times (rounded to 1 ms there, to 0.1 ms here)
    const timings = j.timings as Record<string, number>;
    for (const [stage, re] of [["encode", /^encode: (\d+) ms$/m], ["prefill", /^prefill: \d+ tokens in (\d+) ms$/m]] as const) {
      assertClose(`${stage} ms: stderr vs --json`, Number(re.exec(r.stderr)![1]), timings[stage], { atol: 0.55, rtol: 0 });
    }

    // the PNG: valid, and exactly the map of the encoder's routing for this volume and prompt
    const png = new Uint8Array(await readFile(map));
    const img = decodePng(png);
    const m = await loadModel(ckpt);
    const volume = m.prepareVolume(readNifti(await readFile(join(ROOT, args[args.indexOf("--volume") + 1]))));
    const { routing } = m.encode({ volume, prompt: REPORT_PROMPT });
    const blocks = routing.map((trace) => renderRoutingMap({ volume: volume.data, cfg: m.cfg, trace, sample: 0 }).layout);
    expect(img.width).toBe(Math.max(...blocks.map((b) => b.width)));
    expect(img.height).toBe(blocks.reduce((s, b) => s + b.height, 0) + blocks.length - 1); // 1 px rule between layers
    expect(Buffer.from(png).equals(Buffer.from(routingMaps({ volume: volume.data, cfg: m.cfg, traces: routing, sample: 0 })))).toBe(true);
  });
});

/** The --json schema (README "Run on your CT"): every key, its type, and the invariants of the routing summary. */
function checkRunJson(j: Record<string, unknown>): void {
  expect(Object.keys(j).sort()).toEqual(["input", "routing", "routingMap", "stopReason", "task", "text", "timings", "tokens", "warnings"]);
  expect(j.warnings).toEqual([]); // a shipped sample: a chest CT in HU on the model's grid
  expect(typeof j.text).toBe("string");
  expect(Array.isArray(j.tokens) && (j.tokens as unknown[]).every((t) => Number.isInteger(t))).toBe(true);
  expect(["eos", "max_tokens"]).toContain(j.stopReason);
  const task = j.task as { index: number; name: string; probabilities: number[] };
  expect(Object.keys(task).sort()).toEqual(["index", "name", "probabilities"]);
  expect(["report", "vqa"]).toContain(task.name);
  // pi is a float32 softmax over T = 2 groups: sums to 1 within float32 rounding
  assertClose("task probabilities sum", task.probabilities.reduce((a, b) => a + b, 0), 1, { atol: 1e-6, rtol: 0 });
  const timings = j.timings as Record<string, number>;
  expect(Object.keys(timings).sort()).toEqual(["decode", "encode", "load", "prefill", "preprocess", "read", "tokensPerSecond", "total"]);
  for (const v of Object.values(timings)) expect(v).toBeGreaterThanOrEqual(0);
  const routing = j.routing as { layer: number; group: string; groupIndex: number; pi: number[]; tokens: number; top1Share: number[] }[];
  expect(routing.map((r) => r.layer)).toEqual([4, 5]); // small preset: MoE in the two volume blocks
  expect(routing[0].groupIndex).toBe(task.index);
  expect(routing[0].pi).toEqual(task.probabilities);
  for (const r of routing) {
    expect(Object.keys(r).sort()).toEqual(["group", "groupIndex", "layer", "pi", "tokens", "top1Share"]);
    expect(r.tokens).toBe(8 * 65); // D/t = 32/4 depth tokens x S = 1 + 8^2
    expect(r.top1Share).toHaveLength(4); // E
    // shares are counts / M: each a multiple of 1/M, summing to 1 up to float64 rounding
    const counts = r.top1Share.map((s) => s * r.tokens);
    assertClose(`block ${r.layer} top-1 counts are integers`, counts, counts.map(Math.round), { atol: 1e-9, rtol: 0 });
    assertClose(`block ${r.layer} top-1 shares sum`, r.top1Share.reduce((a, b) => a + b, 0), 1, { atol: 1e-12, rtol: 0 });
    expect(r.group).toBe(["report", "vqa"][r.groupIndex]);
  }
  const input = j.input as Record<string, unknown>;
  expect(Object.keys(input).sort()).toEqual(["backend", "checkpoint", "format", "modelGrid", "prompt", "shape", "spacing", "volume"]);
  expect(input.format).toBe("nifti");
  expect(input.shape).toEqual([32, 128, 128]); // the sample is on the small grid itself
  expect(input.modelGrid).toEqual([32, 128, 128]);
}

describe("run: determinism and option invariants (in-process)", () => {
  it("same arguments -> same stdout; greedy ignores --seed; --json text equals the plain answer", async () => {
    const arb = fc.record({
      temperature: fc.constantFrom("0", "0.5", "1", "1.7"),
      topP: fc.constantFrom("1", "0.9", "0.3"),
      seed: fc.integer({ min: 0, max: 0xffffffff }),
      other: fc.integer({ min: 0, max: 0xffffffff }),
      maxTokens: fc.constantFrom(1, 3, 5),
    });
    await fc.assert(fc.asyncProperty(arb, async (p) => {
      const base = ["run", "--checkpoint", ckpt, "--volume", sampleVolume, "--prompt", "Is there a pleural effusion?", "--quiet",
        "--max-tokens", String(p.maxTokens), "--temperature", p.temperature, "--top-p", p.topP];
      const a = await inProcess(...base, "--seed", String(p.seed));
      const b = await inProcess(...base, "--seed", String(p.seed), "--json");
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      const j = JSON.parse(b.stdout) as { text: string; tokens: number[] };
      expect(`${j.text}\n`).toBe(a.stdout);
      expect(j.tokens.length).toBeLessThanOrEqual(p.maxTokens);
      if (p.temperature === "0") {
        const c = await inProcess(...base, "--seed", String(p.other));
        expect(c.stdout).toBe(a.stdout);
      }
    }), { seed: SEED, numRuns: 5 });
  });

  it("route-map writes the same PNG as run --routing-map, and prints one routing line per MoE layer", async () => {
    const a = join(dir, "a.png"), b = join(dir, "b.png");
    const prompt = "Is there a cyst in the liver?";
    const run = await inProcess("run", "--checkpoint", ckpt, "--volume", sampleVolume, "--prompt", prompt, "--max-tokens", "1", "--quiet", "--routing-map", a);
    const rm = await inProcess("route-map", "--checkpoint", ckpt, "--volume", sampleVolume, "--prompt", prompt, "--quiet", "--out", b);
    expect(run.code, run.stderr).toBe(0);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
    expect(rm.stdout).toMatch(/^block 4: group (report|vqa), pi report [01]\.\d\d vqa [01]\.\d\d, top-1 of 520 tokens e0 \d+% e1 \d+% e2 \d+% e3 \d+%\nblock 5: .*\n$/);
    // --mode weighted draws another picture of the same routing (same height; the caption's width differs)
    const w = join(dir, "w.png");
    expect((await inProcess("route-map", "--checkpoint", ckpt, "--volume", sampleVolume, "--prompt", prompt, "--quiet", "--out", w, "--mode", "weighted")).code).toBe(0);
    const [ib, iw] = [decodePng(new Uint8Array(await readFile(b))), decodePng(new Uint8Array(await readFile(w)))];
    expect(iw.height).toBe(ib.height);
    expect(Buffer.from(iw.data).equals(Buffer.from(ib.data))).toBe(false);
  });

  it("a checkpoint without a preprocessing preset needs --preset (then gives the same answer)", async () => {
    const c = parseModel(new Uint8Array(await readFile(ckpt)));
    const bare = join(dir, "bare.safetensors");
    await writeFile(bare, makeCheckpoint({ cfg: c.cfg, params: c.params, tokenizer: c.tokenizer }));
    const args = ["run", "--volume", sampleVolume, "--prompt", "Hello", "--max-tokens", "2", "--quiet"];
    const without = await inProcess(...args, "--checkpoint", bare);
    expect(without.code).toBe(EXIT.usage);
    expect(without.stderr).toMatch(/has no preprocessing preset; pass --preset NAME \(tiny, small, m3d, phi3v\)/);
    const withPreset = await inProcess(...args, "--checkpoint", bare, "--preset", "small");
    expect(withPreset.code, withPreset.stderr).toBe(0);
    expect(withPreset.stdout).toBe((await inProcess(...args, "--checkpoint", ckpt)).stdout);
  });
});

describe("run: errors exit 2 with a clear message (in-process)", () => {
  const ok = () => ["--checkpoint", ckpt, "--volume", sampleVolume, "--prompt", "Hi"];
  const cases: [string, () => string[], RegExp][] = [
    ["no --volume", () => ["--checkpoint", ckpt, "--prompt", "Hi"], /run: --volume is required/],
    ["no --prompt", () => ["--checkpoint", ckpt, "--volume", sampleVolume], /run: --prompt is required/],
    ["missing volume file", () => ["--checkpoint", ckpt, "--volume", "samples/nope.nii.gz", "--prompt", "Hi"], /run: --volume: samples\/nope\.nii\.gz: no such file or folder/],
    ["a folder without DICOM", () => ["--checkpoint", ckpt, "--volume", "samples", "--prompt", "Hi"], /^ValueError: readVolumeFiles: files: \d+ files and none is DICOM \(samples\/README\.md, .*\); give one NIfTI file or the DICOM files of one series$/m],
    ["bad --volumes", () => [...ok(), "--volumes", "last"], /run: --volumes: expected "first" or a volume index N >= 0, got "last"/],
    ["not a NIfTI file", () => ["--checkpoint", ckpt, "--volume", `${SAMPLES_DIR}/samples.jsonl`, "--prompt", "Hi"], /^FormatError: samples\/samples\.jsonl: sizeof_hdr: .*not a NIfTI file/m],
    ["truncated NIfTI", () => ["--checkpoint", ckpt, "--volume", join(dir, "cut.nii.gz"), "--prompt", "Hi"], /^FormatError: .*cut\.nii\.gz: (data: truncated|gzip: corrupt or truncated)/m], // where the cut falls decides which
    ["missing checkpoint", () => ["--checkpoint", join(dir, "none.safetensors"), "--volume", sampleVolume, "--prompt", "Hi"], /run: --checkpoint: .*none\.safetensors: no such file/],
    ["a NIfTI as checkpoint", () => ["--checkpoint", sampleVolume, "--volume", sampleVolume, "--prompt", "Hi"], /^FormatError: samples\/.*\.nii\.gz: header( length|: not valid UTF-8)/], // the gzip bytes read as a header length, then as its text
    ["checkpoint without config", () => ["--checkpoint", join(dir, "noconfig.safetensors"), "--volume", sampleVolume, "--prompt", "Hi"], /^FormatError: .*noconfig\.safetensors: __metadata__\.config: missing/],
    ["negative --temperature", () => [...ok(), "--temperature=-1"], /run: --temperature: expected a number in \[0, 1000000\], got "-1"/],
    ["--temperature not a number", () => [...ok(), "--temperature", "warm"], /run: --temperature: expected a number in \[0, 1000000\], got "warm"/],
    ["bad --top-p", () => [...ok(), "--top-p", "0"], /run: --top-p: expected a number in \(0, 1\], got "0"/],
    ["bad --max-tokens", () => [...ok(), "--max-tokens", "ten"], /run: --max-tokens: expected an integer in \[0, 1000000\], got "ten"/],
    ["bad --backend", () => [...ok(), "--backend", "gpu"], /run: --backend: expected one of wasm, reference, got "gpu"/],
    ["bad --task", () => [...ok(), "--task", "triage"], /task: expected an index in \[0, 2\) or one of report, vqa, got "triage"/],
    ["bad --preset", () => [...ok(), "--preset", "huge"], /run: --preset: expected one of tiny, small, m3d, phi3v, got "huge"/],
    ["routing map into a missing folder", () => [...ok(), "--routing-map", join(dir, "no", "map.png")], /run: --routing-map: .*map\.png: folder .* does not exist/],
    ["unknown option", () => [...ok(), "--colour"], /run: Unknown option '--colour'/],
    ["a positional argument", () => [...ok(), "extra"], /run: expected 0 argument\(s\), got 1 \(extra\)/],
  ];
  beforeAll(async () => {
    const nii = await readFile(join(ROOT, sampleVolume));
    await writeFile(join(dir, "cut.nii.gz"), nii.subarray(0, nii.length >> 1));
    const c = parseModel(new Uint8Array(await readFile(ckpt)));
    const { writeSafetensors } = await import("../src/io/safetensors.js");
    await writeFile(join(dir, "noconfig.safetensors"), writeSafetensors(new Map([...c.params].slice(0, 3))));
  });
  for (const [name, args, msg] of cases) {
    it(name, async () => {
      const r = await inProcess("run", ...args());
      expect(r.code, r.stderr).toBe(EXIT.usage);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(msg);
    });
  }
  it("route-map: missing --out, a bad --mode or --alpha exit 2 before the model is loaded", async () => {
    const base = ["route-map", "--checkpoint", ckpt, "--volume", sampleVolume, "--prompt", "Hi"];
    const cases: [string[], RegExp][] = [
      [base, /route-map: --out is required/],
      [[...base, "--out", join(dir, "m.png"), "--mode", "soft"], /route-map: --mode: expected one of top1, weighted, got "soft"/],
      [[...base, "--out", join(dir, "m.png"), "--alpha", "2"], /route-map: --alpha: expected a number in \[0, 1\], got "2"/],
    ];
    for (const [args, msg] of cases) {
      const r = await inProcess(...args);
      expect([r.code, r.stdout]).toEqual([EXIT.usage, ""]);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/^checkpoint:/m);
    }
  });
  it("without --checkpoint: the shipped checkpoint, or a message naming it when it is not in the tree", async () => {
    const { DEFAULT_CHECKPOINT } = await import("../src/cli/inputs.js");
    const present = await readFile(join(ROOT, DEFAULT_CHECKPOINT)).then(() => true, () => false);
    const r = await inProcess("run", "--volume", sampleVolume, "--prompt", "Hi", "--max-tokens", "1", "--quiet");
    if (present) expect(r.code, r.stderr).toBe(0);
    else expect([r.code, r.stderr]).toEqual([EXIT.usage, `UsageError: tgh-moe run: no checkpoint at ${DEFAULT_CHECKPOINT} (the trained small model is not in this tree); pass --checkpoint FILE\n`]);
  });
});
