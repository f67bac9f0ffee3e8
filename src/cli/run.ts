/**
 * `tgh-moe run`: one prompt about one CT volume, end to end (checkpoint -> NIfTI -> the checkpoint's
 * preprocessing preset -> generation), progress on stderr, the answer alone on stdout (or one JSON
 * object with --json), optionally the routing map as a PNG. Not the model nor the decoding loop
 * (src/api.ts, src/generate.ts), nor the plumbing every command shares (./command.ts, ./progress.ts,
 * ./inputs.ts, ./volume.ts).
 */
import type { TghModel } from "../api.js";
import type { GenerateResult } from "../generate.js";
import { writeAtomic } from "../io/fs.js";
import type { CtVolume } from "../io/volume.js";
import { PREPROCESS_PRESET_NAMES } from "../preprocess/index.js";
import { routingMaps } from "../viz/routing-map.js";
import { routingSummary } from "../viz/routing-summary.js";
import { backendOption, decimal, defineCommand, EXIT, integer, required, taskOption, UsageError } from "./command.js";
import { checkWritable } from "./files.js";
import { DEFAULT_CHECKPOINT, openModel } from "./inputs.js";
import { Progress, tokensPerSecond } from "./progress.js";
import { checkVolumePath, readVolume, VOLUME_OPTIONS_HELP, volumesOption } from "./volume.js";

/** Default answer budget: a whole synthetic report is about 60-120 tokens; generation stops at <eos>. */
export const DEFAULT_MAX_TOKENS = 256;

