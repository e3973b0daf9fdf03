// Converting between CodeMirror change sets (UTF-16) and wire ops (code points).

import { ChangeSet, ChangeSpec, EditorSelection, EditorState, Text, Transaction, TransactionSpec } from "@codemirror/state";
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
