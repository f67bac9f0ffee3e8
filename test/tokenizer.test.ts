/**
 * Byte-level BPE: merge order checked against hand-computed examples and against a naive
 * full-recount trainer / naive encoder written here; lossless round trips over arbitrary Unicode
 * (seeded fast-check); specials never produced from text; strict serialization. All checks exact.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FormatError, ValueError } from "../src/errors.js";
import { BpeTokenizer, STANDARD_SPECIALS } from "../src/tokenizer/bpe.js";
import { compilePattern, DEFAULT_PATTERN, splitPieces } from "../src/tokenizer/pretokenize.js";
import { trainBpe } from "../src/tokenizer/train.js";
import { check } from "./util/prop.js";

const utf8 = (s: string) => [...new TextEncoder().encode(s)];
const c = (ch: string) => ch.charCodeAt(0);

// ---- naive oracles: the definitions, with no incremental bookkeeping ----
/** Training by full recount: every step counts all adjacent pairs of all pieces again. */
function naiveTrain(texts: string[], numMerges: number, minFrequency = 2): [number, number][] {
  const re = compilePattern(DEFAULT_PATTERN);
  const words = texts.flatMap((t) => splitPieces(t, re)).map(utf8);
  const merges: [number, number][] = [];
  while (merges.length < numMerges) {
    const count = new Map<string, number>();
    for (const w of words) for (let i = 0; i + 1 < w.length; i++) count.set(`${w[i]},${w[i + 1]}`, (count.get(`${w[i]},${w[i + 1]}`) ?? 0) + 1);
    let best: [number, number] | undefined, bestCount = 0;
    for (const [k, n] of count) {
      const [a, b] = k.split(",").map(Number);
      if (n > bestCount || (n === bestCount && (a < best![0] || (a === best![0] && b < best![1])))) [best, bestCount] = [[a, b], n];
    }
    if (!best || bestCount < minFrequency) break;
    const id = 256 + merges.length;
    merges.push(best);
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) if (w[i] === best[0] && w[i + 1] === best[1]) w.splice(i, 2, id);
    }
  }
  return merges;
}
/** Encoding by repeated scan: merge the lowest-rank adjacent pair, leftmost first. */
function naiveEncode(tok: BpeTokenizer, text: string): number[] {
  const rank = new Map(tok.merges.map(([a, b], r) => [`${a},${b}`, r]));
  const out: number[] = [];
  for (const piece of splitPieces(text, compilePattern(tok.pattern))) {
    const w = utf8(piece);
    for (;;) {
      let best = -1, at = -1;
      for (let i = 0; i + 1 < w.length; i++) {
        const r = rank.get(`${w[i]},${w[i + 1]}`) ?? -1;
        if (r >= 0 && (best < 0 || r < best)) [best, at] = [r, i];
      }
      if (best < 0) break;
      w.splice(at, 2, 256 + best);
    }
    out.push(...w);
  }
  return out;
}

const corpus = [
  "No acute intracranial hemorrhage. The lungs are clear; there's no pleural effusion.",
  "Mild cardiomegaly. Small left pleural effusion with adjacent atelectasis, 12 mm nodule in the right upper lobe.",
  "Q: Is there a pleural effusion?  A: yes, left-sided.\n\nQ: Which lobe? A: the right upper lobe.",
  "Lésion hépatique de 2,5 cm — 肝臓に病変 — поражение печени 🙂",
];
const trained = trainBpe(corpus, 256 + 7 + 60);
const plain = new BpeTokenizer({ merges: [], specials: STANDARD_SPECIALS });

