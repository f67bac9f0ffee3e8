/**
 * The typed kernel bindings (src/backend/wasm/bindings.ts, test/util/dev-bindings.ts): the committed
 * files are what scripts/gen-bindings.mjs makes of the current kernels and build, every export of
 * every kernel module has a binding (and nothing else does), a binder refuses exports that do not
 * match, the options structs' writers put every field where the kernels read it, and the generator
 * refuses a source whose signatures disagree with the wasm or whose options structs it cannot lay out.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEV_OUT, RUNTIME_OUT, generateBindings, runtimeModules } from "../scripts/gen-bindings.mjs";
import { ATTENTION_OPTS, BIND, OPTS_STRUCTS, type OptsStruct } from "../src/backend/wasm/bindings.js";
import { loadModule, MODULE_NAMES, type KernelModule } from "../src/backend/wasm/runtime.js";
import { TghError } from "../src/errors.js";
import * as dev from "./util/dev-bindings.js";
import { loadProbes } from "./util/probes.js";

const ROOT = new URL("..", import.meta.url).pathname;
const abort = (): never => { throw new Error("abort"); };

/** The function exports of build/<file>, instantiated on its own or on a shared memory. */
function exportsOf(file: string): WebAssembly.Exports {
  const module = new WebAssembly.Module(readFileSync(join(ROOT, "build", file)));
  const memory = file.includes(".shared.") ? new WebAssembly.Memory({ initial: 3, maximum: 65536, shared: true }) : undefined;
  return new WebAssembly.Instance(module, { env: { abort, ...(memory ? { memory } : {}) } }).exports;
}
const functions = (ex: WebAssembly.Exports): string[] => Object.keys(ex).filter((k) => typeof ex[k] === "function").sort();

describe("kernel bindings", () => {
  it("are the generator's output for the current kernels/*.ts and build/*.wasm (run `npm run build:kernels`)", () => {
    const files = generateBindings();
    expect(Object.keys(files).sort()).toEqual([DEV_OUT, RUNTIME_OUT].sort());
    for (const [path, text] of Object.entries(files)) expect(readFileSync(join(ROOT, path), "utf8"), path).toBe(text);
  });

  it("bind every export of every module in MODULE_NAMES, one thread and shared memory, and nothing else", () => {
    expect(runtimeModules()).toEqual([...MODULE_NAMES]);
    expect(Object.keys(BIND).sort()).toEqual([...MODULE_NAMES].sort());
    for (const name of MODULE_NAMES) {
      for (const file of [`${name}.wasm`, `${name}.shared.wasm`]) {
        const ex = exportsOf(file);
        expect(Object.keys(BIND[name](ex)).sort(), file).toEqual(functions(ex));
      }
    }
  });

  it("bind every export of the modules only tests and benchmarks load (every other kernels/*.ts)", () => {
    const others = readdirSync(join(ROOT, "kernels")).filter((f) => f.endsWith(".ts")).map((f) => f.slice(0, -3))
      .filter((n) => !(MODULE_NAMES as readonly string[]).includes(n)).sort();
    expect(others).toEqual(["peak", "probes"]);
    const binders: Record<string, (ex: WebAssembly.Exports) => object> = { peak: dev.bindPeak, probes: dev.bindProbes };
    for (const name of others) {
      const ex = exportsOf(`${name}.wasm`);
      expect(Object.keys(binders[name](ex)).sort(), name).toEqual(functions(ex));
    }
  });

  it("refuse exports that do not match: a missing export, a different arity", () => {
    const rows = exportsOf("rows.wasm");
    expect(() => BIND.elementwise(rows)).toThrow(TghError);
    expect(() => BIND.elementwise(rows)).toThrow(/wasm elementwise: export 'add' \(4 parameters\) missing/);
    const wrong = { ...rows, layer_norm: (a: number) => a };
    expect(() => BIND.rows(wrong)).toThrow(/wasm rows: export 'layer_norm' \(7 parameters\) 1 parameters/);
  });

  it("read usize results unsigned", async () => {
    const mod = await loadModule("rows");
    expect(mod.k.heap_base()).toBeGreaterThan(0);
    const patch = await loadModule("patch");
    // 2^29 channels x 8 floats: past 2^31 bytes, negative as an i32
    expect(patch.k.patch_scratch_w(1 << 29, 1)).toBe(2 ** 31);
  });

  it("type the calls (checked by tsc: a misspelt kernel, a missing argument, a kernel that returns a value in `split`)", async () => {
    const mod: KernelModule<"attention"> = await loadModule("attention");
    const types = (): void => {
      // @ts-expect-error: no such export
      mod.k.atention_scratch(1, 1);
      // @ts-expect-error: one argument missing
      mod.k.attention_scratch(1);
      // @ts-expect-error: split runs kernels that return nothing
      mod.split("attention_scratch", { total: 1, work: 0 }, () => [1, 1]);
      // @ts-expect-error: a piece's arguments must be the kernel's (9 for attention)
      mod.split("attention", { total: 1, work: 0 }, (lo, hi) => [lo, hi]);
      // @ts-expect-error: an options struct is written by field name, every field given
      mod.putOpts(ATTENTION_OPTS, { batch: 1, nq: 1, nk: 1, heads: 1, kvHeads: 1, dh: 4, scale: 0.5, causal: true });
      // @ts-expect-error: a field of another type (causal is a boolean)
      mod.putOpts(ATTENTION_OPTS, { batch: 1, nq: 1, nk: 1, heads: 1, kvHeads: 1, dh: 4, scale: 0.5, causal: 1, maskBatch: 1 });
    };
    expect(typeof types).toBe("function");
  });
});

