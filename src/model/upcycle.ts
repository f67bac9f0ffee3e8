/**
 * Upcycling (spec section 4, start of stage 2): dense parameters -> TGH-MoE parameters. Shared
 * experts copy the dense MLP; routed experts copy it ("upcycle") or copy fc1 and zero fc2
 * ("zero_out"); task gates, routers and text_proj are new, seeded like `initParams`.
 */
import { Tensor } from "../tensor.js";
import { withConfig, type ModelConfig } from "./config.js";
import { checkParams, getParam, initTensor, paramSpecs, type InitOptions, type Params } from "./params.js";

const EXPERT = /^(vision\.blocks\.\d+)\.moe\.(shared\.\d+|experts\.\d+\.\d+)\.(fc[12])\.(weight|bias)$/;

/**
 * `dense` holds the parameters of `cfg` with moe_layers = [] (mlp.* in every block); the result
 * holds those of `cfg` (moe.* in its moe_layers). Every tensor is a fresh copy. With "upcycle",
 * a_shared * shared_experts + a_routed = 1 and renormalize, each MoE block computes the dense block.
 */
export function upcycle(dense: Params, cfg: ModelConfig, seed: number, o: InitOptions = {}): Params {
  checkParams(dense, withConfig(cfg, { vision: { moeLayers: [] } }));
  const out: Params = new Map();
  for (const [name, shape] of paramSpecs(cfg)) {
    const m = EXPERT.exec(name);
    if (!m) {
      out.set(name, dense.has(name) ? getParam(dense, name).clone() : initTensor(name, shape, seed, o));
      continue;
    }
    const [, block, which, fc, kind] = m;
    const src = getParam(dense, `${block}.mlp.${fc}.${kind}`);
    const zero = which.startsWith("experts.") && fc === "fc2" && cfg.moe.expertInit === "zero_out";
    out.set(name, zero ? new Tensor("f32", shape) : src.clone());
  }
  return out;
}
