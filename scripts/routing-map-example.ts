/**
 * Writes the example routing map of docs/ROUTING_MAPS.md: the "small" preset with seeded (untrained)
 * weights, a drawn chest-like phantom and a report prompt; every MoE layer stacked in one PNG.
 * An illustration of the figure, not of a trained router.
 *
 *   npx tsx scripts/routing-map-example.ts [--out docs/img/routing-map-small.png] [--backend reference|wasm] [--mode top1|weighted]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { createBackend, type BackendName } from "../src/backend/index.js";
import { forward, initParams, preset } from "../src/model/index.js";
import { imageTokens } from "../src/model/projector.js";
import { Rng } from "../src/rng.js";
import { Tensor } from "../src/tensor.js";
import { routingMaps, type RoutingMapMode } from "../src/viz/routing-map.js";

const { values } = parseArgs({
  options: {
    out: { type: "string", default: "docs/img/routing-map-small.png" },
    backend: { type: "string", default: "reference" },
    mode: { type: "string", default: "top1" },
  },
});

/** [D, H, W] in [0, 1]: body with a fat rim, two lungs that grow with depth, spine, heart below, one nodule. */
function phantom(D: number, H: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const v = new Float32Array(D * H * H);
  const inEllipse = (x: number, y: number, cx: number, cy: number, a: number, b: number) => ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1;
  for (let d = 0; d < D; d++) {
    const z = d / (D - 1), lung = 0.65 + 0.35 * Math.sin(Math.PI * Math.min(1, 1.3 * z));
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < H; x++) {
        const X = (x + 0.5) * (64 / H), Y = (y + 0.5) * (64 / H);
        let val = 0.02;
        if (inEllipse(X, Y, 32, 33, 29, 23)) val = 0.42;
        if (inEllipse(X, Y, 32, 33, 26, 20)) val = 0.56;
        if (inEllipse(X, Y, 20, 30, 9 * lung, 13 * lung) || inEllipse(X, Y, 44, 30, 9 * lung, 13 * lung)) val = 0.1;
        if (z > 0.45 && inEllipse(X, Y, 35, 37, 8 * (z - 0.2), 7 * (z - 0.2))) val = 0.62;
        if (inEllipse(X, Y, 32, 50, 4.5, 4)) val = 0.95;
        if (inEllipse(X, Y, 32, 50, 1.6, 1.6)) val = 0.5;
        if (d >= 6 && d <= 9 && inEllipse(X, Y, 17, 26, 3, 3)) val = 0.6;
        v[(d * H + y) * H + x] = Math.min(1, Math.max(0, val + 0.03 * (rng.uniform() - 0.5)));
      }
    }
  }
  return v;
}

async function main(): Promise<void> {
  const cfg = preset("small");
  const [D, H] = [16, cfg.vision.image];
  const be = await createBackend(values.backend as BackendName);
  const t = cfg.tokens, m = imageTokens(cfg, D);
  const prompt = Array.from(new TextEncoder().encode("Write the radiology report for this chest CT.")); // ids 0..255 are the bytes
  const ids = [t.bos, t.imgStart, ...new Array<number>(m).fill(t.image), t.imgEnd, ...prompt, t.sep];
  const volume = phantom(D, H, 7);
  const out = forward(be, initParams(cfg, 0), cfg, {
    volume: new Tensor("f32", [1, 1, D, H, H], volume),
    ids: new Tensor("i32", [1, ids.length], Int32Array.from(ids)),
  });
  const png = routingMaps({
    volume, cfg, traces: out.trace, sample: 0,
    layerNames: out.trace.map((tr) => `small preset, seed 0 (untrained) · block ${tr.layer}`),
    opts: { mode: values.mode as RoutingMapMode },
  });
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, png);
  console.log(`${values.out}: ${png.length} bytes, ${out.trace.length} MoE layers`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
