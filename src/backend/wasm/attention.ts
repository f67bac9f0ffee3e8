/**
 * Wasm adapter for kernels/attention.ts: copies q, k, v (and the mask) into the module's memory,
 * allocates the output, the geometry (an AttentionOpts) and the kernel's scratch (one head's packed
 * K and V plus one query block; on threads, every kv head's packed K and V once) in a scope, runs the fused kernel and copies the output back. No
 * arithmetic happens here.
 */
import type { AttentionDims, F32, Kernels } from "../kernels.js";
import { ATTENTION_OPTS, type Ptr } from "./bindings/index.js";
import { touchPages } from "./pages.js";
import type { KernelModule } from "./runtime.js";

/**
 * Pieces per thread of the query-block split when it cannot be guided (more pieces than the pool's
 * job slots; see below), the pool's most. Threads take the next piece when done, so a thread that
 * runs slower (another process on its core, a later wake-up, a causal head's longer last blocks)
 * leaves at most one piece for the others to wait on. The split is guided (SplitOptions.guided):
 * pieces of decreasing size, 96, 72, 54, ... units down to single query blocks for 12 heads x
 * 2048 tokens on 2 threads (22 pieces), so that the other thread waits at most about one query
 * block (0.9 ms) at the end instead of an even piece of 12 blocks (10 ms). Finer pieces cost no
 * extra packing once K and V are packed for every piece (below); a piece's own scratch is one
 * query block's (about 70 KB at dh 64).
 */
const PIECES_PER_THREAD = 16;

/**
 * The kernel on operands already in the module's memory (pointers; pMask 0 when d.mask is null):
 * allocates its options and scratch in the current arena, so call it inside `mod.scope`.
 *
 * Threads take work units (b, kv head, head group, query block of 64 rows), each computed whole by
 * one thread. Every unit reads its kv head's keys and values packed in panels (kernels/attention.ts
 * packK, packV). On one thread (or one piece) the kernel packs each kv head into its scratch before
 * the head's first unit. Split over threads with several units per kv head (a prompt, not decoding),
 * the pieces would each pack again every kv head they touch; instead a first split packs every kv
 * head once into a shared buffer (`attention_pack`, over kv heads), and the pieces read from it.
 * Packing only copies: the same panels either way, so the same bits at any thread count.
 * `meanwhile`: JavaScript for the caller's thread while the workers start on the query blocks
 * (split calls only; see WasmModule.split).
 */
export function attentionResident(mod: KernelModule<"attention">, pOut: Ptr, pq: Ptr, pk: Ptr, pv: Ptr, pMask: Ptr, d: AttentionDims, meanwhile?: () => void): void {
  const units = mod.k.attention_units(d.batch, d.nq, d.heads, d.kvHeads);
  const kvHeads = d.batch * d.kvHeads;
  const work = (4 * d.batch * d.heads * d.nq * d.nk * d.dh) / 20; // ~20 flops/ns on one thread
  const opts = mod.putOpts(ATTENTION_OPTS, d); // the geometry, by field name; shared by every piece
  const o = { total: units, work, perThread: PIECES_PER_THREAD, guided: true };
  let pkv = 0;
  if (mod.pieces(o) > 1 && units > kvHeads) {
    const bytes = mod.k.attention_kv_bytes(d.nk, d.dh);
    pkv = mod.alloc(kvHeads * bytes);
    // ~1 ns per float of K and V (measured: 0.21 ms per head of 2048 x 64)
    mod.split("attention_pack", { total: kvHeads, work: kvHeads * d.nk * d.dh * 2 }, (lo, hi) => [pkv, pk, pv, opts, lo, hi]);
  }
  const scratch = mod.k.attention_scratch(pkv === 0 ? d.nk : 0, d.dh);
  mod.split("attention", o, (lo, hi) => [pOut, pq, pk, pv, pMask, pkv, mod.alloc(scratch), opts, lo, hi], meanwhile);
}

export function attentionWasm(mod: KernelModule<"attention">): Pick<Kernels, "attention"> {
  return {
    attention(out: F32, q: F32, k: F32, v: F32, d: AttentionDims): void {
      if (out.length === 0) return;
      mod.scope(() => {
        const pq = mod.put(q), pk = mod.put(k), pv = mod.put(v);
        const pm = d.mask ? mod.put(d.mask) : 0;
        const po = mod.alloc(out.byteLength);
        attentionResident(mod, po, pq, pk, pv, pm, d, () => touchPages(out));
        mod.read(po, out);
      });
    },
  };
}
