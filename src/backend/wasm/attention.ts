/**
 * Wasm adapter for kernels/attention.ts: copies q, k, v (and the mask) into the module's memory,
 * allocates the output, the geometry (an AttentionOpts) and the kernel's scratch (one head's packed
 * K and V plus one query block) in a scope, runs the fused kernel and copies the output back. No
 * arithmetic happens here.
 */
import type { AttentionDims, F32, Kernels } from "../kernels.js";
import { ATTENTION_OPTS, type Ptr } from "./bindings/index.js";
import type { KernelModule } from "./runtime.js";

/**
 * The kernel on operands already in the module's memory (pointers; pMask 0 when d.mask is null):
 * allocates its options and scratch in the current arena, so call it inside `mod.scope`.
 */
export function attentionResident(mod: KernelModule<"attention">, pOut: Ptr, pq: Ptr, pk: Ptr, pv: Ptr, pMask: Ptr, d: AttentionDims): void {
  // threaded: heads x query blocks (the kernel's work units), each computed whole by one thread
  const units = mod.k.attention_units(d.batch, d.nq, d.heads, d.kvHeads);
  const work = (4 * d.batch * d.heads * d.nq * d.nk * d.dh) / 20; // ~20 flops/ns on one thread
  const opts = mod.putOpts(ATTENTION_OPTS, d); // the geometry, by field name; shared by every piece
  mod.split("attention", { total: units, work }, (lo, hi) => [
    pOut, pq, pk, pv, pMask, mod.alloc(mod.k.attention_scratch(d.nk, d.dh)), opts, lo, hi,
  ]);
}

export function attentionWasm(mod: KernelModule<"attention">): Pick<Kernels, "attention"> {
  return {
    attention(out: F32, q: F32, k: F32, v: F32, d: AttentionDims): void {
      if (out.length === 0) return;
      mod.scope(() => {
        const pq = mod.put(q), pk = mod.put(k), pv = mod.put(v);
        const pm = d.mask ? mod.put(d.mask) : 0;
        const po = mod.alloc(out.byteLength);
        attentionResident(mod, po, pq, pk, pv, pm, d);
        mod.read(po, out);
      });
    },
  };
}
