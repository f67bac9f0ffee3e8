/**
 * Progress of every command on stderr, and the CLI's time formats. One class: a finished step leaves
 * one plain line; a running step updates the terminal's status line in place (Io.status, TTYs only;
 * no control characters otherwise); a training step is a redrawn line on a TTY and a throttled plain
 * line elsewhere. --quiet prints nothing. Not what is measured (the library reports times; this formats them).
 */
import type { GenerateProgress, GenerateResult } from "../generate.js";
import type { ProgressState } from "../recipe/recipe.js";
import type { Io } from "./command.js";

/** A duration in ms: "412 ms" below 10 s, "12.3 s" from there. */
export function fmtMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`;
}

/** A long duration in seconds: "1h02m", "4m05s", "12s" ("?" when unknown). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

export function tokensPerSecond(n: number, ms: number): number {
  return ms > 0 && n > 0 ? (1000 * n) / ms : 0;
}

/** One training line, e.g. "[2/3 stage1] step 120/600 loss 3.214 (ce 3.190 bal 1.012 task 0.693) lr 4.8e-4 | 812 tok/s | ETA 8m12s". */
export function progressLine(p: ProgressState): string {
  const r = p.report;
  const fmt = (x: number | null) => (x === null ? "-" : x.toFixed(3));
  const parts = [`ce ${fmt(r.ce)}`];
  if (r.balance !== null) parts.push(`bal ${fmt(r.balance)}`);
  if (r.patch !== undefined) parts.push(`patch ${fmt(r.patch)}`);
  if (r.task !== null) parts.push(`task ${fmt(r.task)}`);
  return `[${p.index}/${p.phases} ${p.phase}] step ${p.step}/${p.total} loss ${fmt(r.loss)} (${parts.join(" ")}) ` +
    `lr ${r.lr.toExponential(1)} | ${Math.round(p.tokensPerSecond)} tok/s | ETA ${formatDuration(p.etaSeconds)}`;
}

export interface ProgressOptions {
  quiet?: boolean;
  /** Without a TTY, at most one plain line of a repeated step (training, counts) per this many ms. Default 15 s. */
  plainEvery?: number;
  now?: () => number; // ms clock of the throttle (tests)
}

export class Progress {
  private stageStart = 0;
  private lastStatus = 0;
  private lastPlain = -Infinity;
  private readonly quiet: boolean;
  private readonly plainEvery: number;
  private readonly now: () => number;

  constructor(private readonly io: Io, opts: ProgressOptions = {}) {
    this.quiet = opts.quiet === true;
    this.plainEvery = opts.plainEvery ?? 15_000;
    this.now = opts.now ?? (() => Date.now());
  }

  /** A finished step: one line (clears the status line first). */
  line(text: string): void {
    if (this.quiet) return;
    this.io.status?.("");
    this.io.err(text);
  }

  /** The running step, on terminals only. */
  status(text: string): void {
    if (!this.quiet) this.io.status?.(text);
  }

  /** A repeated step ("eval: 12/40 prompts"): the status line on a TTY (the last one kept as a line), else a plain line at most every plainEvery ms, the first and the last. */
  count(text: string, done: number, total: number): void {
    if (this.quiet) return;
    if (this.io.status) {
      if (done === total) this.line(text);
      else this.io.status(text);
      return;
    }
    const t = this.now();
    if (t - this.lastPlain >= this.plainEvery || done === total) {
      this.lastPlain = t;
      this.io.err(text);
    }
  }

  /** A training step (runRecipe's onProgress): redrawn on a TTY, its last one kept as a line; throttled plain lines elsewhere. */
  training(p: ProgressState): void {
    if (this.quiet) return;
    const line = progressLine(p);
    if (this.io.status) {
      this.io.status(line);
      if (p.step === p.total) this.line(line);
      return;
    }
    const t = this.now();
    if (t - this.lastPlain >= this.plainEvery || p.step === p.total || p.step === 1) {
      this.lastPlain = t;
      this.io.err(line);
    }
  }

  /** GenerateProgress events: start and end of encode and prefill, one per decoded token. */
  generation(e: GenerateProgress): void {
    const now = performance.now();
    if (e.done === 0 || (e.stage === "decode" && e.done === 1)) this.stageStart = now;
    if (e.stage === "encode") {
      if (e.done === 0) this.status("encode: vision encoder guided by the prompt ...");
      else this.line(`encode: ${fmtMs(e.ms ?? now - this.stageStart)}`);
    } else if (e.stage === "prefill") {
      if (e.done === 0) this.status(`prefill: ${e.total} tokens ...`);
      else this.line(`prefill: ${e.total} tokens in ${fmtMs(e.ms ?? now - this.stageStart)}`);
    } else if (now - this.lastStatus > 100 || e.done === e.total) {
      this.lastStatus = now;
      const rate = e.done > 1 ? `, ${tokensPerSecond(e.done - 1, now - this.stageStart).toFixed(0)} tokens/s` : "";
      this.status(`decode: ${e.done}/${e.total} tokens${rate}`);
    }
  }

  /** The decode summary of a finished generation. */
  finish(out: GenerateResult): void {
    const n = out.tokens.length, t = out.timings;
    const by = out.stopReason === "eos" ? "<eos>" : out.stopReason === "context" ? "the end of the context" : "--max-tokens";
    this.line(`decode: ${n} token${n === 1 ? "" : "s"} in ${fmtMs(t.decode)} (${tokensPerSecond(n, t.decode).toFixed(0)} tokens/s), stopped by ${by}; total ${fmtMs(t.total)}`);
  }
}
