// Generates the typed kernel bindings from the AssemblyScript entries kernels/*.ts and their compiled build/<name>.wasm.
// Usage: node scripts/gen-bindings.mjs [--check]   (scripts/build-kernels.mjs runs it after a release build)
// The wasm gives each module's exports and their value types (@webassemblyjs/wasm-parser); the source gives
// the parameter names, the AssemblyScript types and the doc comments (a regex over `export function name(a: T, ...): R`,
// following `export { ... } from "./lib/x"`). Both must agree, export for export, or generation fails.
// Options structs: every `@unmanaged class <Name>Opts { field: type; ... }` that a module's entry declares or imports
// (from ./lib/...) gets a TypeScript interface, its size and offsets (AssemblyScript's layout: declaration
// order, each field aligned to its size) and a writer `write<Name>Opts(memory, ptr, value)`; the kernel reads it.
// Output: src/backend/wasm/bindings.ts for the modules the runtime loads (MODULE_NAMES in runtime.ts), and
// test/util/dev-bindings.ts for the others (the test probes, the bench's peak). --check: fail if either is stale.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { decode } from "@webassemblyjs/wasm-parser";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const RUNTIME_OUT = "src/backend/wasm/bindings.ts";
export const DEV_OUT = "test/util/dev-bindings.ts";

/** The wasm value type each AssemblyScript type is passed as (wasm32), and its TypeScript type. */
const AS_TYPES = {
  usize: ["i32", "Ptr"], isize: ["i32", "number"], i32: ["i32", "number"], u32: ["i32", "number"],
  i16: ["i32", "number"], u16: ["i32", "number"], i8: ["i32", "number"], u8: ["i32", "number"], bool: ["i32", "number"],
  i64: ["i64", "bigint"], u64: ["i64", "bigint"], f32: ["f32", "number"], f64: ["f64", "number"],
};

/**
 * The AssemblyScript types an options struct's fields may have: bytes (= alignment), TypeScript
 * type, and the DataView setter that writes one (bool: 1 or 0).
 */
const FIELD_TYPES = {
  i8: [1, "number", "setInt8"], u8: [1, "number", "setUint8"], bool: [1, "boolean", "setUint8"],
  i16: [2, "number", "setInt16"], u16: [2, "number", "setUint16"],
  i32: [4, "number", "setInt32"], u32: [4, "number", "setUint32"], f32: [4, "number", "setFloat32"],
  usize: [4, "Ptr", "setUint32"], isize: [4, "number", "setInt32"],
  i64: [8, "bigint", "setBigInt64"], u64: [8, "bigint", "setBigUint64"], f64: [8, "number", "setFloat64"],
};

/** MODULE_NAMES of src/backend/wasm/runtime.ts: the modules the runtime loads. */
export function runtimeModules(root = ROOT) {
  const src = readFileSync(join(root, "src/backend/wasm/runtime.ts"), "utf8");
  const m = /export const MODULE_NAMES = \[([^\]]*)\] as const/.exec(src);
  if (!m) throw new Error("gen-bindings: no `export const MODULE_NAMES = [...] as const` in src/backend/wasm/runtime.ts");
  return [...m[1].matchAll(/"(\w+)"/g)].map((x) => x[1]);
}

/**
 * The comment right before `at` as a doc comment: a /** ... *\/ block (whitespace between), or the
 * run of // lines on the lines just above (no blank line between), or null.
 */
function docBefore(src, at) {
  const before = src.slice(0, at).trimEnd();
  if (before.endsWith("*/")) {
    const start = before.lastIndexOf("/**");
    return start < 0 || before.slice(start + 3, -2).includes("*/") ? null : before.slice(start);
  }
  const lines = src.slice(0, at).split("\n").slice(0, -1); // the lines above the export's own
  const run = [];
  while (lines.length && /^\s*\/\/(?!\s*@ts-)/.test(lines[lines.length - 1])) run.unshift(lines.pop().replace(/^\s*\/\/ ?/, ""));
  if (!run.length || run.every((l) => /^-*$/.test(l.trim()))) return null;
  const text = run.map((l) => l.replaceAll("*/", "*\\/"));
  return text.length === 1 ? `/** ${text[0]} */` : ["/**", ...text.map((l) => ` * ${l}`.trimEnd()), " */"].join("\n");
}

