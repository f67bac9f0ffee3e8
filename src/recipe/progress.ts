/**
 * The live progress line of training: stage, step/total, loss and its parts, tokens/s and ETA.
 * Formatting and throttling only; the loop calls `update` after every step. On a TTY the line is
 * redrawn in place (Io.status); otherwise a plain line is written every `plainEvery` ms.
 */
import type { Io } from "../cli/command.js";
import type { StepReport } from "../train/trainer.js";

export interface ProgressState {
  phase: string; // "stage1", ...
  index: number; // phase number, 1-based
  phases: number;
  step: number; // updates done in this phase
  total: number;
  report: StepReport;
  tokensPerSecond: number;
  etaSeconds: number; // of this phase
}

/** "1h02m", "4m05s", "12s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** One progress line, e.g. "[2/3 stage1] step 120/600 loss 3.214 (ce 3.190 bal 1.012 task 0.693) lr 4.8e-4 | 812 tok/s | ETA 8m12s". */
export function progressLine(p: ProgressState): string {
  const r = p.report;
  const parts = [`ce ${fmt(r.ce)}`];
  if (r.balance !== null) parts.push(`bal ${fmt(r.balance)}`);
  if (r.task !== null) parts.push(`task ${fmt(r.task)}`);
  return `[${p.index}/${p.phases} ${p.phase}] step ${p.step}/${p.total} loss ${fmt(r.loss)} (${parts.join(" ")}) ` +
    `lr ${r.lr.toExponential(1)} | ${Math.round(p.tokensPerSecond)} tok/s | ETA ${formatDuration(p.etaSeconds)}`;
}

function fmt(x: number | null): string {
  return x === null ? "-" : x.toFixed(3);
}

/** Writes progress lines to `io`: in place on a TTY, else at most one plain line per `plainEvery` ms (and the last step). */
export class ProgressPrinter {
  private lastPlain = -Infinity;

  constructor(private readonly io: Io | null, private readonly plainEvery = 15_000, private readonly now = () => Date.now()) {}

  update(p: ProgressState): void {
    if (!this.io) return;
    const line = progressLine(p);
    if (this.io.status) {
      this.io.status(line);
      if (p.step === p.total) {
        this.io.status("");
        this.io.err(line);
      }
      return;
    }
    const t = this.now();
    if (t - this.lastPlain >= this.plainEvery || p.step === p.total || p.step === 1) {
      this.lastPlain = t;
      this.io.err(line);
    }
  }

  log(line: string): void {
    if (!this.io) return;
    this.io.status?.("");
    this.io.err(line);
  }
}
