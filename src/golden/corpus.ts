/**
 * The fixed text of golden files: a small radiology-flavoured corpus that the golden tokenizer is
 * trained on (deterministically, with trainBpe), and the report requests and questions the golden
 * samples use. Changing any string here changes every golden file's bytes. Not training data.
 */
import { trainBpe } from "../tokenizer/train.js";
import type { BpeTokenizer } from "../tokenizer/bpe.js";

/** Report requests (sample 0 of a golden file: task 0, MRG). Short: logits [B, Lseq, V] dominate the file. */
export const REPORT_PROMPTS: readonly string[] = [
  "Write the report for this CT.",
  "Generate a radiology report.",
  "Describe the findings of this scan.",
  "Report the findings.",
];

/** Short reports, paired with a report request by the seed. */
export const REPORTS: readonly string[] = [
  "The lungs are clear.",
  "A small nodule in the right upper lobe.",
  "Mild emphysema. No effusion.",
  "A cyst in the left kidney.",
];

/** Questions with their answers (sample 1 of a golden file: task 1, MVQA). */
export const QUESTIONS: readonly (readonly [string, string])[] = [
  ["Is there a nodule in the right lung?", "Yes."],
  ["Which organ is abnormal?", "The left kidney."],
  ["Is there a pleural effusion?", "No."],
  ["Where is the nodule?", "The right upper lobe."],
  ["Is the heart enlarged?", "No."],
];

const ORGANS = ["lung", "liver", "kidney", "spleen", "heart", "aorta", "pancreas", "bladder", "adrenal gland", "gallbladder"];
const SIDES = ["right", "left"];
const LOBES = ["upper lobe", "middle lobe", "lower lobe"];
const FINDINGS = ["nodule", "mass", "cyst", "lesion", "calcification", "opacity", "consolidation", "effusion"];
const SIZES = ["small", "large", "tiny", "subcentimeter", "well-defined", "ill-defined"];

const SENTENCES: readonly string[] = [
  "Findings: The lungs are clear without focal consolidation, pleural effusion or pneumothorax.",
  "The heart is normal in size. There is no pericardial effusion.",
  "The mediastinal and hilar lymph nodes are not enlarged.",
  "Impression: No acute cardiopulmonary abnormality.",
  "The airways are patent. The trachea and main bronchi are normal.",
  "There is mild emphysema in both upper lobes. Degenerative changes of the thoracic spine.",
  "No suspicious pulmonary nodule is identified. Follow-up CT is recommended in twelve months.",
  "The visualized upper abdomen is unremarkable. The bones show no destructive lesion.",
  "Ground-glass opacities are seen in the lower lobes, compatible with infection.",
  "The aorta is of normal caliber. Coronary artery calcifications are present.",
  "Question: Is there a pneumothorax? Answer: No, there is no pneumothorax.",
  "Question: What is the largest finding? Answer: A mass in the left lower lobe.",
  "Question: Which side is the effusion on? Answer: The right side.",
  "Question: Is the liver normal? Answer: Yes, the liver is normal.",
  "Compared with the prior study, the nodule is stable in size.",
  "Contrast-enhanced CT of the chest, abdomen and pelvis. Slice thickness 1.25 mm.",
  "Hounsfield units were windowed to the lung window and scaled to zero to one.",
];

/** The corpus: fixed sentences, then every templated finding sentence, in a fixed order. */
export function goldenCorpus(): string[] {
  const out = [...SENTENCES, ...REPORT_PROMPTS, ...REPORTS, ...QUESTIONS.flat()];
  for (const organ of ORGANS) {
    for (const [i, finding] of FINDINGS.entries()) {
      const size = SIZES[(i + organ.length) % SIZES.length];
      const side = SIDES[i % 2];
      out.push(`There is a ${size} ${finding} in the ${side} ${organ}.`);
      out.push(`Question: Is there a ${finding} in the ${organ}? Answer: ${i % 3 === 0 ? "No." : `Yes, in the ${side} ${organ}.`}`);
    }
  }
  for (const side of SIDES) for (const lobe of LOBES) out.push(`A nodule in the ${side} ${lobe} measures ${side.length + lobe.length} mm.`);
  return out;
}

/**
 * The golden tokenizer: byte-level BPE trained on goldenCorpus() with at most `vocab` ids (256
 * bytes + merges + the 7 standard specials). If the corpus runs out of pairs seen twice, the
 * vocabulary is smaller than `vocab`; the specials then sit right after the merges.
 */
export function goldenTokenizer(vocab: number): BpeTokenizer {
  return trainBpe(goldenCorpus(), vocab);
}