/** The exported functions of an AssemblyScript file: name -> { params: [{ name, type }], result, doc, file }. */
function sourceExports(file, root) {
  const src = readFileSync(file, "utf8");
  const rel = relative(root, file);
  const out = new Map();
  for (const m of src.matchAll(/export function (\w+)\s*\(([^)]*)\)\s*:\s*(\w+)/g)) {
    const params = m[2].split(",").map((p) => p.trim()).filter(Boolean).map((p) => {
      const pm = /^(\w+)\s*:\s*(\w+)$/.exec(p);
      if (!pm) throw new Error(`gen-bindings: ${rel}: ${m[1]}: cannot read the parameter \`${p}\` (expected \`name: type\`)`);
      return { name: pm[1], type: pm[2] };
    });
    out.set(m[1], { params, result: m[3], doc: docBefore(src, m.index), file: rel });
  }
  for (const m of src.matchAll(/export\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    const lib = sourceExports(join(dirname(file), `${m[2]}.ts`), root);
    for (const spec of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      const [from, as = from] = spec.split(/\s+as\s+/);
      const f = lib.get(from);
      if (!f) throw new Error(`gen-bindings: ${rel}: re-exported \`${from}\` is not an exported function of ${m[2]}`);
      out.set(as, f);
    }
  }
  return out;
}

/**
 * The fields of an options struct's body, one per line: [{ name, type, doc }], a field's doc being
 * the /** *\/ block or the run of // lines right above it. Anything but fields and comments is refused.
 */
function structFields(body, where) {
  const fields = [];
  let doc = null, run = [], block = null;
  for (const raw of body.split("\n")) {
    const line = raw.trim();
    if (block) { // inside a multi-line /** ... */
      block.push(line);
      if (line.includes("*/")) (doc = block.join("\n")), (block = null);
    } else if (line === "") {
      (doc = null), (run = []);
    } else if (line.startsWith("/**")) {
      const end = line.indexOf("*/");
      if (end >= 0 && end + 2 < line.length) throw new Error(`gen-bindings: ${where}: \`${line}\`: a field goes on its own line, after its comment`);
      if (end >= 0) (doc = line), (run = []);
      else (block = [line]), (run = []);
    } else if (line.startsWith("//")) {
      if (!/^\/\/\s*@ts-/.test(line)) run.push(line.replace(/^\/\/ ?/, "").replaceAll("*/", "*\\/")), (doc = null);
    } else {
      const fm = /^(\w+)\s*:\s*(\w+)\s*;$/.exec(line);
      if (!fm) throw new Error(`gen-bindings: ${where}: cannot read \`${line}\` (an options struct holds only fields, one per line: \`name: type;\`)`);
      if (!FIELD_TYPES[fm[2]]) throw new Error(`gen-bindings: ${where}: field ${fm[1]}: type ${fm[2]} is not a number type (${Object.keys(FIELD_TYPES).join(", ")})`);
      if (fields.some((f) => f.name === fm[1])) throw new Error(`gen-bindings: ${where}: field ${fm[1]} declared twice`);
      const lineDoc = run.length === 0 ? null : run.length === 1 ? `/** ${run[0]} */` : ["/**", ...run.map((l) => ` * ${l}`.trimEnd()), " */"].join("\n");
      fields.push({ name: fm[1], type: fm[2], doc: doc ?? lineDoc });
      (doc = null), (run = []);
    }
  }
  if (block) throw new Error(`gen-bindings: ${where}: unterminated comment`);
  if (!fields.length) throw new Error(`gen-bindings: ${where}: no fields`);
  return fields;
}

