/**
 * Wasm adapter for kernels/attention.ts: copies q, k, v (and the mask) into the module's memory,
 * allocates the output and the kernel's scratch (one head's packed K and V plus one query block)
 * in a scope, runs the fused kernel and copies the output back. No arithmetic happens here.
 */
import type { AttentionDims, F32, Kernels } from "../kernels.js";
import type { WasmModule } from "./runtime.js";

/**
 * The kernel on operands already in the module's memory (pointers; pMask 0 when d.mask is null):
 * allocates the scratch in the current arena, so call it inside `mod.scope`.
 */
export function attentionResident(mod: WasmModule, pOut: number, pq: number, pk: number, pv: number, pMask: number, d: AttentionDims): void {
  const scratch = mod.alloc(mod.call("attention_scratch", d.nk, d.dh) >>> 0);
  mod.call(
    "attention", pOut, pq, pk, pv, pMask, scratch,
    d.batch, d.nq, d.nk, d.heads, d.kvHeads, d.dh, d.scale, d.causal ? 1 : 0, d.maskBatch,
  );
}

export function attentionWasm(mod: WasmModule): Pick<Kernels, "attention"> {
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
