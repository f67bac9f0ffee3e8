/**
 * SIMD presence: every release module build/<name>.wasm is read with @webassemblyjs/wasm-parser (for
 * imports and exports; it cannot decode SIMD bodies) and our own opcode walker over the code section
 * (for v128 instructions and calls). A hot export must reach a v128 instruction through its own body or
 * its callees; no module may contain a relaxed-SIMD opcode. Not a performance test.
 */
// @ts-expect-error: the package ships no type declarations; `decode` is typed below
import { decode as decodeUntyped } from "@webassemblyjs/wasm-parser";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The hot exports of each module: each must reach f32x4/v128 code. Every release module in build/
 * must have a row (an empty list: nothing there has to be SIMD). A renamed kernel fails the test.
 */
const HOT: Record<string, readonly string[]> = {
  matmul: ["matmul", "matmul_part"],
  attention: ["attention"],
  elementwise: [
    "add", "mul", "scale", "add_bias", "gelu_tanh", "quick_gelu", "silu", "swiglu",
    "gelu_tanh_backward", "quick_gelu_backward", "silu_backward", "swiglu_backward", "adamw",
  ],
  rows: ["softmax", "layer_norm", "rms_norm", "sum_rows", "mean_rows", "max_rows", "softmax_backward", "layer_norm_backward", "rms_norm_backward"],
  rope: ["rope"],
  patch: ["patch_embed", "patch_embed_backward"],
  indexing: [], // top-k, gather and scatter-add move rows: memory-bound, scalar is acceptable
  attention_backward: ["attention_backward"],
  probes: [], // test-only: lib/ functions exposed for their own tests (not loaded by the runtime, not shipped)
  peak: [], // bench-only yardstick (not loaded by the runtime); its loop names are still changing
};

/** The part of the parser's AST we read (module fields: imports, exports). */
interface WasmAst {
  body: { fields: { type: string; name?: unknown; descr?: { type?: string; exportType?: string; id?: { value: number } } }[] }[];
}
const decode = decodeUntyped as (bytes: Uint8Array, opts: Record<string, boolean>) => WasmAst;

// ---------------------------------------------------------------- opcode walker
interface FuncScan {
  simd: number; // v128 (0xFD-prefixed) instructions in this body
  relaxed: number[]; // relaxed-SIMD opcodes found (0x100..0x113)
  calls: Set<number>; // direct callees (function indices)
  indirect: boolean;
}

const VALTYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x40]);

class Reader {
  constructor(readonly b: Uint8Array, public pos = 0) {}
  byte(): number {
    if (this.pos >= this.b.length) throw new Error(`wasm walker: read past the end at ${this.pos}`);
    return this.b[this.pos++];
  }
  u32(): number {
    let result = 0, shift = 0, byte: number;
    do {
      byte = this.byte();
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return result;
  }
  /** Skips a signed or unsigned LEB128 of any width. */
  leb(): void {
    while (this.byte() & 0x80);
  }
  memarg(): void {
    const align = this.u32();
    if (align & 0x40) this.u32(); // multi-memory index
    this.leb(); // offset
  }
}

/** Decodes one function body (locals, then instructions up to `end`), counting v128 ops and calls. */
function scanBody(r: Reader, end: number): FuncScan {
  const s: FuncScan = { simd: 0, relaxed: [], calls: new Set(), indirect: false };
  for (let groups = r.u32(); groups > 0; groups--) {
    r.u32();
    r.byte();
  }
  while (r.pos < end) {
    const at = r.pos, op = r.byte();
    if (op === 0x02 || op === 0x03 || op === 0x04) {
      if (VALTYPES.has(r.b[r.pos])) r.pos++;
      else r.leb(); // type index (s33)
    } else if (op === 0x0c || op === 0x0d || (op >= 0x20 && op <= 0x26) || op === 0xd2) r.u32();
    else if (op === 0x0e) {
      for (let n = r.u32(); n >= 0; n--) r.u32(); // n labels + the default
    } else if (op === 0x10 || op === 0x12) s.calls.add(r.u32());
    else if (op === 0x11 || op === 0x13) {
      r.u32();
      r.u32();
      s.indirect = true;
    } else if (op === 0x1c) {
      for (let n = r.u32(); n > 0; n--) r.byte();
    } else if (op >= 0x28 && op <= 0x3e) r.memarg();
    else if (op === 0x3f || op === 0x40) r.u32();
    else if (op === 0x41 || op === 0x42) r.leb();
    else if (op === 0x43) r.pos += 4;
    else if (op === 0x44) r.pos += 8;
    else if (op === 0xd0) r.byte();
    else if (op === 0xfc) {
      const sub = r.u32();
      if (sub === 8 || sub === 10 || sub === 12 || sub === 14) {
        r.u32();
        r.u32();
      } else if (sub >= 9 && sub <= 17) r.u32();
      else if (sub > 7) throw new Error(`wasm walker: unknown 0xFC ${sub} at ${at}`);
    } else if (op === 0xfd) {
      const sub = r.u32();
      s.simd++;
      if (sub <= 0x0b || sub === 0x5c || sub === 0x5d) r.memarg();
      else if (sub === 0x0c || sub === 0x0d) r.pos += 16;
      else if (sub >= 0x15 && sub <= 0x22) r.byte();
      else if (sub >= 0x54 && sub <= 0x5b) {
        r.memarg(); // load/store lane: memarg, lane index
        r.byte();
      } else if (sub >= 0x100 && sub <= 0x113) s.relaxed.push(sub);
      else if (sub > 0xff) throw new Error(`wasm walker: unknown 0xFD ${sub} at ${at}`);
    } else if (op === 0xfe) {
      if (r.u32() === 0x03) r.byte();
      else r.memarg();
    } else if (!(op <= 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x1a || op === 0x1b || (op >= 0x45 && op <= 0xc4) || op === 0xd1)) {
      throw new Error(`wasm walker: unknown opcode 0x${op.toString(16)} at ${at}`);
    }
  }
  if (r.pos !== end) throw new Error(`wasm walker: body overran its size (${r.pos} > ${end})`);
  return s;
}

/** Every defined function's scan, in order (index = imported functions + position). */
function scanCode(bytes: Uint8Array): FuncScan[] {
  const r = new Reader(bytes, 8);
  while (r.pos < bytes.length) {
    const id = r.byte(), size = r.u32(), next = r.pos + size;
    if (id === 10) {
      const out: FuncScan[] = [];
      for (let n = r.u32(); n > 0; n--) {
        const len = r.u32();
        out.push(scanBody(r, r.pos + len));
      }
      return out;
    }
    r.pos = next;
  }
  return [];
}

interface ModuleInfo {
  exports: Map<string, number>; // function exports: name -> function index
  imported: number;
  funcs: FuncScan[];
}

function inspect(bytes: Uint8Array): ModuleInfo {
  const ast = decode(bytes, { dump: false, ignoreCodeSection: true, ignoreDataSection: true });
  const fields = ast.body[0].fields;
  const imported = fields.filter((f) => f.type === "ModuleImport" && f.descr?.type === "FuncImportDescr").length;
  const exports = new Map<string, number>();
  for (const f of fields) if (f.type === "ModuleExport" && f.descr?.exportType === "Func") exports.set(String(f.name), f.descr.id!.value);
  return { exports, imported, funcs: scanCode(bytes) };
}

/** v128 instructions reachable from function `idx` through direct calls (its body included). */
function reachSimd(m: ModuleInfo, idx: number): number {
  const seen = new Set<number>(), todo = [idx];
  let simd = 0;
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f) || f < m.imported) continue;
    seen.add(f);
    const s = m.funcs[f - m.imported];
    simd += s.simd;
    todo.push(...s.calls);
  }
  return simd;
}

