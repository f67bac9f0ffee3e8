// Compiles every AssemblyScript entry kernels/*.ts to build/<name>.wasm (+ raw bindings .js/.d.ts).
// Usage: node scripts/build-kernels.mjs [--target release|debug] [--copy-dist]
// One module per entry keeps kernel groups independent (each has its own linear memory).
import { readdirSync, mkdirSync, cpSync, existsSync } from "node:fs";
import { join, dirname, basename } from "node:path";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const target = args.includes("--target") ? args[args.indexOf("--target") + 1] : "release";
const suffix = target === "release" ? "" : `.${target}`;

if (args.includes("--copy-dist")) {
  // dist/src/backend/wasm/runtime.js resolves ../../../build/ to dist/build/: copy the kernel modules (only the .wasm files) there.
  if (!existsSync(join(root, "build"))) throw new Error("build/ missing: run build:kernels first");
  mkdirSync(join(root, "dist", "build"), { recursive: true });
  for (const f of readdirSync(join(root, "build")).filter((f) => f.endsWith(".wasm"))) cpSync(join(root, "build", f), join(root, "dist", "build", f));
  process.exit(0);
}

mkdirSync(join(root, "build"), { recursive: true });
const entries = readdirSync(join(root, "kernels")).filter((f) => f.endsWith(".ts")).sort();
let failed = false;
for (const file of entries) {
  const name = basename(file, ".ts");
  const { error, stderr } = await asc.main([
    join("kernels", file),
    "--config", "asconfig.json",
    "--target", target,
    "--outFile", join("build", `${name}${suffix}.wasm`),
  ], { stdout: process.stdout, stderr: process.stderr });
  if (error) {
    failed = true;
    console.error(`kernel build failed: kernels/${file}: ${error.message}\n${stderr.toString()}`);
  }
}
if (failed) process.exit(1);
console.log(`built ${entries.length} kernel module(s) [${target}] -> build/`);
