/**
 * Backend argument validation (typed errors whose messages name op, argument, what was expected and
 * what was given) and Tensor reshape / permute / transpose. No kernel runs: every call below fails
 * in src/backend/backend.ts before reaching one, except the few success cases on the reference.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/backend.js";
import { DTypeError, ShapeError, TghError, ValueError } from "../src/errors.js";
import { Tensor, fromArray, fromInts, permute, transpose, zeros, type I32Tensor } from "../src/tensor.js";
import { referenceBackend } from "./util/backends.js";

let b: Backend;
beforeAll(async () => {
  b = await referenceBackend();
});

type ErrorClass = typeof ShapeError | typeof DTypeError | typeof ValueError;
/** fn throws `cls` whose message starts with "<op>: <arg>: expected" and contains every fragment. */
function throwsTyped(fn: () => unknown, cls: ErrorClass, op: string, arg: string, ...fragments: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `${op}: ${arg} should throw ${cls.name}`).toBeInstanceOf(cls);
  const msg = (err as Error).message;
  expect(msg.startsWith(`${op}: ${arg}: expected`), msg).toBe(true);
  for (const f of fragments) expect(msg, msg).toContain(f);
  expect((err as Error).name).toBe(cls.name);
}

const f = (...shape: number[]) => zeros(shape);
const i = (...shape: number[]): I32Tensor => new Tensor("i32", shape);

describe("elementwise argument checks", () => {
  it("add, mul, swiglu: dtype and shape", () => {
    for (const op of ["add", "mul", "swiglu"] as const) {
      throwsTyped(() => b[op](f(2, 3), f(3, 2)), ShapeError, op, "b", "[2, 3]", "got [3, 2]");
      throwsTyped(() => b[op](i(2, 3) as never, f(2, 3)), DTypeError, op, "a", "f32", "got i32 [2, 3]");
      throwsTyped(() => b[op](f(2, 3), i(2, 3) as never), DTypeError, op, "b", "f32", "got i32");
    }
  });
  it("scale: a finite scalar", () => {
    for (const s of [NaN, Infinity, -Infinity]) throwsTyped(() => b.scale(f(2), s), ValueError, "scale", "s", "finite", `got ${s}`);
  });
  it("addBias: bias of the last extent, x of rank >= 1", () => {
    throwsTyped(() => b.addBias(f(2, 3), f(4)), ShapeError, "addBias", "bias", "[3]", "got [4]");
    throwsTyped(() => b.addBias(f(2, 3), f(1, 3)), ShapeError, "addBias", "bias", "[3]", "got [1, 3]");
    throwsTyped(() => b.addBias(f(), f(1)), ShapeError, "addBias", "x", "rank 1..8", "got []");
  });
  it("adamw: f32 w, m, v of g's shape, apart in memory, finite scalars", () => {
    const s = { decay: 1, b1: 0.9, c1: 0.1, b2: 0.95, c2: 0.05, stepSize: 1e-3, bc2Sqrt: 0.2, eps: 1e-8 };
    throwsTyped(() => b.adamw(f(2, 3), f(2, 3), f(6), f(2, 3), s), ShapeError, "adamw", "v", "shape of g [2, 3]", "got [6]");
    throwsTyped(() => b.adamw(f(5), f(4), f(4), f(4), s), ShapeError, "adamw", "w", "shape of g [4]", "got [5]");
    throwsTyped(() => b.adamw(f(4), f(4), f(4), f(3), s), ShapeError, "adamw", "w", "shape of g [3]", "got [4]");
    throwsTyped(() => b.adamw(f(4), i(4) as never, f(4), f(4), s), DTypeError, "adamw", "m", "f32", "got i32 [4]");
    const w = f(4);
    throwsTyped(() => b.adamw(w, f(4), w, f(4), s), ValueError, "adamw", "v", "apart from w", "overlapping");
    const half = new Float32Array(6);
    throwsTyped(() => b.adamw(f(4), new Tensor("f32", [4], half.subarray(0, 4)), new Tensor("f32", [4], half.subarray(2, 6)), f(4), s), ValueError, "adamw", "v", "apart from m");
    for (const k of ["eps", "stepSize", "decay"] as const) {
      throwsTyped(() => b.adamw(f(4), f(4), f(4), f(4), { ...s, [k]: NaN }), ValueError, "adamw", k, "finite", "got NaN");
    }
    // success: the first moment after a step from zero is c1 g; disjoint views of one buffer are fine
    const m = f(2);
    b.adamw(fromArray([2], [1, 1]), m, f(2), fromArray([2], [1, -1]), s);
    expect(Array.from(m.data)).toEqual([Math.fround(0.1), -Math.fround(0.1)]);
    const buf = new Float32Array(8), at = (k: number) => new Tensor("f32", [2], buf.subarray(2 * k, 2 * k + 2));
    b.adamw(at(0), at(1), at(2), at(3), s);
  });
  it("act: a known name and an f32 tensor", () => {
    throwsTyped(() => b.act("relu" as never, f(2)), ValueError, "act", "name", "gelu_tanh, quick_gelu, silu", "got relu");
    throwsTyped(() => b.act("silu", i(2) as never), DTypeError, "silu", "x", "f32", "got i32");
  });
});

