/**
 * Benchmark runner (`npm run bench -- [--quick] [name ...]`): measures this machine's f32x4 peak,
 * runs the default export of each bench file in order, and prints the peak table last. Names filter the files
 * (`npm run bench -- matmul rows`); a file that does not exist yet is skipped with a note.
 */
import { access } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { setDefaultThreads } from "../src/backend/index.js";
import { benchArgs, fmt, peak, printTable, setArgs } from "./harness.js";

const FILES = ["matmul", "attention", "elementwise", "rows", "misc", "model", "e2e", "export", "threads"] as const;

async function exists(url: URL): Promise<boolean> {
  try {
    await access(fileURLToPath(url));
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const unknown = argv.filter((a) => a.startsWith("-") && a !== "--quick");
  if (unknown.length > 0) throw new Error(`bench: unknown option ${unknown.join(", ")} (known: --quick)`);
  const filters = argv.filter((a) => !a.startsWith("-"));
  const bad = filters.filter((f) => !(FILES as readonly string[]).includes(f));
  if (bad.length > 0) throw new Error(`bench: unknown bench ${bad.join(", ")} (known: ${FILES.join(", ")})`);
  setArgs({ quick: argv.includes("--quick"), filters });
  setDefaultThreads(1); // every bench but threads.ts measures one thread (threads.ts asks for its counts)

  console.log(`tgh-moe bench: node ${process.version}, ${benchArgs().quick ? "quick" : "full"} run, single thread (threads: 1 and 2)`);
  console.log("measuring the f32x4 peak (kernels/peak.ts) ...");
  await peak();

  for (const name of FILES) {
    if (filters.length > 0 && !filters.includes(name)) continue;
    const url = new URL(`./${name}.ts`, import.meta.url);
    if (!(await exists(url))) {
      console.log(`\n[${name}] skipped: bench/${name}.ts does not exist yet`);
      continue;
    }
    const mod = (await import(url.href)) as { default?: () => Promise<void> };
    if (typeof mod.default !== "function") throw new Error(`bench/${name}.ts has no default export function`);
    await mod.default();
  }
  const p = await peak(); // as measured at the start, raised by any later refresh
  printTable(`f32x4 mul+add peak: ${fmt(p.gflops)} GFLOP/s (best variant: ${p.best}; best run of each)`,
    ["variant", "GFLOP/s"], p.variants.map((v) => [v.name, fmt(v.gflops)]));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