describe("BPE training", () => {
  it("learns the hand-computed merges of 'aaabdaaabac' (ties: smallest (left, right) first)", () => {
    // counts: aa 4 (overlapping), ab 2 -> Z=aa; "ZabdZabac": Za 2, ab 2 -> tie, (a,b) < (Z,a) -> Y=ab;
    // "ZYdZYac": ZY 2 -> X; then every pair occurs once: stop (minFrequency 2)
    const tok = trainBpe(["aaabdaaabac"], 1000);
    expect(tok.merges).toEqual([[c("a"), c("a")], [c("a"), c("b")], [256, 257]]);
    expect([...tok.encode("aaabdaaabac")]).toEqual([258, c("d"), 258, c("a"), c("c")]);
    expect(tok.vocabSize).toBe(256 + 3 + STANDARD_SPECIALS.length);
    // minFrequency 1 goes on through count-1 ties: "XdXac": (a,c) < (d,X) < (X,d) < ...
    const all = trainBpe(["aaabdaaabac"], 1000, [], { minFrequency: 1 });
    expect(all.merges.slice(3)).toEqual([[c("a"), c("c")], [c("d"), 258], [258, 260], [261, 259]]);
    expect([...all.encode("aaabdaaabac")]).toEqual([262]);
  });

  it("learns the hand-computed merges of Sennrich et al.'s example (weighted by piece frequency)", () => {
    const texts = [..."low ".repeat(5).trim().split(" "), "lower", "lower", ...Array(6).fill("newest"), ...Array(3).fill("widest")];
    const [e, s, t, l, o, w, n, d, i, r] = [..."estlowndir"].map(c);
    expect(trainBpe(texts, 1000).merges).toEqual([
      [e, s], // es 9 ties st 9: (e,s) < (s,t)
      [256, t], // est 9
      [l, o], // lo 7 ties ow 7
      [258, w], // low 7
      [e, w], // ew 6 ties ne 6 and (w,est) 6: (e,w) smallest
      [n, 260], // new 6 ties (ew,est) 6
      [261, 257], // newest 6
      [d, 257], // dest 3 ties wi 3, id 3: (d,est) smallest left id
      [i, 263], // idest 3 ties wi 3
      [w, 264], // widest 3
      [e, r], // er 2 ties (low,e) 2
      [259, 266], // lower 2
    ]);
  });

  it("keeps a pair whose count dropped in the running at its new count", () => {
    // ab 8 (abc x4, ab x4), bc 7 (abc x4, bc x3): merge Z=ab; "Zc" x4 drops bc to 3; then Zc 4, then bc 3
    const texts = [...Array(4).fill("abc"), ...Array(3).fill("bc"), ...Array(4).fill("ab")];
    expect(trainBpe(texts, 1000).merges).toEqual([[c("a"), c("b")], [256, c("c")], [c("b"), c("c")]]);
  });

  it("equals the naive full-recount trainer on random corpora", () => {
    const text = fc.string({ unit: fc.constantFrom("a", "b", "a", "b", "c", " ", "é", "1", "'s", "\n"), maxLength: 60 });
    check(fc.tuple(fc.array(text, { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 3 })), ([texts, k, minF]) => {
      const got = trainBpe(texts, 256 + STANDARD_SPECIALS.length + k, [], { minFrequency: minF });
      expect(got.merges).toEqual(naiveTrain(texts, k, minF));
    }, 60);
  });

  it("is deterministic and independent of the order of the texts", () => {
    const again = trainBpe(corpus, 256 + 7 + 60);
    expect(again.serialize()).toBe(trained.serialize());
    expect(trainBpe([...corpus].reverse(), 256 + 7 + 60).serialize()).toBe(trained.serialize());
  });

  it("places extra specials after the standard ones and validates its arguments", () => {
    const tok = trainBpe(["abab abab"], 256 + 9 + 1, ["<bos>", "<mrg>", "<vqa>"]);
    expect(tok.specials).toEqual([...STANDARD_SPECIALS, "<mrg>", "<vqa>"]);
    expect(tok.specialId("<vqa>")).toBe(tok.vocabSize - 1);
    expect(tok.specialId("<bos>")).toBe(256 + tok.merges.length);
    expect(() => trainBpe(["x"], 256 + 6)).toThrow(ValueError);
    expect(() => trainBpe(["x"], 300, ["<a>", "<a>"])).toThrow(/given twice/);
    expect(() => trainBpe(["x"], 300, [], { minFrequency: 0 })).toThrow(ValueError);
  });
});

