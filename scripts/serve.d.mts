// Types of scripts/serve.mjs (the static server of the browser bundle), for TypeScript callers.
export declare const MIME: Record<string, string>;
/** The cross-origin isolation headers sent with every response (SharedArrayBuffer, hence threads). */
export declare const ISOLATION: Record<string, string>;
export interface ServeOptions {
  root: string;
  /** 0 (default) = any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  log?: (line: string) => void;
}
export interface Served {
  url: string;
  port: number;
  close: () => Promise<void>;
}
export declare function serve(o: ServeOptions): Promise<Served>;
