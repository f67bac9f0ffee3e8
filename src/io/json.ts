/**
 * A strict RFC 8259 JSON reader for file headers: unlike JSON.parse it reports duplicate object
 * keys, keeps numbers as their source text (so "2.0" and "2" can be told apart), refuses lone
 * surrogates in strings, and bounds the nesting depth. Not a general-purpose JSON library.
 */
import { FormatError } from "../errors.js";

/** A JSON number, kept as written. `value` is Number(raw). */
export class JsonNumber {
  constructor(readonly raw: string, readonly value: number) {}
  /** True when written as a plain non-negative integer ("0", "17"; not "1.0", "1e3", "-0"). */
  isPlainUint(): boolean {
    return /^(0|[1-9][0-9]*)$/.test(this.raw);
  }
}
export type JsonValue = string | boolean | null | JsonNumber | JsonValue[] | JsonObject;
/** An object: keys in source order, each at most once. */
export type JsonObject = Map<string, JsonValue>;

const MAX_DEPTH = 64;
const WS = new Set([0x20, 0x09, 0x0a, 0x0d]); // the four JSON whitespace characters
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const LONE_SURROGATE = /\p{Cs}/u; // in u-mode a well-formed pair is one code point, never Cs

export interface JsonLimits {
  /** Most keys of the top-level object; one more is an error with the message `tooMany` (checked while parsing). */
  maxRootKeys?: number;
  tooMany?: string;
}

/**
 * Parses `text` as one JSON value (surrounding whitespace allowed). `where` prefixes error
 * messages, e.g. "model.safetensors: header".
 */
export function parseStrictJson(text: string, where: string, limits: JsonLimits = {}): JsonValue {
  const p = new Parser(text, where, limits);
  p.skipWs();
  const v = p.value(0);
  p.skipWs();
  if (p.pos !== text.length) p.fail("unexpected text after the JSON value");
  return v;
}

class Parser {
  pos = 0;
  constructor(readonly text: string, readonly where: string, readonly limits: JsonLimits) {}

  fail(what: string): never {
    throw new FormatError(`${this.where}: invalid JSON at character ${this.pos}: ${what}`);
  }
  skipWs(): void {
    while (this.pos < this.text.length && WS.has(this.text.charCodeAt(this.pos))) this.pos++;
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    const c = this.text[this.pos];
    if (c === "{") return this.object(depth);
    if (c === "[") return this.array(depth);
    if (c === '"') return this.string();
    if (c === "-" || (c >= "0" && c <= "9")) return this.number();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    return this.fail(c === undefined ? "unexpected end of text" : `unexpected character ${JSON.stringify(c)}`);
  }

  object(depth: number): JsonObject {
    const out: JsonObject = new Map();
    this.pos++; // {
    this.skipWs();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return out;
    }
    for (;;) {
      if (this.text[this.pos] !== '"') this.fail("expected a string key");
      const at = this.pos;
      const key = this.string();
      if (out.has(key)) {
        this.pos = at;
        this.fail(`duplicate key ${JSON.stringify(key)}`);
      }
      this.skipWs();
      if (this.text[this.pos] !== ":") this.fail("expected ':'");
      this.pos++;
      this.skipWs();
      out.set(key, this.value(depth + 1));
      if (depth === 0 && out.size > (this.limits.maxRootKeys ?? Infinity)) {
        throw new FormatError(`${this.where}: ${this.limits.tooMany ?? `more than ${this.limits.maxRootKeys} keys`}`);
      }
      this.skipWs();
      const c = this.text[this.pos++];
      if (c === "}") return out;
      if (c !== ",") {
        this.pos--;
        this.fail("expected ',' or '}'");
      }
      this.skipWs();
    }
  }

  array(depth: number): JsonValue[] {
    const out: JsonValue[] = [];
    this.pos++; // [
    this.skipWs();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.skipWs();
      const c = this.text[this.pos++];
      if (c === "]") return out;
      if (c !== ",") {
        this.pos--;
        this.fail("expected ',' or ']'");
      }
      this.skipWs();
    }
  }

  string(): string {
    const start = this.pos;
    this.pos++; // opening quote
    let escaped = false, surrogate = false;
    for (;;) {
      if (this.pos >= this.text.length) this.fail("unterminated string");
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x22) break; // closing quote
      if (c < 0x20) this.fail("control character in a string (must be escaped)");
      if (c >= 0xd800 && c <= 0xdfff) surrogate = true;
      if (c === 0x5c) {
        escaped = true;
        const e = this.text[this.pos + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(this.text.slice(this.pos + 2, this.pos + 6))) this.fail("bad \\u escape");
          this.pos += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) this.fail("bad escape");
        this.pos += 2;
        continue;
      }
      this.pos++;
    }
    this.pos++;
    // validated above: JSON.parse only decodes the escapes; without any, the text is the string
    const s = escaped ? (JSON.parse(this.text.slice(start, this.pos)) as string) : this.text.slice(start + 1, this.pos - 1);
    if ((escaped || surrogate) && LONE_SURROGATE.test(s)) {
      this.pos = start;
      this.fail("string contains an unpaired surrogate (not valid Unicode)");
    }
    return s;
  }

  number(): JsonNumber {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (!m) this.fail("bad number");
    this.pos += m[0].length;
    return new JsonNumber(m[0], Number(m[0]));
  }
}
