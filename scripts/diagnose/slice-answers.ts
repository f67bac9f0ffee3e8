/**
 * Diagnosis: does a stage 0 (2D) checkpoint answer the slice questions from its images? On N test
 * studies, every image of stage 0's kind (single slices, or stacks of S consecutive slices) is
 * asked its slice questions (src/recipe/data.ts sliceQuestions); per question: accuracy of the
 * first answer token and, for yes/no, the AUC of logit("yes") - logit("no").
 *   npx tsx scripts/diagnose/slice-answers.ts STAGE0.safetensors [S] [N]
 */
import { readFile } from "node:fs/promises";
import { createBackend } from "../../src/backend/index.ts";
import { imageTokens } from "../../src/model/projector.ts";
import { sliceQuestions } from "../../src/recipe/data.ts";
import { Tensor } from "../../src/tensor.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { parseCheckpoint } from "../../src/train/checkpoint.ts";
import { auc, firstAnswers, testStudies } from "./answers.ts";

const [file, stackArg = "1", count = "40"] = process.argv.slice(2);
const S = Number(stackArg);
const s0 = parseCheckpoint(new Uint8Array(await readFile(file)));
const tok = BpeTokenizer.deserialize(s0.tokenizer!), cfg = s0.cfg, be = await createBackend("wasm");
const m = imageTokens(cfg, S);
const st = new Map<string, { x: number[]; y: number[]; right: number; n: number }>();
for (const { study, volume } of testStudies(Number(count))) {
  const [, D, H, W] = volume.shape;
  for (let k = 0; k + S <= D; k += S) {
    const qa = sliceQuestions(study, k, S);
    if (qa.length === 0) continue;
    const image = new Tensor("f32", [1, S, H, W], volume.data.slice(k * H * W, (k + S) * H * W));
    const out = firstAnswers(be, cfg, s0.params, tok, qa.map(([q]) => ({ prompt: q, image })), m);
    qa.forEach(([q, a], i) => {
      const s = st.get(q) ?? { x: [], y: [], right: 0, n: 0 };
      st.set(q, s);
      s.n++;
      s.right += out[i].token === tok.encode(a)[0] ? 1 : 0;
      if (a === "yes" || a === "no") (s.x.push(out[i].margin), s.y.push(a === "yes" ? 1 : 0));
    });
  }
}
for (const [q, s] of st) console.log(`${q.padEnd(52)} n ${String(s.n).padStart(4)} acc ${((100 * s.right) / s.n).toFixed(0).padStart(3)}%  auc ${s.y.length ? auc(s.x, s.y).toFixed(2) : "-"}`);
process.exit(0);
