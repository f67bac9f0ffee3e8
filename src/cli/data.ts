/** `tgh-moe data`: the synthetic CT benchmark writer (src/data/command.ts) as a CLI subcommand. */
import { DATA_USAGE, dataCommand } from "../data/command.js";
import { THREADS_HELP, UsageError, integer, type Command } from "./command.js";

/** The data writer computes no kernels: --threads (accepted by every command) is checked and dropped. */
function withoutThreads(argv: readonly string[]): string[] {
  const at = argv.findIndex((a) => a === "--threads" || a.startsWith("--threads="));
  if (at < 0) return [...argv];
  const inline = argv[at].startsWith("--threads=");
  const value = inline ? argv[at].slice("--threads=".length) : argv[at + 1];
  if (value === undefined) throw new UsageError("tgh-moe data: Option '--threads <value>' argument missing (see tgh-moe data --help)");
  integer("data", "threads", value, 1, 256);
  return [...argv.slice(0, at), ...argv.slice(at + (inline ? 1 : 2))];
}

const helpText = () => `${DATA_USAGE.trimEnd()}\n${THREADS_HELP}\n`;

const data: Command = {
  name: "data",
  usage: "data --out DIR --count N --seed S [options]",
  helpText,
  invoke: async (argv, io) => {
    if (argv.includes("--help") || argv.includes("-h")) {
      io.out(helpText());
      return 0;
    }
    return dataCommand(withoutThreads(argv));
  },
};
export default data;