describe("row op argument checks", () => {
  it("softmax: mask rows dividing the rows, mask width = cols, causal needs qLen <= cols", () => {
    throwsTyped(() => b.softmax(f(2, 3, 5), { mask: f(2, 4) }), ShapeError, "softmax", "mask", "[r, 5]", "6 rows", "got [2, 4]");
    throwsTyped(() => b.softmax(f(2, 3, 5), { mask: f(4, 5) }), ShapeError, "softmax", "mask", "dividing", "got [4, 5]");
    throwsTyped(() => b.softmax(f(6, 5), { mask: i(1, 5) as never }), DTypeError, "softmax", "mask", "f32", "got i32");
    throwsTyped(() => b.softmax(f(2, 6, 5), { causal: true }), ShapeError, "softmax", "x", "<= cols for causal", "got [2, 6, 5]");
    throwsTyped(() => b.softmax(f()), ShapeError, "softmax", "x", "rank 1..8", "got []");
    expect(b.softmax(f(2, 3, 5), { mask: f(3, 5), causal: true }).shape).toEqual([2, 3, 5]);
  });
  it("layerNorm, rmsNorm: gamma and beta of the last extent, eps finite and >= 0", () => {
    throwsTyped(() => b.layerNorm(f(2, 4), f(3), f(4)), ShapeError, "layerNorm", "gamma", "[4]", "got [3]");
    throwsTyped(() => b.layerNorm(f(2, 4), f(4), f(5)), ShapeError, "layerNorm", "beta", "[4]", "got [5]");
    throwsTyped(() => b.layerNorm(f(2, 4), f(4), i(4) as never), DTypeError, "layerNorm", "beta", "f32", "got i32");
    throwsTyped(() => b.layerNorm(f(2, 4), f(4), f(4), -1e-5), ValueError, "layerNorm", "eps", ">= 0", "got -0.00001");
    throwsTyped(() => b.layerNorm(f(2, 4), f(4), f(4), NaN), ValueError, "layerNorm", "eps", "finite", "got NaN");
    throwsTyped(() => b.rmsNorm(f(2, 4), f(2, 4)), ShapeError, "rmsNorm", "gamma", "[4]", "got [2, 4]");
    throwsTyped(() => b.rmsNorm(f(2, 4), f(4), -1), ValueError, "rmsNorm", "eps", ">= 0", "got -1");
  });
  it("sum, mean, max: a non-empty last axis", () => {
    for (const op of ["sum", "mean", "max"] as const) {
      throwsTyped(() => b[op](f(3, 0)), ShapeError, op, "x", "non-empty", "got [3, 0]");
      throwsTyped(() => b[op](i(3) as never), DTypeError, op, "x", "f32", "got i32 [3]");
    }
    expect(b.sum(f(2, 3, 4)).shape).toEqual([2, 3]);
  });
  it("divRows: one divisor per row", () => {
    throwsTyped(() => b.divRows(f(2, 3, 4), f(3, 2)), ShapeError, "divRows", "d", "[2, 3]", "got [3, 2]");
  });
});

