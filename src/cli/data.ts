/** `tgh-moe data`: the synthetic CT benchmark writer (src/data/command.ts) as a CLI subcommand. */
import { DATA_USAGE, dataCommand } from "../data/command.js";
import type { Command } from "./command.js";

const data: Command = {
  name: "data",
  usage: "data --out DIR --count N --seed S [options]",
  helpText: () => DATA_USAGE,
  invoke: async (argv, io) => {
    if (argv.includes("--help") || argv.includes("-h")) {
      io.out(DATA_USAGE);
      return 0;
    }
    return dataCommand(argv);
  },
};
export default data;
