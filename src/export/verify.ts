/**
 * `verifyGoldenOnnx`: verify's checks and report (src/golden/verify.ts) with the act.* recomputed by
 * the exported graphs on onnxruntime: the encoder graph gives act.text_guide ... act.projector, the
 * language model graph (empty cache, the whole sequence) gives act.lm.logits. The graphs must have
 * been exported from the same config (their metadata is compared) for the file's volume grid.
 */
import { FormatError, ValueError } from "../errors.js";
import { fromSpecJson, toSpecJson } from "../model/config.js";
import { verifyGolden, type RecomputeInput, type VerifyReport } from "../golden/verify.js";
import { actSlots } from "../golden/layout.js";
import type { F32Tensor, Tensor } from "../tensor.js";
import { readMetadata } from "./proto.js";
import { OnnxSessions, type GraphBytes, type SessionOptions } from "./session.js";

export interface VerifyOnnxOptions extends SessionOptions {
  /** Label for messages (the golden file's name). */
  file?: string;
}

/** Loads the golden file, runs both graphs on its inputs, compares every act.* as verify does. */
export async function verifyGoldenOnnx(bytes: Uint8Array, graphs: { encoder: GraphBytes; lm: GraphBytes }, o: VerifyOnnxOptions = {}): Promise<VerifyReport> {
  const provider = (o.executionProviders ?? ["wasm"]).join(", ");
  return verifyGolden(bytes, {
    file: o.file,
    recomputedOn: `onnxruntime-web (${provider})`,
    recompute: (input) => onnxActs(input, graphs, o),
  });
}

async function onnxActs({ cfg, volume, ids }: RecomputeInput, graphs: { encoder: GraphBytes; lm: GraphBytes }, o: SessionOptions): Promise<Map<string, Tensor>> {
  const meta = readMetadata(graphs.encoder.model);
  const theirs = meta.get("config");
  const same = theirs !== undefined && JSON.stringify(toSpecJson(fromSpecJson(theirs))) === JSON.stringify(toSpecJson(cfg));
  if (!same) throw new FormatError(`encoder.onnx: metadata config: expected the golden file's config, got ${theirs ?? "nothing"}`);
  const D = volume.dim(2);
  if (meta.get("depth") !== String(D)) throw new ValueError(`encoder.onnx: depth: expected the golden file's ${D} slices, got a graph for ${meta.get("depth") ?? "?"} (export with --depth ${D})`);
  const s = await OnnxSessions.open(cfg, graphs, o);
  try {
    const acts = await s.encode(volume, ids);
    const z = acts.get("act.projector") as F32Tensor;
    acts.set("act.lm.logits", (await s.extend(ids, z, s.emptyCache(ids.dim(0)))).logits);
    const missing = actSlots(cfg, volume.dim(0), D, ids.dim(1)).filter((a) => !acts.has(a.name)).map((a) => a.name);
    if (missing.length > 0) throw new FormatError(`encoder.onnx: outputs: expected every act.* of the golden file, missing ${missing.join(", ")} (export with the routing trace)`);
    return acts;
  } finally {
    await s.release();
  }
}