describe("options structs", () => {
  const snake = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
  /** A value of each field's type, different per field (and per `pass`), exact in that type. */
  function values(s: OptsStruct<unknown>, pass: number): Record<string, number | boolean> {
    return Object.fromEntries(s.fields.map((f, i) => {
      if (f.type === "bool") return [f.name, pass === 0];
      if (f.type === "f32") return [f.name, Math.fround((pass ? -1 : 1) * (i + 0.1))];
      if (f.type === "f64") return [f.name, (pass ? -1 : 1) * (i + Math.PI / 7)];
      if (f.type === "i32") return [f.name, (i % 2 === pass ? -1 : 1) * (1000003 + 7919 * i)];
      throw new Error(`no test value for a field of type ${f.type}: add one`);
    }));
  }

  it("are written where the kernels read them: offsets, sizes and values against offsetof (kernels/probes.ts)", async () => {
    const probes = await loadProbes();
    expect(Object.keys(OPTS_STRUCTS).sort()).toEqual(["AttentionOpts", "MatmulOpts", "PatchOpts", "RopeOpts"]);
    for (const s of Object.values(OPTS_STRUCTS) as OptsStruct<unknown>[]) {
      const name = `probe_${snake(s.name)}`;
      const probe = (probes.k as unknown as Record<string, ((ptr: number, out: number) => number) | undefined>)[name];
      expect(probe, `kernels/probes.ts has no ${name}`).toBeTypeOf("function");
      for (const pass of [0, 1]) {
        probes.scope(() => {
          const ptr = probes.alloc(s.bytes + 16), out = probes.alloc(8 * (1 + 2 * s.fields.length));
          const bytes = new Uint8Array(probes.memory.buffer, ptr, s.bytes + 16).fill(0xa5); // padding and a guard past the end
          const v = values(s, pass);
          s.write(probes.memory, ptr, v);
          expect([...bytes.subarray(s.bytes)], `${s.name}: written past its ${s.bytes} bytes`).toEqual(new Array(16).fill(0xa5));
          const n = probe!(ptr, out);
          expect(n, `${s.name}: fields the probe reads`).toBe(s.fields.length);
          const got = new Float64Array(probes.memory.buffer, out, 1 + 2 * n);
          expect(got[0], `${s.name}: offsetof<${s.name}>()`).toBe(s.bytes);
          s.fields.forEach((f, i) => {
            expect(got[1 + 2 * i], `${s.name}.${f.name}: offset`).toBe(f.offset);
            const want = v[f.name];
            expect(got[2 + 2 * i], `${s.name}.${f.name}: the value the kernel reads`).toBe(typeof want === "boolean" ? Number(want) : want);
          });
        });
      }
    }
  });
});

