#!/usr/bin/env node
/**
 * The `tgh-moe` command (bin -> dist/src/cli.js; from a checkout: `npx tsx src/cli.ts`). Only the
 * process wiring lives here; commands and dispatch are in ./cli/.
 */
import { processIo } from "./cli/command.js";
import { runCli } from "./cli/main.js";

// `tgh-moe info FILE | head`: a closed pipe ends the output quietly, not with an EPIPE stack
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw e;
});
process.exitCode = await runCli(process.argv.slice(2), processIo);
