// A static file server for the browser bundle (build/web/): node:http on 127.0.0.1, GET and HEAD
// only, correct MIME types (application/wasm), no caching, nothing outside the root. Not a web server.
// Every response carries the cross-origin isolation headers (COOP same-origin, COEP require-corp):
// without them browsers withhold SharedArrayBuffer, and the wasm backend runs on one thread.
// Usage: node scripts/serve.mjs [DIR=build/web] [--port 8080]   (port 0 = any free port)
// From code: const { url, close } = await serve({ root, port: 0 });
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".safetensors": "application/octet-stream",
  ".nii": "application/octet-stream",
  ".gz": "application/gzip",
  ".dcm": "application/dicom",
  ".md": "text/plain; charset=utf-8", // shown as text by every browser (text/markdown is often downloaded)
  ".jsonl": "text/plain; charset=utf-8",
};

/** Cross-origin isolation (window.crossOriginIsolated): what a page needs for SharedArrayBuffer, hence threads. */
export const ISOLATION = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
};

/** The file a URL path names inside root (index.html for a folder), or null if it escapes root. */
function fileOf(root, urlPath) {
  let path;
  try {
    path = decodeURIComponent(urlPath.split("?")[0].split("#")[0]);
  } catch {
    return null;
  }
  if (path.includes("\0")) return null;
  const file = normalize(join(root, path));
  if (file !== root && !file.startsWith(root + sep)) return null;
  return path.endsWith("/") ? join(file, "index.html") : file;
}

/**
 * Serves `root` on http://127.0.0.1:<port>/. Resolves once listening.
 * @param {{ root: string, port?: number, host?: string, log?: (line: string) => void }} o
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 */
export async function serve(o) {
  const root = resolve(o.root);
  const host = o.host ?? "127.0.0.1";
  const log = o.log ?? (() => {});
  const server = createServer(async (req, res) => {
    const send = (status, body, type = "text/plain; charset=utf-8") => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store", "content-length": Buffer.byteLength(body), ...ISOLATION });
      res.end(req.method === "HEAD" ? undefined : body);
      log(`${status} ${req.method} ${req.url}`);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "method not allowed\n");
    let file = fileOf(root, req.url ?? "/");
    if (file === null) return send(403, "forbidden\n");
    try {
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      send(200, body, MIME[extname(file).toLowerCase()] ?? "application/octet-stream");
    } catch {
      send(404, `not found: ${req.url}\n`);
    }
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(o.port ?? 0, host, () => ok(undefined));
  });
  const port = server.address().port;
  return {
    url: `http://${host}:${port}/`,
    port,
    close: () => new Promise((ok) => {
      server.closeAllConnections();
      server.close(() => ok(undefined));
    }),
  };
}

// CLI: serve a folder until interrupted.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf("--port");
  const port = at >= 0 ? Number(args[at + 1]) : 8080;
  const dir = args.find((a, i) => !a.startsWith("--") && (at < 0 || i !== at + 1)) ?? "build/web";
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve: --port: expected an integer in [0, 65535], got ${args[at + 1]}`);
    process.exit(2);
  }
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error("not a folder");
  } catch {
    console.error(`serve: ${dir}: no such folder (build it first: npm run demo:web)`);
    process.exit(2);
  }
  const log = (line) => console.log(line);
  let server;
  try {
    server = await serve({ root: dir, port, log });
  } catch (e) {
    if (e?.code !== "EADDRINUSE") throw e;
    console.log(`serve: port ${port} is in use; taking any free port`);
    server = await serve({ root: dir, port: 0, log });
  }
  const { url } = server;
  console.log(`serving ${resolve(dir)} at ${url}  (Ctrl-C to stop)`);
}
