/**
 * Helpers of bench/threads.ts: a Kernels wrapper that counts FLOPs, bytes copied into and out of
 * wasm memory, and time inside the kernels that split over threads; this thread's copy bandwidth;
 * and the scaling model for core counts this machine does not have (assumptions in bench/README.md).
 * Not a test.
 */
import { Backend, type Kernels } from "../src/backend/index.js";
import type { Cell } from "./harness.js";

type Dims = { batch: number; m: number; n: number; k: number; heads: number; nq: number; nk: number; dh: number; channels: number };
const len = (a: unknown) => (a as Float32Array).length;

/** The kernels that split over threads, and their FLOPs per call (2 per multiply-add). */
const SPLIT: Record<string, (a: unknown[]) => number> = {
  matmul: (a) => { const d = a[3] as Dims; return 2 * d.batch * d.m * d.n * d.k; },
  attention: (a) => { const d = a[4] as Dims; return 4 * d.batch * d.heads * d.nq * d.nk * d.dh; },
  // recomputed scores, dV, dP, dQ, dK: five products of the forward's size
  attentionBackward: (a) => { const d = a[8] as Dims; return 10 * d.batch * d.heads * d.nq * d.nk * d.dh; },
  patchEmbed: (a) => (2 * len(a[0]) * len(a[2])) / (a[3] as Dims).channels,
  patchEmbedBackward: (a) => (2 * len(a[1]) * len(a[0])) / (a[3] as Dims).channels,
};

export interface Totals {
  flops: number;
  /** Time inside split kernels (their copies in and out included). */
  splitMs: number;
  /** Bytes of the arrays handed to split kernels (copied in or out), and to all kernels. */
  splitBytes: number;
  bytes: number;
}

/** The backend's kernels with every call counted (totals since `reset`). */
export function countingKernels(be: Backend): { backend: Backend; reset(): void; totals(): Totals } {
  let t: Totals = { flops: 0, splitMs: 0, splitBytes: 0, bytes: 0 };
  const inner = be.kernels as unknown as Record<string, unknown>;
  const wrapped: Record<string, unknown> = { ...inner };
  for (const [name, f] of Object.entries(inner)) {
    if (typeof f !== "function" || ["keepResident", "weightsChanged", "close"].includes(name)) continue;
    wrapped[name] = (...args: unknown[]) => {
      let b = 0;
      for (const a of args) if (a instanceof Float32Array || a instanceof Int32Array) b += a.byteLength;
      t.bytes += b;
      const t0 = performance.now();
      const r = (f as (...x: unknown[]) => unknown)(...args);
      if (name in SPLIT) {
        t.splitMs += performance.now() - t0;
        t.flops += SPLIT[name](args);
        t.splitBytes += b;
      }
      return r;
    };
  }
  return {
    backend: new Backend(wrapped as unknown as Kernels),
    reset: () => void (t = { flops: 0, splitMs: 0, splitBytes: 0, bytes: 0 }),
    totals: () => ({ ...t }),
  };
}

/** Bytes per second one thread copies between large typed arrays (best of 5 copies of 64 MiB). */
export function copyBandwidth(): number {
  const a = new Float32Array(1 << 24), b = new Float32Array(1 << 24).fill(1);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    a.set(b);
    best = Math.min(best, performance.now() - t0);
  }
  return (a.byteLength / best) * 1000;
}

export interface ScalingInput {
  t1: number; // ms of one update on 1 thread
  serial: number; // fraction of t1 that stays on one thread (measured)
  bytes: number; // bytes copied per update (serial; part of `serial`)
  bandwidth: number; // copy bandwidth of one thread, bytes/s (measured)
}

/**
 * Amdahl, plus a bandwidth floor for the parallel part: T(p) = T1 (s + (1 - s) / p), but the split
 * kernels cannot stream their operands faster than SOCKET_BANDWIDTH in total, so their part is at
 * least bytes x STREAMS / SOCKET_BANDWIDTH.
 */
export function scalingTable(o: ScalingInput, cores: number[]): Cell[][] {
  return cores.map((p) => {
    const serial = o.t1 * o.serial, parallel = (o.t1 * (1 - o.serial)) / p;
    const floor = ((o.bytes * STREAMS) / SOCKET_BANDWIDTH) * 1000;
    const t = serial + Math.max(parallel, floor);
    return [String(p), t.toFixed(0), `${(o.t1 / t).toFixed(2)}x`, parallel >= floor ? "serial fraction (Amdahl)" : "memory bandwidth"];
  });
}
/** Assumed: each byte handed to a kernel is streamed STREAMS times by the kernels (packing, reads, writes) at a socket's DRAM bandwidth. */
const STREAMS = 4, SOCKET_BANDWIDTH = 50e9;
