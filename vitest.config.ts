import { defineConfig } from "vitest/config";
import { CHROMIUM_INSTALL, findChromium } from "./test/util/chromium.js";

// The real-browser suite runs whenever a Chromium is found; CI (.ci/run) sets TGH_REQUIRE_BROWSER=1,
// so there a missing browser fails the suite instead of leaving it out.
const browser = findChromium() !== null || process.env.TGH_REQUIRE_BROWSER === "1";
if (!browser) console.warn(`note: the browser suites (test/browser*.test.ts) left out: no Chromium found; to run it, ${CHROMIUM_INSTALL}`);

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: browser ? ["**/node_modules/**"] : ["**/node_modules/**", "test/browser*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
