/**
 * Parameters: the spec's names and shapes for a config (`paramSpecs`), the flat `Params` map with a
 * getter that names what is missing, a shape check, and seeded initialisation. No math beyond init.
 * Legend: C width · NH heads · dh head size · E experts · T tasks · V vocab · S=1+n^2.
 */
import { ShapeError, ValueError, fmtShape } from "../errors.js";
import { Rng } from "../rng.js";
import { Tensor, type F32Tensor } from "../tensor.js";
import { routedGroups, textGuided, type ModelConfig } from "./config.js";

/** Every weight by its spec name (section 2, 4, 5, 6), float32, row-major. */
export type Params = Map<string, F32Tensor>;
export type ParamSpecs = Map<string, readonly number[]>;

/** name -> shape, in a fixed order: vision, text_proj, projector, lm. MoE blocks carry moe.* instead of mlp.*. */
export function paramSpecs(cfg: ModelConfig): ParamSpecs {
  const { vision: v, moe, lm } = cfg;
  const C = v.width, hid = v.mlpRatio * C, n = v.image / v.patch, S = 1 + n * n;
  const specs: ParamSpecs = new Map();
  const put = (name: string, shape: readonly number[]) => specs.set(name, shape);
  const linear = (name: string, out: number, inp: number, bias = true) => {
    put(`${name}.weight`, [out, inp]);
    if (bias) put(`${name}.bias`, [out]);
  };
  const norm = (name: string, width: number, bias: boolean) => {
    put(`${name}.weight`, [width]);
    if (bias) put(`${name}.bias`, [width]);
  };
  const mlp = (name: string) => {
    linear(`${name}.fc1`, hid, C);
    linear(`${name}.fc2`, C, hid);
  };

  put("vision.patch_embed.weight", [C, v.cIn, v.patch, v.patch]);
  put("vision.class_embed", [C]);
  put("vision.pos_embed", [S, C]);
  norm("vision.pre_norm", C, true);
  for (let l = 0; l < v.layers; l++) {
    const b = `vision.blocks.${l}`;
    norm(`${b}.ln1`, C, true);
    linear(`${b}.attn.qkv`, 3 * C, C);
    linear(`${b}.attn.proj`, C, C);
    norm(`${b}.ln2`, C, true);
    if (!v.moeLayers.includes(l)) {
      mlp(`${b}.mlp`);
      continue;
    }
    // guidance "none" (ablation): no task gate, one group whose router reads u alone [E, C]
    const guided = textGuided(cfg), groups = routedGroups(cfg);
    if (guided) {
      linear(`${b}.moe.task_gate.fc1`, C, C);
      linear(`${b}.moe.task_gate.fc2`, moe.tasks, C);
    }
    for (let t = 0; t < groups; t++) put(`${b}.moe.router.${t}.weight`, [moe.experts, guided ? 2 * C : C]);
    for (let s = 0; s < moe.sharedExperts; s++) mlp(`${b}.moe.shared.${s}`);
    for (let t = 0; t < groups; t++) for (let e = 0; e < moe.experts; e++) mlp(`${b}.moe.experts.${t}.${e}`);
  }
  if (textGuided(cfg)) linear("moe.text_proj", C, lm.width);

  linear("projector.fc1", lm.width, 4 * C);
  linear("projector.fc2", lm.width, lm.width);

  const dh = lm.width / lm.heads;
  put("lm.embed.weight", [lm.vocab, lm.width]);
  for (let l = 0; l < lm.layers; l++) {
    const b = `lm.blocks.${l}`;
    norm(`${b}.norm1`, lm.width, false);
    linear(`${b}.attn.q`, lm.heads * dh, lm.width, false);
    linear(`${b}.attn.k`, lm.kvHeads * dh, lm.width, false);
    linear(`${b}.attn.v`, lm.kvHeads * dh, lm.width, false);
    linear(`${b}.attn.o`, lm.width, lm.heads * dh, false);
    norm(`${b}.norm2`, lm.width, false);
    linear(`${b}.mlp.gate`, lm.mlpHidden, lm.width, false);
    linear(`${b}.mlp.up`, lm.mlpHidden, lm.width, false);
    linear(`${b}.mlp.down`, lm.width, lm.mlpHidden, false);
  }
  norm("lm.norm", lm.width, false);
  if (!lm.tieEmbeddings) put("lm.head.weight", [lm.vocab, lm.width]);
  return specs;
}

