/**
 * The Porter stemmer exactly as published (M.F. Porter, "An algorithm for suffix stripping", 1980),
 * for METEOR's stem stage. Not the later "Porter2"/Snowball stemmer, and without the departures of
 * Porter's own C version or nltk's default mode (no length-2 guard, ABLI -> ABLE, no LOGI rule):
 * it equals nltk's PorterStemmer(PorterStemmer.ORIGINAL_ALGORITHM). Input: one lowercase word.
 *
 * Definitions (the paper's): a consonant is a letter other than a e i o u, and other than y preceded
 * by a consonant; any word is [C](VC)^m[V] and m is its measure. *v*: the stem has a vowel;
 * *d: it ends with a double consonant; *o: it ends consonant-vowel-consonant, the last not w, x, y.
 * In every step the rules are tried in the listed order, which is longest suffix first: the first
 * rule whose suffix matches is the only one considered, applied if its condition holds.
 */

/** [suffix, replacement, condition on the stem left after removing the suffix]. */
type Rule = readonly [string, string, (stem: string) => boolean];

function isConsonant(w: string, i: number): boolean {
  const c = w[i];
  if (c === "a" || c === "e" || c === "i" || c === "o" || c === "u") return false;
  if (c === "y") return i === 0 ? true : !isConsonant(w, i - 1);
  return true;
}

/** m in [C](VC)^m[V]: the number of vowel-then-consonant transitions. */
export function measure(stem: string): number {
  let m = 0;
  for (let i = 1; i < stem.length; i++) {
    if (!isConsonant(stem, i - 1) && isConsonant(stem, i)) m++;
  }
  return m;
}

function hasVowel(stem: string): boolean {
  for (let i = 0; i < stem.length; i++) if (!isConsonant(stem, i)) return true;
  return false;
}

function endsDouble(w: string): boolean {
  const n = w.length;
  return n >= 2 && w[n - 1] === w[n - 2] && isConsonant(w, n - 1);
}

function endsCvc(w: string): boolean {
  const n = w.length;
  return n >= 3 && isConsonant(w, n - 3) && !isConsonant(w, n - 2) && isConsonant(w, n - 1) && !"wxy".includes(w[n - 1]);
}

const m0 = (s: string) => measure(s) > 0;
const m1 = (s: string) => measure(s) > 1;
const always = () => true;

/** The first rule whose suffix matches decides: applied if its condition holds, else the word stays. */
function applyRules(word: string, rules: readonly Rule[]): string {
  for (const [suffix, replacement, cond] of rules) {
    if (word.endsWith(suffix)) {
      const stem = word.slice(0, word.length - suffix.length);
      return cond(stem) ? stem + replacement : word;
    }
  }
  return word;
}

/** Step 1a: plurals. caresses -> caress, ponies -> poni, ties -> ti, caress -> caress, cats -> cat. */
export function step1a(w: string): string {
  return applyRules(w, [["sses", "ss", always], ["ies", "i", always], ["ss", "ss", always], ["s", "", always]]);
}

/** Step 1b: -eed, -ed, -ing, then tidy the stem. agreed -> agree, plastered -> plaster, hopping -> hop. */
export function step1b(w: string): string {
  if (w.endsWith("eed")) return m0(w.slice(0, -3)) ? w.slice(0, -1) : w;
  let stem: string;
  if (w.endsWith("ed") && hasVowel(w.slice(0, -2))) stem = w.slice(0, -2);
  else if (w.endsWith("ing") && hasVowel(w.slice(0, -3))) stem = w.slice(0, -3);
  else return w;
  // after a successful -ed / -ing: restore an e, undouble a consonant, or add e to a short cvc stem
  if (stem.endsWith("at") || stem.endsWith("bl") || stem.endsWith("iz")) return stem + "e";
  if (endsDouble(stem)) return "lsz".includes(stem[stem.length - 1]) ? stem : stem.slice(0, -1);
  if (measure(stem) === 1 && endsCvc(stem)) return stem + "e";
  return stem;
}

/** Step 1c: (*v*) y -> i. happy -> happi, sky -> sky. */
export function step1c(w: string): string {
  return applyRules(w, [["y", "i", hasVowel]]);
}

const STEP2: readonly Rule[] = [
  ["ational", "ate", m0], ["tional", "tion", m0], ["enci", "ence", m0], ["anci", "ance", m0],
  ["izer", "ize", m0], ["abli", "able", m0], ["alli", "al", m0], ["entli", "ent", m0], ["eli", "e", m0],
  ["ousli", "ous", m0], ["ization", "ize", m0], ["ation", "ate", m0], ["ator", "ate", m0],
  ["alism", "al", m0], ["iveness", "ive", m0], ["fulness", "ful", m0], ["ousness", "ous", m0],
  ["aliti", "al", m0], ["iviti", "ive", m0], ["biliti", "ble", m0],
];

/** Step 2: double suffixes to single ones, (m>0). relational -> relate, sensibiliti -> sensible. */
export function step2(w: string): string {
  return applyRules(w, STEP2);
}

const STEP3: readonly Rule[] = [
  ["icate", "ic", m0], ["ative", "", m0], ["alize", "al", m0], ["iciti", "ic", m0],
  ["ical", "ic", m0], ["ful", "", m0], ["ness", "", m0],
];

/** Step 3: -ic-, -full, -ness etc., (m>0). triplicate -> triplic, goodness -> good. */
export function step3(w: string): string {
  return applyRules(w, STEP3);
}

const STEP4: readonly Rule[] = [
  ["al", "", m1], ["ance", "", m1], ["ence", "", m1], ["er", "", m1], ["ic", "", m1], ["able", "", m1],
  ["ible", "", m1], ["ant", "", m1], ["ement", "", m1], ["ment", "", m1], ["ent", "", m1],
  ["ion", "", (s) => m1(s) && (s.endsWith("s") || s.endsWith("t"))],
  ["ou", "", m1], ["ism", "", m1], ["ate", "", m1], ["iti", "", m1], ["ous", "", m1], ["ive", "", m1],
  ["ize", "", m1],
];

/** Step 4: remove a suffix when (m>1). revival -> reviv, adoption -> adopt, bowdlerize -> bowdler. */
export function step4(w: string): string {
  return applyRules(w, STEP4);
}

/** Step 5a: final e. probate -> probat, rate -> rate, cease -> ceas. */
export function step5a(w: string): string {
  if (!w.endsWith("e")) return w;
  const stem = w.slice(0, -1), m = measure(stem);
  return m > 1 || (m === 1 && !endsCvc(stem)) ? stem : w;
}

/** Step 5b: (m>1 and *d and *L) -> single letter. controll -> control, roll -> roll. */
export function step5b(w: string): string {
  return w.endsWith("ll") && measure(w.slice(0, -1)) > 1 ? w.slice(0, -1) : w;
}

/** Porter stem of one lowercase word: steps 1a, 1b, 1c, 2, 3, 4, 5a, 5b in turn. */
export function porterStem(word: string): string {
  let w = word;
  for (const step of [step1a, step1b, step1c, step2, step3, step4, step5a, step5b]) w = step(w);
  return w;
}
