/**
 * The model configuration (SPEC section 9): types with camelCase names, the one mapping to and from
 * the snake_case file form, validation (ValueError naming the spec key), and the presets.
 * Legend: B batch · D,H,W volume · p patch · n=W/p · S=1+n^2 · C width · NH heads · dh head size ·
 * E experts · T tasks · k top-k · L text tokens · V vocab.
 */
import { ACTIVATIONS, type Activation } from "../backend/backend.js";
import { FormatError, TghError, ValueError } from "../errors.js";
import { checkConfigLimits } from "./limits.js";

import type { LmConfig, ModelConfig, MoeConfig, PresetName, ProjectorConfig, TokenIds, VisionConfig } from "./config-types.js";
export type { ExpertInit, Guidance, LmConfig, ModelConfig, MoeConfig, PresetName, ProjectorConfig, RopeMode, TaskRouting, TokenIds, VisionConfig } from "./config-types.js";
export { MOE_DEFAULTS, PRESET_VOLUME, specialsAtEnd } from "./presets.js";
import { PRESETS } from "./presets.js";


/** spec (file) key -> code key, per section: the only place the two spellings meet. */
const KEYS = {
  vision: {
    image: "image", patch: "patch", c_in: "cIn", width: "width", heads: "heads", layers: "layers",
    volume_layers: "volumeLayers", mlp_ratio: "mlpRatio", act: "act", norm_eps: "normEps",
    depth_patch: "depthPatch", rope: "rope", rope_base: "ropeBase", rope_sections: "ropeSections",
    moe_layers: "moeLayers",
  },
  moe: {
    tasks: "tasks", experts: "experts", top_k: "topK", shared_experts: "sharedExperts", a_shared: "aShared",
    a_routed: "aRouted", task_routing: "taskRouting", renormalize: "renormalize", expert_init: "expertInit",
  },
  projector: { depth_pool: "depthPool", act: "act" },
  lm: {
    vocab: "vocab", width: "width", heads: "heads", kv_heads: "kvHeads", layers: "layers",
    mlp_hidden: "mlpHidden", norm_eps: "normEps", rope_base: "ropeBase", tie_embeddings: "tieEmbeddings",
  },
  tokens: { bos: "bos", eos: "eos", pad: "pad", img_start: "imgStart", img_end: "imgEnd", image: "image", sep: "sep" },
} as const;
type Section = keyof typeof KEYS;
/** Keys outside section 9 (ablations): written only when they differ from their default, optional when read. */
const OPTIONAL_KEYS = { moe: { guidance: { code: "guidance", default: "text" } } } as const;
const SECTIONS = Object.keys(KEYS) as Section[];

/** The section 9 JSON object (snake_case keys, as stored in checkpoints and golden files). */
export function toSpecJson(cfg: ModelConfig): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const sec of SECTIONS) {
    const src = cfg[sec] as unknown as Record<string, unknown>;
    out[sec] = {};
    for (const [spec, code] of Object.entries(KEYS[sec])) {
      const v = src[code];
      out[sec][spec] = Array.isArray(v) ? [...v] : v;
    }
  }
  const g = cfg.moe.guidance;
  if (g !== undefined && g !== OPTIONAL_KEYS.moe.guidance.default) out.moe.guidance = g;
  return out;
}

/** A file's `__metadata__.config` text -> the config; missing or invalid: a FormatError naming the file and the field (`missing` says what was expected). */
export function configOfMetadata(text: string | undefined, file: string, missing: string): ModelConfig {
  if (text === undefined) throw new FormatError(`${file}: __metadata__.config: missing (${missing})`);
  try {
    return fromSpecJson(text);
  } catch (e) {
    if (e instanceof TghError) throw new FormatError(`${file}: __metadata__.config: ${e.message}`);
    throw e;
  }
}

