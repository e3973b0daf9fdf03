// Converting between CodeMirror change sets (UTF-16) and wire ops (code points).

import { ChangeSet, ChangeSpec, countColumn, EditorSelection, EditorState, findClusterBreak, SelectionRange, StateCommand, Text, Transaction, TransactionSpec } from "@codemirror/state";
import { EditorView, KeyBinding } from "@codemirror/view";
import { getIndentUnit, IndentContext, indentService, indentString } from "@codemirror/language";
import { type, TextOp } from "ot-text-unicode";
import { cpLength, cpToUtf16, docCpLength, splitsPair, utf16ToCp, wellFormed } from "./unicode";
import { remoteAuthor } from "./cursors";

/**
 * changesToOp converts a local change set on doc into an op in code points.
 * Deletes carry the deleted text (the invertible form).
 */
export function changesToOp(changes: ChangeSet, doc: Text): TextOp {
  const op: TextOp = [];
  let last = 0, lastCp = 0;
  changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    const fromCp = fromA > last ? utf16ToCp(doc, fromA) : lastCp;
    if (fromA > last) op.push(fromCp - lastCp);
    if (toA > fromA) op.push({ d: doc.sliceString(fromA, toA) });
    const ins = inserted.toString();
    if (ins.length > 0) op.push(wellFormed(ins));
    last = toA;
    lastCp = toA > fromA ? utf16ToCp(doc, toA) : fromCp;
  });
  return type.normalize(op);
}

/** Thrown when a remote op does not fit the local text: the client must resync. */
export class DesyncError extends Error {}

/** opToChanges converts a (transformed) remote op into CodeMirror changes on doc. */
export function opToChanges(op: TextOp, doc: Text): ChangeSpec[] {
  const out: ChangeSpec[] = [];
  const total = docCpLength(doc);
  let cp = 0, pos = 0;
  const advance = (n: number) => {
    cp += n;
    if (cp > total) throw new DesyncError("op does not fit the local text");
    return cpToUtf16(doc, cp);
  };
  for (const c of op) {
    if (typeof c === "number") pos = advance(c);
    else if (typeof c === "string") out.push({ from: pos, insert: c });
    else {
      const n = typeof c.d === "number" ? c.d : cpLength(c.d);
      const end = advance(n);
      out.push({ from: pos, to: end });
      pos = end;
    }
  }
  return out;
}

/**
 * pairSafe is a transaction filter that keeps user changes from splitting a
 * surrogate pair (an emoji is always deleted or kept whole, and text is never
 * inserted between its halves) and from inserting lone surrogates.
 */
export const pairSafe = EditorState.transactionFilter.of((tr: Transaction): Transaction | TransactionSpec => {
  if (!tr.docChanged || tr.annotation(remoteAuthor) !== undefined) return tr;
  const doc = tr.startState.doc;
  let bad = false;
  tr.changes.iterChanges((fromA, toA, _fb, _tb, ins) => {
    const s = ins.toString();
    if (splitsPair(doc, fromA) || splitsPair(doc, toA) || wellFormed(s) !== s) bad = true;
  });
  if (!bad) return tr;
  const specs: ChangeSpec[] = [];
  tr.changes.iterChanges((fromA, toA, _fb, _tb, ins) => {
    let from = fromA, to = toA;
    if (from === to && splitsPair(doc, from)) { from++; to++; }
    else {
      if (splitsPair(doc, from)) from--;
      if (splitsPair(doc, to)) to++;
    }
    specs.push({ from, to, insert: wellFormed(ins.toString()) });
  });
  const changes = ChangeSet.of(specs, doc.length, tr.startState.facet(EditorState.lineSeparator));
  return {
    changes,
    selection: EditorSelection.create(tr.startState.selection.ranges.map((r) => r.map(changes, 1)), tr.startState.selection.mainIndex),
    userEvent: tr.annotation(Transaction.userEvent),
    scrollIntoView: tr.scrollIntoView,
  };
});

/** Whether UTF-16 offset pos falls between the "\r" and the "\n" of a CRLF. */
export function splitsCRLF(doc: Text, pos: number): boolean {
  return pos > 0 && pos < doc.length && doc.sliceString(pos - 1, pos + 1) === "\r\n";
}

