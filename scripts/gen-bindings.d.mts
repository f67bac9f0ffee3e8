// Types of scripts/gen-bindings.mjs (the typed kernel bindings generator).
/** The folder of the bindings of the modules the runtime loads (from the repository root): <module>.ts, common.ts, index.ts. */
export declare const RUNTIME_DIR: string;
/** Where the bindings of the test- and bench-only modules go. */
export declare const DEV_OUT: string;
/** MODULE_NAMES of src/backend/wasm/runtime.ts. */
export declare function runtimeModules(root?: string): string[];
/** The generated files, path (from the root) -> contents; throws when a kernel's source and its build/<name>.wasm disagree, or an options struct cannot be laid out. */
export declare function generateBindings(root?: string): Record<string, string>;
/** The files of RUNTIME_DIR that are not among `files` (default: the generator's output). */
export declare function staleBindings(root?: string, files?: Record<string, string>): string[];
/** Writes the generated files that are missing or differ and removes the stale generated ones (`check`: changes nothing); returns what is or was out of date. */
export declare function syncBindings(root?: string, options?: { check?: boolean }): { path: string; change: "write" | "remove" }[];