/** AssemblyScript's layout of an @unmanaged class: fields in declaration order, each aligned to its size. */
function layout(fields) {
  let end = 0;
  const out = fields.map((f) => {
    const size = FIELD_TYPES[f.type][0];
    const offset = Math.ceil(end / size) * size;
    end = offset + size;
    return { ...f, offset };
  });
  return { fields: out, bytes: end };
}

/** The options structs declared in an AssemblyScript file: name -> { name, doc, fields, bytes, file }. */
function declaredOpts(file, root) {
  const src = readFileSync(file, "utf8");
  const rel = relative(root, file);
  const out = new Map();
  const re = /(?:^[ \t]*\/\/[ \t]*@ts-ignore[^\n]*\n)?^[ \t]*@unmanaged\s+(?:export\s+)?class\s+(\w+)\s*\{([\s\S]*?)\n[ \t]*\}/gm; // the body ends at the first line that starts with }
  for (const m of src.matchAll(re)) {
    if (!m[1].endsWith("Opts")) continue;
    out.set(m[1], { name: m[1], doc: docBefore(src, m.index), ...layout(structFields(m[2], `${rel}: ${m[1]}`)), file: rel });
  }
  for (const m of src.matchAll(/^[ \t]*(?:export\s+)?class\s+(\w+Opts)\b/gm)) {
    if (!out.has(m[1])) throw new Error(`gen-bindings: ${rel}: class ${m[1]}: an options struct must be \`@unmanaged class ${m[1]} { name: type; ... }\``);
  }
  return out;
}

/** The options structs a module's entry declares or imports from its own files (`import { XOpts } from "./lib/x"`). */
function moduleOpts(srcFile, root) {
  const src = readFileSync(srcFile, "utf8");
  const rel = relative(root, srcFile);
  const out = new Map(declaredOpts(srcFile, root));
  for (const m of src.matchAll(/import\s*\{([^}]*)\}\s*from\s*"(\.[^"]+)"/g)) {
    const names = m[1].split(",").map((x) => x.trim().split(/\s+as\s+/)[0]).filter((n) => n.endsWith("Opts"));
    if (!names.length) continue;
    const lib = declaredOpts(join(dirname(srcFile), `${m[2]}.ts`), root);
    for (const n of names) {
      const o = lib.get(n);
      if (!o) throw new Error(`gen-bindings: ${rel}: imported \`${n}\` is not an options struct (\`@unmanaged class ${n}\`) of ${m[2]}`);
      out.set(n, o);
    }
  }
  return out;
}

/** The exported functions of a wasm file in export order: [{ name, params: ["i32", ...], results: [...] }]. */
function wasmExports(file) {
  const ast = decode(readFileSync(file), { dump: false, ignoreCodeSection: true, ignoreDataSection: true });
  const fields = ast.body[0].fields;
  const sigs = []; // function index space: imported functions first, then the module's own
  for (const f of fields) if (f.type === "ModuleImport" && f.descr?.type === "FuncImportDescr") sigs.push(f.descr.signature);
  for (const f of fields) if (f.type === "Func") sigs.push(f.signature);
  return fields.filter((f) => f.type === "ModuleExport" && f.descr.exportType === "Func").map((f) => {
    const sig = sigs[f.descr.id.value];
    return { name: f.name, params: sig.params.map((p) => p.valtype), results: [...sig.results] };
  });
}

