// What the bindings generator (scripts/gen-bindings.mjs) reads: the modules the runtime loads (MODULE_NAMES
// of src/backend/wasm/runtime.ts); each module's exports and their value types from build/<name>.wasm
// (@webassemblyjs/wasm-parser); the parameter names, AssemblyScript types and doc comments from kernels/<name>.ts
// (a regex over `export function name(a: T, ...): R`, following `export { ... } from "./lib/x"`), checked
// against the wasm export for export; and the `@unmanaged class <Name>Opts { field: type; ... }` options
// structs the entry declares or imports (from ./lib/...), laid out as AssemblyScript does.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { decode } from "@webassemblyjs/wasm-parser";
import { AS_TYPES, FIELD_TYPES } from "./types.mjs";

/** MODULE_NAMES of src/backend/wasm/runtime.ts: the modules the runtime loads. */
export function runtimeModules(root) {
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

/**
 * One module: { name, fns, opts }, its exports (fns) with names from the source and types from the wasm,
 * checked against each other, and the options structs its entry declares or imports (opts, by name).
 */
export function readModule(name, root) {
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
