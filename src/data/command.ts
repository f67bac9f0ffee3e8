/**
 * `tgh-moe data`: writes a synthetic CT dataset (write.ts) from the command line. Parses and
 * checks its arguments, prints progress to stderr; the CLI dispatcher (src/cli.ts) calls it.
 */
import { TghError, ValueError } from "../errors.js";
import { parseSplit, SPLITS } from "./dataset.js";
import { parseGrid } from "./geometry.js";
import { writeDataset } from "./write.js";

export const DATA_USAGE = `usage: tgh-moe data --out DIR --count N --seed S [options]

Writes a synthetic chest CT dataset: DIR/volumes/<id>.nii.gz (int16 HU, LPS+), DIR/samples.jsonl
(findings, report, questions and slice captions per volume) and DIR/manifest.json. The same seed,
count and grid give the same bytes. Format: docs/DATA.md.

Options:
  --out DIR          output folder (created; must be empty unless --overwrite)
  --count N          number of volumes (1 .. 10000000)
  --seed S           master seed, integer in [0, 4294967295]
  --grid G           tiny (4x32x32), small (16x64x64, default), m3d (32x256x256), or DxHxW;
                     field of view 384 mm in-plane, 320 mm craniocaudal
  --split A,B,C      train,validation,test fractions (default 0.8,0.1,0.1)
  --no-gzip          write .nii instead of .nii.gz
  --overwrite        replace a dataset already in DIR
  --quiet            no progress output
  --help             this text
`;

interface Args {
  out: string;
  count: number;
  seed: number;
  grid: string;
  split: string;
  gzip: boolean;
  overwrite: boolean;
  quiet: boolean;
}

/** Runs `tgh-moe data ARGV`; returns the exit code (0 ok, 1 failure, 2 usage error). */
export async function dataCommand(argv: string[]): Promise<number> {
  let args: Args | "help";
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`tgh-moe data: ${(e as Error).message}\n\n${DATA_USAGE}`);
    return 2;
  }
  if (args === "help") {
    process.stdout.write(DATA_USAGE);
    return 0;
  }
  try {
    const a = args;
    const started = Date.now();
    const manifest = await writeDataset(a.out, {
      count: a.count, seed: a.seed, grid: parseGrid(a.grid), split: parseSplit(a.split), gzip: a.gzip, overwrite: a.overwrite,
      onProgress: a.quiet ? undefined : (done, total) => {
        if (done === total || done % Math.max(1, Math.floor(total / 20)) === 0) process.stderr.write(`\r${done}/${total} volumes`);
      },
    });
    if (!a.quiet) {
      const c = manifest.split.counts;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stderr.write(`\nwrote ${manifest.count} volumes to ${a.out} in ${secs} s (${SPLITS.map((s) => `${s} ${c[s]}`).join(", ")})\n`);
    }
    return 0;
  } catch (e) {
    process.stderr.write(`tgh-moe data: ${e instanceof TghError ? e.message : String((e as Error)?.stack ?? e)}\n`);
    return 1;
  }
}

/** Parses the flags; throws with a message naming the flag. */
export function parseArgs(argv: readonly string[]): Args | "help" {
  const a: Partial<Args> = { grid: "small", split: "0.8,0.1,0.1", gzip: true, overwrite: false, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new ValueError(`${flag}: expected a value`);
      return v;
    };
    switch (flag) {
      case "--help": case "-h": return "help";
      case "--out": a.out = value(); break;
      case "--count": a.count = integer(flag, value(), 1, 10_000_000); break;
      case "--seed": a.seed = integer(flag, value(), 0, 0xffffffff); break;
      case "--grid": a.grid = value(); break;
      case "--split": a.split = value(); break;
      case "--no-gzip": a.gzip = false; break;
      case "--overwrite": a.overwrite = true; break;
      case "--quiet": a.quiet = true; break;
      default: throw new ValueError(`unknown option "${flag}"`);
    }
  }
  for (const required of ["out", "count", "seed"] as const) {
    if (a[required] === undefined) throw new ValueError(`--${required} is required`);
  }
  parseGrid(a.grid!); // check early, before any file is written
  parseSplit(a.split!);
  return a as Args;
}

function integer(flag: string, text: string, lo: number, hi: number): number {
  if (!/^\d+$/.test(text) || Number(text) < lo || Number(text) > hi) throw new ValueError(`${flag}: expected an integer in [${lo}, ${hi}], got "${text}"`);
  return Number(text);
}