/** Parses and validates the section 9 object (or its JSON text). Unknown or missing keys throw. */
export function fromSpecJson(json: unknown): ModelConfig {
  const obj = typeof json === "string" ? parseJson(json) : json;
  if (!isRecord(obj)) throw new ValueError(`config: expected an object with sections ${SECTIONS.join(", ")}, got ${typeName(obj)}`);
  for (const k of Object.keys(obj)) {
    if (!(k in KEYS)) throw new ValueError(`config: ${k}: unknown section (expected ${SECTIONS.join(", ")})`);
  }
  const cfg: Record<string, Record<string, unknown>> = {};
  for (const sec of SECTIONS) {
    const src = obj[sec];
    if (!isRecord(src)) throw new ValueError(`config: ${sec}: expected an object, got ${typeName(src)}`);
    const map = KEYS[sec] as Record<string, string>;
    const optional = (OPTIONAL_KEYS as Record<string, Record<string, { code: string }>>)[sec] ?? {};
    for (const k of Object.keys(src)) if (!(k in map) && !(k in optional)) throw new ValueError(`config: ${sec}.${k}: unknown key`);
    cfg[sec] = {};
    for (const [spec, { code }] of Object.entries(optional)) if (spec in src) cfg[sec][code] = src[spec];
    for (const [spec, code] of Object.entries(map)) {
      if (sec === "vision" && spec === "rope_sections" && src.rope === "depth" && (src[spec] ?? null) === null) {
        cfg[sec][code] = defaultRopeSections(src.width, src.heads); // unused by rope "depth" (section 9)
        continue;
      }
      if (!(spec in src)) throw new ValueError(`config: ${sec}.${spec}: missing`);
      const v = src[spec];
      cfg[sec][code] = Array.isArray(v) ? [...v] : v;
    }
  }
  const out = cfg as unknown as ModelConfig;
  validateConfig(out);
  return out;
}

/**
 * rope_sections when a file leaves it null or absent (allowed with rope "depth", which does not read
 * it): the presets' split of the dh/2 rotary pairs, half on depth and a quarter each on rows and
 * columns ([2, 1, 1] for dh 8, [16, 8, 8] for dh 64). Bad width or heads are left to validateConfig.
 */
function defaultRopeSections(width: unknown, heads: unknown): number[] {
  const dh = typeof width === "number" && typeof heads === "number" && heads > 0 ? width / heads : 0;
  const quarter = Math.floor(dh / 8);
  return [dh / 2 - 2 * quarter, quarter, quarter];
}

/**
 * Throws ValueError naming the spec key (e.g. "config: vision.volume_layers: ...") on the first bad
 * value; sizes above CONFIG_LIMITS, or implying too many tensors or parameters, are bad values too.
 */
