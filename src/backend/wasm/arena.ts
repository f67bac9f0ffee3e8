/**
 * The bump arena of the wasm backend's linear memory: ops allocate their operands and scratch, then
 * release back to a mark (WasmModule.scope); resident weights are pinned below every scope.
 */
import { MemoryError } from "../../errors.js";

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB
const ALIGN = 16;

function align(x: number): number {
  return Math.ceil(x / ALIGN) * ALIGN;
}

/**
 * A bump arena over one linear memory: a module's own memory, or the one shared memory that every
 * kernel module (and every worker thread) of a threaded backend uses.
 */
export class Arena {
  private top: number;
  constructor(readonly memory: WebAssembly.Memory, private base: number, readonly label: string) {
    this.top = align(base);
  }

  /** Allocates `bytes` (16-byte aligned), growing memory as needed. */
  alloc(bytes: number): number {
    const ptr = this.top;
    const end = align(ptr + bytes);
    if (end > MAX_PAGES * PAGE) {
      throw new MemoryError(
        `wasm ${this.label}: need ${end} bytes of linear memory, more than the 4 GiB (${MAX_PAGES * PAGE}) of wasm32`,
      );
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      try {
        this.memory.grow(pages);
      } catch (e) {
        throw new MemoryError(`wasm ${this.label}: could not grow memory to ${end} bytes: ${String(e)}`);
      }
    }
    this.top = end;
    return ptr >>> 0;
  }
  /**
   * Allocates `bytes` that stay for the arena's lifetime (resident weights) below everything a
   * scope allocates; only possible while no scope holds memory (returns null otherwise).
   */
  pin(bytes: number): number | null {
    if (this.top !== align(this.base)) return null;
    const ptr = this.alloc(bytes);
    this.base = this.top;
    return ptr;
  }
  mark(): number {
    return this.top;
  }
  release(mark: number): void {
    this.top = mark;
  }
}
