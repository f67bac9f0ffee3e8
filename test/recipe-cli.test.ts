/**
 * `tgh-moe train` and `tgh-moe eval` in this process: --help, usage errors, and a tiny end-to-end
 * run (explicit step counts) whose checkpoint loads, whose JSON log records how it was made, which
 * resumes from its stage checkpoint to the same bytes, and which eval scores (table and --json).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "../src/api.js";
import { EXIT, type Io } from "../src/cli/command.js";
import { runCli } from "../src/cli/main.js";
import { Progress, formatDuration, progressLine } from "../src/cli/progress.js";
import type { ProgressState } from "../src/recipe/recipe.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tgh-moe-recipe-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) };
  const code = await runCli(args, io);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("help and usage", () => {
  it("train --help and eval --help print their options; both are listed in tgh-moe --help", async () => {
    const t = await cli("train", "--help"), e = await cli("eval", "--help"), top = await cli("--help");
    expect(t.code).toBe(EXIT.ok);
    for (const flag of ["--budget-minutes", "--stage0-steps", "--variant", "--resume", "token-moe", "one-stage"]) expect(t.out).toContain(flag);
    expect(e.code).toBe(EXIT.ok);
    for (const flag of ["--checkpoint", "--split", "--count", "--json"]) expect(e.out).toContain(flag);
    expect(top.out).toMatch(/^\s+train\s/m);
    expect(top.out).toMatch(/^\s+eval\s/m);
  });

  it("usage errors exit 2 and name the option", async () => {
    expect(await cli("train", "--preset", "tiny")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--out") });
    expect(await cli("train", "--preset", "tiny", "--out", join(dir, "x.safetensors"))).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--budget-minutes") });
    expect(await cli("train", "--preset", "tiny", "--variant", "moe", "--out", "x")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--variant") });
    expect(await cli("eval", "--split", "dev")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--split") });
    expect(await cli("train", "--preset", "tiny", "--stage1-batch", "6", "--per-volume", "4", "--out", "x")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--per-volume: expected a divisor of the stage 1 batch 6, got 4") });
    expect(await cli("train", "--preset", "small", "--stage1-batch", "12", "--out", "x")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--per-volume: expected a divisor of the stage 1 batch 12, got 8") }); // small's default K
    expect(await cli("train", "--preset", "tiny", "--slice-questions", "--no-slice-questions", "--out", "x")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--no-slice-questions") });
  });
});

describe("a tiny run end to end", () => {
  const steps = ["--stage0-steps", "4", "--stage1-steps", "3", "--stage2-steps", "3"];
  it("--no-slice-questions, --slice-stack, --slice-side-repeat, --patch-loss, --stage0-batch, --stage1-batch and --per-volume are stored in the recipe and spelled out in the reproduce line", async () => {
    const out = join(dir, "q.safetensors");
    const r = await cli("train", "--preset", "tiny", "--seed", "3", "--studies", "3", "--stage0-steps", "2", "--stage1-steps", "2", "--stage2-steps", "1", "--no-slice-questions", "--stage1-batch", "6", "--per-volume", "3", "--slice-stack", "2", "--slice-side-repeat", "3", "--patch-loss", "0.5", "--stage0-batch", "4", "--quiet", "--out", out);
    expect(r.code, r.err).toBe(EXIT.ok);
    const log = JSON.parse(await readFile(join(dir, "q.json"), "utf8"));
    expect(log.options.sliceQuestions).toBeUndefined(); // off: left out of the stored options
    expect(log.options.stages.stage1).toEqual({ steps: 2, batch: 6, peak: 5e-4, perVolume: 3 });
    expect(log.reproduce).toContain("--no-slice-questions --slice-stack 2 --slice-side-repeat 3 --patch-loss 0.5 --stage0-batch 4 --stage1-batch 6 --per-volume 3 --accum 1,1,1 --stage0-steps 2");
    expect(log.options.sliceStack).toBe(2);
    expect(log.options.sliceSideRepeat).toBe(3);
    expect(log.options.patchLoss).toBe(0.5);
    expect(await cli("train", "--preset", "tiny", "--patch-loss=-1", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--patch-loss: expected a number in [0, 100], got \"-1\"") });
    expect(log.options.stages.stage0).toEqual({ steps: 2, batch: 4, peak: 1e-3 });
  });
  it("--accum splits each update into micro-batches: stored, spelled out, and the same bytes on 1 and 2 threads (data parallel)", async () => {
    const run = async (name: string, ...extra: string[]) => {
      const out = join(dir, `${name}.safetensors`);
      const r = await cli("train", "--preset", "tiny", "--seed", "5", "--studies", "3", "--stage0-steps", "2", "--stage1-steps", "2", "--stage2-steps", "2", "--quiet", "--out", out, ...extra);
      expect(r.code, r.err).toBe(EXIT.ok);
      return { bytes: await readFile(out), log: JSON.parse(await readFile(join(dir, `${name}.json`), "utf8")) };
    };
    const one = await run("acc1", "--accum", "2,2,2", "--threads", "1");
    const two = await run("acc2", "--accum", "2,2,2", "--threads", "2");
    const whole = await run("acc0", "--threads", "2");
    expect(one.log.options.stages.stage1).toEqual({ steps: 2, batch: 4, peak: 5e-4, accum: 2 });
    expect(one.log.reproduce).toContain("--accum 2,2,2 --stage0-steps 2");
    expect(whole.log.options.stages.stage1).toEqual({ steps: 2, batch: 4, peak: 5e-4 }); // accum 1: left out
    expect(Buffer.compare(one.bytes, two.bytes)).toBe(0);
    expect(Buffer.compare(one.bytes, whole.bytes)).not.toBe(0); // two micro-batches are a different run
    expect(await cli("train", "--preset", "tiny", "--accum", "3,1,1", "--stage0-steps", "1", "--stage1-steps", "1", "--stage2-steps", "1", "--out", join(dir, "bad.safetensors"))).toMatchObject({ err: expect.stringContaining("stage0: accum: expected an integer >= 1 dividing the batch 8, got 3") });
    expect(await cli("train", "--preset", "tiny", "--accum", "2,2", "--out", "x")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--accum: expected three integers") });
  });
  it("writes a loadable checkpoint and its log; a resume from the stage 1 checkpoint gives the same bytes; eval scores it", async () => {
    const out = join(dir, "m.safetensors");
    const r = await cli("train", "--preset", "tiny", "--seed", "3", "--studies", "3", ...steps, "--out", out);
    expect(r.code, r.err).toBe(EXIT.ok);
    expect(r.err).toMatch(/\[3\/3 stage2\] step 3\/3 loss/);
    const model = await loadModel(out);
    expect(model.cfg.vision.moeLayers).toEqual([2, 3]);
    expect(model.preprocess?.grid).toEqual([4, 32, 32]);
    const log = JSON.parse(await readFile(join(dir, "m.json"), "utf8"));
    expect(log.options.stages.stage1.steps).toBe(3);
    expect(log.reproduce).toContain("--stage2-steps 3");
    expect(log.options.sliceQuestions).toBe(true); // the default
    expect(log.reproduce).not.toContain("slice-questions"); // on by default: no flag
    expect(log.reproduce).toContain("--stage0-batch 8 --stage1-batch 4 --per-volume 1 --accum 1,1,1 --stage0-steps 4"); // tiny's stage 1 batch, spelled out
    expect(log.curve.stage2.at(-1)[0]).toBe(3);

    const again = join(dir, "again.safetensors");
    const r2 = await cli("train", "--resume", join(dir, "m.stage1.safetensors"), "--out", again, "--quiet");
    expect(r2.code, r2.err).toBe(EXIT.ok);
    expect(Buffer.compare(await readFile(again), await readFile(out))).toBe(0);

    // --lr, --accum and --stage2-lm-scale on resume change only the stages not yet started, and give the bytes of that run from scratch
    const lr = ["--lr", "0.001,0.0005,0.0002", "--accum", "1,1,2", "--stage2-lm-scale", "0.5"];
    /** A resume from `checkpoint` with `flags`, and the same run from scratch: the same bytes, not those of the run without the flags. */
    const resumeIsFresh = async (name: string, checkpoint: string, flags: string[]) => {
      const resumed = join(dir, `${name}-resumed.safetensors`), fresh = join(dir, `${name}-fresh.safetensors`);
      const a = await cli("train", "--resume", join(dir, checkpoint), ...flags, "--out", resumed, "--quiet");
      expect(a.code, a.err).toBe(EXIT.ok);
      const b = await cli("train", "--preset", "tiny", "--seed", "3", "--studies", "3", ...steps, ...flags, "--out", fresh, "--quiet");
      expect(b.code, b.err).toBe(EXIT.ok);
      expect(Buffer.compare(await readFile(resumed), await readFile(fresh))).toBe(0);
      expect(Buffer.compare(await readFile(resumed), await readFile(out))).not.toBe(0); // the flags did change the run
    };
    await resumeIsFresh("lr", "m.stage1.safetensors", lr);
    const relog = JSON.parse(await readFile(join(dir, "lr-resumed.json"), "utf8"));
    expect(relog.reproduce).toContain("--accum 1,1,2 --stage2-lm-scale 0.5 --stage0-steps 4");
    expect(relog.reproduce).toContain("--lr 0.001,0.0005,0.0002");
    expect(relog.options.stages.stage2).toEqual({ steps: 3, batch: 4, peak: 0.0002, accum: 2, lmScale: 0.5 });
    // what the run started with cannot be given again on a resume (it would be ignored)
    for (const flag of [["--slice-side-repeat", "2"], ["--patch-loss", "1"], ["--studies", "5"], ["--no-mirror"]]) {
      expect(await cli("train", "--resume", join(dir, "m.stage1.safetensors"), ...flag, "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining(`${flag[0]} is set when a run starts from scratch and cannot be given with --resume`) });
    }
    const badAccum = await cli("train", "--resume", join(dir, "m.stage1.safetensors"), "--accum", "1,2,1", "--out", join(dir, "bad.safetensors"), "--quiet");
    expect(badAccum).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("so stage1's settings must stay") });
    expect(await cli("train", "--resume", join(dir, "m.stage1.safetensors"), "--stage2-lm-scale", "2", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--stage2-lm-scale: expected a number in [0, 1], got \"2\"") });
    const bad = await cli("train", "--resume", join(dir, "m.stage1.safetensors"), "--lr", "0.001,0.0004,0.0002", "--out", join(dir, "bad.safetensors"), "--quiet");
    expect(bad).toMatchObject({ code: EXIT.usage, err: expect.stringContaining(`the checkpoint is at stage1, so stage1's settings must stay {"steps":3,"batch":4,"peak":0.0005}, got {"steps":3,"batch":4,"peak":0.0004}`) });

    // stage 1's warm-up may change on a resume from the stage 0 checkpoint (the bytes of that run from scratch), not later
    const align = ["--align-warmup", "2", "--align-ramp", "1", "--focus-warmup", "1", "--focus-side-repeat", "3", "--side-warmup", "1", "--side-closed", "--focus-share", "0.25", "--closed-text", "--stage1-patch-loss", "1.5"];
    await resumeIsFresh("align", "m.stage0.safetensors", align);
    expect(JSON.parse(await readFile(join(dir, "align-fresh.json"), "utf8")).reproduce).toContain("--volume-warmup 0 --align-warmup 2 --align-ramp 1 --focus-warmup 1 --focus-side-repeat 3 --side-warmup 1 --side-closed --focus-share 0.25 --closed-text");
    expect(JSON.parse(await readFile(join(dir, "align-fresh.json"), "utf8")).reproduce).toContain("--stage1-patch-loss 1.5 --stage0-batch");
    expect(await cli("train", "--resume", join(dir, "m.stage1.safetensors"), ...align, "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("so stage 1's warm-up must stay [0,0,0,0,0,1,0,0,0,0,4,0], got [0,0,2,1,1,3,1,1,0.25,1,4,1.5]") });
    expect(await cli("train", "--preset", "tiny", ...steps, "--focus-side-repeat", "0", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--focus-side-repeat") });
    expect(await cli("train", "--preset", "tiny", ...steps, "--side-warmup", "-1", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--side-warmup") });
    expect(await cli("train", "--preset", "tiny", ...steps, "--side-closed", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--side-closed: expected with --side-warmup N > 0 (the side phase it adds to), got --side-warmup 0") });
    // stage 2's own focus share and answer cap may change on a resume from the stage 1 checkpoint, not from stage 2's
    await resumeIsFresh("share2", "m.stage1.safetensors", ["--focus-share", "0,0.25", "--answer-cap", "4,1", "--stage2-focus-cap", "3"]);
    expect(JSON.parse(await readFile(join(dir, "share2-fresh.json"), "utf8")).reproduce).toContain("--focus-share 0,0.25 --answer-cap 4,1 --stage2-focus-cap 3");
    expect(await cli("train", "--resume", join(dir, "m.stage2.safetensors"), "--focus-share", "0,0.25", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("so stage 2's focus share, answer cap, focus cap and focus templates must stay [0,4,4,\"effusion-present,nodule-present,cyst-present,effusion-side,nodule-side,contrast\"], got [0.25,4,4,") });
    expect(await cli("train", "--resume", join(dir, "m.stage2.safetensors"), "--answer-cap", "4,2", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("got [0,2,2,") });
    // --stage2-focus narrows what stage 2's share draws: from the stage 1 checkpoint, the bytes of that run from scratch, not those of the share over every template
    await resumeIsFresh("focus2", "m.stage1.safetensors", ["--focus-share", "0,0.25", "--stage2-focus", "nodule-present,effusion-present"]);
    expect(JSON.parse(await readFile(join(dir, "focus2-fresh.json"), "utf8")).reproduce).toContain("--focus-share 0,0.25 --stage2-focus effusion-present,nodule-present");
    expect(Buffer.compare(await readFile(join(dir, "focus2-fresh.safetensors")), await readFile(join(dir, "share2-fresh.safetensors")))).not.toBe(0);
    expect(await cli("train", "--resume", join(dir, "m.stage2.safetensors"), "--stage2-focus", "contrast", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("got [0,4,4,\"contrast\"]") });
    expect(await cli("train", "--preset", "tiny", ...steps, "--stage2-focus", "effusion-present,liver", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining('stage2Focus: expected distinct templates among effusion-present, nodule-present, cyst-present, effusion-side, nodule-side, contrast, got ["effusion-present","liver"]') });
    // --report-emphasis too (stage 2's reports): from the stage 1 checkpoint, not from stage 2's
    await resumeIsFresh("emph", "m.stage1.safetensors", ["--report-emphasis", "3"]);
    expect(JSON.parse(await readFile(join(dir, "emph-fresh.json"), "utf8")).reproduce).toContain(" --report-emphasis 3 --stage0-batch");
    expect(await cli("train", "--resume", join(dir, "m.stage2.safetensors"), "--report-emphasis", "2", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("the checkpoint is at stage2, so --report-emphasis must stay 1, got 2") });
    expect(await cli("train", "--preset", "tiny", ...steps, "--report-emphasis", "0", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--report-emphasis: expected a number in (0, 100], got \"0\"") });
    expect(await cli("train", "--preset", "tiny", ...steps, "--answer-cap", "0", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--answer-cap: expected N or N1,N2") });
    expect(await cli("train", "--preset", "tiny", ...steps, "--focus-share", "0.5,1", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("--focus-share: expected S or S1,S2") });
    expect(await cli("train", "--preset", "tiny", ...steps, "--volume-warmup", "2", "--align-warmup", "2", "--out", join(dir, "bad.safetensors"), "--quiet")).toMatchObject({ code: EXIT.usage, err: expect.stringContaining("at most one of the two stage 1 warm-ups") });

    const e = await cli("eval", "--checkpoint", out, "--count", "1", "--max-tokens", "8", "--json", "--quiet");
    expect(e.code, e.err).toBe(EXIT.ok);
    const res = JSON.parse(e.out);
    expect(Object.keys(res.metrics)).toEqual(expect.arrayContaining(["bleu4", "meteor", "findingsF1", "closedAccuracy", "openF1"]));
    const table = await cli("eval", "--checkpoint", out, "--count", "1", "--max-tokens", "8", "--quiet");
    expect(table.out).toContain("| closedAccuracy |");
    expect(table.out).toContain("task gate picks");
  }, 300_000); // about twenty tiny training runs
});

describe("progress line", () => {
  const state = (step: number): ProgressState => ({
    phase: "stage2", index: 3, phases: 3, step, total: 10, tokensPerSecond: 812.4, etaSeconds: 492,
    report: { step: step - 1, lr: 4.8e-4, loss: 3.2141, ce: 3.19, balance: 1.0123, task: 0.6931, gradNorm: 1 },
  });
  it("shows stage, step/total, loss and its parts, tokens/s and ETA", () => {
    expect(progressLine(state(3))).toBe("[3/3 stage2] step 3/10 loss 3.214 (ce 3.190 bal 1.012 task 0.693) lr 4.8e-4 | 812 tok/s | ETA 8m12s");
    expect([formatDuration(12.4), formatDuration(3725), formatDuration(NaN)]).toEqual(["12s", "1h02m", "?"]);
  });
  it("without a TTY: plain lines, throttled (first, then at most one per period, and the last); with one: status redraws", () => {
    let t = 0;
    const lines: string[] = [];
    const p = new Progress({ out: () => {}, err: (l) => lines.push(l) }, { plainEvery: 1000, now: () => t });
    for (let s = 1; s <= 10; s++, t += 300) p.training(state(s));
    expect(lines.map((l) => /step (\d+)/.exec(l)![1])).toEqual(["1", "5", "9", "10"]);
    const status: string[] = [], errs: string[] = [];
    const tty = new Progress({ out: () => {}, err: (l) => errs.push(l), status: (x) => status.push(x) });
    for (let s = 1; s <= 10; s++) tty.training(state(s));
    expect(status.length).toBe(11); // 10 redraws and the clear at the end
    expect(errs.length).toBe(1); // the final line stays
    expect(status.some((x) => x.includes("\n"))).toBe(false);
  });
});

describe("Progress.count (eval, data, train's data)", () => {
  it("a TTY gets status redraws and keeps the last as a line; without one, throttled plain lines (first and last always)", () => {
    let t = 0;
    const plain: string[] = [];
    const p = new Progress({ out: () => {}, err: (l) => plain.push(l) }, { plainEvery: 1000, now: () => t });
    for (let i = 1; i <= 10; i++, t += 300) p.count(`n ${i}/10`, i, 10);
    expect(plain).toEqual(["n 1/10", "n 5/10", "n 9/10", "n 10/10"]);
    const status: string[] = [], lines: string[] = [];
    const tty = new Progress({ out: () => {}, err: (l) => lines.push(l), status: (x) => status.push(x) });
    for (let i = 1; i <= 3; i++) tty.count(`n ${i}/3`, i, 3);
    expect([status, lines]).toEqual([["n 1/3", "n 2/3", ""], ["n 3/3"]]);
    const quiet: string[] = [];
    new Progress({ out: () => {}, err: (l) => quiet.push(l), status: (x) => quiet.push(x) }, { quiet: true }).count("n 1/1", 1, 1);
    expect(quiet).toEqual([]);
  });
});