/** One module: its exports with names from the source and types from the wasm, checked against each other. */
function readModule(name, root) {
  const srcFile = join(root, "kernels", `${name}.ts`);
  const wasmFile = join(root, "build", `${name}.wasm`);
  if (!existsSync(srcFile)) throw new Error(`gen-bindings: kernels/${name}.ts missing (MODULE_NAMES in src/backend/wasm/runtime.ts lists "${name}")`);
  if (!existsSync(wasmFile)) throw new Error(`gen-bindings: build/${name}.wasm missing: run \`npm run build:kernels\``);
  const src = sourceExports(srcFile, root);
  const wasm = wasmExports(wasmFile);
  const sharedFile = join(root, "build", `${name}.shared.wasm`);
  if (existsSync(sharedFile)) {
    const key = (fs) => JSON.stringify(fs.map((f) => [f.name, f.params, f.results]).sort());
    if (key(wasmExports(sharedFile)) !== key(wasm)) throw new Error(`gen-bindings: build/${name}.wasm and ${name}.shared.wasm export different functions: rebuild the kernels`);
  }
  const fail = (fn, why) => { throw new Error(`gen-bindings: ${name}.${fn}: ${why} (build/${name}.wasm stale? run \`npm run build:kernels\`)`); };
  const fns = wasm.map((w) => {
    const s = src.get(w.name);
    if (!s) fail(w.name, `exported by build/${name}.wasm but no \`export function ${w.name}\` in kernels/${name}.ts`);
    if (s.params.length !== w.params.length) fail(w.name, `${s.params.length} parameters in ${s.file}, ${w.params.length} in the wasm`);
    s.params.forEach((p, i) => {
      const t = AS_TYPES[p.type];
      if (!t) fail(w.name, `parameter ${p.name}: type ${p.type} is not a number type (${Object.keys(AS_TYPES).join(", ")})`);
      if (t[0] !== w.params[i]) fail(w.name, `parameter ${p.name}: ${p.type} in ${s.file} but ${w.params[i]} in the wasm`);
    });
    if (s.result === "void" ? w.results.length !== 0 : w.results.length !== 1 || AS_TYPES[s.result]?.[0] !== w.results[0]) {
      fail(w.name, `result ${s.result} in ${s.file} but (${w.results.join(", ")}) in the wasm`);
    }
    return { name: w.name, params: s.params, result: s.result, doc: s.doc, file: s.file };
  });
  for (const n of src.keys()) if (!wasm.some((w) => w.name === n)) fail(n, `exported by kernels/${name}.ts (or a re-export) but not by the wasm`);
  return { name, fns, opts: moduleOpts(srcFile, root) };
}

const pascal = (s) => s.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("");

/** A doc comment re-indented to `indent`. */
function indentDoc(doc, indent) {
  return doc.split("\n").map((l, i) => (i === 0 ? l.trim() : ` ${l.trim()}`)).map((l) => `${indent}${l}`).join("\n");
}

/** The interface, binder and list entries of one module. */
function emitModule(m) {
  const iface = `${pascal(m.name)}Kernels`, bind = `bind${pascal(m.name)}`;
  const methods = m.fns.map((f) => {
    const params = f.params.map((p) => `${p.name}: ${AS_TYPES[p.type][1]}`).join(", ");
    const result = f.result === "void" ? "void" : f.result === "usize" ? "number" : AS_TYPES[f.result][1]; // a usize result: bytes or an address
    return `${f.doc ? `${indentDoc(f.doc, "  ")}\n` : ""}  ${f.name}(${params}): ${result};`;
  });
  const entries = m.fns.map((f) => {
    const k = `kernel(exports, "${m.name}", "${f.name}", ${f.params.length})`;
    return `    ${f.name}: ${f.result === "usize" ? `unsigned(${k})` : k},`;
  });
  return [
    `/** The exports of kernels/${m.name}.ts (build/${m.name}.wasm and ${m.name}.shared.wasm). */`,
    `export interface ${iface} {`,
    methods.join("\n"),
    "}",
    "",
    `/** The exports of a kernels/${m.name}.ts instance, each checked to be a function of its arity. */`,
    `export function ${bind}(exports: WebAssembly.Exports): ${iface} {`,
    "  return {",
    entries.join("\n"),
    "  };",
    "}",
  ].join("\n");
}

const constName = (s) => s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();

