/**
 * Real-browser test, part 2: the web app (demo/, built into build/web with the shipped checkpoint,
 * samples and docs) driven in headless Chromium as a user would: it opens on the shipped model and
 * sample; a NIfTI file and a DICOM series uploaded through the file input give Node's exact tokens,
 * task probabilities, routing map PNG and model input (loadModel() + readVolumeFiles + generate);
 * Run keeps the slice and the prompt list; Stop aborts; the three planes draw at 2x; the page fits
 * 390 px; its doc links resolve. A screenshot is kept in test-artifacts/ (git-ignored).
 * Env: TGH_SCREENSHOT=path (where to keep it).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytesToBase64, runPage, sha256Hex } from "../demo/run.js";
import type { DemoState } from "../demo/main.js";
import { loadModel, type TghModel } from "../src/api.js";
import { readVolumeFiles, type VolumeFile } from "../src/io/volume.js";
import { DEFAULT_CHECKPOINT_NAME } from "../src/shipped.js";
import { readSamples, ROOT, SAMPLES_DIR } from "../scripts/make-samples.js";
import { startHarness, type Harness } from "./browser/harness.js";
import { writeDicomSeries } from "./fixtures/dicom-writer.js";

const TOKENS = 12;
const SHOT = process.env.TGH_SCREENSHOT ?? join(ROOT, "test-artifacts", "web-app.png");
let h: Harness, page: Page, model: TghModel, nifti: VolumeFile, dicom: VolumeFile[], dicomPaths: string[], firstSample: string;

const state = (): Promise<DemoState> => page.evaluate(() => window.tghDemo);
async function waitFor(states: DemoState["state"][]): Promise<DemoState> {
  await page.waitForFunction((s) => s.includes(window.tghDemo?.state) && window.tghDemo?.state !== undefined, states, { timeout: 60_000 });
  const st = await state();
  expect(st.error).toBeUndefined();
  return st;
}
async function upload(files: string[]): Promise<DemoState> {
  await page.setInputFiles("#file", files);
  await page.waitForFunction((n) => window.tghDemo?.volume?.label === n && window.tghDemo.state === "ready", files.length === 1 ? basename(files[0]) : `${files.length} DICOM files`, { timeout: 60_000 });
  return state();
}
async function runAndWait(): Promise<DemoState> {
  await page.click("#run");
  return waitFor(["done", "error", "stopped"]);
}
/** What Node computes for the same files and prompt (the public API, as the page does). */
async function nodeRun(files: VolumeFile[], prompt: string) {
  const input = model.prepareVolume(readVolumeFiles(files));
  const { gen, png } = await runPage(model, input, { prompt, maxNewTokens: TOKENS });
  return { gen, png: png && bytesToBase64(png), inputSha256: await sha256Hex(new Uint8Array(input.data.buffer, input.data.byteOffset, input.data.byteLength)) };
}

beforeAll(async () => {
  h = await startHarness("browser-app");
  model = await loadModel();
  const sample = (await readSamples())[0];
  firstSample = sample.id;
  const file = join(ROOT, SAMPLES_DIR, sample.file);
  nifti = { name: basename(file), bytes: new Uint8Array(readFileSync(file)) };
  dicom = writeDicomSeries(readVolumeFiles([nifti]), { prefix: "CT" });
  mkdirSync(join(h.dir, "dicom"));
  dicomPaths = dicom.map((f) => join(h.dir, "dicom", f.name));
  dicom.forEach((f, i) => writeFileSync(dicomPaths[i], f.bytes));
  const t = performance.now();
  page = await h.open(`index.html?autorun=0&tokens=${TOKENS}`, { width: 1200, height: 1100 });
  await waitFor(["ready", "error"]);
  h.timings.open = performance.now() - t;
}, 180_000);

afterAll(async () => {
  await h?.close();
});

