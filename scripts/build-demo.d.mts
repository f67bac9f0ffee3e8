// Types of scripts/build-demo.mjs (esbuild bundles of the library, the demo and the browser-test page).
export declare const ROOT: string;
export declare const DEMO_WEIGHTS: string;
export declare function shippedCheckpoint(): string;
export interface BuildWebOptions {
  /** Default build/web. */
  outDir?: string;
  /** Also build the real-browser test page (browser-test.html, browser-test.js). */
  test?: boolean;
  /** Build the demo page (default true). */
  demo?: boolean;
}
export interface BuildWebResult {
  outDir: string;
  files: string[];
  /** Node built-ins the bundles still import (as guarded dynamic imports). */
  nodeImports: string[];
}
export declare function buildWeb(o?: BuildWebOptions): Promise<BuildWebResult>;
