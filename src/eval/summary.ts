/**
 * Aggregation of metric values over runs (seeds) and markdown tables for docs/RESULTS.md.
 * Plain arithmetic on finished metric values; it computes no metric itself.
 *
 *   mean = sum x / n;   std = sqrt( sum (x - mean)^2 / (n - 1) )  (sample std, null when n < 2)
 *   a cell reads "mean ± std" (or "mean" when n = 1), optionally " [min, max]", after `scale`.
 */
import { ValueError } from "../errors.js";

export interface Summary {
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1 denominator); null for a single run. */
  std: number | null;
  min: number;
  max: number;
}

/** Mean, sample std, min and max of finite values. */
export function summarizeValues(values: readonly number[], what = "values"): Summary {
  if (values.length === 0) throw new ValueError(`summarize: ${what}: expected at least one value, got 0`);
  values.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new ValueError(`summarize: ${what}[${i}]: expected a finite number, got ${String(v)}`);
    }
  });
  const n = values.length;
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  return { n, mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : null, min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Per-metric summary over runs: `runs[i]` maps metric name -> value of run i (e.g. one seed).
 * Every run must report the same metrics; the order of the first run is kept.
 */
export function summarize(runs: readonly Readonly<Record<string, number>>[]): Record<string, Summary> {
  if (runs.length === 0) throw new ValueError("summarize: runs: expected at least one run, got 0");
  const keys = Object.keys(runs[0]);
  runs.forEach((run, i) => {
    const k = Object.keys(run);
    if (k.length !== keys.length || k.some((x) => !keys.includes(x))) {
      throw new ValueError(`summarize: runs[${i}]: expected the metrics [${keys.join(", ")}], got [${k.join(", ")}]`);
    }
  });
  const out: Record<string, Summary> = {};
  for (const key of keys) out[key] = summarizeValues(runs.map((r) => r[key]), key);
  return out;
}

export interface CellFormat {
  /** Digits after the point (default 2). */
  digits?: number;
  /** Multiply every value first (default 1; 100 prints fractions as percentages). */
  scale?: number;
  /** Append " [min, max]" (default false). */
  range?: boolean;
}

/** "12.34 ± 0.56" (std omitted for one run), values multiplied by `scale`. */
export function formatSummary(s: Summary, fmt: CellFormat = {}): string {
  const digits = fmt.digits ?? 2, scale = fmt.scale ?? 1;
  const f = (x: number) => (x * scale).toFixed(digits);
  let cell = s.std === null ? f(s.mean) : `${f(s.mean)} ± ${f(s.std)}`;
  if (fmt.range) cell += ` [${f(s.min)}, ${f(s.max)}]`;
  return cell;
}

/** A GitHub markdown table; "|" inside cells is escaped. Column 0 left-aligned, the rest right. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (c: string) => c.replace(/\|/g, "\\|").replace(/\n/g, " ");
  rows.forEach((r, i) => {
    if (r.length !== header.length) {
      throw new ValueError(`markdownTable: rows[${i}]: expected ${header.length} cells, got ${r.length}`);
    }
  });
  const line = (cells: readonly string[]) => `| ${cells.map(esc).join(" | ")} |`;
  const rule = `|${header.map((_, i) => (i === 0 ? " :--- " : " ---: ")).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n") + "\n";
}

export interface ResultsRow {
  /** First column, e.g. a method or preset name. */
  label: string;
  metrics: Readonly<Record<string, Summary>>;
}

/**
 * A results table: one row per `rows[i]`, one column per `columns[j]` (metric key and title);
 * a metric a row lacks prints as "—".
 */
export function resultsTable(
  rows: readonly ResultsRow[],
  columns: readonly { key: string; title?: string }[],
  fmt: CellFormat = {},
  firstHeader = "method",
): string {
  const header = [firstHeader, ...columns.map((c) => c.title ?? c.key)];
  const body = rows.map((r) => [r.label, ...columns.map((c) => (r.metrics[c.key] ? formatSummary(r.metrics[c.key], fmt) : "—"))]);
  return markdownTable(header, body);
}
