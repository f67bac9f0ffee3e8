/**
 * The CLI dispatcher: `tgh-moe <command> [args]`, `--help`, `--version`. Subcommands are listed in
 * COMMANDS and loaded on first use; a new one (data, train, eval, run, ...) is a module whose default
 * export is `defineCommand({...})` (./command.ts) plus one line here.
 */
import { TghError } from "../errors.js";
import { readText } from "../io/fs.js";
import { packageRootUrl } from "../shipped.js";
import { EXIT, UsageError, type Command, type Io } from "./command.js";
import { fileProblem, fsCode } from "./files.js";

export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<{ default: Command }>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { name: "golden", summary: "write a golden file (seeded weights, inputs, every act.*) for a preset and seed", load: () => import("./golden.js") },
  { name: "verify", summary: "recompute a golden file's act.* tensors and compare (exit 0 pass, 1 mismatch, 2 malformed)", load: () => import("./verify.js") },
  { name: "data", summary: "write the synthetic chest CT benchmark (NIfTI volumes, reports, questions, splits)", load: () => import("./data.js") },
  { name: "info", summary: "print the metadata, config, parameter count and tensors of a checkpoint or golden file", load: () => import("./info.js") },
  { name: "run", summary: "answer a prompt about a CT volume (NIfTI): report or question, progress, JSON, routing map", load: () => import("./run.js") },
  { name: "train", summary: "train TGH-MoE with the two-stage recipe (stage 0 2D, stage 1 dense, stage 2 MoE) on the synthetic benchmark", load: () => import("./train.js") },
  { name: "eval", summary: "evaluate a checkpoint on a split of the synthetic benchmark: report, QA and finding metrics, routing per task", load: () => import("./eval.js") },
  { name: "export-onnx", summary: "export a checkpoint or golden file to ONNX: encoder.onnx (vision, TGH-MoE, projector) and lm.onnx (KV cache)", load: () => import("./export-onnx.js") },
  { name: "route-map", summary: "draw which expert every patch of a CT volume is routed to (vision encoder only), as a PNG", load: () => import("./routing.js") },
];

function topHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "usage: tgh-moe <command> [options]      (tgh-moe <command> --help for its options)",
    "",
    "TGH-MoE reference implementation (TypeScript + WebAssembly SIMD).",
    "",
    "commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    "",
    "  --help, -h     this text",
    "  --version, -v  the package version",
    "",
    "exit codes: 0 success, 1 a check failed, 2 usage error or malformed input, 3 internal error",
  ].join("\n");
}

/** The version field of this package's package.json (src/shipped.ts finds the package root). */
export async function packageVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await readText(new URL("package.json", await packageRootUrl()))) as { version?: string };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Runs the CLI on argv (without node and the script) and returns the exit code; never throws. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined) {
      io.err(topHelp());
      return EXIT.usage;
    }
    if (first === "--help" || first === "-h" || first === "help") {
      const sub = first === "help" && rest[0] !== undefined ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
      io.out(sub ? (await sub.load()).default.helpText() : topHelp());
      return EXIT.ok;
    }
    if (first === "--version" || first === "-v") {
      io.out(await packageVersion());
      return EXIT.ok;
    }
    const entry = COMMANDS.find((c) => c.name === first);
    if (!entry) {
      const what = first.startsWith("-") ? `unknown option ${first}` : `unknown command ${JSON.stringify(first)}`;
      throw new UsageError(`tgh-moe: ${what} (commands: ${COMMANDS.map((c) => c.name).join(", ")}; see tgh-moe --help)`);
    }
    return await (await entry.load()).default.invoke([...rest], io);
  } catch (e) {
    return reportError(e, io);
  }
}

/**
 * Typed library errors, file system errors and running out of memory: one line, exit 2. Anything
 * else is a bug: stack, exit 3.
 */
export function reportError(e: unknown, io: Io): number {
  const line = (name: string, message: string) => io.err(`${name}: ${message.replace(/\s*[\r\n]+\s*/g, " ").trim()}`);
  if (e instanceof TghError) {
    line(e.name, e.message);
    return EXIT.usage;
  }
  if (fsCode(e) !== null) {
    line("FileError", fileProblem(e)); // ENOENT, EISDIR, EACCES, ERR_FS_FILE_TOO_LARGE, ...
    return EXIT.usage;
  }
  if (e instanceof RangeError && /allocation failed|out of memory/i.test(e.message)) {
    line("MemoryError", `out of memory (${e.message}); the input needs more memory than this process has`);
    return EXIT.usage;
  }
  io.err(`internal error (please report): ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  return EXIT.internal;
}