/** The structs the modules read, each once (with the modules that read it). */
function collectOpts(mods) {
  const all = new Map();
  for (const m of mods) {
    for (const o of m.opts.values()) {
      const seen = all.get(o.name);
      if (seen && seen.file !== o.file) throw new Error(`gen-bindings: two options structs named ${o.name}: ${seen.file} and ${o.file}`);
      if (seen) seen.readers.push(m.name);
      else all.set(o.name, { ...o, readers: [m.name] });
    }
  }
  return [...all.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** An options struct's interface, writer and layout. */
function emitOpts(o) {
  const fields = o.fields.map((f) => `${f.doc ? `${indentDoc(f.doc, "  ")}\n` : ""}  readonly ${f.name}: ${FIELD_TYPES[f.type][1]};`);
  const writes = o.fields.map((f) => {
    const [size, , setter] = FIELD_TYPES[f.type];
    const value = f.type === "bool" ? `o.${f.name} ? 1 : 0` : `o.${f.name}`;
    return `  v.${setter}(${f.offset}, ${value}${size > 1 ? ", true" : ""});`;
  });
  const readers = o.readers.map((r) => `kernels/${r}.ts`).join(", ");
  return [
    `${o.doc ? `${indentDoc(o.doc, "")}\n` : ""}export interface ${o.name} {`,
    fields.join("\n"),
    "}",
    "",
    `/** Writes ${/^[AEIOU]/.test(o.name) ? "an" : "a"} ${o.name} (${o.file}) at \`ptr\`: each field by name, at the kernel's offset (little-endian). */`,
    `export function write${o.name}(memory: WebAssembly.Memory, ptr: Ptr, o: ${o.name}): void {`,
    `  const v = new DataView(memory.buffer, ptr, ${o.bytes});`,
    writes.join("\n"),
    "}",
    "",
    `/** The layout of ${o.name} (${o.bytes} bytes), read by ${readers}. */`,
    `export const ${constName(o.name)}: OptsStruct<${o.name}> = {`,
    `  name: "${o.name}",`,
    `  bytes: ${o.bytes},`,
    "  fields: [",
    ...o.fields.map((f) => `    { name: "${f.name}", type: "${f.type}", offset: ${f.offset} },`),
    "  ],",
    `  write: write${o.name},`,
    "};",
  ].join("\n");
}

const HEADER = (what) => `// Generated by scripts/gen-bindings.mjs from kernels/*.ts and build/*.wasm (${what}): do not edit, run \`npm run build:kernels\`.`;

function emitRuntime(mods) {
  const opts = collectOpts(mods);
  const parts = [
    HEADER("the modules the runtime loads"),
    "/**",
    " * Typed bindings of the kernel modules: per module an interface with one method per wasm export",
    " * (parameter names and doc comments from the AssemblyScript source) and a function that checks an",
    " * instance's exports against it. A pointer (usize) is a Ptr; a usize result is read unsigned. Per",
    " * options struct (an `@unmanaged class <Name>Opts` the kernels read through their `opts` pointer)",
    " * an interface, its writer `write<Name>Opts` and its layout `<NAME>_OPTS` (for `mod.putOpts`). The",
    " * runtime (runtime.ts) binds every module it loads; test/bindings.test.ts checks this file is current.",
    " */",
    `import { TghError } from "../../errors.js";`,
    "",
    "/** A byte offset into a kernel module's linear memory (usize in kernels/: a wasm i32, read unsigned). */",
    "export type Ptr = number;",
    "",
    "/** Export `fn` of module `mod`, checked to be a function of `arity` parameters. */",
    "export function kernel<F>(exports: WebAssembly.Exports, mod: string, fn: string, arity: number): F {",
    "  const f = exports[fn];",
    "  if (typeof f !== \"function\" || f.length !== arity) {",
    "    const got = typeof f === \"function\" ? `${f.length} parameters` : \"missing\";",
    "    throw new TghError(`wasm ${mod}: export '${fn}' (${arity} parameters) ${got}: the build does not match its generated bindings (npm run build:kernels)`);",
    "  }",
    "  return f as F;",
    "}",
    "",
    "/** A usize result read unsigned (wasm returns i32 signed). */",
    "export function unsigned<A extends number[]>(f: (...args: A) => number): (...args: A) => number {",
    "  return (...args: A) => f(...args) >>> 0;",
    "}",
    "",
    "/** A field of an options struct: its name, AssemblyScript type and byte offset. */",
    "export interface OptsField {",
    "  readonly name: string;",
    "  readonly type: string;",
    "  readonly offset: number;",
    "}",
    "",
    "/** An options struct of kernels/ (`@unmanaged class <Name>Opts`): its size, fields and writer. */",
    "export interface OptsStruct<T> {",
    "  readonly name: string;",
    "  readonly bytes: number;",
    "  readonly fields: readonly OptsField[];",
    "  readonly write: (memory: WebAssembly.Memory, ptr: Ptr, value: T) => void;",
    "}",
    "",
    ...opts.flatMap((o) => [emitOpts(o), ""]),
    "/** Every options struct by name. */",
    "export const OPTS_STRUCTS = {",
    ...opts.map((o) => `  ${o.name}: ${constName(o.name)},`),
    "} as const;",
    "",
    ...mods.flatMap((m) => [emitModule(m), ""]),
    "/** Every module's interface by module name. */",
    "export interface KernelModules {",
    ...mods.map((m) => `  ${m.name}: ${pascal(m.name)}Kernels;`),
    "}",
    "",
    "/** Every module's binder by module name. */",
    "export const BIND: { readonly [N in keyof KernelModules]: (exports: WebAssembly.Exports) => KernelModules[N] } = {",
    ...mods.map((m) => `  ${m.name}: bind${pascal(m.name)},`),
    "};",
    "",
  ];
  return parts.join("\n");
}

/** `shared`: the structs bindings.ts already has (a test module that reads them does not get a copy). */
function emitDev(mods, shared) {
  const fns = mods.flatMap((m) => m.fns);
  const opts = collectOpts(mods).filter((o) => !shared.has(o.name));
  const usesPtr = opts.length > 0 || fns.some((f) => f.params.some((p) => p.type === "usize"));
  const imports = ["kernel", ...(fns.some((f) => f.result === "usize") ? ["unsigned"] : []), ...(opts.length ? ["type OptsStruct"] : []), ...(usesPtr ? ["type Ptr"] : [])];
  return [
    HEADER("the modules the runtime does not load"),
    `/** Typed bindings of the kernel modules only tests and benchmarks load (${mods.map((m) => `kernels/${m.name}.ts`).join(", ")}), as in src/backend/wasm/bindings.ts. */`,
    `import { ${imports.join(", ")} } from "../../src/backend/wasm/bindings.js";`,
    "",
    ...opts.flatMap((o) => [emitOpts(o), ""]),
    ...mods.flatMap((m) => [emitModule(m), ""]),
  ].join("\n");
}

/** The generated files: path (from the repository root) -> contents. */
export function generateBindings(root = ROOT) {
  const runtime = runtimeModules(root);
  const entries = readdirSync(join(root, "kernels")).filter((f) => f.endsWith(".ts")).map((f) => basename(f, ".ts")).sort();
  const dev = entries.filter((n) => !runtime.includes(n));
  const runtimeMods = runtime.map((n) => readModule(n, root));
  const shared = new Set(collectOpts(runtimeMods).map((o) => o.name));
  return {
    [RUNTIME_OUT]: emitRuntime(runtimeMods),
    [DEV_OUT]: emitDev(dev.map((n) => readModule(n, root)), shared),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes("--check");
  const files = generateBindings();
  let stale = 0;
  for (const [path, text] of Object.entries(files)) {
    const file = join(ROOT, path);
    const old = existsSync(file) ? readFileSync(file, "utf8") : null;
    if (old === text) continue;
    if (check) {
      console.error(`gen-bindings: ${path} is stale: run \`npm run build:kernels\``);
      stale++;
    } else {
      writeFileSync(file, text);
      console.log(`gen-bindings: wrote ${path}`);
    }
  }
  if (stale) process.exit(1);
}