export default defineCommand({
  name: "run",
  usage: "run --volume PATH --prompt TEXT [--checkpoint FILE] [--json] [--routing-map OUT.png] [options]",
  help: `
Answers a prompt about a CT volume: reads the NIfTI file (.nii or .nii.gz, any orientation) or the
DICOM series (read into LPS+, docs/INPUT.md), preprocesses it with the checkpoint's preset (HU window, resize to the model's
grid), runs the vision encoder guided by the prompt, then generates. Progress goes to stderr; stdout
holds the answer alone, or one JSON object with --json. Greedy by default: the same input gives the
same answer, bit for bit.

options:
${VOLUME_OPTIONS_HELP}
  --prompt TEXT         e.g. "Describe the findings of this chest CT." or a question; closed
                        questions list their options on lines "A. ...", "B. ..." after it
  --checkpoint FILE     model (safetensors with config, tokenizer and preset in its metadata);
                        default ${DEFAULT_CHECKPOINT} in the package root
  --task report|vqa     task group of the MoE layers (default: the task gate's choice)
  --max-tokens N        most tokens to generate (default ${DEFAULT_MAX_TOKENS}; stops earlier at <eos>)
  --temperature T       0 (default): greedy; > 0: seeded sampling
  --top-p P             nucleus sampling, in (0, 1] (default 1)
  --top-k K             keep the K most likely tokens when sampling (default: all)
  --seed S              seed of the sampling stream (default 0)
  --backend NAME        wasm (default, SIMD kernels) or reference (scalar, float64 accumulation)
  --preset NAME         preprocessing preset instead of the checkpoint's (${PREPROCESS_PRESET_NAMES.join(", ")})
  --routing-map OUT.png write the routing map (every MoE layer's expert per patch) to OUT.png
  --json                print {text, tokens, stopReason, task, routing, warnings, timings, input} as JSON
  --quiet               no progress on stderr

exit codes: 0 answered, 2 usage error, missing or unreadable file, bad NIfTI or checkpoint
example:
  tgh-moe run --volume samples/ct-2026-000064.nii.gz --prompt "Is there a pleural effusion?"`,
  options: {
    volume: { type: "string" },
    volumes: { type: "string" },
    series: { type: "string" },
    prompt: { type: "string" },
    checkpoint: { type: "string" },
    task: { type: "string" },
    "max-tokens": { type: "string", default: String(DEFAULT_MAX_TOKENS) },
    temperature: { type: "string", default: "0" },
    "top-p": { type: "string", default: "1" },
    "top-k": { type: "string" },
    seed: { type: "string", default: "0" },
    backend: { type: "string", default: "wasm" },
    preset: { type: "string" },
    "routing-map": { type: "string" },
    json: { type: "boolean" },
    quiet: { type: "boolean" },
  },
  positionals: [0, 0],
  async run(v, _positionals, io) {
    const cmd = "run";
    const volumeFile = required(cmd, "volume", v.volume);
    const prompt = required(cmd, "prompt", v.prompt);
    const sampling = {
      maxNewTokens: integer(cmd, "max-tokens", v["max-tokens"], 0, 1_000_000),
      temperature: decimal(cmd, "temperature", v.temperature, 0, 1e6, true),
      topP: decimal(cmd, "top-p", v["top-p"], 0, 1, false),
      topK: v["top-k"] === undefined ? undefined : integer(cmd, "top-k", v["top-k"], 1, 1_000_000),
      seed: integer(cmd, "seed", v.seed, 0, 0xffffffff),
    };
    const backend = backendOption(cmd, v.backend);
    await checkVolumePath(cmd, volumeFile); // fail before the checkpoint is loaded
    volumesOption(cmd, v.volumes);
    const mapFile = v["routing-map"];
    if (mapFile !== undefined) await checkWritable(cmd, "routing-map", mapFile);
    const progress = new Progress(io, { quiet: v.quiet === true });

    const { model, file: checkpoint, ms: load } = await openModel(cmd, v.checkpoint, backend, v.preset, progress);
    if (mapFile !== undefined && model.cfg.vision.moeLayers.length === 0) {
      throw new UsageError(`tgh-moe run: --routing-map: ${checkpoint} has no MoE layers, so there is no routing to draw`);
    }
    const input = await readVolume(cmd, volumeFile, model, progress, io, v);
    const out = await model.generate({
      volume: input.data, prompt, task: taskOption(v.task), ...sampling,
      onProgress: (e) => progress.generation(e),
    });
    progress.finish(out);

    // the answer is printed even when the routing map cannot be written; that error comes after it
    let mapError: unknown = null;
    if (mapFile !== undefined) {
      try {
        await writeAtomic(mapFile, routingMaps({ volume: input.data.data, cfg: model.cfg, traces: out.routing, sample: 0 }));
        progress.line(`routing map: ${mapFile} (${out.routing.length} MoE layer${out.routing.length === 1 ? "" : "s"})`);
      } catch (e) {
        mapError = e;
      }
    }
    if (v.json) {
      const timings = { load, read: input.readMs, preprocess: input.preprocessMs, ...out.timings };
      const routingMap = mapFile !== undefined && mapError === null ? mapFile : null;
      io.out(JSON.stringify(runJson(model, out, { volume: volumeFile, read: input.volume, prompt, checkpoint, backend, routingMap }, input.warnings, timings)));
    } else {
      io.out(out.text);
    }
    if (mapError !== null) throw mapError;
    return EXIT.ok;
  },
});

/** The --json object. Timings in ms (0.1 ms), the rest exact. */
function runJson(model: TghModel, out: GenerateResult, inp: { volume: string; read: CtVolume; prompt: string; checkpoint: string; backend: string; routingMap: string | null }, warnings: string[], timings: Record<string, number>) {
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    text: out.text,
    tokens: out.tokens,
    stopReason: out.stopReason,
    task: out.task && { index: out.task.index, name: out.task.name, probabilities: out.task.probabilities },
    routing: routingSummary(out.routing, model.cfg.moe.experts),
    warnings,
    timings: { ...Object.fromEntries(Object.entries(timings).map(([k, x]) => [k, round(x)])), tokensPerSecond: round(tokensPerSecond(out.tokens.length, out.timings.decode)) },
    input: {
      volume: inp.volume, format: inp.read.format, shape: inp.read.shape, spacing: inp.read.spacing, modelGrid: model.preprocess?.grid ?? null,
      prompt: inp.prompt, checkpoint: inp.checkpoint, backend: inp.backend,
    },
    routingMap: inp.routingMap,
  };
}