/**
 * crlfSafe is a transaction filter that treats "\r\n" as one line break for
 * the user, as pairSafe treats an emoji as one character. The editor splits
 * lines at "\n" only (the wire counts "\r\n" as two code points), so a line
 * ending in "\r\n" holds an invisible "\r" at its end: End, a click past the
 * end of the line or ArrowUp/Down would put the caret after it, and text typed
 * there would split the line break into a lone "\r" (a line break of its own
 * in Markdown and most viewers) and "\n". So a caret or selection end that
 * lands between the two goes before the "\r", or past the "\n" when the
 * keyboard moved it there from before the "\r" (ArrowRight; End is
 * crlfKeys'); an insert there goes before the "\r", a deletion that would
 * take one half takes both, and a replacement that would take the "\r"
 * alone leaves it. Undo and redo skip transaction filters: historyCarets
 * settles their carets.
 */
export const crlfSafe = EditorState.transactionFilter.of((tr: Transaction): Transaction | readonly TransactionSpec[] => {
  if (tr.annotation(remoteAuthor) !== undefined || (!tr.docChanged && !tr.selection)) return tr;
  const repair = tr.docChanged ? crlfRepairs(tr) : undefined;
  const newDoc = repair ? repair.after.apply(tr.newDoc) : tr.newDoc;
  const sel = repair ? tr.newSelection.map(repair.after) : tr.newSelection;
  const onward = !tr.docChanged && !tr.isUserEvent("select.pointer");
  const fix = (pos: number, from: SelectionRange | undefined) =>
    !splitsCRLF(newDoc, pos) ? pos : onward && from?.head === pos - 1 ? pos + 1 : pos - 1;
  let moved = false;
  const ranges = sel.ranges.map((r, i) => {
    const head = fix(r.head, tr.startState.selection.ranges[i]);
    const anchor = r.empty ? head : fix(r.anchor, undefined);
    if (head === r.head && anchor === r.anchor) return r;
    moved = true;
    return EditorSelection.range(anchor, head);
  });
  if (!repair && !moved) return tr;
  const selection = moved ? EditorSelection.create(ranges, sel.mainIndex) : sel;
  if (!repair) return [tr, { selection, sequential: true }];
  return [{
    changes: repair.changes,
    selection,
    effects: tr.effects,
    userEvent: tr.annotation(Transaction.userEvent),
    annotations: tr.annotation(Transaction.addToHistory) === false ? Transaction.addToHistory.of(false) : [],
    scrollIntoView: tr.scrollIntoView,
  }];
});

/**
 * historyCarets settles, for crlfSafe, the carets undo and redo leave:
 * history dispatches its transactions without running transaction filters
 * (and a transactionExtender may not touch the selection), and the caret
 * it restores, mapped through the change undone or redone, can fall
 * between a "\r" and its "\n". Where the last of trs leaves one there, it
 * appends a transaction that puts it before the "\r", outside the history.
 * The editor's view dispatches every transaction through it.
 */
export function historyCarets(trs: readonly Transaction[]): readonly Transaction[] {
  const last = trs[trs.length - 1];
  if (!last || !(last.isUserEvent("undo") || last.isUserEvent("redo"))) return trs;
  const { doc, selection } = last.state;
  const fix = (pos: number) => splitsCRLF(doc, pos) ? pos - 1 : pos;
  if (selection.ranges.every((r) => fix(r.anchor) === r.anchor && fix(r.head) === r.head)) return trs;
  const ranges = selection.ranges.map((r) => EditorSelection.range(fix(r.anchor), fix(r.head)));
  return [...trs, last.state.update({ selection: EditorSelection.create(ranges, selection.mainIndex),
    annotations: Transaction.addToHistory.of(false) })];
}

/**
 * crlfRepairs mends the "\r\n" line breaks tr leaves in halves, or returns
 * undefined where it leaves none: changes is tr's, mended, on the text
 * before it, and after says the same as changes made after tr's, on the
 * text after it (through which tr's selection maps: the caret a command
 * placed stays where it put it). Undo's and redo's carets are mapped
 * through changes, as through any other.
 * The line commands (Alt+ArrowUp/Down, Shift+Alt+ArrowUp/Down,
 * Ctrl+Shift+K) take a line's text, its "\r" included, and put it back
 * before a "\n": a change that puts "\n…\r" after a "\r", or takes it,
 * becomes one that puts or takes "\r\n…" before it, the same text, so
 * that positions map through it as through the change at an LF line's end
 * (redo's caret follows a moved line). Any other change that starts or
 * ends between the "\r" and the "\n" is fine where the half it keeps is
 * paired again in the new text (Ctrl+Shift+K where a "\r\n" line is
 * followed by a "\n" one). Otherwise:
 *  - text inserted between the two goes before the "\r";
 *  - a deletion that starts on the "\n" (Backspace at the start of a line)
 *    takes the "\r" too;
 *  - a deletion of the "\r" alone (Delete at the end of a line) takes the
 *    "\n" too;
 *  - Ctrl+[ (indentLess) on a blank line takes its "\r" for one more
 *    column of blanks: the line's blanks before the "\r" are dedented
 *    again, and the "\r" stays;
 *  - any other change that ends on the "\r" leaves it: the commands that
 *    count it as the end of the line's text (Enter takes the whitespace
 *    after the caret, Ctrl+K what is left of the line) must not take the
 *    line break with it.
 * A change moved onto the place of the one before it joins it, as the two
 * are one at an LF line (Alt+ArrowDown on a blank line).
 */
