/**
 * Which parameters train: glob patterns over the spec's parameter names, and the pinned choice of
 * each training stage (spec section 7). Names only; no tensors, no math.
 *
 *   trainableBy({ freeze: ["vision.patch_embed.*", "vision.blocks.[0-1].*"] })("vision.blocks.1.ln1.bias") === false
 */
import { ValueError } from "../errors.js";
import type { ModelConfig } from "../model/config.js";
import { paramSpecs } from "../model/params.js";

/** A parameter trains when it matches a `train` pattern (all do when `train` is absent) and no `freeze` pattern. */
export interface FreezeSpec {
  freeze?: readonly string[];
  train?: readonly string[];
}

/**
 * Glob over a whole name: `*` any run of characters (dots included), `?` one character, `[...]` one
 * of a class (`[0-3]`, `[!0-1]` or `[^0-1]` negated); everything else literal.
 */
export function globToRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw new ValueError(`freeze: pattern: unclosed '[' in ${JSON.stringify(pattern)}`);
      let body = pattern.slice(i + 1, end);
      const negate = body[0] === "!" || body[0] === "^";
      if (negate) body = body.slice(1);
      re += `[${negate ? "^" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** The predicate name -> trains? of a spec. */
export function trainableBy(spec: FreezeSpec): (name: string) => boolean {
  const freeze = (spec.freeze ?? []).map(globToRegExp);
  const train = spec.train?.map(globToRegExp);
  return (name) => (!train || train.some((r) => r.test(name))) && !freeze.some((r) => r.test(name));
}

export type Stage = 0 | 1 | 2;

/**
 * The pinned freezing of each stage of spec section 7:
 * - 0 (2D pretraining stand-in): everything trains.
 * - 1 (task-shared, after the 3D transfer): the slice blocks and everything before them (patch
 *   embedding, class and position embeddings, pre_norm) are frozen; the volume blocks, projector
 *   and language model train.
 * - 2 (task-specific, after upcycling): the routed experts, routers, task gates and text_proj train
 *   together with the projector and the language model (the paper fine-tunes fully); the shared
 *   experts (the stage 1 MLPs) and the rest of the encoder are frozen.
 */
export function stageSpec(cfg: ModelConfig, stage: Stage): FreezeSpec {
  const v = cfg.vision;
  if (stage === 0) return {};
  if (stage === 1) {
    const slice = Array.from({ length: v.layers - v.volumeLayers }, (_, l) => `vision.blocks.${l}.*`);
    return { freeze: ["vision.patch_embed.*", "vision.class_embed", "vision.pos_embed", "vision.pre_norm.*", ...slice] };
  }
  if (stage === 2) {
    return {
      train: ["vision.blocks.*.moe.experts.*", "vision.blocks.*.moe.router.*", "vision.blocks.*.moe.task_gate.*", "moe.text_proj.*", "projector.*", "lm.*"],
      freeze: ["vision.blocks.*.moe.shared.*"],
    };
  }
  throw new ValueError(`stageSpec: stage: expected 0, 1 or 2, got ${String(stage)}`);
}

/** The trainable parameter names of a config under a spec, in parameter order. */
export function trainableNames(cfg: ModelConfig, spec: FreezeSpec): string[] {
  const trains = trainableBy(spec);
  return [...paramSpecs(cfg).keys()].filter(trains);
}
