/**
 * Byte-level BPE tokenizer, pinned so that a port reproduces it from the checkpoint metadata alone.
 * Vocabulary: ids 0..255 are the bytes; merge r (0-based) creates id 256 + r from two earlier ids;
 * the special tokens follow the merges. Special tokens are never produced by `encode` (the text
 * "<eos>" is encoded as its bytes); a sequence gets them through `specialId`. Training: ./train.ts.
 *
 *   encode: text -> pre-tokenizer pieces -> UTF-8 bytes of each piece -> merges by rank -> ids
 *   decode: ids -> bytes (a special -> the UTF-8 bytes of its name) -> UTF-8 (bad sequences -> U+FFFD)
 */
import { FormatError, ValueError } from "../errors.js";
import { Heap } from "./heap.js";
import { parseStrictJson, JsonNumber, type JsonValue } from "../io/json.js";
import { compilePattern, DEFAULT_PATTERN, splitPieces } from "./pretokenize.js";

/** The special tokens every tokenizer of this model has, in this order, after the merges. */
export const STANDARD_SPECIALS = ["<bos>", "<eos>", "<pad>", "<img>", "</img>", "<image>", "<sep>"] as const;
/** Ids must keep pair keys `a * 2^24 + b` exact in a float64. */
export const MAX_VOCAB = 2 ** 24;
/** Longest token, and all tokens together, in bytes: a merge doubles its parts, so without a bound 40 merges make a terabyte. */
export const MAX_TOKEN_BYTES = 1024;
export const MAX_TOKEN_BYTES_TOTAL = 2 ** 24;
/** Most merges a tokenizer read from a file may have (Gemma's 256k vocabulary fits). */
export const MAX_FILE_MERGES = 2 ** 18;
/** Split patterns a tokenizer read from a file may use: a pattern is code run on every prompt, so unknown ones are refused. */
export const KNOWN_PATTERNS: readonly string[] = [DEFAULT_PATTERN];

export interface BpeParts {
  /** merges[r] = [left id, right id]; creates id 256 + r. */
  merges: readonly (readonly [number, number])[];
  /** Special token names in id order (ids 256 + merges.length + i); must include STANDARD_SPECIALS. */
  specials: readonly string[];
  /** Pre-tokenizer split pattern (flags "gu"). Default DEFAULT_PATTERN. */
  pattern?: string;
}

const pairKey = (a: number, b: number): number => a * MAX_VOCAB + b;
const CACHE_LIMIT = 50_000;

export class BpeTokenizer {
  readonly merges: readonly (readonly [number, number])[];
  readonly specials: readonly string[];
  readonly pattern: string;
  private readonly re: RegExp;
  private readonly rank = new Map<number, number>(); // pairKey -> merge rank
  private readonly bytes: Uint8Array[] = []; // id -> bytes it decodes to
  private readonly specialIds = new Map<string, number>();
  private readonly cache = new Map<string, Int32Array>(); // piece -> ids (never changes results)

  constructor(parts: BpeParts) {
    const fail = (what: string): never => {
      throw new ValueError(`BpeTokenizer: ${what}`);
    };
    checkParts(parts, fail);
    this.merges = parts.merges.map(([a, b]) => [a, b] as const);
    this.specials = [...parts.specials];
    this.pattern = parts.pattern ?? DEFAULT_PATTERN;
    this.re = compilePattern(this.pattern);
    const enc = new TextEncoder();
    for (let b = 0; b < 256; b++) this.bytes.push(Uint8Array.of(b));
    this.merges.forEach(([a, b], r) => {
      this.rank.set(pairKey(a, b), r);
      const x = this.bytes[a], y = this.bytes[b];
      const both = new Uint8Array(x.length + y.length);
      both.set(x);
      both.set(y, x.length);
      this.bytes.push(both);
    });
    this.specials.forEach((name, i) => {
      this.specialIds.set(name, 256 + this.merges.length + i);
      this.bytes.push(enc.encode(name));
    });
  }

  /** 256 bytes + merges + specials. */
  get vocabSize(): number {
    return this.bytes.length;
  }

  /** Id of a special token by name, e.g. specialId("<eos>"). */
  specialId(name: string): number {
    const id = this.specialIds.get(name);
    if (id === undefined) throw new ValueError(`specialId: name: expected one of ${this.specials.join(" ")}, got ${JSON.stringify(name)}`);
    return id;
  }