function crlfRepairs(tr: Transaction): { changes: ChangeSet; after: ChangeSet } | undefined {
  const doc = tr.startState.doc, newDoc = tr.newDoc;
  const paired = (pos: number) => newDoc.sliceString(pos - 1, pos + 1) === "\r\n";
  const cr = (text: Text, pos: number) => text.sliceString(pos - 1, pos) === "\r";
  const specs: { from: number; to: number; insert: string }[] = [], after: ChangeSpec[] = [];
  let mended = false;
  tr.changes.iterChanges((fromA, toA, fromB, toB, inserted) => {
    let from = fromA, to = toA, insert = inserted.toString();
    if (splitsCRLF(doc, fromA) && paired(fromB) && cr(doc, toA) && cr(newDoc, toB)) {
      [from, to, insert] = [fromA - 1, toA - 1, ("\r" + insert).slice(0, -1)];
    } else if (fromA === toA) {
      if (splitsCRLF(doc, fromA)) {
        from = to = fromA - 1;
        after.push({ from: fromB - 1, to: fromB }, { from: toB, insert: "\r" });
      }
    } else {
      if (splitsCRLF(doc, fromA) && !paired(fromB)) {
        from--;
        after.push({ from: fromB - 1, to: fromB });
      }
      if (splitsCRLF(doc, toA) && !paired(toB) && tr.isUserEvent("delete.dedent")) {
        // Ctrl+[ on a blank line: dedent the blanks before the "\r".
        const line = doc.lineAt(fromA), blanks = doc.sliceString(line.from, toA - 1);
        const state = tr.startState;
        const want = indentString(state, Math.max(0, countColumn(blanks, state.tabSize) - getIndentUnit(state)));
        let keep = 0;
        while (keep < blanks.length && keep < want.length && blanks[keep] === want[keep]) keep++;
        [from, to, insert] = [line.from + keep, toA - 1, want.slice(keep)];
        after.push({ from: fromB - (fromA - line.from) + keep, to: toB, insert: want.slice(keep) + "\r" });
      } else if (splitsCRLF(doc, toA) && !paired(toB)) {
        const deletesBreak = fromB === toB && toA - fromA === 1;
        to += deletesBreak ? 1 : -1;
        after.push(deletesBreak ? { from: toB, to: toB + 1 } : { from: toB, insert: "\r" });
      }
    }
    mended ||= from !== fromA || to !== toA;
    const last = specs[specs.length - 1];
    if (last?.to === from) [last.to, last.insert] = [to, last.insert + insert];
    else specs.push({ from, to, insert });
  });
  if (!mended) return undefined;
  const sep = tr.startState.facet(EditorState.lineSeparator);
  return { changes: ChangeSet.of(specs, doc.length, sep), after: ChangeSet.of(after, newDoc.length, sep) };
}

/**
 * lineBreaks is a transaction filter that keeps a document's line breaks
 * whole and of the kind around them: a line break a user's change inserts
 * (typed, pasted, dropped, or a line moved or copied by Alt+ArrowUp/Down
 * and Shift+Alt+ArrowUp/Down) gets the kind of the one that ends the line
 * where the change starts (crlfAt), and a "\r" that ends inserted text
 * and is left without its "\n" goes. Without it, Enter in a document from
 * Windows would add "\n" (the editor's line separator) while pasted text
 * kept its "\r\n", and the stored text would end up with both; in a
 * document that already mixes them, a new line takes its neighbours' kind;
 * and moving a line past the last one, which has no "\r", would leave the
 * moved line's "\r" alone at the end. It runs after crlfSafe (it is listed
 * before it), on the change crlfSafe settled; undo and redo restore
 * exactly what was there, and remote ops are never touched.
 */
