/**
 * Where the real-browser test finds Chromium: TGH_CHROMIUM, else the usual Debian / Ubuntu / Chrome
 * paths. vitest.config.ts leaves the browser suite out when none is found, unless
 * TGH_REQUIRE_BROWSER=1 (set by .ci/run), which makes a missing browser a failure.
 */
import { existsSync } from "node:fs";

export const CHROMIUM_PATHS: readonly string[] = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];

/** The Chromium binary to drive, or null when there is none. */
export function findChromium(env: Record<string, string | undefined> = process.env): string | null {
  if (env.TGH_CHROMIUM) return existsSync(env.TGH_CHROMIUM) ? env.TGH_CHROMIUM : null;
  return CHROMIUM_PATHS.find((p) => existsSync(p)) ?? null;
}

/** The install hint of the failure and of the notice. */
export const CHROMIUM_INSTALL = "install it (Debian, as root): `apt-get update && apt-get install -y chromium`, or point TGH_CHROMIUM at a Chromium/Chrome binary";
