/**
 * Adapter for kernels/attention_backward.ts: copies dout, q, k, v, out (and the mask) into the
 * module's memory, allocates dq, dk, dv, the geometry (an AttentionOpts) and the kernel's scratch
 * (one kv head's packed K, V and its dK, dV accumulators) in a scope, runs the kernel and copies the
 * three gradients out.
 */
import type { AttentionDims, F32, Kernels } from "../kernels.js";
import { ATTENTION_OPTS } from "./bindings/index.js";
import type { KernelModule } from "./runtime.js";

export function attentionBackwardWasm(mod: KernelModule<"attention_backward">): Pick<Kernels, "attentionBackward"> {
  return {
    attentionBackward(dq: F32, dk: F32, dv: F32, dout: F32, q: F32, k: F32, v: F32, out: F32, d: AttentionDims): void {
      if (dq.length === 0 && dk.length === 0) return;
      mod.scope(() => {
        const pg = mod.put(dout), pq = mod.put(q), pk = mod.put(k), pv = mod.put(v), po = mod.put(out);
        const pm = d.mask ? mod.put(d.mask) : 0;
        const pdq = mod.alloc(dq.byteLength), pdk = mod.alloc(dk.byteLength), pdv = mod.alloc(dv.byteLength);
        // threaded: kv heads (dk, dv of one kv head sum over its query heads inside one thread)
        const work = (10 * d.batch * d.heads * d.nq * d.nk * d.dh) / 20;
        const opts = mod.putOpts(ATTENTION_OPTS, d); // the geometry, by field name; shared by every piece
        mod.split("attention_backward", { total: d.batch * d.kvHeads, work }, (lo, hi) => [
          pdq, pdk, pdv, pg, pq, pk, pv, po, pm, mod.alloc(mod.k.attention_backward_scratch(d.nk, d.dh)), opts, lo, hi,
        ]);
        mod.read(pdq, dq);
        mod.read(pdk, dk);
        mod.read(pdv, dv);
      });
    },
  };
}
