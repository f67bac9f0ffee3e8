/**
 * The typed kernel bindings (src/backend/wasm/bindings.ts, test/util/dev-bindings.ts): the committed
 * files are what scripts/gen-bindings.mjs makes of the current kernels and build, every export of
 * every kernel module has a binding (and nothing else does), a binder refuses exports that do not
 * match, and the generator refuses a source whose signatures disagree with the wasm.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEV_OUT, RUNTIME_OUT, generateBindings, runtimeModules } from "../scripts/gen-bindings.mjs";
import { BIND } from "../src/backend/wasm/bindings.js";
import { loadModule, MODULE_NAMES, type KernelModule } from "../src/backend/wasm/runtime.js";
import { TghError } from "../src/errors.js";
import * as dev from "./util/dev-bindings.js";

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
      // @ts-expect-error: a piece's arguments must be the kernel's (17 for attention)
      mod.split("attention", { total: 1, work: 0 }, (lo, hi) => [lo, hi]);
    };
    expect(typeof types).toBe("function");
  });
});

describe("the generator", () => {
  /** A copy of what the generator reads (kernels/, build/*.wasm, runtime.ts) with kernels/<file> changed by `edit`. */
  function generateWith(file: string, edit: (src: string) => string): () => void {
    const root = mkdtempSync(join(tmpdir(), "tgh-bindings-"));
    cpSync(join(ROOT, "kernels"), join(root, "kernels"), { recursive: true });
    mkdirSync(join(root, "build"));
    for (const f of readdirSync(join(ROOT, "build")).filter((f) => f.endsWith(".wasm"))) cpSync(join(ROOT, "build", f), join(root, "build", f));
    mkdirSync(join(root, "src/backend/wasm"), { recursive: true });
    cpSync(join(ROOT, "src/backend/wasm/runtime.ts"), join(root, "src/backend/wasm/runtime.ts"));
    writeFileSync(join(root, "kernels", file), edit(readFileSync(join(root, "kernels", file), "utf8")));
    return () => {
      try {
        generateBindings(root);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    };
  }

  it("refuses a source that disagrees with the wasm: a parameter more, a type, a rename, a new export", () => {
    expect(generateWith("rows.ts", (s) => s.replace("rows: i32, cols: i32, eps: f32): void", "rows: i32, cols: i32, eps: f32, extra: i32): void")))
      .toThrow(/rows\.layer_norm: 8 parameters in kernels\/rows\.ts, 7 in the wasm/);
    expect(generateWith("rows.ts", (s) => s.replace("export function sum_rows(out: usize, x: usize, rows: i32,", "export function sum_rows(out: usize, x: usize, rows: f64,")))
      .toThrow(/rows\.sum_rows: parameter rows: f64 in kernels\/rows\.ts but i32 in the wasm/);
    expect(generateWith("rows.ts", (s) => s.replace("export function sum_rows(", "export function total_rows(")))
      .toThrow(/rows\.sum_rows: exported by build\/rows\.wasm but no `export function sum_rows`/);
    expect(generateWith("rows.ts", (s) => `${s}\nexport function extra(n: i32): i32 { return n; }\n`))
      .toThrow(/rows\.extra: exported by kernels\/rows\.ts \(or a re-export\) but not by the wasm/);
  });
});
