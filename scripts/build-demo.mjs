// Builds the browser files into one static folder (default build/web/) with esbuild: the library
// bundle tgh-moe.js (src/index.ts, ESM, platform browser) with the kernel .wasm files and the
// shipped checkpoint next to it, the web app (demo/index.html + demo.js, which imports the library
// bundle) with the shipped samples (samples/) and the docs (README.md, docs/) it links to, and
// optionally the page of the real-browser test (test/browser/). Any static host serves the folder;
// scripts/serve.mjs is a small one for development.
// Usage: node scripts/build-demo.mjs [--out DIR] [--test]
// From code: await buildWeb({ outDir, test: true }) -> { outDir, files, nodeImports }
import { build } from "esbuild";
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** The golden test weights (untrained) the browser-test page runs (test/browser/cases.ts GOLDEN_FILE). */
export const DEMO_WEIGHTS = "tiny-seed0.safetensors";
/** The bundle runs with __TGH_BUNDLE__ = true: its wasm loader looks for the kernels next to it (src/backend/wasm/runtime.ts). */
const DEFINE = { __TGH_BUNDLE__: "true" };

/**
 * The runtime loads the kernels from a base URL in browsers; its Node branch (file URLs) imports
 * node:fs/promises and node:url dynamically, behind `isNode`. Left as external dynamic imports:
 * never reached in a browser, and reported by the build so any other Node import is noticed.
 */
const NODE_EXTERNAL = ["node:*"];

/** Imports of the library's entry from a page are served by the library bundle, not bundled twice. */
const useLibraryBundle = {
  name: "use-library-bundle",
  setup(b) {
    b.onResolve({ filter: /(^|\/)src\/index\.js$/ }, () => ({ path: "./tgh-moe.js", external: true }));
  },
};

/** esbuild options shared by every bundle: ESM for browsers, not minified (it is read), source maps. */
const common = {
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
  external: NODE_EXTERNAL,
  define: DEFINE,
};

/** Node built-ins a bundle still imports (only as guarded dynamic imports; see NODE_EXTERNAL). */
function nodeImports(metafile) {
  const out = new Set();
  for (const o of Object.values(metafile.outputs)) for (const i of o.imports) if (i.path.startsWith("node:")) out.add(`${i.path} (${i.kind})`);
  return [...out].sort();
}

/** The kernel modules the runtime loads: MODULE_NAMES of src/backend/wasm/runtime.ts (not bench-only ones). */
function moduleNames() {
  const src = readFileSync(join(ROOT, "src", "backend", "wasm", "runtime.ts"), "utf8");
  const m = /MODULE_NAMES\s*=\s*\[([^\]]*)\]/.exec(src);
  if (!m) throw new Error("build-demo: MODULE_NAMES not found in src/backend/wasm/runtime.ts");
  return [...m[1].matchAll(/"([a-z_0-9]+)"/g)].map((x) => x[1]);
}

/** The shipped checkpoint: DEFAULT_CHECKPOINT of src/shipped.ts (read from there, so the two never disagree). */
export function shippedCheckpoint() {
  const src = readFileSync(join(ROOT, "src", "shipped.ts"), "utf8");
  const m = /DEFAULT_CHECKPOINT\s*=\s*"([^"]+)"/.exec(src);
  if (!m) throw new Error("build-demo: DEFAULT_CHECKPOINT not found in src/shipped.ts");
  return m[1];
}

/** What the web app needs next to it: the checkpoint, the samples, README.md and docs/ (its links). */
function copyAppFiles(outDir) {
  const ckpt = shippedCheckpoint();
  copyFileSync(join(ROOT, ckpt), join(outDir, ckpt.split("/").pop()));
  mkdirSync(join(outDir, "samples"), { recursive: true });
  for (const f of readdirSync(join(ROOT, "samples")).filter((f) => f.endsWith(".nii.gz") || f === "samples.jsonl")) copyFileSync(join(ROOT, "samples", f), join(outDir, "samples", f));
  copyFileSync(join(ROOT, "README.md"), join(outDir, "README.md"));
  cpSync(join(ROOT, "docs"), join(outDir, "docs"), { recursive: true });
}

/**
 * Builds everything into outDir.
 * @param {{ outDir?: string, test?: boolean, demo?: boolean }} o
 * @returns {Promise<{ outDir: string, files: string[], nodeImports: string[] }>}
 */
export async function buildWeb(o = {}) {
  const outDir = resolve(o.outDir ?? join(ROOT, "build", "web"));
  const kernels = join(ROOT, "build");
  const wasm = moduleNames().flatMap((n) => [`${n}.wasm`, `${n}.shared.wasm`]); // one thread, and threads (shared memory)
  const missing = wasm.filter((f) => !existsSync(join(kernels, f)));
  if (missing.length > 0) throw new Error(`build-demo: ${missing.join(", ")} missing in ${kernels}: run \`npm run build:kernels\` first`);
  mkdirSync(outDir, { recursive: true });

  const lib = await build({ ...common, entryPoints: { "tgh-moe": join(ROOT, "src", "index.ts") }, outdir: outDir });
  for (const f of wasm) copyFileSync(join(kernels, f), join(outDir, f));
  const metas = [lib.metafile];

  if (o.demo !== false) {
    const demo = await build({ ...common, entryPoints: { demo: join(ROOT, "demo", "main.ts") }, outdir: outDir, plugins: [useLibraryBundle] });
    metas.push(demo.metafile);
    copyFileSync(join(ROOT, "demo", "index.html"), join(outDir, "index.html"));
    copyAppFiles(outDir);
  }
  if (o.test) {
    const page = await build({
      ...common, outdir: outDir, plugins: [useLibraryBundle],
      entryPoints: { "browser-test": join(ROOT, "test", "browser", "page.ts"), "browser-test-worker": join(ROOT, "test", "browser", "worker.ts") },
    });
    metas.push(page.metafile);
    copyFileSync(join(ROOT, "test", "browser", "page.html"), join(outDir, "browser-test.html"));
    copyFileSync(join(ROOT, "test", "golden", DEMO_WEIGHTS), join(outDir, DEMO_WEIGHTS));
  }
  const files = readdirSync(outDir).filter((f) => statSync(join(outDir, f)).isFile()).sort();
  return { outDir, files, nodeImports: [...new Set(metas.flatMap(nodeImports))].sort() };
}

// CLI
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf("--out");
  try {
    const r = await buildWeb({ outDir: at >= 0 ? args[at + 1] : undefined, test: args.includes("--test") });
    const kb = (f) => `${(statSync(join(r.outDir, f)).size / 1024).toFixed(0)} KiB`;
    console.log(`built ${r.files.length} files -> ${r.outDir}`);
    for (const f of r.files.filter((f) => !f.endsWith(".map"))) console.log(`  ${f.padEnd(28)} ${kb(f)}`);
    console.log(`Node built-ins left as guarded dynamic imports: ${r.nodeImports.join(", ") || "none"}`);
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  }
}