describe("BPE encode / decode", () => {
  it("decode(encode(s)) == s for arbitrary Unicode", () => {
    const s = fc.oneof(fc.string({ unit: "binary", maxLength: 60 }), fc.string({ unit: "grapheme", maxLength: 30 }), fc.string({ unit: fc.constantFrom(...corpus.join("")), maxLength: 80 }));
    check(s, (text) => {
      for (const tok of [trained, plain]) expect(tok.decode(tok.encode(text))).toBe(text);
    }, 150);
    for (const text of ["", "\uFEFFbom first", "\0nul", "<eos>", "  \t\n\r\v\f", "\u{10FFFF}\u{1F600}"]) expect(trained.decode(trained.encode(text))).toBe(text);
  });

  it("applies merges by rank, leftmost first (vs a naive encoder), long pieces included", () => {
    const s = fc.string({ unit: fc.constantFrom(..."the pleural effusion lobe ".split("")), maxLength: 60 });
    check(s, (text) => {
      expect([...trained.encode(text)]).toEqual(naiveEncode(trained, text));
    }, 100);
    const long = "effusion".repeat(300) + "a".repeat(500);
    expect([...trained.encode(long)]).toEqual(naiveEncode(trained, long));
    const aa = new BpeTokenizer({ merges: [[97, 97]], specials: STANDARD_SPECIALS });
    expect([...aa.encode("aaaaa")]).toEqual([256, 256, 97]); // leftmost first, no overlap
  });

  it("never produces a special token from text", () => {
    const specialsText = fc.array(fc.constantFrom(...STANDARD_SPECIALS, "<", ">", "/", "img", " "), { maxLength: 12 }).map((xs) => xs.join(""));
    check(fc.oneof(specialsText, fc.string({ unit: "binary", maxLength: 30 })), (text) => {
      for (const id of trained.encode(text)) expect(trained.isSpecial(id)).toBe(false);
    }, 100);
    expect([...plain.encode("<eos>")]).toEqual(utf8("<eos>"));
    const eos = trained.specialId("<eos>");
    expect(trained.decode([eos])).toBe("<eos>");
    expect(trained.decode([c("a"), eos, c("b")], { skipSpecials: true })).toBe("ab");
  });

  it("decodes byte by byte: invalid UTF-8 -> U+FFFD; lone surrogates encode as U+FFFD", () => {
    expect(plain.decode([0xe2, 0x82])).toBe("\uFFFD"); // truncated 3-byte sequence
    expect(plain.decode([0xff, c("a")])).toBe("\uFFFDa");
    expect(plain.decode(utf8("é").slice(0, 1))).toBe("\uFFFD");
    expect(plain.decode([0xef, 0xbb, 0xbf, c("x")])).toBe("\uFEFFx"); // BOM kept
    expect(plain.decode(plain.encode("a\uD800b"))).toBe("a\uFFFDb");
  });

  it("maps ids to bytes: bytes, merges as concatenations, specials as their names", () => {
    for (let id = 256; id < 256 + trained.merges.length; id++) {
      const [a, b] = trained.merges[id - 256];
      expect([...trained.tokenToBytes(id)]).toEqual([...trained.tokenToBytes(a), ...trained.tokenToBytes(b)]);
    }
    expect([...trained.tokenToBytes(200)]).toEqual([200]);
    expect([...trained.tokenToBytes(trained.specialId("</img>"))]).toEqual(utf8("</img>"));
    trained.tokenToBytes(65)[0] = 0; // a copy: the table is not changed
    expect(trained.decode([65])).toBe("A");
  });

  it("rejects ids out of range and unknown special names", () => {
    const V = trained.vocabSize;
    expect(() => trained.decode([1, V])).toThrow(/decode: ids\[1\]: expected a token id in \[0, \d+\], got \d+/);
    for (const bad of [-1, 1.5, NaN]) expect(() => trained.decode([bad])).toThrow(ValueError);
    expect(() => trained.tokenToBytes(V)).toThrow(ValueError);
    expect(() => trained.specialId("<nope>")).toThrow(/specialId: name/);
  });
});