describe("the web app", () => {
  it("opens on the shipped checkpoint and the first shipped sample", async () => {
    const st = await state();
    expect(st.volume?.label).toBe(firstSample);
    expect(await page.textContent("#model-info")).toContain(DEFAULT_CHECKPOINT_NAME);
    expect(st.volume?.warnings).toEqual([]);
  });

  it("a NIfTI file through the file input: Node's exact tokens, task, routing map and model input", async () => {
    const opened = await upload([join(ROOT, SAMPLES_DIR, nifti.name)]);
    expect(opened.volume?.format).toBe("nifti");
    const st = await runAndWait();
    const node = await nodeRun([nifti], st.result!.prompt);
    expect(st.result!.tokens.length).toBeGreaterThan(0);
    expect(st.result!.tokens).toEqual(node.gen.tokens);
    expect(st.result!.text).toBe(node.gen.text);
    expect(st.result!.task).toEqual(node.gen.task); // float32 probabilities as exact doubles
    expect(st.result!.png).toBe(node.png);
    expect(st.volume!.inputSha256).toBe(node.inputSha256);
  });

  it("a DICOM series through the file input: read the same way as in Node, same tokens", async () => {
    const opened = await upload(dicomPaths);
    expect(opened.volume?.format).toBe("dicom");
    const st = await runAndWait();
    const node = await nodeRun(dicom, st.result!.prompt);
    expect(st.result!.tokens).toEqual(node.gen.tokens);
    expect(st.volume!.inputSha256).toBe(node.inputSha256);
  });

  it("question mode: Run keeps the slice slider, the prompt list (each prompt once) and the prompt", async () => {
    await page.check("input[name=mode][value=question]");
    await page.selectOption("#prompt-choice", { index: 1 });
    await page.$eval("#slice", (el) => ((el as HTMLInputElement).value = "3", el.dispatchEvent(new Event("input"))));
    const before = await page.evaluate(() => ({
      slice: (document.getElementById("slice") as HTMLInputElement).value,
      options: [...(document.getElementById("prompt-choice") as HTMLSelectElement).options].map((o) => o.value),
      prompt: (document.getElementById("prompt") as HTMLTextAreaElement).value,
    }));
    expect(new Set(before.options).size).toBe(before.options.length);
    expect(before.options.length).toBeGreaterThan(1);
    const st = await runAndWait();
    expect(st.result!.prompt).toBe(before.prompt);
    expect(st.result!.task?.name).toBeDefined();
    const after = await page.evaluate(() => ({
      slice: (document.getElementById("slice") as HTMLInputElement).value,
      options: [...(document.getElementById("prompt-choice") as HTMLSelectElement).options].map((o) => o.value),
      prompt: (document.getElementById("prompt") as HTMLTextAreaElement).value,
    }));
    expect(after).toEqual(before);
    expect(await page.textContent("#task")).toContain("chosen");
  });

  it("three planes and three windows draw, at 2x the CSS size, with the routing overlay after a run", async () => {
    const shots = new Set<string>();
    for (const plane of ["axial", "coronal", "sagittal"]) {
      await page.selectOption("#plane", plane);
      for (const win of ["lung", "mediastinum", "bone"]) {
        await page.selectOption("#window", win);
        const c = await page.$eval("#view", (el) => {
          const cv = el as HTMLCanvasElement;
          return { w: cv.width, cw: cv.clientWidth, h: cv.height, ch: cv.clientHeight, data: cv.toDataURL() };
        });
        expect(c.w).toBeGreaterThanOrEqual(2 * c.cw);
        expect(c.h).toBeGreaterThanOrEqual(2 * c.ch - 1);
        shots.add(c.data);
      }
    }
    expect(shots.size).toBe(9); // every plane and window gives another picture
    await page.selectOption("#plane", "axial");
    const withOverlay = await page.$eval("#view", (el) => (el as HTMLCanvasElement).toDataURL());
    await page.$eval("#opacity", (el) => ((el as HTMLInputElement).value = "0", el.dispatchEvent(new Event("input"))));
    expect(await page.$eval("#view", (el) => (el as HTMLCanvasElement).toDataURL())).not.toBe(withOverlay);
    await page.$eval("#opacity", (el) => ((el as HTMLInputElement).value = "45", el.dispatchEvent(new Event("input"))));
    mkdirSync(dirname(SHOT), { recursive: true });
    await page.screenshot({ path: SHOT, fullPage: true });
  });

  it("Stop aborts a generation (AbortSignal); the next Run works", async () => {
    await page.fill("#tokens", "256");
    await page.evaluate(() => {
      document.getElementById("run")!.click();
      document.getElementById("stop")!.click();
    });
    const st = await waitFor(["stopped", "done", "error"]);
    expect(st.state).toBe("stopped");
    await page.fill("#tokens", String(TOKENS));
    expect((await runAndWait()).state).toBe("done");
  });

  it("is usable at 390 px wide (no horizontal scrolling), and its doc links resolve", async () => {
    await page.setViewportSize({ width: 390, height: 900 });
    await page.waitForTimeout(200);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: SHOT.replace(/\.png$/, "-390.png"), fullPage: true });
    const links = await page.$$eval("nav a", (as) => as.map((a) => (a as HTMLAnchorElement).href));
    expect(links.length).toBeGreaterThanOrEqual(4);
    for (const url of links) expect((await fetch(url)).status, url).toBe(200);
    expect(h.problems).toEqual([]);
  });
});
