/**
 * A data-parallel training worker (started by src/train/parallel.ts, Node worker_threads): its own
 * one-thread wasm backend over the weights the caller shares; per update it takes micro-batches
 * (an Atomics counter shared with the other threads) and posts each one's gradients and losses.
 * Not a public entry point.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createBackend } from "../backend/index.js";
import type { ModelConfig } from "../model/config.js";
import type { Params } from "../model/params.js";
import { Tensor } from "../tensor.js";
import { fromWire, guarded, microBatch, toMessage, type MicroOptions, type WireBatch } from "./parallel.js";

interface Init {
  port: import("node:worker_threads").MessagePort;
  cfg: ModelConfig;
  shapes: [string, number[]][];
  offsets: Map<string, number>;
  shared: Float32Array;
}

interface Step {
  ctl: Int32Array; // NEXT, POSTED (src/train/parallel.ts)
  batches: WireBatch[];
  names: string[]; // trainable parameters of this update
  o: MicroOptions;
}

const { port, cfg, shapes, offsets, shared } = workerData as Init;
const params: Params = new Map(shapes.map(([name, shape]) => {
  const off = offsets.get(name)!, n = shape.reduce((a, b) => a * b, 1);
  return [name, new Tensor("f32", shape, shared.subarray(off, off + n))];
}));
const be = await createBackend("wasm", { threads: 1 });
be.keepResident(params.values());

port.on("message", (s: Step) => {
  be.weightsChanged(params.values()); // the caller copied this update's weights into `shared`
  const trainable = new Set(s.names);
  for (let i = Atomics.add(s.ctl, 0, 1); i < s.batches.length; i = Atomics.add(s.ctl, 0, 1)) {
    const r = guarded(i, () => microBatch(be, params, cfg, i, fromWire(s.batches[i]), (n) => trainable.has(n), s.o));
    const { message, transfer } = toMessage(r);
    port.postMessage(message, transfer);
    Atomics.add(s.ctl, 1, 1);
    Atomics.notify(s.ctl, 1);
  }
});
parentPort!.postMessage("ready");
