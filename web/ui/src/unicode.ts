// Conversion between CodeMirror's UTF-16 offsets and the wire's code points.
//
// CodeMirror (like every JavaScript string) counts UTF-16 code units; Folio's
// protocol and ot-text-unicode count Unicode code points. Everything crossing
// that edge goes through this file. A position never lands between the two
// halves of a surrogate pair: local changes are widened by pairSafe before
// they are converted, and remote ops are mapped code point by code point.

import type { Text } from "@codemirror/state";

/** A read-only view of the editor's text (CodeMirror's Text satisfies it). */
export interface TextLike {
  readonly length: number;
  sliceString(from: number, to?: number): string;
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/** Number of code points in s (a lone surrogate counts as one). */
export function cpLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    if (isHigh(s.charCodeAt(i)) && isLow(s.charCodeAt(i + 1))) {
      n--;
      i++;
    }
  }
  return n;
}

/** Whether UTF-16 offset pos falls between the halves of a surrogate pair. */
export function splitsPair(doc: TextLike, pos: number): boolean {
  if (pos <= 0 || pos >= doc.length) return false;
  const s = doc.sliceString(pos - 1, pos + 1);
  return isHigh(s.charCodeAt(0)) && isLow(s.charCodeAt(1));
}

/**
 * Cuts s to its first n code points, as the server cuts names: never
 * between the halves of a surrogate pair, whose lone half would make the
 * whole message that carries s invalid on the wire.
 */
export function firstCodePoints(s: string, n: number): string {
  let i = 0;
  for (; n > 0 && i < s.length; n--) i += isHigh(s.charCodeAt(i)) && isLow(s.charCodeAt(i + 1)) ? 2 : 1;
  return s.slice(0, i);
}

/** Replaces lone surrogates by U+FFFD so the text is valid on the wire. */
export function wellFormed(s: string): string {
  let out = "";
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isHigh(c) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) {
      i++;
    } else if (isHigh(c) || isLow(c)) {
      out += s.slice(last, i) + "\ufffd";
      last = i + 1;
    }
  }
  return last === 0 ? s : out + s.slice(last);
}

// pairCounts caches, per node of CodeMirror's text tree, how many surrogate
// pairs the node holds: its UTF-16 length minus its code points. A Text is
// immutable, and an edit shares every node it does not touch with the text
// before it, so after a keystroke only the few nodes on the path to it are
// counted again (a leaf holds at most 32 lines). Pairs never straddle two
// nodes, which always meet at a line break.
const pairCounts = new WeakMap<Text, number>();

function pairs(t: Text): number {
  let n = pairCounts.get(t);
  if (n === undefined) {
    const children = t.children;
    if (children) {
      n = 0;
      for (const c of children) n += pairs(c);
    } else {
      n = t.length - cpLength(t.sliceString(0));
    }
    pairCounts.set(t, n);
  }
  return n;
}

/** Number of code points in doc. */
export function docCpLength(doc: Text): number {
  return doc.length - pairs(doc);
}

/**
 * Converts a UTF-16 offset into a code point offset (clamped to the text),
 * counting pairs like cpLength(doc.sliceString(0, pos)) would. It descends
 * CodeMirror's tree, skipping whole nodes by their cached pair counts, and
 * scans text only inside one leaf that holds a pair; the cost does not grow
 * with pos.
 */
export function utf16ToCp(doc: Text, pos: number): number {
  pos = Math.max(0, Math.min(pos, doc.length));
  let node = doc, cp = 0;
  for (;;) {
    if (pairs(node) === 0) return cp + pos;
    const children = node.children;
    if (!children) return cp + cpLength(node.sliceString(0, pos));
    // Children are separated by one line break: one unit, one code point.
    let i = 0;
    for (; pos > children[i].length; i++) {
      pos -= children[i].length + 1;
      cp += docCpLength(children[i]) + 1;
    }
    node = children[i];
  }
}

/** Converts a code point offset into a UTF-16 offset, clamped to the text. */
export function cpToUtf16(doc: Text, cp: number): number {
  cp = Math.max(0, cp);
  if (cp >= docCpLength(doc)) return doc.length;
  let node = doc, pos = 0;
  for (;;) {
    if (pairs(node) === 0) return pos + cp;
    const children = node.children;
    if (!children) return pos + advance(node.sliceString(0), cp);
    let i = 0;
    for (; cp > docCpLength(children[i]); i++) {
      cp -= docCpLength(children[i]) + 1;
      pos += children[i].length + 1;
    }
    node = children[i];
  }
}

// advance returns the UTF-16 offset n code points into s (n fits in s).
function advance(s: string, n: number): number {
  let i = 0;
  for (; n > 0; n--) i += isHigh(s.charCodeAt(i)) && isLow(s.charCodeAt(i + 1)) ? 2 : 1;
  return i;
}
