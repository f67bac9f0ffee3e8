/**
 * The real-browser suites' setup: build build/web into a temporary folder (scripts/build-demo.mjs,
 * with the browser-test page), serve it on 127.0.0.1 (scripts/serve.mjs), launch the system
 * Chromium with playwright-core, open pages and collect their console errors and uncaught
 * exceptions. A missing Chromium throws the install command (vitest.config.ts leaves these suites
 * out unless a Chromium is found or TGH_REQUIRE_BROWSER=1). Env: TGH_CHROMIUM, TGH_KEEP_WEB=1.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { buildWeb, type BuildWebResult } from "../../scripts/build-demo.mjs";
import { serve, type Served } from "../../scripts/serve.mjs";
import { CHROMIUM_INSTALL, CHROMIUM_PATHS, findChromium } from "../util/chromium.js";

/** The launch flags: no sandbox (root in CI), no GPU, no network side-traffic. */
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export interface Harness {
  dir: string;
  built: BuildWebResult;
  server: Served;
  context: BrowserContext;
  /** Console errors and uncaught exceptions of every page opened, prefixed by its path. */
  problems: string[];
  timings: Record<string, number>;
  open(path: string, viewport?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

export async function startHarness(name: string): Promise<Harness> {
  const exe = findChromium();
  if (exe === null) throw new Error(`no Chromium found (TGH_CHROMIUM, ${CHROMIUM_PATHS.join(", ")}): the browser suites need a real one; ${CHROMIUM_INSTALL} (.ci/run does this)`);
  const timings: Record<string, number> = {}, problems: string[] = [];
  let t = performance.now();
  const dir = mkdtempSync(join(tmpdir(), `tgh-${name}-`));
  const built = await buildWeb({ outDir: join(dir, "web"), test: true });
  timings.bundle = performance.now() - t;
  const server = await serve({ root: built.outDir, port: 0 });
  t = performance.now();
  const context = await chromium.launchPersistentContext(join(dir, "profile"), { executablePath: exe, headless: true, args: ARGS });
  timings.launch = performance.now() - t;
  return {
    dir, built, server, context, problems, timings,
    async open(path, viewport) {
      const page = await context.newPage();
      if (viewport) await page.setViewportSize(viewport);
      page.on("console", (m) => m.type() === "error" && problems.push(`${path}: console.error: ${m.text()}`));
      page.on("pageerror", (e) => problems.push(`${path}: uncaught: ${e.message}`));
      await page.goto(server.url + path);
      return page;
    },
    async close() {
      await context.close();
      await server.close();
      if (!process.env.TGH_KEEP_WEB) rmSync(dir, { recursive: true, force: true });
      console.log(`${name} timings (ms): ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")}`);
    },
  };
}
