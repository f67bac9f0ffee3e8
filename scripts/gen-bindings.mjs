// Generates the typed kernel bindings from the AssemblyScript entries kernels/*.ts and their compiled build/<name>.wasm.
// Usage: node scripts/gen-bindings.mjs [--check]   (scripts/build-kernels.mjs runs it after a release build)
// scripts/bindings/read.mjs reads each module: its exports and their value types from the wasm, the parameter
// names, AssemblyScript types and doc comments from the source (both must agree, export for export, or
// generation fails), and the `@unmanaged class <Name>Opts` options structs it reads, laid out as AssemblyScript
// does (declaration order, each field aligned to its size). scripts/bindings/write.mjs emits the TypeScript:
// src/backend/wasm/bindings/ for the modules the runtime loads (MODULE_NAMES in runtime.ts), one file per module
// plus common.ts and index.ts, and test/util/dev-bindings.ts for the others (the test probes, the bench's peak).
// Without --check it writes the files that differ and removes generated files of src/backend/wasm/bindings/
// that it no longer makes; --check: fail if any file is stale (different, missing or no longer made).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readModule, runtimeModules as readRuntimeModules } from "./bindings/read.mjs";
import { DEV_OUT, emitBindings, GENERATED, RUNTIME_DIR } from "./bindings/write.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export { DEV_OUT, RUNTIME_DIR };

/** MODULE_NAMES of src/backend/wasm/runtime.ts: the modules the runtime loads. */
export function runtimeModules(root = ROOT) {
  return readRuntimeModules(root);
}

/** The generated files: path (from the repository root) -> contents. */
export function generateBindings(root = ROOT) {
  const runtime = runtimeModules(root);
  const entries = readdirSync(join(root, "kernels")).filter((f) => f.endsWith(".ts")).map((f) => basename(f, ".ts")).sort();
  const dev = entries.filter((n) => !runtime.includes(n));
  return emitBindings(runtime.map((n) => readModule(n, root)), dev.map((n) => readModule(n, root)));
}

/** The files of src/backend/wasm/bindings/ that are not among `files` (the generator's output). */
export function staleBindings(root = ROOT, files = generateBindings(root)) {
  const dir = join(root, RUNTIME_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((f) => `${RUNTIME_DIR}/${f}`).filter((p) => !(p in files)).sort();
}

/**
 * Brings the generated files up to date: writes each one that is missing or differs, removes the
 * stale ones of src/backend/wasm/bindings/ (refusing a file there that the generator did not write).
 * `check`: changes nothing. Returns what is (or was) out of date: [{ path, change: "write" | "remove" }].
 */
export function syncBindings(root = ROOT, { check = false } = {}) {
  const files = generateBindings(root);
  const changes = [];
  for (const [path, text] of Object.entries(files)) {
    const file = join(root, path);
    if (existsSync(file) && readFileSync(file, "utf8") === text) continue;
    changes.push({ path, change: "write" });
    if (!check) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
    }
  }
  for (const path of staleBindings(root, files)) {
    const file = join(root, path);
    if (!readFileSync(file, "utf8").startsWith(GENERATED)) {
      throw new Error(`gen-bindings: ${path} was not generated: ${RUNTIME_DIR}/ holds only generated bindings (move it)`);
    }
    changes.push({ path, change: "remove" });
    if (!check) rmSync(file);
  }
  return changes;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes("--check");
  const changes = syncBindings(ROOT, { check });
  for (const { path, change } of changes) {
    if (check) console.error(`gen-bindings: ${path} is ${change === "write" ? "stale" : "no longer generated"}: run \`npm run build:kernels\``);
    else console.log(`gen-bindings: ${change === "write" ? "wrote" : "removed"} ${path}`);
  }
  if (check && changes.length) process.exit(1);
}
