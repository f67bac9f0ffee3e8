/** `tgh-moe golden`: writes a golden file (spec section 8) for a preset and seed. */
import { createBackend } from "../backend/index.js";
import { paramCount } from "../model/params.js";
import { makeGolden } from "../golden/make.js";
import { writeAtomic } from "../io/fs.js";
import { backendOption, defineCommand, EXIT, integer, oneOf, required } from "./command.js";
import { checkWritable } from "./files.js";

export default defineCommand({
  name: "golden",
  usage: "golden --out FILE [--preset tiny] [--seed 0] [--task-routing hard|soft] [--weight-dtype F16|F32] [--backend wasm|reference]",
  help: `
Writes a golden file: seeded weights of the preset (with TGH-MoE in its moe_layers), deterministic
inputs (B = 2 CT-like phantom volumes; sample 0 asks for a report, sample 1 asks a question), and
every act.* of one inference-mode forward pass, with __metadata__ spec, config, prompt, atol,
rtol, tokenizer, backend, seed. The same options give the same bytes.

options:
  --out FILE             where to write (required; written atomically)
  --preset NAME          tiny (default, ~0.95 MB) or small (~15 MB); the larger presets do not fit a golden file
  --seed N               integer in [0, 2^32) (default 0)
  --task-routing MODE    hard (default: the preset's) or soft
  --weight-dtype DTYPE   F16 (default: weights rounded to float16 before the forward pass, half
                         the size, exact on widening) or F32
  --backend NAME         backend of the forward pass: reference (default, the oracle) or wasm

example:
  tgh-moe golden --preset tiny --seed 0 --out test/golden/tiny-seed0.safetensors`,
  options: {
    out: { type: "string" },
    preset: { type: "string", default: "tiny" },
    seed: { type: "string", default: "0" },
    "task-routing": { type: "string" },
    "weight-dtype": { type: "string", default: "F16" },
    backend: { type: "string", default: "reference" },
  },
  positionals: [0, 0],
  async run(v, _pos, io) {
    const out = required("golden", "out", v.out);
    const preset = oneOf("golden", "preset", v.preset, ["tiny", "small"] as const);
    const seed = integer("golden", "seed", v.seed, 0, 2 ** 32 - 1);
    const taskRouting = v["task-routing"] === undefined ? undefined : oneOf("golden", "task-routing", v["task-routing"], ["hard", "soft"] as const);
    const weightDtype = oneOf("golden", "weight-dtype", v["weight-dtype"], ["F16", "F32"] as const);
    const backend = await createBackend(backendOption("golden", v.backend));
    await checkWritable("golden", "out", out);

    const g = await makeGolden({ preset, seed, taskRouting, weightDtype, backend });
    await writeAtomic(out, g.bytes);
    const acts = [...g.acts.keys()];
    io.out(`wrote ${out} (${g.bytes.length} bytes): preset ${preset}, seed ${seed}, ${g.cfg.moe.taskRouting} task routing, input draw ${g.draw}, computed on ${backend.name}`);
    io.out(`  weights: ${g.params.size} tensors, ${paramCount(g.cfg)} parameters, stored ${weightDtype}`);
    io.out(`  inputs: input.volume [${g.volume.shape.join(", ")}], input.ids [${g.ids.shape.join(", ")}]; prompts ${JSON.stringify(g.texts.map((t) => t.prompt))}`);
    io.out(`  activations: ${acts.length} act.* tensors (${acts[0]} .. ${acts[acts.length - 1]})`);
    io.out(`  routing margins: task ${g.margins.task.toExponential(2)}, token ${g.margins.token.toExponential(2)} (smallest gaps a port's error must stay under)`);
    return EXIT.ok;
  },
});