  isSpecial(id: number): boolean {
    return id >= 256 + this.merges.length && id < this.vocabSize;
  }

  /** The bytes token `id` stands for (a special: the UTF-8 of its name). A fresh copy. */
  tokenToBytes(id: number): Uint8Array {
    this.checkId("tokenToBytes", "id", id);
    return this.bytes[id].slice();
  }

  /** Token ids `[L]` of plain text. Never emits a special token. Lone surrogates encode as U+FFFD. */
  encode(text: string): Int32Array {
    if (typeof text !== "string") throw new ValueError(`encode: text: expected a string, got ${typeof text}`);
    const enc = new TextEncoder();
    const parts: Int32Array[] = [];
    let total = 0;
    for (const piece of splitPieces(text, this.re)) {
      let ids = this.cache.get(piece);
      if (ids === undefined) {
        ids = this.mergePiece(enc.encode(piece));
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(piece, ids);
      }
      parts.push(ids);
      total += ids.length;
    }
    const out = new Int32Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** Text of token ids: their bytes concatenated, decoded as UTF-8 (invalid sequences -> U+FFFD,
   *  WHATWG rules; a leading BOM is kept). `skipSpecials` drops special tokens. */
  decode(ids: ArrayLike<number>, opts: { skipSpecials?: boolean } = {}): string {
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      this.checkId("decode", `ids[${i}]`, ids[i]);
      if (!(opts.skipSpecials && this.isSpecial(ids[i]))) n += this.bytes[ids[i]].length;
    }
    const buf = new Uint8Array(n);
    let at = 0;
    for (let i = 0; i < ids.length; i++) {
      if (opts.skipSpecials && this.isSpecial(ids[i])) continue;
      buf.set(this.bytes[ids[i]], at);
      at += this.bytes[ids[i]].length;
    }
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(buf);
  }

  /**
   * BPE on one piece: repeatedly merge the adjacent pair of lowest merge rank, the leftmost one
   * among equal pairs, until no adjacent pair has a merge. A heap of candidate pairs keyed
   * (rank, position) over a linked list of tokens makes this O(n log n) for long pieces.
   */
  private mergePiece(bytes: Uint8Array): Int32Array {
    const n = bytes.length;
    const tok = Int32Array.from(bytes);
    if (n < 2 || this.merges.length === 0) return tok;
    const next = new Int32Array(n), prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const alive = new Uint8Array(n).fill(1);
    const heap = new Heap<[number, number]>((x, y) => x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]));
    const consider = (i: number): void => {
      const j = next[i];
      const r = j < 0 ? undefined : this.rank.get(pairKey(tok[i], tok[j]));
      if (r !== undefined) heap.push([r, i]);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    for (let top = heap.pop(); top !== undefined; top = heap.pop()) {
      const [r, i] = top;
      const j = next[i];
      if (!alive[i] || j < 0 || this.rank.get(pairKey(tok[i], tok[j])) !== r) continue; // stale
      tok[i] = 256 + r; // i absorbs j
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) consider(prev[i]);
      consider(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(tok[i]);
    return Int32Array.from(out);
  }

  private checkId(op: string, name: string, id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new ValueError(`${op}: ${name}: expected a token id in [0, ${this.vocabSize - 1}], got ${String(id)}`);
    }
  }

  /** The checkpoint form (metadata key `tokenizer`), deterministic:
   *  {"type":"byte_bpe","version":1,"pattern":..,"merges":[[a,b],..],"specials":{"<bos>":id,..}} */
  serialize(): string {
    const specials = this.specials.map((s) => `${JSON.stringify(s)}:${this.specialId(s)}`).join(",");
    const merges = this.merges.map(([a, b]) => `[${a},${b}]`).join(",");
    return `{"type":"byte_bpe","version":1,"pattern":${JSON.stringify(this.pattern)},"merges":[${merges}],"specials":{${specials}}}`;
  }

  /** Parses and validates the checkpoint form. Throws FormatError naming the field. */
  static deserialize(json: string): BpeTokenizer {
    const fail = (what: string): never => {
      throw new FormatError(`tokenizer: ${what}`);
    };
    const root = parseStrictJson(json, "tokenizer");
    if (!(root instanceof Map)) return fail("expected a JSON object");
    for (const key of root.keys()) if (!["type", "version", "pattern", "merges", "specials"].includes(key)) fail(`${key}: unknown field`);
    if (root.get("type") !== "byte_bpe") fail(`type: expected "byte_bpe"`);
    const version = root.get("version");
    if (!(version instanceof JsonNumber) || version.raw !== "1") fail("version: expected 1");
    const pattern = root.get("pattern");
    if (typeof pattern !== "string") fail("pattern: expected a string");
    if (!KNOWN_PATTERNS.includes(pattern as string)) {
      fail(`pattern: expected the default split pattern (docs/FORMATS.md), got ${JSON.stringify((pattern as string).slice(0, 80))}; a pattern from a file would run as code on every prompt`);
    }
    const merges = root.get("merges");
    if (!Array.isArray(merges)) return fail("merges: expected an array of [left, right] id pairs");
    if (merges.length > MAX_FILE_MERGES) fail(`merges: ${merges.length} merges, more than the ${MAX_FILE_MERGES} a tokenizer file may have`);
    const pairs = merges.map((m, r): [number, number] => {
      if (!Array.isArray(m) || m.length !== 2 || !m.every(isUint)) return fail(`merges[${r}]: expected [left, right] ids`);
      return [(m[0] as JsonNumber).value, (m[1] as JsonNumber).value];
    });
    const specialsObj = root.get("specials");
    if (!(specialsObj instanceof Map)) return fail("specials: expected an object name -> id");
    const specials: string[] = [];
    const first = 256 + pairs.length;
    for (const [name, id] of specialsObj) {
      const want = first + specials.length;
      if (!isUint(id) || (id as JsonNumber).value !== want) fail(`specials[${JSON.stringify(name)}]: expected id ${want} (specials are numbered consecutively after the merges, in order)`);
      specials.push(name);
    }
    try {
      return new BpeTokenizer({ merges: pairs, specials, pattern: pattern as string });
    } catch (e) {
      throw e instanceof ValueError ? new FormatError(`tokenizer: ${e.message.replace(/^BpeTokenizer: /, "")}`) : e;
    }
  }
}

