// The tgh-moe CLI end to end in child processes (node --import tsx src/cli.ts): golden then verify,
// a perturbed file (exit 1), a garbage file (exit 2), help and version; argument errors in-process.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT, type Io } from "../src/cli/command.js";
import { COMMANDS, runCli } from "../src/cli/main.js";
import { readSafetensors, writeSafetensors } from "../src/io/safetensors.js";
import { cliProcess, type CliRun } from "./util/cli.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const COMMITTED = join(ROOT, "test/golden/tiny-seed0.safetensors");
let dir: string;

/** Runs the CLI as a user would (test/util/cli.ts). */
const cli = (...args: string[]): Promise<CliRun> => cliProcess(args, 60_000);

/** The CLI in this process, output collected (for the many argument-error cases). */
async function inProcess(...args: string[]): Promise<CliRun> {
  const out: string[] = [], err: string[] = [];
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) };
  const code = await runCli(args, io);
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tgh-moe-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("cli: end to end (child processes)", () => {
  it("golden writes the committed file's bytes; verify passes (exit 0); perturbed exits 1; garbage exits 2", async () => {
    const out = join(dir, "g.safetensors"), bad = join(dir, "bad.safetensors"), junk = join(dir, "junk.safetensors");
    const { tensors, metadata, dtypes } = readSafetensors(new Uint8Array(await readFile(COMMITTED)));
    (tensors.get("act.blocks.2")!.data as Float32Array)[7] += 1e-2;
    await writeFile(bad, writeSafetensors(tensors, { metadata, dtypes }));
    await writeFile(junk, "this is not a safetensors file");

    const [gen, perturbed, garbage] = await Promise.all([
      cli("golden", "--preset", "tiny", "--seed", "0", "--out", out),
      cli("verify", bad),
      cli("verify", junk),
    ]);
    expect(gen.code, gen.stderr).toBe(0);
    expect(gen.stdout).toMatch(/wrote .*g\.safetensors \(\d+ bytes\): preset tiny, seed 0/);
    expect(Buffer.compare(await readFile(out), await readFile(COMMITTED))).toBe(0);

    expect(perturbed.code, perturbed.stderr).toBe(1);
    expect(perturbed.stdout).toMatch(/^ {2}act\.blocks\.2 +\[2, 4, 17, 32\] .* FAIL/m);
    expect(perturbed.stdout).toMatch(/FAIL: first divergence at act\.blocks\.2;/);

    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toMatch(/^FormatError: .*junk\.safetensors: header length/);

    const threaded = await cli("verify", out, "--threads", "3");
    expect(threaded.code, threaded.stdout + threaded.stderr).toBe(0);
    expect(threaded.stdout).toMatch(/^PASS: all 16 act\.\* tensors/m);

    const ok = await cli("verify", out, "--backend", "reference");
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout.trim().split("\n")).toHaveLength(1 + 16 + 1 + 1); // header, 16 act.*, tokenizer, summary
    expect(ok.stdout).toMatch(/^PASS: all 16 act\.\* tensors/m);
  });

  it("--help, --version and info work from a fresh process", async () => {
    const [help, version, info, subHelp] = await Promise.all([cli("--help"), cli("--version"), cli("info", COMMITTED, "--no-tensors"), cli("verify", "--help")]);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.stdout).toContain(`  ${c.name}`);
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(version.stdout.trim()).toBe(pkg.version);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/config expects: 155 weight tensors, 334244 parameters/);
    expect(info.stdout).toMatch(/every expected weight present with its shape, none unknown/);
    expect(subHelp.code).toBe(0);
    expect(subHelp.stdout).toMatch(/^usage: tgh-moe verify FILE/);
  });
});

describe("cli: usage errors exit 2 with a clear message (in-process)", () => {
  const cases: [string[], RegExp][] = [
    [[], /^usage: tgh-moe <command>/],
    [["frobnicate"], /unknown command "frobnicate" \(commands: golden, verify, /],
    [["--frob"], /unknown option --frob/],
    [["golden", "--seed"], /golden: Option '--seed <value>' argument missing/],
    [["golden", "--out", "x", "--seed", "1.5"], /--seed: expected an integer in \[0, 4294967295\], got "1\.5"/],
    [["golden", "--out", "x", "--preset", "m3d"], /--preset: expected one of tiny, small, got "m3d"/],
    [["golden", "--seed", "1"], /--out is required/],
    [["golden", "--out", "x", "--colour"], /golden: Unknown option '--colour' \(see tgh-moe golden --help\)$/],
    [["verify"], /verify: expected 1 argument\(s\), got 0/],
    [["verify", "a", "b"], /verify: expected 1 argument\(s\), got 2 \(a b\)/],
    [["verify", "x", "--backend", "gpu"], /--backend: expected one of wasm, reference, got "gpu"/],
    [["verify", join("no", "such", "file.safetensors")], /^FileError: no\/such\/file\.safetensors: no such file \(ENOENT\)$/],
    [["verify", "x", "--threads", "0"], /^UsageError: tgh-moe verify: --threads: expected an integer in \[1, 256\], got "0"$/],
    [["info", "x", "--threads", "two"], /info: --threads: expected an integer in \[1, 256\], got "two"/],
    [["run", "x", "--threads"], /run: Option '--threads <value>' argument missing/],
  ];
  for (const [args, msg] of cases) {
    it(`tgh-moe ${args.join(" ") || "(nothing)"}`, async () => {
      const r = await inProcess(...args);
      expect(r.code).toBe(EXIT.usage);
      expect(r.stderr).toMatch(msg);
    });
  }

  it("every command has --help (exit 0, starts with its usage line) and takes --threads N", async () => {
    for (const c of COMMANDS) {
      const r = await inProcess(c.name, "--help");
      expect(r.code).toBe(0);
      expect(r.stdout.startsWith(`usage: tgh-moe ${c.name}`)).toBe(true);
      expect(r.stdout).toMatch(/^ {2}--threads N +threads of the wasm kernels/m);
      expect((await inProcess(c.name, "--threads", "3", "--help")).code).toBe(0);
      expect((await inProcess("help", c.name)).stdout).toBe(r.stdout);
    }
  });
});