describe("pre-tokenizer", () => {
  const split = (s: string) => splitPieces(s, compilePattern(DEFAULT_PATTERN));
  it("splits like GPT-2 with ASCII whitespace", () => {
    expect(split("Hello world's  end\n\n")).toEqual(["Hello", " world", "'s", " ", " end", "\n\n"]);
    expect(split("T2-weighted 3.5mm, isn't")).toEqual(["T", "2", "-", "weighted", " 3", ".", "5", "mm", ",", " isn", "'t"]);
    expect(split("a\u00A0b\u3000c")).toEqual(["a", "\u00A0", "b", "\u3000", "c"]); // non-ASCII spaces are "other"
    expect(split("x \t\ny")).toEqual(["x", " \t", "\n", "y"]); // only a space (U+0020) joins the next word
  });
  it("covers the text exactly (pieces concatenate to it)", () => {
    check(fc.string({ unit: "binary", maxLength: 50 }), (s) => {
      expect(split(s).join("")).toBe(s);
    }, 100);
    expect(splitPieces("ab12cd", compilePattern("[a-z]+"))).toEqual(["ab", "12", "cd"]); // gaps become pieces
  });
});

describe("serialization", () => {
  it("round-trips to the same JSON and the same encoding", () => {
    const json = trained.serialize();
    const back = BpeTokenizer.deserialize(json);
    expect(back.serialize()).toBe(json);
    expect([...back.encode(corpus[2])]).toEqual([...trained.encode(corpus[2])]);
    const parsed = JSON.parse(json);
    expect(Object.keys(parsed)).toEqual(["type", "version", "pattern", "merges", "specials"]);
    expect(parsed.specials["<bos>"]).toBe(256 + trained.merges.length);
  });

  it("rejects malformed tokenizer JSON with a FormatError naming the field", () => {
    const good = JSON.parse(plain.serialize());
    const sp = (over: Record<string, number>) => JSON.stringify({ ...good, specials: { ...good.specials, ...over } });
    const withMerges = (merges: unknown[]) => {
      const specials = Object.fromEntries(STANDARD_SPECIALS.map((name, i) => [name, 256 + merges.length + i]));
      return JSON.stringify({ ...good, merges, specials });
    };
    const cases: [string, RegExp][] = [
      ["[]", /expected a JSON object/],
      [JSON.stringify({ ...good, type: "bpe" }), /type: expected "byte_bpe"/],
      [JSON.stringify({ ...good, version: 2 }), /version: expected 1/],
      [JSON.stringify({ ...good, extra: 1 }), /extra: unknown field/],
      [JSON.stringify({ ...good, pattern: "(" }), /pattern/],
      [withMerges([[97, 256]]), /merges\[0\]: expected two ids in \[0, 255\]/],
      [withMerges([[97, 98], [97, 98]]), /merges\[1\]: \[97, 98\] repeats an earlier merge/],
      [withMerges([[97]]), /merges\[0\]: expected \[left, right\]/],
      [sp({ "<bos>": 300 }), /specials\["<bos>"\]: expected id 256/],
      [JSON.stringify({ ...good, specials: { "<bos>": 256 } }), /missing the standard special <eos>/],
      [plain.serialize().replace('"<eos>":257', '"<bos>":257'), /duplicate key "<bos>"/],
    ];
    for (const [json, msg] of cases) {
      expect(() => BpeTokenizer.deserialize(json), json.slice(0, 60)).toThrow(FormatError);
      expect(() => BpeTokenizer.deserialize(json)).toThrow(msg);
    }
  });
});