export function validateConfig(cfg: ModelConfig): void {
  const { vision: v, moe: m, projector: p, lm, tokens } = cfg;
  const posInt = (key: string, x: unknown) => check(key, Number.isInteger(x) && (x as number) > 0, "a positive integer", x);
  const nonNegInt = (key: string, x: unknown) => check(key, Number.isInteger(x) && (x as number) >= 0, "a non-negative integer", x);
  const finite = (key: string, x: unknown) => check(key, typeof x === "number" && Number.isFinite(x), "a finite number", x);
  const oneOf = (key: string, x: unknown, opts: readonly unknown[]) => check(key, opts.includes(x), `one of ${opts.join(", ")}`, x);
  const bool = (key: string, x: unknown) => check(key, typeof x === "boolean", "a boolean", x);

  for (const k of ["image", "patch", "c_in", "width", "heads", "layers", "depth_patch"] as const) posInt(`vision.${k}`, v[KEYS.vision[k]]);
  check("vision.image", v.image % v.patch === 0, `a multiple of vision.patch=${v.patch}`, v.image);
  check("vision.image", (v.image / v.patch) % 2 === 0, `image/patch even (the projector merges 2x2 patches), patch=${v.patch}`, v.image);
  check("vision.width", v.width % v.heads === 0, `a multiple of vision.heads=${v.heads}`, v.width);
  const dh = v.width / v.heads;
  check("vision.width", dh % 2 === 0, `an even head size width/heads (rotary pairs), heads=${v.heads}`, v.width);
  nonNegInt("vision.volume_layers", v.volumeLayers);
  check("vision.volume_layers", v.volumeLayers <= v.layers, `at most vision.layers=${v.layers}`, v.volumeLayers);
  posInt("vision.mlp_ratio", v.mlpRatio);
  oneOf("vision.act", v.act, ACTIVATIONS);
  finite("vision.norm_eps", v.normEps);
  check("vision.norm_eps", v.normEps >= 0, ">= 0", v.normEps);
  oneOf("vision.rope", v.rope, ["depth", "dhw"]);
  finite("vision.rope_base", v.ropeBase);
  check("vision.rope_base", v.ropeBase > 0, "> 0", v.ropeBase);
  const secs = v.ropeSections;
  check("vision.rope_sections", Array.isArray(secs) && secs.length === 3 && secs.every((s) => Number.isInteger(s) && s >= 0) &&
    secs.reduce((a, b) => a + b, 0) === dh / 2, `3 non-negative integers summing to dh/2=${dh / 2}`, secs);
  const ml = v.moeLayers;
  check("vision.moe_layers", Array.isArray(ml) && ml.every((l, i) => Number.isInteger(l) && l >= 0 && l < v.layers && (i === 0 || l > ml[i - 1])),
    `strictly increasing block indices in [0, ${v.layers})`, ml);

  for (const k of ["tasks", "experts", "top_k"] as const) posInt(`moe.${k}`, m[KEYS.moe[k]]);
  check("moe.top_k", m.topK <= m.experts, `at most moe.experts=${m.experts}`, m.topK);
  nonNegInt("moe.shared_experts", m.sharedExperts);
  finite("moe.a_shared", m.aShared);
  finite("moe.a_routed", m.aRouted);
  oneOf("moe.task_routing", m.taskRouting, ["hard", "soft"]);
  bool("moe.renormalize", m.renormalize);
  oneOf("moe.expert_init", m.expertInit, ["upcycle", "zero_out"]);
  if (m.guidance !== undefined) oneOf("moe.guidance", m.guidance, ["text", "none"]);

  posInt("projector.depth_pool", p.depthPool);
  oneOf("projector.act", p.act, ACTIVATIONS);

  for (const k of ["vocab", "width", "heads", "kv_heads", "layers", "mlp_hidden"] as const) posInt(`lm.${k}`, lm[KEYS.lm[k]]);
  check("lm.kv_heads", lm.heads % lm.kvHeads === 0, `a divisor of lm.heads=${lm.heads}`, lm.kvHeads);
  check("lm.width", lm.width % lm.heads === 0 && (lm.width / lm.heads) % 2 === 0, `heads * an even head size, heads=${lm.heads}`, lm.width);
  finite("lm.norm_eps", lm.normEps);
  check("lm.norm_eps", lm.normEps >= 0, ">= 0", lm.normEps);
  finite("lm.rope_base", lm.ropeBase);
  check("lm.rope_base", lm.ropeBase > 0, "> 0", lm.ropeBase);
  bool("lm.tie_embeddings", lm.tieEmbeddings);

  const seen = new Map<number, string>();
  for (const [spec, code] of Object.entries(KEYS.tokens)) {
    const id = tokens[code as keyof TokenIds];
    check(`tokens.${spec}`, Number.isInteger(id) && id >= 0 && id < lm.vocab, `a token id in [0, lm.vocab=${lm.vocab})`, id);
    check(`tokens.${spec}`, !seen.has(id), `distinct from tokens.${seen.get(id)}`, id);
    seen.set(id, spec);
  }
  checkConfigLimits(cfg, check); // every size bounded, and what the sizes imply (src/model/limits.ts)
}

function check(key: string, ok: boolean, expected: string, got: unknown): void {
  if (!ok) throw new ValueError(`config: ${key}: expected ${expected}, got ${JSON.stringify(got) ?? String(got)}`);
}
function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}
function typeName(x: unknown): string {
  return x === null ? "null" : Array.isArray(x) ? "an array" : typeof x;
}
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ValueError(`config: expected JSON text, got a parse error: ${(e as Error).message}`);
  }
}

/** The MoE layers are text-guided (task gate, routers on [u ; g], text_proj): true unless moe.guidance is "none". */
export function textGuided(cfg: ModelConfig): boolean {
  return cfg.vision.moeLayers.length > 0 && cfg.moe.guidance !== "none";
}
/** Task groups of routed experts: moe.tasks with text guidance, one without. */
export function routedGroups(cfg: ModelConfig): number {
  return cfg.moe.guidance === "none" ? 1 : cfg.moe.tasks;
}

/** Deep copy with overrides per section (for tests and the transfer steps). */
export function withConfig(cfg: ModelConfig, o: { [S in Section]?: Partial<ModelConfig[S]> }): ModelConfig {
  const out = JSON.parse(JSON.stringify(cfg)) as ModelConfig;
  for (const sec of SECTIONS) Object.assign(out[sec], o[sec] ?? {});
  validateConfig(out);
  return out;
}

// ------------------------------------------------------------------------------------------ presets
export const PRESET_NAMES: readonly PresetName[] = ["tiny", "small", "m3d", "phi3v"];

/** A fresh copy of a preset. Sizes of each are tabulated in docs/ARCHITECTURE.md ("Presets"). */
export function preset(name: PresetName): ModelConfig {
  const make = PRESETS[name];
  if (!make) throw new ValueError(`preset: name: expected one of ${PRESET_NAMES.join(", ")}, got ${String(name)}`);
  const cfg = make();
  validateConfig(cfg);
  return cfg;
}