describe("matmul, linear, attention, rope, patchEmbed argument checks", () => {
  it("matmul: inner extents, batch axes, ranks, dtypes, accumulate shape", () => {
    throwsTyped(() => b.matmul(f(2, 3), f(4, 5)), ShapeError, "matmul", "b", "K=3", "got 4");
    throwsTyped(() => b.matmul(f(2, 3), f(5, 4), { transB: true }), ShapeError, "matmul", "b", "K=3", "got 4", "^T");
    throwsTyped(() => b.matmul(f(2, 2, 3), f(3, 3, 4)), ShapeError, "matmul", "b", "batch axes [2]", "got [3]");
    throwsTyped(() => b.matmul(f(3), f(3, 4)), ShapeError, "matmul", "a", "rank 2..8", "got [3]");
    throwsTyped(() => b.matmul(f(2, 3), i(3, 4) as never), DTypeError, "matmul", "b", "f32", "got i32");
    throwsTyped(() => b.matmul(f(2, 3), f(3, 4), { accumulate: f(4, 2) }), ShapeError, "matmul", "accumulate", "[2, 4]", "got [4, 2]");
  });
  it("linear: w of [out, in] matching x, bias of [out]", () => {
    throwsTyped(() => b.linear(f(2, 3), f(4, 5)), ShapeError, "linear", "w", "in=3", "got [4, 5]");
    throwsTyped(() => b.linear(f(2, 3), f(4, 3, 1)), ShapeError, "linear", "w", "rank 2", "got [4, 3, 1]");
    throwsTyped(() => b.linear(f(2, 3), f(4, 3), f(3)), ShapeError, "addBias", "bias", "[4]", "got [3]");
  });
  it("attention: heads, kvHeads, k/v shapes, causal, mask, scale", () => {
    const q = f(2, 3, 8), k = f(2, 5, 8);
    throwsTyped(() => b.attention(q, k, k, { heads: 3 }), ShapeError, "attention", "q", "divisible by heads=3", "got [2, 3, 8]");
    throwsTyped(() => b.attention(q, k, k, { heads: 0 }), ValueError, "attention", "heads", "positive integer", "got 0");
    throwsTyped(() => b.attention(q, k, k, { heads: 4, kvHeads: 3 }), ValueError, "attention", "kvHeads", "divisor of heads=4", "got 3");
    throwsTyped(() => b.attention(q, f(2, 5, 6), f(2, 5, 6), { heads: 2 }), ShapeError, "attention", "k", "[2, 5, 8]", "got [2, 5, 6]");
    throwsTyped(() => b.attention(q, k, f(2, 4, 8), { heads: 2 }), ShapeError, "attention", "v", "[2, 5, 8]", "got [2, 4, 8]");
    throwsTyped(() => b.attention(f(2, 6, 8), k, k, { heads: 2, causal: true }), ShapeError, "attention", "k", "nk >= nq=6", "got [2, 5, 8]");
    throwsTyped(() => b.attention(q, k, k, { heads: 2, mask: f(5, 3) }), ShapeError, "attention", "mask", "[3, 5]", "got [5, 3]");
    throwsTyped(() => b.attention(q, k, k, { heads: 2, mask: f(3, 3, 5) }), ShapeError, "attention", "mask", "batch 1 or 2", "got [3, 3, 5]");
    throwsTyped(() => b.attention(q, k, k, { heads: 2, scale: NaN }), ValueError, "attention", "scale", "finite", "got NaN");
    throwsTyped(() => b.attention(f(3, 8), k, k, { heads: 2 }), ShapeError, "attention", "q", "rank 3", "got [3, 8]");
  });
  it("rope: even head size, positions per token, sections summing to dh/2, base > 0", () => {
    const x = f(2, 4, 12); // NH = 2, dh = 6
    throwsTyped(() => b.rope(f(2, 4, 10), fromInts([4], [0, 1, 2, 3]), { heads: 4 }), ShapeError, "rope", "x", "dh even", "got 10");
    throwsTyped(() => b.rope(x, fromInts([3], [0, 1, 2]), { heads: 2 }), ShapeError, "rope", "pos", "[4]", "got [3]");
    throwsTyped(() => b.rope(x, fromArray([4], [0, 1, 2, 3]) as never, { heads: 2 }), DTypeError, "rope", "pos", "i32", "got f32");
    throwsTyped(() => b.rope(x, i(4, 3), { heads: 2, sections: [1, 1, 2] }), ValueError, "rope", "sections", "summing to dh/2=3", "got [1, 1, 2]");
    throwsTyped(() => b.rope(x, i(4, 3), { heads: 2 }), ValueError, "rope", "sections", "3 non-negative", "got [3]");
    throwsTyped(() => b.rope(x, i(4), { heads: 2, base: 0 }), ValueError, "rope", "base", "> 0", "got 0");
    throwsTyped(() => b.rope(x, i(4), { heads: 2.5 }), ValueError, "rope", "heads", "positive integer", "got 2.5");
  });
  it("patchEmbed: square kernel, channels, divisible extents", () => {
    throwsTyped(() => b.patchEmbed(f(1, 1, 2, 8, 8), f(4, 3, 1, 2, 3)), ShapeError, "patchEmbed", "weight", "[C, cin, t, p, p]", "got [4, 3, 1, 2, 3]");
    throwsTyped(() => b.patchEmbed(f(1, 2, 2, 8, 8), f(4, 3, 1, 2, 2)), ShapeError, "patchEmbed", "vol", "3 or 1 channels", "got [1, 2, 2, 8, 8]");
    throwsTyped(() => b.patchEmbed(f(1, 1, 3, 8, 8), f(4, 3, 2, 2, 2)), ShapeError, "patchEmbed", "vol", "divisible by t=2", "got [1, 1, 3, 8, 8]");
    throwsTyped(() => b.patchEmbed(f(1, 1, 2, 8, 9), f(4, 3, 1, 2, 2)), ShapeError, "patchEmbed", "vol", "by p=2", "got [1, 1, 2, 8, 9]");
    throwsTyped(() => b.patchEmbed(f(1, 2, 8, 8), f(4, 3, 1, 2, 2)), ShapeError, "patchEmbed", "vol", "rank 5", "got [1, 2, 8, 8]");
  });
});

