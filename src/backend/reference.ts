/** The reference backend: scalar TypeScript primitives from reference/ (float64 accumulation). */
import type { Kernels } from "./kernels.js";
import { matmulReference } from "../../reference/matmul.js";
import { attentionReference } from "../../reference/attention.js";
import { elementwiseReference } from "../../reference/elementwise.js";
import { rowsReference } from "../../reference/rows.js";
import { ropeReference } from "../../reference/rope.js";
import { patchReference } from "../../reference/patch.js";
import { indexingReference } from "../../reference/indexing.js";
import { attentionBackwardReference } from "../../reference/attention_backward.js";

export const referenceKernels: Kernels = {
  name: "reference",
  ...matmulReference,
  ...attentionReference,
  ...elementwiseReference,
  ...rowsReference,
  ...ropeReference,
  ...patchReference,
  ...indexingReference,
  ...attentionBackwardReference,
};
