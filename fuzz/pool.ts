/**
 * A pool of fuzz workers (./worker.ts child processes), each reused across cases. The time limit is
 * on CPU time (the worker measures it; wall time on a shared machine says more about the machine), and
 * a case still running after the hang limit (wall) gets its worker killed and replaced; so does one
 * whose process grows past twice the memory limit (polled from /proc on Linux, before it hurts the
 * machine). A worker that dies (a crash, V8 out of memory) is replaced too. Every case ends in one
 * CaseResult; the worker reports the peak memory of each.
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Job, Reply } from "./worker.js";

export type Status = "ok" | "typed" | "untyped" | "timeout" | "memory" | "crash";
export interface CaseResult {
  status: Status;
  name: string;
  message: string;
  cpuMs: number;
  wallMs: number;
  peakMB: number;
}
export interface PoolOptions {
  workers: number;
  /** Per case, CPU time. */
  timeLimitMs: number;
  /** Per case, wall clock after which the worker is killed as hung (default max(15 x timeLimitMs, 30 s)). */
  hangMs?: number;
  /** Per case, peak RSS above the RSS before the case. */
  memLimitMB: number;
}

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));
/** Inputs above this go through a temporary file: Node's IPC slows down badly on messages of many MiB. */
const IPC_BYTES = 1 << 18;

interface Slot {
  child: ChildProcess;
  ready: Promise<void>;
  base: number; // RSS (MB) once ready
  pending: { job: Job; resolve: (r: CaseResult) => void; t0: number; timer: NodeJS.Timeout } | null;
  taken: boolean; // handed to a run() call
  stderr: string;
}

function rssMB(pid: number | undefined): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

export class FuzzPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: ((s: Slot) => void)[] = [];
  private nextId = 0;
  private readonly poll: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly o: PoolOptions) {
    for (let i = 0; i < o.workers; i++) this.slots.push(this.spawn());
    // a runaway worker is killed at twice the budget above its resting size, long before the machine suffers
    this.poll = setInterval(() => {
      for (const s of this.slots) if (s.pending && rssMB(s.child.pid) > s.base + 2 * o.memLimitMB) this.kill(s, "memory", `RSS above ${2 * o.memLimitMB} MB over the worker's resting size`);
    }, 20);
  }

  /** Runs one case on the next free worker. */
  async run(format: string, bytes: Uint8Array): Promise<CaseResult> {
    const slot = await this.acquire();
    await slot.ready;
    const id = this.nextId++;
    const path = bytes.length > IPC_BYTES ? join(tmpdir(), `tgh-moe-fuzz-${process.pid}-${id}.bin`) : null;
    if (path) writeFileSync(path, bytes);
    return new Promise<CaseResult>((resolve) => {
      const job: Job = path ? { id, format, path } : { id, format, bytes };
      const hang = this.o.hangMs ?? Math.max(15 * this.o.timeLimitMs, 30_000);
      const timer = setTimeout(() => this.kill(slot, "timeout", `no result within ${hang} ms (wall): hung`), hang);
      slot.pending = { job, resolve, t0: performance.now(), timer };
      slot.child.send(job);
    }).finally(() => path && rmSync(path, { force: true }));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poll);
    await Promise.all(this.slots.map((s) => new Promise<void>((done) => {
      if (s.child.exitCode !== null || s.child.signalCode !== null) return done();
      s.child.once("exit", () => done());
      s.child.kill("SIGKILL");
    })));
  }

  private spawn(): Slot {
    const child = fork(WORKER, [], {
      execArgv: ["--import", "tsx", "--expose-gc"], serialization: "advanced", stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    const slot: Slot = { child, ready: Promise.resolve(), base: 0, pending: null, taken: false, stderr: "" };
    slot.ready = new Promise((resolve) => {
      child.once("message", () => {
        slot.base = rssMB(child.pid);
        resolve();
      });
    });
    child.stderr!.on("data", (d: Buffer) => (slot.stderr = (slot.stderr + d.toString()).slice(-2000)));
    child.on("message", (m: Reply | { ready: true }) => {
      if ("ready" in m || !slot.pending || m.id !== slot.pending.job.id) return;
      const wallMs = performance.now() - slot.pending.t0;
      const over = m.peakMB > this.o.memLimitMB ? `peak ${m.peakMB.toFixed(0)} MB over the case's start (limit ${this.o.memLimitMB})`
        : m.cpuMs > this.o.timeLimitMs ? `${m.cpuMs.toFixed(0)} ms of CPU (limit ${this.o.timeLimitMs})` : null;
      this.finish(slot, {
        status: over === null ? m.status : m.peakMB > this.o.memLimitMB ? "memory" : "timeout", name: m.name, wallMs, cpuMs: m.cpuMs, peakMB: m.peakMB,
        message: over === null ? m.message : `${over}; outcome ${m.status} ${m.name}: ${m.message}`,
      });
    });
    child.on("exit", (code, signal) => {
      if (slot.pending) this.finish(slot, { status: "crash", name: "", message: `worker exited (code ${code}, signal ${signal}): ${slot.stderr.trim()}`, cpuMs: 0, wallMs: performance.now() - slot.pending.t0, peakMB: 0 }, true);
    });
    return slot;
  }

  private kill(slot: Slot, status: Status, why: string): void {
    if (!slot.pending) return;
    const wallMs = performance.now() - slot.pending.t0;
    this.finish(slot, { status, name: "", message: why, cpuMs: 0, wallMs, peakMB: status === "memory" ? rssMB(slot.child.pid) - slot.base : 0 }, true);
    slot.child.kill("SIGKILL");
  }

  /** Resolves the slot's case; a dead or killed worker is replaced before the slot is reused. */
  private finish(slot: Slot, r: CaseResult, replace = false): void {
    const p = slot.pending!;
    clearTimeout(p.timer);
    slot.pending = null;
    let free = slot;
    if (replace && !this.closed) {
      const i = this.slots.indexOf(slot);
      slot.child.removeAllListeners("exit");
      free = this.spawn();
      this.slots[i] = free;
    }
    p.resolve(r);
    this.release(free);
  }

  private acquire(): Promise<Slot> {
    const free = this.slots.find((s) => !s.taken);
    if (free) {
      free.taken = true;
      return Promise.resolve(free);
    }
    return new Promise((resolve) => this.waiting.push((s) => {
      s.taken = true;
      resolve(s);
    }));
  }

  private release(slot: Slot): void {
    slot.taken = false;
    const next = this.waiting.shift();
    if (next) next(slot);
  }
}
