/**
 * The CLI's plumbing, used by every subcommand: what a subcommand is (`defineCommand`: typed options
 * for node:util parseArgs, positional arguments, a run function returning the exit code), argument
 * parsing with usage errors, the value checks (integer, decimal, oneOf, --backend, --task) and the
 * exit codes. Progress and time formats: ./progress.ts. No subcommand logic here.
 *
 * Exit codes: 0 success, 1 a check failed (e.g. verify mismatch), 2 usage error or malformed
 * input (any typed library error, or a file that cannot be read), 3 internal error (a bug).
 */
import { parseArgs } from "node:util";
import { setDefaultThreads, type BackendName } from "../backend/index.js";
import { TghError } from "../errors.js";

export const EXIT = { ok: 0, mismatch: 1, usage: 2, internal: 3 } as const;

/** Bad command line: unknown flag, missing value, wrong positional count, value out of range. */
export class UsageError extends TghError {}

/** Where a command writes: stdout and stderr lines (tests pass a collector). */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /**
   * Replaces the terminal's status line in place (no newline; "" clears it). Present only when
   * stderr is a TTY: without it, progress goes through `err` as plain lines, no control characters.
   */
  status?(text: string): void;
}
export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  ...(process.stderr.isTTY ? { status: (text: string) => process.stderr.write(`\r\x1b[2K${text}`) } : {}),
};

type OptionSpec = { type: "string" | "boolean"; short?: string; default?: string | boolean };
export type OptionSpecs = Record<string, OptionSpec>;
/** Parsed values, typed from the option specs: strings or booleans, undefined when absent without default. */
export type OptionValues<O extends OptionSpecs> = {
  [K in keyof O]: O[K] extends { type: "boolean" } ? boolean | undefined : O[K] extends { default: string } ? string : string | undefined;
};

export interface CommandSpec<O extends OptionSpecs> {
  name: string;
  /** `tgh-moe <name> ...` synopsis, e.g. "verify FILE [--backend wasm|reference]". */
  usage: string;
  /** Paragraphs printed by --help after the synopsis (options, examples). */
  help: string;
  options: O;
  /** Number of positional arguments accepted, [min, max]. */
  positionals: readonly [number, number];
  run(values: OptionValues<O>, positionals: string[], io: Io): Promise<number>;
}

/** A command with its argument parser; `invoke` parses argv (after the command name) and runs it. */
export interface Command {
  name: string;
  usage: string;
  helpText(): string;
  invoke(argv: string[], io: Io): Promise<number>;
}

/** Accepted by every command (handled here, not by the command): the wasm backend's thread count. */
export const THREADS_HELP = "  --threads N      threads of the wasm kernels (default: the available cores; results are the same for any N)";

export function defineCommand<const O extends OptionSpecs>(spec: CommandSpec<O>): Command {
  const helpText = () => `usage: tgh-moe ${spec.usage} [--threads N]\n\n${spec.help.trim()}\n${THREADS_HELP}\n`;
  return {
    name: spec.name,
    usage: spec.usage,
    helpText,
    async invoke(argv, io) {
      const options = { ...spec.options, help: { type: "boolean" as const, short: "h" }, threads: { type: "string" as const } };
      let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
      try {
        parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as typeof parsed;
      } catch (e) {
        throw usageFrom(spec.name, e);
      }
      if (parsed.values.help) {
        io.out(helpText());
        return EXIT.ok;
      }
      const [min, max] = spec.positionals;
      const n = parsed.positionals.length;
      if (n < min || n > max) {
        const want = min === max ? `${min}` : `${min} to ${max}`;
        throw new UsageError(`tgh-moe ${spec.name}: expected ${want} argument(s), got ${n}${n ? ` (${parsed.positionals.join(" ")})` : ""}; usage: tgh-moe ${spec.usage}`);
      }
      const { threads, ...values } = parsed.values;
      if (threads === undefined) return spec.run(values as OptionValues<O>, parsed.positionals, io);
      const previous = setDefaultThreads(integer(spec.name, "threads", String(threads), 1, 256));
      try {
        return await spec.run(values as OptionValues<O>, parsed.positionals, io);
      } finally {
        setDefaultThreads(previous);
      }
    },
  };
}

/** node:util parseArgs errors (TypeError with a code) as a UsageError naming the command. */
function usageFrom(command: string, e: unknown): unknown {
  const code = (e as { code?: string }).code;
  if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS")) return e;
  const first = (e as Error).message.split("\n")[0].replace(/\. To specify .*$/, "");
  return new UsageError(`tgh-moe ${command}: ${first} (see tgh-moe ${command} --help)`);
}

/** A required option, or a UsageError naming it. */
export function required(command: string, name: string, value: string | undefined): string {
  if (value === undefined || value === "") throw new UsageError(`tgh-moe ${command}: --${name} is required (see tgh-moe ${command} --help)`);
  return value;
}

/** One of a fixed set of values. */
export function oneOf<T extends string>(command: string, name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`tgh-moe ${command}: --${name}: expected one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/** A decimal integer in [lo, hi]. */
export function integer(command: string, name: string, value: string, lo: number, hi: number): number {
  const x = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(x) || x < lo || x > hi) {
    throw new UsageError(`tgh-moe ${command}: --${name}: expected an integer in [${lo}, ${hi}], got ${JSON.stringify(value)}`);
  }
  return x;
}

/** A decimal number in [lo, hi] (lo excluded unless loInclusive). */
export function decimal(command: string, name: string, text: string, lo: number, hi: number, loInclusive: boolean): number {
  const x = /^[0-9]*\.?[0-9]+(e[-+]?[0-9]+)?$/i.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(x) || x > hi || x < lo || (!loInclusive && x === lo)) {
    throw new UsageError(`tgh-moe ${command}: --${name}: expected a number in ${loInclusive ? "[" : "("}${lo}, ${hi}], got ${JSON.stringify(text)}`);
  }
  return x;
}

/** The backends a command can run on (--backend NAME), the default first. */
export const BACKENDS: readonly BackendName[] = ["wasm", "reference"];

/** --backend: one of BACKENDS. */
export function backendOption(command: string, value: string): BackendName {
  return oneOf(command, "backend", value, BACKENDS);
}

/** --task: a name ("report", "vqa") or an index; checked against the model's task count by generate. */
export function taskOption(text: string | undefined): string | number | undefined {
  return text !== undefined && /^[0-9]+$/.test(text) ? Number(text) : text;
}
