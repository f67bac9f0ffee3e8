/** Both backends, loaded once per test file. */
import { Backend, createBackend } from "../../src/backend/index.js";

let wasm: Promise<Backend> | undefined;
export function wasmBackend(): Promise<Backend> {
  wasm ??= createBackend("wasm");
  return wasm;
}
export function referenceBackend(): Promise<Backend> {
  return createBackend("reference");
}
