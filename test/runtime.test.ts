import { describe, expect, it } from "vitest";
import { loadModule, MODULE_NAMES } from "../src/backend/wasm/runtime.js";
import { MemoryError } from "../src/errors.js";

describe("wasm runtime", () => {
  it("loads every kernel module with its own memory and a heap base", async () => {
    for (const name of MODULE_NAMES) {
      const m = await loadModule(name);
      expect(m.memory).toBeInstanceOf(WebAssembly.Memory);
      expect(m.alloc(4) % 16).toBe(0);
    }
  });

  it("grows memory, re-creates views and releases a scope", async () => {
    const m = await loadModule("elementwise");
    const before = m.memory.buffer.byteLength;
    const src = Float32Array.from({ length: 300_000 }, (_, i) => i);
    const copy = new Float32Array(src.length);
    m.scope(() => {
      const p = m.put(src);
      expect(m.memory.buffer.byteLength).toBeGreaterThan(before);
      m.read(p, copy);
    });
    expect(copy).toEqual(src);
    const p1 = m.scope(() => m.alloc(64));
    const p2 = m.scope(() => m.alloc(64));
    expect(p2).toBe(p1);
  });

  it("refuses an allocation beyond 4 GiB with a MemoryError", async () => {
    const m = await loadModule("elementwise");
    expect(() => m.scope(() => m.alloc(2 ** 32))).toThrow(MemoryError);
  });
});
