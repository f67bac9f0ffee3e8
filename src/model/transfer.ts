/**
 * Transfer (spec section 3): a 2D checkpoint becomes the 3D model by a config change only (no
 * parameter added), and Hugging Face CLIPVisionModel weights map onto our `vision.*` names (q, k, v
 * fused into qkv). Tensors are reused or concatenated; no arithmetic.
 */
import { ShapeError, ValueError, fmtShape } from "../errors.js";
import type { F32Tensor } from "../tensor.js";
import { withConfig, type ModelConfig, type RopeMode } from "./config.js";
import { concatRows } from "./layout.js";
import { checkParams, paramSpecs, type Params } from "./params.js";

export interface TransferOptions {
  volumeLayers: number; // the last L3 blocks become volume blocks
  depthPatch?: number;
  rope?: RopeMode;
  ropeSections?: readonly number[];
  depthPool?: number;
}

/** 2D (volume_layers = 0) -> 3D: the same tensors under the same names, and the 3D config. */
export function transferTo3d(params: Params, cfg2d: ModelConfig, o: TransferOptions): { params: Params; cfg: ModelConfig } {
  checkParams(params, cfg2d);
  const v = cfg2d.vision;
  const cfg = withConfig(cfg2d, {
    vision: { volumeLayers: o.volumeLayers, depthPatch: o.depthPatch ?? v.depthPatch, rope: o.rope ?? v.rope, ropeSections: o.ropeSections ?? v.ropeSections },
    projector: { depthPool: o.depthPool ?? cfg2d.projector.depthPool },
  });
  const a = paramSpecs(cfg2d), b = paramSpecs(cfg);
  for (const [name, shape] of b) {
    if (fmtShape(a.get(name) ?? []) !== fmtShape(shape)) throw new ValueError(`transferTo3d: ${name}: the 3D model would need a parameter the 2D one lacks`);
  }
  return { params: new Map(params), cfg };
}

/** One of our names and the Hugging Face names it is made of (several: concatenated along rows). */
export interface KeyMapEntry {
  ours: string;
  hf: string[];
}

/** Our vision.* names <- CLIPVisionModel state-dict names (`prefix` + ...), for `layers` blocks. */
export function hfClipKeyMap(layers: number, prefix = "vision_model."): KeyMapEntry[] {
  const e = `${prefix}embeddings.`;
  const map: KeyMapEntry[] = [
    { ours: "vision.patch_embed.weight", hf: [`${e}patch_embedding.weight`] },
    { ours: "vision.class_embed", hf: [`${e}class_embedding`] },
    { ours: "vision.pos_embed", hf: [`${e}position_embedding.weight`] },
    { ours: "vision.pre_norm.weight", hf: [`${prefix}pre_layrnorm.weight`] },
    { ours: "vision.pre_norm.bias", hf: [`${prefix}pre_layrnorm.bias`] },
  ];
  for (let l = 0; l < layers; l++) {
    const h = `${prefix}encoder.layers.${l}.`, o = `vision.blocks.${l}.`;
    for (const k of ["weight", "bias"]) {
      map.push(
        { ours: `${o}ln1.${k}`, hf: [`${h}layer_norm1.${k}`] },
        { ours: `${o}attn.qkv.${k}`, hf: ["q", "k", "v"].map((x) => `${h}self_attn.${x}_proj.${k}`) },
        { ours: `${o}attn.proj.${k}`, hf: [`${h}self_attn.out_proj.${k}`] },
        { ours: `${o}ln2.${k}`, hf: [`${h}layer_norm2.${k}`] },
        { ours: `${o}mlp.fc1.${k}`, hf: [`${h}mlp.fc1.${k}`] },
        { ours: `${o}mlp.fc2.${k}`, hf: [`${h}mlp.fc2.${k}`] },
      );
    }
  }
  return map;
}

/**
 * CLIPVisionModel tensors -> our vision.* parameters for the dense `cfg` (act should be
 * quick_gelu). Returns the HF names not used (post_layernorm, position_ids, later layers).
 */
export function fromHfClipVision(hf: Map<string, F32Tensor>, cfg: ModelConfig, prefix = "vision_model."): { params: Params; unused: string[] } {
  if (cfg.vision.moeLayers.length > 0) throw new ValueError("fromHfClipVision: cfg: expected a dense config (moe_layers = []); upcycle afterwards");
  const specs = paramSpecs(cfg);
  const params: Params = new Map();
  const used = new Set<string>();
  for (const { ours, hf: names } of hfClipKeyMap(cfg.vision.layers, prefix)) {
    const parts = names.map((n) => {
      const t = hf.get(n);
      if (!t) throw new ValueError(`fromHfClipVision: ${n}: missing (needed for ${ours})`);
      used.add(n);
      return t;
    });
    const t = parts.length === 1 ? parts[0].clone() : concatRows(parts);
    const want = specs.get(ours)!;
    if (fmtShape(t.shape) !== fmtShape(want)) throw new ShapeError(`fromHfClipVision: ${names.join(" + ")}: expected ${fmtShape(want)} for ${ours}, got ${fmtShape(t.shape)}`);
    params.set(ours, t);
  }
  return { params, unused: [...hf.keys()].filter((n) => !used.has(n)).sort() };
}