describe("topk and indexing argument checks", () => {
  it("topk: 1 <= k <= cols", () => {
    throwsTyped(() => b.topk(f(2, 4), 5), ValueError, "topk", "k", "at most the row length 4", "got 5");
    throwsTyped(() => b.topk(f(2, 4), 0), ValueError, "topk", "k", "positive integer", "got 0");
    throwsTyped(() => b.topk(f(2, 4), 1.5), ValueError, "topk", "k", "positive integer", "got 1.5");
    throwsTyped(() => b.topk(i(2, 4) as never, 1), DTypeError, "topk", "x", "f32", "got i32");
  });
  it("gatherRows: i32 indices in range, x of rank 2", () => {
    throwsTyped(() => b.gatherRows(f(4, 3), fromInts([2], [1, 4])), ValueError, "gatherRows", "idx", "[0, 4)", "got 4 at position 1");
    throwsTyped(() => b.gatherRows(f(4, 3), fromInts([1], [-1])), ValueError, "gatherRows", "idx", "[0, 4)", "got -1 at position 0");
    throwsTyped(() => b.gatherRows(f(4, 3), fromArray([1], [0]) as never), DTypeError, "gatherRows", "idx", "i32", "got f32");
    throwsTyped(() => b.gatherRows(f(4, 3, 1), fromInts([1], [0])), ShapeError, "gatherRows", "x", "rank 2", "got [4, 3, 1]");
  });
  it("scatterAddRows: src [count, cols], w [count], indices in range", () => {
    const idx = fromInts([2], [0, 3]);
    throwsTyped(() => b.scatterAddRows(f(4, 3), f(2, 4), idx), ShapeError, "scatterAddRows", "src", "[2, 3]", "got [2, 4]");
    throwsTyped(() => b.scatterAddRows(f(4, 3), f(2, 3), idx, f(3)), ShapeError, "scatterAddRows", "w", "[2]", "got [3]");
    throwsTyped(() => b.scatterAddRows(f(3, 3), f(2, 3), idx), ValueError, "scatterAddRows", "idx", "[0, 3)", "got 3 at position 1");
    throwsTyped(() => b.scatterAddRows(i(4, 3) as never, f(2, 3), idx), DTypeError, "scatterAddRows", "out", "f32", "got i32");
  });
  it("embedding: i32 ids below the vocabulary size", () => {
    throwsTyped(() => b.embedding(f(5, 2), fromInts([2, 2], [0, 1, 2, 5])), ValueError, "embedding", "ids", "[0, 5)", "got 5 at position 3");
    throwsTyped(() => b.embedding(f(5, 2), fromArray([1], [0]) as never), DTypeError, "embedding", "ids", "i32", "got f32");
  });
});