export const lineBreaks = EditorState.transactionFilter.of((tr: Transaction): Transaction | readonly TransactionSpec[] => {
  if (!tr.docChanged || tr.annotation(Transaction.userEvent) === undefined || tr.isUserEvent("undo") ||
    tr.isUserEvent("redo") || tr.annotation(remoteAuthor) !== undefined) return tr;
  const doc = tr.newDoc, fix: ChangeSpec[] = [];
  const at = (pos: number) => doc.sliceString(pos, pos + 1);
  tr.changes.iterChanges((fromA, _ta, fromB, toB, ins) => {
    if (ins.lines > 1) {
      const crlf = crlfAt(tr.startState.doc, fromA);
      const s = ins.toString();
      for (let i = s.indexOf("\n"); i >= 0; i = s.indexOf("\n", i + 1)) {
        const cr = at(fromB + i - 1) === "\r";
        if (crlf && !cr) fix.push({ from: fromB + i, insert: "\r" });
        else if (!crlf && cr && i > 0) fix.push({ from: fromB + i - 1, to: fromB + i });
      }
    }
    if (toB > fromB && at(toB - 1) === "\r" && at(toB) !== "\n") fix.push({ from: toB - 1, to: toB });
  });
  // Positions in fix are on the text after tr: sequential.
  return fix.length === 0 ? tr : [tr, { changes: fix, sequential: true }];
});

// crlfAt says whether the line break of doc's line at pos is a "\r\n": the
// one that ends the line, or the one before the last line, which has none;
// a text of one line has none, and gets "\n".
function crlfAt(doc: Text, pos: number): boolean {
  const line = doc.lineAt(pos), end = line.number < doc.lines ? line.to : line.from - 1;
  return end > 0 && doc.sliceString(end - 1, end) === "\r";
}

/**
 * crlfIndent tells Enter (insertNewlineAndIndent) how deep to indent the
 * line it makes of a blank line that ends in "\r\n": as deep as the blank
 * line's own whitespace. The command would count the "\r", which it takes
 * for whitespace, as one more column, and start the new line with a stray
 * space. It answers only for a line break being inserted at pos, so that
 * reindenting (indentSelection), to which Markdown gives no indentation,
 * still leaves such a line alone.
 */
export const crlfIndent = indentService.of((cx: IndentContext, pos: number) => {
  const line = cx.state.doc.lineAt(pos);
  if (!/^\s*\r$/.test(line.text) || !breaksAt(cx, pos)) return undefined;
  return cx.countColumn(line.text.slice(0, -1));
});

// breaksAt says whether cx simulates a line break at pos: then the line
// before it and the line after it differ (without one, both are the line).
// cx.simulatedBreak would say it too, but not for a break at 0.
const breaksAt = (cx: IndentContext, pos: number) => cx.lineAt(pos, -1).text !== cx.lineAt(pos, 1).text;

// atCRLFEnd is a command for the keys that move to the end of the line:
// where every caret already is before a "\r\n" there is nothing to do, and
// letting the key through would move it onto the "\r", which crlfSafe would
// take as a move to the right, onto the next line.
const atCRLFEnd = (view: EditorView): boolean =>
  view.state.selection.ranges.every((r) => splitsCRLF(view.state.doc, r.head + 1));

/**
 * transposeAtCRLFEnd is Ctrl+T (transposeChars, macOS) where every caret is
 * at the end of a "\r\n" line: it swaps the character before the caret
 * with the line break, as transposeChars does at the end of an LF line.
 * transposeChars itself takes the end of the line to be after the "\r",
 * where crlfSafe never leaves the caret, and would swap the character with
 * the "\r" alone.
 */
export const transposeAtCRLFEnd: StateCommand = ({ state, dispatch }) => {
  const { doc, selection } = state;
  const atEnd = (r: SelectionRange) => r.empty && r.head > 0 && splitsCRLF(doc, r.head + 1);
  if (state.readOnly || !selection.ranges.every(atEnd)) return false;
  dispatch(state.update(state.changeByRange((r) => {
    const line = doc.lineAt(r.head);
    // On an empty line, the character before is the line break before.
    const from = r.head > line.from ? line.from + findClusterBreak(line.text, r.head - line.from, false)
      : r.head - (doc.sliceString(r.head - 2, r.head) === "\r\n" ? 2 : 1);
    return { changes: { from, to: r.head + 2, insert: "\r\n" + doc.sliceString(from, r.head) }, range: EditorSelection.cursor(r.head + 2) };
  }), { scrollIntoView: true, userEvent: "move.character" }));
  return true;
};

/**
 * crlfKeys go before the default keymap: End stays at the end of a "\r\n"
 * line, and Ctrl+T there swaps the last character with the line break.
 */
export const crlfKeys: KeyBinding[] = [
  { key: "End", run: atCRLFEnd, shift: atCRLFEnd },
  { mac: "Cmd-ArrowRight", run: atCRLFEnd, shift: atCRLFEnd },
  { mac: "Ctrl-t", run: transposeAtCRLFEnd },
];
