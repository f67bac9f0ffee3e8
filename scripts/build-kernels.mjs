// Compiles every AssemblyScript entry kernels/*.ts to build/<name>.wasm (+ raw bindings .js/.d.ts), then (release)
// regenerates the typed bindings src/backend/wasm/bindings/ and test/util/dev-bindings.ts (scripts/gen-bindings.mjs).
// Usage: node scripts/build-kernels.mjs [--target release|debug] [--copy-dist]
// One module per entry keeps kernel groups independent (each has its own linear memory).
// Each entry is built twice: <name>.wasm owns its memory (one thread), <name>.shared.wasm imports
// one shared memory (env.memory) that every kernel module and every worker thread uses. In the
// shared build, module i puts its static data at SLOT * (i + 1) so the modules never overlap
// (the runtime checks each module's heap_base against the next slot).
import { readdirSync, mkdirSync, cpSync, existsSync } from "node:fs";
import { join, dirname, basename } from "node:path";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";
import { runtimeModules, syncBindings } from "./gen-bindings.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const target = args.includes("--target") ? args[args.indexOf("--target") + 1] : "release";
const suffix = target === "release" ? "" : `.${target}`;

if (args.includes("--copy-dist")) {
  // dist/src/backend/wasm/runtime.js resolves ../../../build/ to dist/build/: copy the kernel modules the runtime
  // loads (MODULE_NAMES; only the .wasm files) there, not the test probes or the bench's peak (loaded from build/).
  if (!existsSync(join(root, "build"))) throw new Error("build/ missing: run build:kernels first");
  mkdirSync(join(root, "dist", "build"), { recursive: true });
  const shipped = new Set(runtimeModules(root));
  for (const f of readdirSync(join(root, "build")).filter((f) => f.endsWith(".wasm") && shipped.has(f.split(".")[0]))) cpSync(join(root, "build", f), join(root, "dist", "build", f));
  process.exit(0);
}

mkdirSync(join(root, "build"), { recursive: true });
const entries = readdirSync(join(root, "kernels")).filter((f) => f.endsWith(".ts")).sort();
/** Bytes of static data each module may use in the shared memory (must match runtime.ts SHARED_SLOT). */
const SLOT = 16384;
let failed = false;
for (const [i, file] of entries.entries()) {
  const name = basename(file, ".ts");
  const variants = [
    { out: `${name}${suffix}.wasm`, extra: [] },
    { out: `${name}.shared${suffix}.wasm`, extra: ["--importMemory", "--sharedMemory", "--enable", "threads", "--memoryBase", String(SLOT * (i + 1)),
      "--initialMemory", String(Math.ceil((SLOT * (entries.length + 1)) / 65536))] },
  ];
  for (const v of variants) {
    const { error, stderr } = await asc.main([
      join("kernels", file),
      "--config", "asconfig.json",
      "--target", target,
      "--outFile", join("build", v.out),
      ...v.extra,
    ], { stdout: process.stdout, stderr: process.stderr });
    if (error) {
      failed = true;
      console.error(`kernel build failed: kernels/${file} (${v.out}): ${error.message}\n${stderr.toString()}`);
    }
  }
}
if (failed) process.exit(1);
console.log(`built ${entries.length} kernel module(s) [${target}] -> build/`);
if (target === "release") {
  // the typed bindings follow the release build's exports (a debug build has the same exports)
  for (const { path, change } of syncBindings(root)) {
    console.log(change === "write" ? `wrote ${path} (the kernels' exports or their doc comments changed)` : `removed ${path} (no longer generated)`);
  }
}