const isUint = (v: JsonValue | undefined): boolean => v instanceof JsonNumber && v.isPlainUint() && Number.isSafeInteger(v.value);

/** Merges reference only earlier ids and are distinct; specials are distinct, non-empty, standard ones present. */
function checkParts(parts: BpeParts, fail: (what: string) => never): void {
  const seen = new Set<number>();
  const length = new Uint32Array(256 + parts.merges.length).fill(1, 0, 256); // bytes of each token
  let total = 256;
  parts.merges.forEach((m, r) => {
    const limit = 256 + r;
    if (!Array.isArray(m) || m.length !== 2 || !m.every((x) => Number.isInteger(x) && x >= 0 && x < limit)) {
      fail(`merges[${r}]: expected two ids in [0, ${limit - 1}] (bytes or earlier merges), got ${JSON.stringify(m)}`);
    }
    const key = pairKey(m[0], m[1]);
    if (seen.has(key)) fail(`merges[${r}]: [${m[0]}, ${m[1]}] repeats an earlier merge`);
    seen.add(key);
    length[limit] = length[m[0]] + length[m[1]];
    total += length[limit];
    if (length[limit] > MAX_TOKEN_BYTES) fail(`merges[${r}]: makes a token of ${length[limit]} bytes, more than ${MAX_TOKEN_BYTES}`);
    if (total > MAX_TOKEN_BYTES_TOTAL) fail(`merges[${r}]: the tokens reach ${total} bytes in all, more than ${MAX_TOKEN_BYTES_TOTAL}`);
  });
  const names = new Set<string>();
  for (const s of parts.specials) {
    if (typeof s !== "string" || s.length === 0 || /\p{Cs}/u.test(s)) fail(`specials: ${JSON.stringify(s)} is not a non-empty well-formed string`);
    if (names.has(s)) fail(`specials: ${JSON.stringify(s)} appears twice`);
    names.add(s);
  }
  for (const s of STANDARD_SPECIALS) if (!names.has(s)) fail(`specials: missing the standard special ${s}`);
  if (256 + parts.merges.length + parts.specials.length > MAX_VOCAB) fail(`vocabulary larger than ${MAX_VOCAB}`);
  if (parts.pattern !== undefined && typeof parts.pattern !== "string") fail("pattern: expected a string");
}
