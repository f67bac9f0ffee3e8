/**
 * `tgh-moe route-map`: the routing map of a CT volume under a prompt (which expert each patch goes
 * to, per MoE layer) as a PNG, from the vision encoder alone: no text is generated, so it costs one
 * encoder pass. Drawing is src/viz/routing-map.ts; loading is shared with `tgh-moe run`.
 */
import { routingMaps, type RoutingMapMode } from "../viz/routing-map.js";
import { writeAtomic } from "../io/fs.js";
import { formatRouting, routingSummary } from "../viz/routing-summary.js";
import { backendOption, decimal, defineCommand, EXIT, integer, oneOf, required, taskOption, UsageError } from "./command.js";
import { checkWritable } from "./files.js";
import { openModel } from "./inputs.js";
import { fmtMs, Progress } from "./progress.js";
import { checkVolumePath, readVolume, VOLUME_OPTIONS_HELP, volumesOption } from "./volume.js";

const MODES: readonly RoutingMapMode[] = ["top1", "weighted"];

export default defineCommand({
  name: "route-map",
  usage: "route-map --volume PATH --prompt TEXT --out OUT.png [--checkpoint FILE] [options]",
  help: `
Runs the vision encoder on a CT volume, guided by the prompt (the task gate reads it), and writes
the routing map: the volume's slices with every patch coloured by the expert its token was sent
to, one block per MoE layer, titled with the task probabilities (docs/ROUTING_MAPS.md). Prints one
line per MoE layer (group, pi, top-1 share per expert), or a JSON array with --json.

options:
${VOLUME_OPTIONS_HELP}
  --prompt TEXT       the prompt that guides the routing
  --out OUT.png       where to write the map
  --checkpoint FILE   model (default: as tgh-moe run)
  --task report|vqa   force the task group (default: the task gate's choice)
  --mode top1|weighted   colour by the first expert (default) or the top-k weighted mix
  --scale N           pixels per voxel (default: tiles of about 128 px)
  --columns N         tiles per row (default: up to 8)
  --alpha A           overlay opacity in [0, 1] (default 0.45)
  --backend NAME      wasm (default) or reference
  --preset NAME       preprocessing preset instead of the checkpoint's
  --json              print the routing summary as JSON
  --quiet             no progress on stderr`,
  options: {
    volume: { type: "string" },
    volumes: { type: "string" },
    series: { type: "string" },
    prompt: { type: "string" },
    out: { type: "string" },
    checkpoint: { type: "string" },
    task: { type: "string" },
    mode: { type: "string", default: "top1" },
    scale: { type: "string" },
    columns: { type: "string" },
    alpha: { type: "string", default: "0.45" },
    backend: { type: "string", default: "wasm" },
    preset: { type: "string" },
    json: { type: "boolean" },
    quiet: { type: "boolean" },
  },
  positionals: [0, 0],
  async run(v, _positionals, io) {
    const cmd = "route-map";
    const volumeFile = required(cmd, "volume", v.volume);
    const prompt = required(cmd, "prompt", v.prompt);
    const out = required(cmd, "out", v.out);
    const opts = {
      mode: oneOf(cmd, "mode", v.mode, MODES),
      alpha: decimal(cmd, "alpha", v.alpha, 0, 1, true),
      ...(v.scale === undefined ? {} : { scale: integer(cmd, "scale", v.scale, 1, 64) }),
      ...(v.columns === undefined ? {} : { columns: integer(cmd, "columns", v.columns, 1, 1024) }),
    };
    const backend = backendOption(cmd, v.backend);
    volumesOption(cmd, v.volumes);
    await checkVolumePath(cmd, volumeFile);
    await checkWritable(cmd, "out", out);
    const progress = new Progress(io, { quiet: v.quiet === true });

    const { model, file } = await openModel(cmd, v.checkpoint, backend, v.preset, progress);
    if (model.cfg.vision.moeLayers.length === 0) throw new UsageError(`tgh-moe route-map: ${file} has no MoE layers, so there is no routing to draw`);
    const input = await readVolume(cmd, volumeFile, model, progress, io, v);
    const t0 = performance.now();
    progress.status("encode: vision encoder guided by the prompt ...");
    const { routing } = model.encode({ volume: input.data, prompt, task: taskOption(v.task) });
    progress.line(`encode: ${fmtMs(performance.now() - t0)}`);

    // the summary is printed even when the map cannot be written; that error comes after it
    const written = await writeAtomic(out, routingMaps({ volume: input.data.data, cfg: model.cfg, traces: routing, sample: 0, opts })).then(() => null, (e: unknown) => e);
    if (written === null) progress.line(`routing map: ${out}`);
    const summary = routingSummary(routing, model.cfg.moe.experts);
    if (v.json) io.out(JSON.stringify(summary));
    else for (const r of summary) io.out(formatRouting(r));
    if (written !== null) throw written;
    return EXIT.ok;
  },
});
