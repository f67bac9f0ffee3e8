/**
 * Pre-tokenization: the text is cut into pieces and BPE merges never cross a piece boundary.
 * The rule is GPT-2's split pattern with `\s` pinned to ASCII whitespace (JS, Python and Rust
 * disagree on what `\s` means beyond ASCII). Exact definition for porters: docs/FORMATS.md.
 */
import { ValueError } from "../errors.js";

/**
 * Alternatives, tried in order at each position (leftmost-first, as in every backtracking engine):
 *   '(?:[sdmt]|ll|ve|re)             English contractions: 's 'd 'm 't 'll 've 're (lower case only)
 *    ?\p{L}+                         an optional space, then letters           (Unicode category L)
 *    ?\p{N}+                         an optional space, then digits/numbers    (Unicode category N)
 *    ?[^\t\n\v\f\r \p{L}\p{N}]+      an optional space, then anything else (punctuation, symbols, ...)
 *   [\t\n\v\f\r ]+(?![^\t\n\v\f\r ]) whitespace not followed by a non-space: leaves the last space of a
 *                                   run for the next word, keeps trailing whitespace together
 *   [\t\n\v\f\r ]+                   any other whitespace run
 * Whitespace here is exactly U+0009..U+000D and U+0020. Flags: "gu" (code points, not UTF-16 units).
 */
export const DEFAULT_PATTERN = String.raw`'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\t\n\v\f\r \p{L}\p{N}]+|[\t\n\v\f\r ]+(?![^\t\n\v\f\r ])|[\t\n\v\f\r ]+`;

/** Compiles a split pattern with the pinned flags "gu". */
export function compilePattern(pattern: string): RegExp {
  try {
    return new RegExp(pattern, "gu");
  } catch (e) {
    throw new ValueError(`pretokenize: pattern: not a valid JS regular expression with flags "gu": ${(e as Error).message}`);
  }
}

/**
 * Cuts `text` into pieces whose concatenation is `text`: every non-empty match of `re`, in order,
 * and any stretch between matches that the pattern does not cover as a piece of its own (the
 * default pattern covers every code point, so it leaves none).
 */
export function splitPieces(text: string, re: RegExp): string[] {
  const pieces: string[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue;
    if (m.index! > last) pieces.push(text.slice(last, m.index));
    pieces.push(m[0]);
    last = m.index! + m[0].length;
  }
  if (last < text.length) pieces.push(text.slice(last));
  return pieces;
}