describe("the generator", () => {
  /** A copy of what the generator reads (kernels/, build/*.wasm, runtime.ts) with each kernels/<file> changed by its edit; `run` generates. */
  function generateWith(edits: Record<string, (src: string) => string>): () => Record<string, string> {
    const root = mkdtempSync(join(tmpdir(), "tgh-bindings-"));
    cpSync(join(ROOT, "kernels"), join(root, "kernels"), { recursive: true });
    mkdirSync(join(root, "build"));
    for (const f of readdirSync(join(ROOT, "build")).filter((f) => f.endsWith(".wasm"))) cpSync(join(ROOT, "build", f), join(root, "build", f));
    mkdirSync(join(root, "src/backend/wasm"), { recursive: true });
    cpSync(join(ROOT, "src/backend/wasm/runtime.ts"), join(root, "src/backend/wasm/runtime.ts"));
    for (const [file, edit] of Object.entries(edits)) writeFileSync(join(root, "kernels", file), edit(readFileSync(join(root, "kernels", file), "utf8")));
    return () => {
      try {
        return generateBindings(root);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    };
  }

  it("refuses a source that disagrees with the wasm: a parameter more, a type, a rename, a new export", () => {
    expect(generateWith({ "rows.ts": (s) => s.replace("rows: i32, cols: i32, eps: f32): void", "rows: i32, cols: i32, eps: f32, extra: i32): void") }))
      .toThrow(/rows\.layer_norm: 8 parameters in kernels\/rows\.ts, 7 in the wasm/);
    expect(generateWith({ "rows.ts": (s) => s.replace("export function sum_rows(out: usize, x: usize, rows: i32,", "export function sum_rows(out: usize, x: usize, rows: f64,") }))
      .toThrow(/rows\.sum_rows: parameter rows: f64 in kernels\/rows\.ts but i32 in the wasm/);
    expect(generateWith({ "rows.ts": (s) => s.replace("export function sum_rows(", "export function total_rows(") }))
      .toThrow(/rows\.sum_rows: exported by build\/rows\.wasm but no `export function sum_rows`/);
    expect(generateWith({ "rows.ts": (s) => `${s}\nexport function extra(n: i32): i32 { return n; }\n` }))
      .toThrow(/rows\.extra: exported by kernels\/rows\.ts \(or a re-export\) but not by the wasm/);
  });

  /** kernels/lib/opts.ts with `decl` added, imported as TestOpts by kernels/rows.ts (its wasm is unchanged: the import is unused). */
  const withStruct = (decl: string) => generateWith({
    "lib/opts.ts": (s) => `${s}\n${decl}\n`,
    "rows.ts": (s) => `import { TestOpts } from "./lib/opts";\n${s}`,
  });

  it("lays out an options struct as AssemblyScript does: declaration order, each field aligned to its size", () => {
    const out = withStruct("// @ts-ignore: decorator\n@unmanaged\nexport class TestOpts {\n  a: i32;\n  s: f32;\n  /** A flag. */\n  c: bool;\n  m: i32;\n  d: f64;\n  e: u8;\n}")()[RUNTIME_OUT];
    // offsetof<T>("field") and offsetof<T>() of this class, measured with asc 0.28: 0, 4, 8, 12, 16, 24 and 25 bytes
    expect(out).toContain([
      "export const TEST_OPTS: OptsStruct<TestOpts> = {", '  name: "TestOpts",', "  bytes: 25,", "  fields: [",
      '    { name: "a", type: "i32", offset: 0 },', '    { name: "s", type: "f32", offset: 4 },', '    { name: "c", type: "bool", offset: 8 },',
      '    { name: "m", type: "i32", offset: 12 },', '    { name: "d", type: "f64", offset: 16 },', '    { name: "e", type: "u8", offset: 24 },',
    ].join("\n"));
    expect(out).toContain("  /** A flag. */\n  readonly c: boolean;");
    expect(out).toContain("  v.setUint8(8, o.c ? 1 : 0);\n  v.setInt32(12, o.m, true);\n  v.setFloat64(16, o.d, true);");
    expect(out).toContain("read by kernels/rows.ts.");
  });

  it("refuses an options struct it cannot lay out: a method, a type that is not a number, a class not @unmanaged, an import of no struct", () => {
    expect(withStruct("// @ts-ignore: decorator\n@unmanaged\nexport class TestOpts {\n  a: i32;\n  twice(): i32 { return 2 * this.a; }\n}"))
      .toThrow(/kernels\/lib\/opts\.ts: TestOpts: cannot read `twice\(\): i32 \{ return 2 \* this\.a; \}` \(an options struct holds only fields/);
    expect(withStruct("// @ts-ignore: decorator\n@unmanaged\nexport class TestOpts {\n  a: i32;\n  v: v128;\n}"))
      .toThrow(/TestOpts: field v: type v128 is not a number type/);
    expect(withStruct("export class TestOpts {\n  a: i32;\n}")).toThrow(/class TestOpts: an options struct must be `@unmanaged class TestOpts/);
    expect(withStruct("")).toThrow(/kernels\/rows\.ts: imported `TestOpts` is not an options struct/);
  });
});
