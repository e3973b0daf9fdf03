// Conversion between CodeMirror's UTF-16 offsets and the wire's code points.
//
// CodeMirror (like every JavaScript string) counts UTF-16 code units; Folio's
// protocol and ot-text-unicode count Unicode code points. Everything crossing
// that edge goes through this file. A position never lands between the two
// halves of a surrogate pair: local changes are widened by pairSafeChanges
// before they are converted, and remote ops are mapped code point by code point.

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

/** Converts a UTF-16 offset into a code point offset. O(pos). */
export function utf16ToCp(doc: TextLike, pos: number): number {
  return cpLength(doc.sliceString(0, pos));
}

/**
 * Advances n code points from UTF-16 offset from and returns the new UTF-16
 * offset, or -1 when the text ends first.
 */
export function advanceCp(doc: TextLike, from: number, n: number): number {
  let pos = from;
  while (n > 0) {
    if (pos >= doc.length) return -1;
    // n code points span at most 2n units; read a bounded chunk at a time.
    const chunk = doc.sliceString(pos, Math.min(doc.length, pos + Math.min(2 * n, 65536)));
    let i = 0;
    while (n > 0 && i < chunk.length) {
      const c = chunk.charCodeAt(i);
      if (isHigh(c) && i + 1 < chunk.length && isLow(chunk.charCodeAt(i + 1))) i += 2;
      else if (isHigh(c) && i + 1 === chunk.length && pos + i + 1 < doc.length) break; // pair cut by the chunk
      else i++;
      n--;
    }
    pos += i;
  }
  return pos;
}

/** Converts a code point offset into a UTF-16 offset, clamped to the text. */
export function cpToUtf16(doc: TextLike, cp: number): number {
  if (cp <= 0) return 0;
  const p = advanceCp(doc, 0, cp);
  return p < 0 ? doc.length : p;
}