/** Number of scalar parameters (tied head counted once). */
export function paramCount(cfg: ModelConfig): number {
  let total = 0;
  for (const shape of paramSpecs(cfg).values()) total += shape.reduce((a, b) => a * b, 1);
  return total;
}

/** The tensor of that name, or a ValueError that names it. */
export function getParam(params: Params, name: string): F32Tensor {
  const t = params.get(name);
  if (!t) throw new ValueError(`params: ${name}: missing (the map holds ${params.size} tensors)`);
  return t;
}

/**
 * The weights under one name prefix, for a layer's forward and its backward alike:
 * `P("attn.qkv.weight")` is the tensor, `P.at("attn.qkv")` the scope below it, `P.key("bias")` the
 * full parameter name ("vision.blocks.3.attn.qkv.bias", the key of its gradient). Each layer names
 * its weights once, in a table of scopes (vit.ts:mlpWeights, ...) that both directions read.
 */
export interface ParamScope {
  (name: string): F32Tensor;
  readonly prefix: string;
  at(sub: string): ParamScope;
  key(leaf: string): string;
}
export function scope(params: Params, prefix: string): ParamScope {
  return paramScope((name) => getParam(params, `${prefix}.${name}`), prefix);
}

/** A scope over any getter of the names under `prefix` (tests substitute tensors this way). */
export function paramScope(get: (name: string) => F32Tensor, prefix: string): ParamScope {
  return Object.assign((name: string) => get(name), {
    prefix,
    at: (sub: string) => paramScope((name) => get(`${sub}.${name}`), `${prefix}.${sub}`),
    key: (leaf: string) => `${prefix}.${leaf}`,
  });
}

/** Every spec name present with its shape and dtype, and (unless allowExtra) nothing else. */
export function checkParams(params: Params, cfg: ModelConfig, allowExtra = false): void {
  const specs = paramSpecs(cfg);
  for (const [name, shape] of specs) {
    const t = getParam(params, name);
    if (t.dtype !== "f32") throw new ValueError(`params: ${name}: expected dtype f32, got ${t.dtype}`);
    if (fmtShape(t.shape) !== fmtShape(shape)) throw new ShapeError(`params: ${name}: expected shape ${fmtShape(shape)}, got ${fmtShape(t.shape)}`);
  }
  if (!allowExtra) {
    for (const name of params.keys()) if (!specs.has(name)) throw new ValueError(`params: ${name}: not a parameter of this config`);
  }
}

// ------------------------------------------------------------------------------------------- init
export interface InitOptions {
  /** Standard deviation of matrices and embeddings (default 0.02). */
  std?: number;
}

/**
 * Pinned init rule: `*.bias` zeros; norm weights (`ln1`, `ln2`, `pre_norm`, `norm1`, `norm2`,
 * `lm.norm`) ones; every other tensor (matrices, embeddings, class/pos embeddings, routers)
 * N(0, std^2), std 0.02. Each tensor draws from its own stream `Rng(streamSeed(seed, name))`, so
 * a tensor's values do not depend on which other tensors exist (upcycling reuses this).
 */
export function initParams(cfg: ModelConfig, seed: number, o: InitOptions = {}): Params {
  const params: Params = new Map();
  for (const [name, shape] of paramSpecs(cfg)) params.set(name, initTensor(name, shape, seed, o));
  return params;
}

export function initTensor(name: string, shape: readonly number[], seed: number, o: InitOptions = {}): F32Tensor {
  const t = new Tensor("f32", shape);
  const kind = initKind(name);
  if (kind === "ones") t.data.fill(1);
  if (kind === "normal") {
    const std = o.std ?? 0.02;
    const rng = new Rng(streamSeed(seed, name));
    for (let i = 0; i < t.size; i++) t.data[i] = std * rng.normal();
  }
  return t;
}

export function initKind(name: string): "zeros" | "ones" | "normal" {
  if (name.endsWith(".bias")) return "zeros";
  if (/(^|\.)(ln1|ln2|pre_norm|norm1|norm2|norm)\.weight$/.test(name)) return "ones";
  return "normal";
}

/** uint32 seed of a tensor's stream: FNV-1a of the UTF-16 name, mixed with the model seed. */
export function streamSeed(seed: number, name: string): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new ValueError(`initParams: seed: expected an integer in [0, 2^32), got ${seed}`);
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ h) >>> 0;
}