describe("Tensor", () => {
  const x = fromArray([2, 3, 4], Array.from({ length: 24 }, (_, k) => k));

  it("reshape shares the data, infers one -1, and refuses a wrong element count", () => {
    const y = x.reshape([6, -1]);
    expect(y.shape).toEqual([6, 4]);
    expect(y.data).toBe(x.data);
    expect(() => x.reshape([5, -1])).toThrow(ShapeError);
    expect(() => x.reshape([5, 5])).toThrow(/reshape: shape: expected 24 elements, got \[5, 5\]/);
    expect(() => x.reshape([2.5, 2])).toThrow(ShapeError);
    expect(() => new Tensor("f32", [2, 2], new Float32Array(3))).toThrow(/Tensor: data: expected 4 elements/);
    expect(() => new Tensor("i32", [2], new Float32Array(2) as never)).toThrow(DTypeError);
  });

  it("permute moves axes (out.shape[i] = x.shape[perm[i]]) and its inverse restores x", () => {
    const p = permute(x, [2, 0, 1]);
    expect(p.shape).toEqual([4, 2, 3]);
    // p[c, a, b] = x[a, b, c] = 12a + 4b + c
    for (let c = 0; c < 4; c++) for (let a = 0; a < 2; a++) for (let bb = 0; bb < 3; bb++) expect(p.data[c * 6 + a * 3 + bb]).toBe(12 * a + 4 * bb + c);
    expect(Array.from(permute(p, [1, 2, 0]).data)).toEqual(Array.from(x.data));
    expect(permute(x, [0, 1, 2]).data).not.toBe(x.data);
    expect(() => permute(x, [0, 0, 1])).toThrow(ValueError);
    expect(() => permute(x, [0, 1])).toThrow(/permute: perm: expected a permutation of 0..2, got \[0, 1\]/);
  });

  it("transpose swaps the last two axes and needs rank >= 2; dim counts from the end", () => {
    const t2 = transpose(x);
    expect(t2.shape).toEqual([2, 4, 3]);
    expect(t2.data[1 * 12 + 2 * 3 + 1]).toBe(x.data[1 * 12 + 1 * 4 + 2]);
    expect(Array.from(transpose(t2).data)).toEqual(Array.from(x.data));
    expect(() => transpose(fromArray([3], [1, 2, 3]))).toThrow(ShapeError);
    expect(x.dim(-1)).toBe(4);
    expect(() => x.dim(3)).toThrow(ValueError);
    const ints = fromInts([2, 2], [1, 2, 3, 4]);
    expect(transpose(ints).dtype).toBe("i32");
    expect(Array.from(transpose(ints).data)).toEqual([1, 3, 2, 4]);
  });

  it("every validation error is a TghError", () => {
    for (const fn of [() => b.add(f(1), f(2)), () => b.scale(f(1), NaN), () => b.add(i(1) as never, f(1))]) {
      expect(fn).toThrow(TghError);
    }
  });
});
