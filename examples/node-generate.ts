/**
 * Ask the shipped model about a CT from Node, the way a user of the package does (imports from
 * "tgh-moe"): a NIfTI file or a DICOM series folder -> loadModel() -> generate, with the answer
 * streamed token by token, the task gate's choice, input warnings, the routing and the timings.
 * Without --volume it reads the first shipped sample. Ctrl-C stops generation (AbortSignal).
 *
 *   npx tsx examples/node-generate.ts
 *   npx tsx examples/node-generate.ts --volume ct.nii.gz --prompt "Is there a pleural effusion?"
 *   npx tsx examples/node-generate.ts --volume dicom-folder/ --max-tokens 64 --temperature 0.8 --seed 3
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadModel, readVolumeFiles, type VolumeFile } from "tgh-moe";

const { values: args } = parseArgs({
  options: {
    volume: { type: "string" },
    prompt: { type: "string", default: "Describe the findings of this chest CT." },
    "max-tokens": { type: "string", default: "96" },
    temperature: { type: "string", default: "0" },
    seed: { type: "string", default: "0" },
  },
});

/** One file, or every file of a folder (a DICOM series). */
async function files(path: string): Promise<VolumeFile[]> {
  const read = async (p: string) => ({ name: p, bytes: new Uint8Array(await readFile(p)) });
  if (!(await stat(path)).isDirectory()) return [await read(path)];
  return Promise.all((await readdir(path)).map((n) => read(join(path, n))));
}

async function firstSample(): Promise<string> {
  const jsonl = fileURLToPath(import.meta.resolve("tgh-moe/samples/samples.jsonl"));
  const first = JSON.parse((await readFile(jsonl, "utf8")).split("\n")[0]) as { file: string };
  return join(jsonl, "..", first.file);
}

const path = args.volume ?? (await firstSample());
const model = await loadModel(); // the shipped checkpoint
const volume = readVolumeFiles(await files(path)); // NIfTI or DICOM, canonical LPS+, HU
console.log(`volume: ${path} (${volume.format}, ${volume.shape.join(" x ")} voxels) -> model grid ${model.preprocess?.grid.join(" x ")}`);
console.log(`prompt: ${args.prompt}\n`);

const stop = new AbortController();
process.once("SIGINT", () => stop.abort("Ctrl-C"));
let shown = 0;
const out = await model.generate({
  volume,
  prompt: args.prompt!,
  maxNewTokens: Number(args["max-tokens"]),
  temperature: Number(args.temperature),
  seed: Number(args.seed),
  signal: stop.signal,
  onToken: (t) => {
    const stable = t.text.replace(/\uFFFD+$/, ""); // a trailing U+FFFD may be half a UTF-8 character
    process.stdout.write(stable.slice(shown));
    shown = stable.length;
  },
});
console.log(`\n\n${out.tokens.length} tokens, stopped by ${out.stopReason}`);
if (out.task) console.log(`task gate: ${out.task.name} (pi ${out.task.probabilities.map((p) => p.toFixed(3)).join(" / ")})`);
for (const w of out.warnings) console.log(`warning: ${w}`);
for (const r of out.routing) {
  const k = r.topkIdx.dim(2), count = new Array<number>(model.cfg.moe.experts).fill(0);
  for (let i = 0; i < r.topkIdx.size; i += k) count[r.topkIdx.data[i]]++; // each token's first expert
  console.log(`block ${r.layer}: tokens per top-1 expert [${count.join(", ")}]`);
}
const t = out.timings;
console.log(`timings: encode ${t.encode.toFixed(0)} ms, prefill ${t.prefill.toFixed(0)} ms, decode ${t.decode.toFixed(0)} ms`);
