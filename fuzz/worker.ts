/**
 * The fuzzer's child process: runs one case at a time (fuzz/targets.ts) and reports how it ended,
 * its CPU time and its peak memory above the RSS before it started (Linux: the peak is reset per
 * case through /proc/self/clear_refs, and read as VmHWM). Started by ./pool.ts; not a tool.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { TghError } from "../src/errors.js";
import { runTarget } from "./targets.js";

/** A case: its bytes, or the path of a temporary file holding them (large inputs). */
export type Job = { id: number; format: string } & ({ bytes: Uint8Array } | { path: string });
export interface Reply {
  id: number;
  status: "ok" | "typed" | "untyped";
  name: string;
  message: string;
  cpuMs: number;
  peakMB: number;
  digest: string;
}

const MB = 1 << 20;
const proc = (() => {
  try {
    readFileSync("/proc/self/status", "utf8");
    return true;
  } catch {
    return false;
  }
})();

/** Current and peak RSS in bytes (peak: since the last reset). */
function memory(): { rss: number; peak: number } {
  if (!proc) {
    const rss = process.memoryUsage.rss();
    return { rss, peak: process.resourceUsage().maxRSS * 1024 };
  }
  const s = readFileSync("/proc/self/status", "utf8");
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

function resetPeak(): void {
  if (!proc) return;
  try {
    writeFileSync("/proc/self/clear_refs", "5");
  } catch {
    // not permitted here: the peak then only grows, which can only over-report
  }
}

const gc = (globalThis as { gc?: () => void }).gc;
let base = memory().rss;

async function run(job: Job): Promise<Reply> {
  if (gc && memory().rss > base + 64 * MB) gc();
  resetPeak();
  const before = memory().rss;
  const t0 = process.cpuUsage();
  let status: Reply["status"] = "ok", name = "", message = "", digest = "";
  try {
    digest = await runTarget(job.format, "bytes" in job ? job.bytes : new Uint8Array(readFileSync(job.path)));
  } catch (e) {
    status = e instanceof TghError ? "typed" : "untyped";
    name = e instanceof Error ? e.name : typeof e;
    message = e instanceof Error ? (status === "typed" ? e.message : e.stack ?? e.message) : String(e);
  }
  const t = process.cpuUsage(t0);
  const peakMB = (memory().peak - before) / MB;
  return { id: job.id, status, name, message: message.slice(0, 2000), cpuMs: (t.user + t.system) / 1000, peakMB, digest };
}

process.on("message", (job: Job) => {
  void run(job).then((r) => process.send!(r));
});
if (gc) gc();
base = memory().rss;
process.send!({ ready: true });
