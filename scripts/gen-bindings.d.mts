// Types of scripts/gen-bindings.mjs (the typed kernel bindings generator).
/** Where the bindings of the modules the runtime loads go (from the repository root). */
export declare const RUNTIME_OUT: string;
/** Where the bindings of the test- and bench-only modules go. */
export declare const DEV_OUT: string;
/** MODULE_NAMES of src/backend/wasm/runtime.ts. */
export declare function runtimeModules(root?: string): string[];
/** The generated files, path (from the root) -> contents; throws when a kernel's source and its build/<name>.wasm disagree, or an options struct cannot be laid out. */
export declare function generateBindings(root?: string): Record<string, string>;
