/**
 * `tgh-moe run`: one prompt about one CT volume, end to end (checkpoint -> NIfTI -> the checkpoint's
 * preprocessing preset -> generation), progress on stderr, the answer alone on stdout (or one JSON
 * object with --json), optionally the routing map as a PNG. Not the model nor the decoding loop
 * (src/api.ts, src/generate.ts); the helpers exported here are shared with `tgh-moe route-map`.
 * Legend: D,H,W volume · E experts · T tasks · k top-k · M vision tokens per sample.
 */
import type { TghModel } from "../api.js";
import type { BackendName } from "../backend/index.js";
import { taskName, type GenerateProgress, type GenerateResult } from "../generate.js";
import type { CtVolume } from "../io/volume.js";
import type { MoeTrace } from "../model/moe.js";
import { PREPROCESS_PRESET_NAMES } from "../preprocess/index.js";
import { routingMaps } from "../viz/routing-map.js";
import { defineCommand, EXIT, integer, oneOf, required, UsageError, type Io } from "./command.js";
import { checkWritable, writeBytesAtomic } from "./files.js";
import { decimal, DEFAULT_CHECKPOINT, fmtMs, openModel, taskOption } from "./inputs.js";
import { checkVolumePath, readVolume, VOLUME_OPTIONS_HELP, volumesOption } from "./volume.js";

export { checkReadable, checkWritable } from "./files.js";
export { decimal, DEFAULT_CHECKPOINT, fmtMs, openModel, packageRoot, prepareVolume, readVolumeFile, taskOption, type ReadVolume } from "./inputs.js";
/** Default answer budget: a whole synthetic report is about 60-120 tokens; generation stops at <eos>. */
export const DEFAULT_MAX_TOKENS = 256;

const BACKENDS: readonly BackendName[] = ["wasm", "reference"];

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
    const backend = oneOf(cmd, "backend", v.backend, BACKENDS);
    await checkVolumePath(cmd, volumeFile); // fail before the checkpoint is loaded
    volumesOption(cmd, v.volumes);
    const mapFile = v["routing-map"];
    if (mapFile !== undefined) await checkWritable(cmd, "routing-map", mapFile);
    const progress = new Progress(io, v.quiet === true);

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
        await writeBytesAtomic(mapFile, routingMaps({ volume: input.data.data, cfg: model.cfg, traces: out.routing, sample: 0 }));
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

// ------------------------------------------------------------------------------ shared with route-map

/** One MoE layer's routing of sample 0: the group, pi, and the share of the M tokens whose top-1 expert is e. */
export interface RoutingSummary {
  layer: number;
  group: string;
  groupIndex: number;
  pi: number[]; // [T]
  tokens: number; // M
  top1Share: number[]; // [E], sums to 1
}

export function routingSummary(traces: readonly MoeTrace[], experts: number): RoutingSummary[] {
  return traces.map((t) => {
    const [, M, k] = t.topkIdx.shape, T = t.pi.dim(1);
    const count = new Array<number>(experts).fill(0);
    for (let i = 0; i < M; i++) count[t.topkIdx.data[i * k]]++;
    const g = t.group.data[0];
    return { layer: t.layer, group: taskName(g), groupIndex: g, pi: Array.from(t.pi.data.subarray(0, T)), tokens: M, top1Share: count.map((c) => c / M) };
  });
}

/** "block 4: group report, pi report 0.62 vqa 0.38, top-1 e0 31% e1 12% e2 40% e3 17%" */
export function formatRouting(r: RoutingSummary): string {
  const pi = r.pi.map((p, t) => `${taskName(t)} ${p.toFixed(2)}`).join(" ");
  const share = r.top1Share.map((s, e) => `e${e} ${Math.round(100 * s)}%`).join(" ");
  return `block ${r.layer}: group ${r.group}, pi ${pi}, top-1 of ${r.tokens} tokens ${share}`;
}

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

// ------------------------------------------------------------------------------ progress

/**
 * Progress on stderr. On a terminal (io.status present) a status line is updated in place while
 * a stage runs; either way each finished stage leaves one plain line (no control characters when
 * stderr is not a TTY). --quiet prints nothing.
 */
export class Progress {
  private stageStart = 0;
  private lastStatus = 0;

  constructor(private readonly io: Io, private readonly quiet: boolean) {}

  /** A finished step: one line (clears the status line first). */
  line(text: string): void {
    if (this.quiet) return;
    this.io.status?.("");
    this.io.err(text);
  }

  /** The running step, on terminals only. */
  status(text: string): void {
    if (!this.quiet) this.io.status?.(text);
  }

  /** GenerateProgress events: start and end of encode and prefill, one per decoded token. */
  generation(e: GenerateProgress): void {
    const now = performance.now();
    if (e.done === 0 || (e.stage === "decode" && e.done === 1)) this.stageStart = now;
    if (e.stage === "encode") {
      if (e.done === 0) this.status("encode: vision encoder guided by the prompt ...");
      else this.line(`encode: ${fmtMs(e.ms ?? now - this.stageStart)}`);
    } else if (e.stage === "prefill") {
      if (e.done === 0) this.status(`prefill: ${e.total} tokens ...`);
      else this.line(`prefill: ${e.total} tokens in ${fmtMs(e.ms ?? now - this.stageStart)}`);
    } else if (now - this.lastStatus > 100 || e.done === e.total) {
      this.lastStatus = now;
      const rate = e.done > 1 ? `, ${tokensPerSecond(e.done - 1, now - this.stageStart).toFixed(0)} tokens/s` : "";
      this.status(`decode: ${e.done}/${e.total} tokens${rate}`);
    }
  }

  /** The decode summary of a finished generation. */
  finish(out: GenerateResult): void {
    const n = out.tokens.length, t = out.timings;
    const by = out.stopReason === "eos" ? "<eos>" : out.stopReason === "context" ? "the end of the context" : "--max-tokens";
    this.line(`decode: ${n} token${n === 1 ? "" : "s"} in ${fmtMs(t.decode)} (${tokensPerSecond(n, t.decode).toFixed(0)} tokens/s), stopped by ${by}; total ${fmtMs(t.total)}`);
  }
}

function tokensPerSecond(n: number, ms: number): number {
  return ms > 0 && n > 0 ? (1000 * n) / ms : 0;
}