// ---------------------------------------------------------------- the built modules
const buildDir = fileURLToPath(new URL("../build/", import.meta.url));
const releaseModules = readdirSync(buildDir).filter((f) => f.endsWith(".wasm") && !f.includes(".debug.")).map((f) => f.slice(0, -5)).sort();
/** A module's row in HOT: the shared-memory build (<name>.shared.wasm, threads) has its module's row. */
const hotRow = (name: string): string => name.replace(/\.shared$/, "");

describe("SIMD in the release kernel modules", () => {
  it("every built module has a row in the HOT table", () => {
    expect(releaseModules.length).toBeGreaterThan(0);
    expect(releaseModules.filter((name) => !(hotRow(name) in HOT))).toEqual([]);
    expect(Object.keys(HOT).filter((name) => !releaseModules.includes(name) || !releaseModules.includes(`${name}.shared`))).toEqual([]);
  });

  for (const name of releaseModules) {
    it(`${name}: hot exports reach v128 code, no relaxed SIMD, the parser and the engine agree`, () => {
      const bytes = new Uint8Array(readFileSync(`${buildDir}${name}.wasm`));
      const m = inspect(bytes);
      const engine = WebAssembly.Module.exports(new WebAssembly.Module(bytes)).filter((e) => e.kind === "function").map((e) => e.name);
      expect([...m.exports.keys()].sort()).toEqual(engine.sort());
      for (const hot of HOT[hotRow(name)] ?? []) {
        expect(m.exports.has(hot), `${name}.wasm exports no '${hot}' (renamed kernel?)`).toBe(true);
        expect(reachSimd(m, m.exports.get(hot)!), `${name}.${hot} reaches no v128 instruction`).toBeGreaterThan(0);
      }
      const relaxed = m.funcs.flatMap((f, i) => f.relaxed.map((op) => `function ${i + m.imported}: 0xFD ${op.toString(16)}`));
      expect(relaxed, `${name}.wasm uses relaxed SIMD`).toEqual([]);
    });
  }
});

// ---------------------------------------------------------------- the walker itself
const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    const b = n & 0x7f;
    n >>>= 7;
    out.push(n ? b | 0x80 : b);
  } while (n);
  return out;
};
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const V128_CONST = [0xfd, 0x0c, ...new Array(16).fill(0)];

/** A module with exports a (calls f1, which has a v128.const), b (nop), c (relaxed swizzle). */
function handMade(): Uint8Array {
  const bodies = [
    [0x00, 0x10, 0x01, 0x0b], // f0: call f1
    [0x00, ...V128_CONST, 0x1a, 0x0b], // f1: v128.const; drop
    [0x00, 0x01, 0x0b], // f2: nop
    [0x00, ...V128_CONST, ...V128_CONST, 0xfd, ...uleb(0x100), 0x1a, 0x0b], // f3: i8x16.relaxed_swizzle
  ];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, 0x00, 0x00]])),
    ...section(3, vec(bodies.map(() => [0x00]))),
    ...section(7, vec([[...name("a"), 0x00, 0], [...name("b"), 0x00, 2], [...name("c"), 0x00, 3]])),
    ...section(10, vec(bodies.map((b) => [...uleb(b.length), ...b]))),
  ]);
}

describe("the opcode walker", () => {
  it("follows calls to v128 code, sees its absence, and flags relaxed SIMD", () => {
    const m = inspect(handMade());
    expect(reachSimd(m, m.exports.get("a")!)).toBe(1);
    expect(reachSimd(m, m.exports.get("b")!)).toBe(0);
    expect(m.funcs[3].relaxed).toEqual([0x100]);
    expect(m.funcs[0].calls).toEqual(new Set([1]));
  });
});
