/**
 * `tgh-moe data`: writes the synthetic chest CT benchmark (src/data/write.ts writeDataset) from the
 * command line: its options, progress and exit codes are the common ones (./command.ts, ./progress.ts).
 * Not the generator (src/data/).
 */
import { parseGrid, parseSplit, SPLITS } from "../data/index.js";
import { writeDataset } from "../data/write.js";
import { TghError } from "../errors.js";
import { defineCommand, EXIT, integer, required, UsageError } from "./command.js";
import { fmtMs, Progress } from "./progress.js";

export default defineCommand({
  name: "data",
  usage: "data --out DIR --count N --seed S [options]",
  help: `
Writes a synthetic chest CT dataset: DIR/volumes/<id>.nii.gz (int16 HU, LPS+), DIR/samples.jsonl
(findings, report, questions and slice captions per volume) and DIR/manifest.json. The same seed,
count and grid give the same bytes. Format: docs/DATA.md.

options:
  --out DIR          output folder (created; must be empty unless --overwrite)
  --count N          number of volumes (1 .. 10000000)
  --seed S           master seed, integer in [0, 4294967295]
  --grid G           tiny (4x32x32), small (16x64x64, default), m3d (32x256x256), or DxHxW;
                     field of view 384 mm in-plane, 320 mm craniocaudal
  --split A,B,C      train,validation,test fractions (default 0.8,0.1,0.1)
  --no-gzip          write .nii instead of .nii.gz
  --overwrite        replace a dataset already in DIR
  --quiet            no progress output

exit codes: 0 written, 2 usage error or an output folder that is not empty (without --overwrite)`,
  options: {
    out: { type: "string" },
    count: { type: "string" },
    seed: { type: "string" },
    grid: { type: "string", default: "small" },
    split: { type: "string", default: "0.8,0.1,0.1" },
    "no-gzip": { type: "boolean" },
    overwrite: { type: "boolean" },
    quiet: { type: "boolean" },
  },
  positionals: [0, 0],
  async run(v, _positionals, io) {
    const cmd = "data";
    const out = required(cmd, "out", v.out);
    const count = integer(cmd, "count", required(cmd, "count", v.count), 1, 10_000_000);
    const seed = integer(cmd, "seed", required(cmd, "seed", v.seed), 0, 0xffffffff);
    const grid = asUsage(cmd, "grid", () => parseGrid(v.grid)); // checked before any file is written
    const split = asUsage(cmd, "split", () => parseSplit(v.split));
    const progress = new Progress(io, { quiet: v.quiet === true });
    const t0 = performance.now();
    const manifest = await writeDataset(out, {
      count, seed, grid, split, gzip: v["no-gzip"] !== true, overwrite: v.overwrite === true,
      onProgress: (done, total) => progress.count(`data: ${done}/${total} volumes`, done, total),
    });
    const c = manifest.split.counts;
    progress.line(`wrote ${manifest.count} volumes to ${out} in ${fmtMs(performance.now() - t0)} (${SPLITS.map((s) => `${s} ${c[s]}`).join(", ")})`);
    return EXIT.ok;
  },
});

/** A library error about an option's value as a UsageError naming the option. */
function asUsage<T>(cmd: string, name: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof TghError)) throw e;
    throw new UsageError(`tgh-moe ${cmd}: --${name}: ${e.message.replace(/^\w+: \w+: /, "")}`);
  }
}
