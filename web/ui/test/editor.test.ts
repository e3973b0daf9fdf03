// The editor's extensions that need no DOM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EditorSelection, EditorState, SelectionRange, Text, Transaction, TransactionSpec } from "@codemirror/state";
import { ensureSyntaxTree, language } from "@codemirror/language";
import {
  copyLineDown, copyLineUp, deleteCharBackward, deleteCharForward, deleteGroupBackward, deleteGroupForward, deleteLine,
  deleteLineBoundaryBackward, deleteLineBoundaryForward, deleteToLineEnd, history, indentLess, indentMore, indentSelection,
  insertBlankLine, insertNewlineAndIndent, moveLineDown, moveLineUp, redo, selectLine, splitLine, toggleComment,
  transposeChars, undo,
} from "@codemirror/commands";
import { deleteMarkupBackward, insertNewlineContinueMarkup, markdown } from "@codemirror/lang-markdown";
import { HIGHLIGHT_MAX_LINES, markdownUnlessLarge } from "../src/editor";
import { crlfIndent, crlfSafe, historyCarets, lineBreaks, pairSafe, splitsCRLF, transposeAtCRLFEnd } from "../src/changes";

const lines = (n: number) => Array.from({ length: n }, (_, i) => "L" + String(i).padStart(6, "0")).join("\n");

// A 200,000-line text without blank lines is one Markdown paragraph, parsed
// whole on every keystroke: the editor stops parsing past the limit, and
// starts again once the text is well under it.
test("markdown is parsed only up to HIGHLIGHT_MAX_LINES lines", () => {
  let s = EditorState.create({ doc: "", extensions: markdownUnlessLarge() });
  assert.equal(s.facet(language)?.name, "markdown");
  s = s.update({ changes: { from: 0, insert: lines(200000) } }).state;
  assert.equal(s.facet(language), null, "a 200,000-line text is not parsed");
  s = s.update({ changes: { from: 0, insert: "x" } }).state;
  assert.equal(s.facet(language), null, "and stays unparsed while it is typed in");
  s = s.update({ changes: { from: s.doc.line(HIGHLIGHT_MAX_LINES - 10).from, to: s.doc.length } }).state;
  assert.equal(s.facet(language), null, "just under the limit: still off");
  s = s.update({ changes: { from: s.doc.line(100).from, to: s.doc.length } }).state;
  assert.equal(s.facet(language)?.name, "markdown", "a short text is parsed again");
});

// Enter as the editor binds it: Markdown's continuation, else a plain break.
function enter(doc: string, pos: number): string {
  const ext = [EditorState.lineSeparator.of("\n"), markdown(), pairSafe, lineBreaks, crlfSafe, crlfIndent];
  const state = EditorState.create({ doc, selection: { anchor: pos }, extensions: ext });
  ensureSyntaxTree(state, state.doc.length, 5000);
  let out = state;
  const dispatch = (tr: Transaction) => { out = tr.state; };
  if (!insertNewlineContinueMarkup({ state, dispatch })) insertNewlineAndIndent({ state, dispatch });
  return out.doc.toString() + "|" + out.selection.main.head;
}

test("Enter in a CRLF document does what it does in an LF one, with \\r\\n", () => {
  // Each text has a "^" where the caret is.
  const cases = ["a\n^\nb", "^\nb", "a\n  ^\nb", "a\n ^ \nb", "a\n\t^\nb", "- x^\n", "- x\n- ^\n", "> q^\n", "> q\n> ^\n", "1. x^\n2. y\n"];
  for (const c of cases) {
    const lf = c.replace("^", ""), at = c.indexOf("^");
    const crlf = lf.split("\n").join("\r\n"), atCRLF = c.slice(0, at).split("\n").join("\r\n").length;
    const [want, head] = enter(lf, at).split("|");
    const wantHead = want.slice(0, Number(head)).split("\n").join("\r\n").length;
    assert.equal(enter(crlf, atCRLF), want.split("\n").join("\r\n") + "|" + wantHead, JSON.stringify(c));
  }
});

test("reindenting leaves a blank CRLF line and its line break alone", () => {
  const state = EditorState.create({ doc: "a\r\n\r\n  \r\nb", selection: { anchor: 0, head: 10 },
    extensions: [EditorState.lineSeparator.of("\n"), markdown(), crlfSafe, crlfIndent] });
  let out = state;
  indentSelection({ state, dispatch: (tr) => { out = tr.state; } });
  assert.equal(out.doc.toString(), "a\r\n\r\n  \r\nb");
});

// The commands of the editor's keymap that move, copy, delete or join lines
// or line breaks, as the keys run them (crlfKeys before defaultKeymap).
// deleteLine and the line-end deletions ask the view where the line ends or
// what is below: a view without line wrapping answers from the text.
type Target = { state: EditorState; dispatch: (tr: Transaction | TransactionSpec) => void };
const lineCommands: Record<string, (t: Target) => boolean> = {
  moveLineUp, moveLineDown, copyLineUp, copyLineDown, insertBlankLine, splitLine,
  transposeChars: (t) => transposeAtCRLFEnd(t) || transposeChars(t),
  deleteCharBackward: (t) => deleteMarkupBackward(t) || deleteCharBackward(t as never),
  deleteCharForward: (t) => deleteCharForward(t as never),
  deleteGroupBackward: (t) => deleteGroupBackward(t as never),
  deleteGroupForward: (t) => deleteGroupForward(t as never),
  deleteLine: (t) => deleteLine(t as never),
  deleteToLineEnd: (t) => deleteToLineEnd(t as never),
  deleteLineBoundaryForward: (t) => deleteLineBoundaryForward(t as never),
  deleteLineBoundaryBackward: (t) => deleteLineBoundaryBackward(t as never),
  indentMore, indentLess, toggleComment,
  selectLineAndType: (t) => {
    let s = t.state;
    selectLine({ state: s, dispatch: (tr) => { s = tr.state; } });
    t.dispatch(s.update(s.replaceSelection("X"), { userEvent: "input.type" }));
    return true;
  },
};

// run applies a command to doc with the editor's filters, then undoes and
// redoes it as the editor does, and says what the text and the selection
// were after each.
function run(command: string, doc: string, anchor: number, head: number): string[] {
  let state = EditorState.create({ doc, selection: EditorSelection.single(anchor, head),
    extensions: [EditorState.lineSeparator.of("\n"), history(), markdown(), pairSafe, lineBreaks, crlfSafe, crlfIndent] });
  ensureSyntaxTree(state, state.doc.length, 5000);
  // As the editor's view dispatches: through historyCarets.
  const dispatch = (t: Transaction | TransactionSpec) => {
    const trs = historyCarets([t instanceof Transaction ? t : state.update(t)]);
    state = trs[trs.length - 1].state;
  };
  const line = (pos: number) => state.doc.lineAt(pos);
  const view = { get state() { return state; }, dispatch, lineWrapping: false,
    moveVertically: (r: SelectionRange) => r, lineBlockAt: line,
    moveToLineBoundary: (r: SelectionRange, forward: boolean) => EditorSelection.cursor(forward ? line(r.head).to : line(r.head).from) };
  const out = [];
  const show = () => JSON.stringify(state.doc.toString()) + "@" + state.selection.main.anchor + "-" + state.selection.main.head;
  lineCommands[command](view);
  out.push(show());
  undo(view);
  out.push("undo " + show());
  redo(view);
  out.push("redo " + show());
  return out;
}

test("line commands in a CRLF document do what they do in an LF one, with \\r\\n", () => {
  // Each text has a "^" where the caret is, or "[" and "]" around a selection.
  const cases = ["^a\nb\nc", "a\n^b\nc", "a\nb\n^c", "a^\nb\nc", "a\nb^\nc", "[a\nb]\nc", "a\n[b\nc]", "[a\nb\n]c",
    "a\n\n^\nb", "a\n  ^\nb", "ab^\ncd", "ab\n^cd", "a^b\ncd", "a b^\nc", "a ^b\nc", "a\n^ b", "  a\n  ^b\n",
    "ab\n^\ncd", "a\n^\n", "- x^\n- y", "- x\n- ^y", "a\n    ^\nb", "a\n\t^\nb", "a\n   ^\nb", "[  a\n    \n  b]",
    "a\n^\nb\nc", "a\n^\n\nb"];
  const crlf = (s: string) => s.split("\n").join("\r\n");
  // An LF position to the CRLF one: one more for every line break before it.
  const at = (s: string, pos: number) => crlf(s.slice(0, pos)).length;
  for (const command of Object.keys(lineCommands)) {
    for (const c of cases) {
      const open = c.indexOf("["), close = c.indexOf("]");
      const lf = c.replace(/[\^\[\]]/g, "");
      const [anchor, head] = open >= 0 ? [open, close - 1] : [c.indexOf("^"), c.indexOf("^")];
      const want = run(command, lf, anchor, head).map((s) => s.replace(/"(.*)"(?:@(\d+)-(\d+))?/, (_m, t, a, h) => {
        const text = JSON.parse(`"${t}"`);
        return JSON.stringify(crlf(text)) + (a === undefined ? "" : `@${at(text, +a)}-${at(text, +h)}`);
      }));
      const got = run(command, crlf(lf), at(lf, anchor), at(lf, head));
      for (const r of got) {
        const [, t, a, h] = /"(.*)"@(\d+)-(\d+)/.exec(r)!, text = Text.of(JSON.parse(`"${t}"`).split("\n"));
        assert.ok(!splitsCRLF(text, +a) && !splitsCRLF(text, +h), `${command} on ${JSON.stringify(c)}: ${r} splits a line break`);
      }
      assert.deepEqual(got, want, `${command} on ${JSON.stringify(c)}`);
    }
  }
});

// In a document that mixes line breaks, Ctrl+Shift+K on an LF line below a
// CRLF one takes the "\n" of the "\r\n" and the line's text, and the
// "\r" meets the line's own "\n": crlfSafe leaves the change alone, and
// redo's caret, mapped through it, lands between that "\r" and "\n".
// historyCarets puts it before the "\r", where an LF document has it.
test("Ctrl+Shift+K on an LF line after a CRLF line, undone and redone, leaves no caret in a line break", () => {
  // Each text has a "^" at the caret, and what Ctrl+Shift+K, undo and redo leave.
  const cases: [string, string, string][] = [
    ["a\r\n^b\nc", "a^\r\nc", "a\r\n^b\nc"],
    ["a\r\nb^\nc", "a^\r\nc", "a\r\nb^\nc"],
    ["a\r\nb^c\nd", "a^\r\nd", "a\r\nb^c\nd"],
    ["x\ny\r\n^b\nc", "x\ny^\r\nc", "x\ny\r\n^b\nc"],
    ["a\r\n^b\n", "a^\r\n", "a\r\n^b\n"],
  ];
  const show = (c: string) => JSON.stringify(c.replace("^", "")) + "@" + c.indexOf("^") + "-" + c.indexOf("^");
  for (const [c, deleted, undone] of cases) {
    const at = c.indexOf("^");
    assert.deepEqual(run("deleteLine", c.replace("^", ""), at, at), [show(deleted), "undo " + show(undone), "redo " + show(deleted)],
      JSON.stringify(c));
  }
});

// Redo puts the caret where the command's change maps the caret it started
// from: a change mended in two steps (Enter replaces a blank line's "\r",
// which is put back) mapped it onto the "\r" of a CRLF document.
test("redo of Enter and Ctrl+Enter in a CRLF document puts the caret where it does in an LF one", () => {
  const crlf = (s: string) => s.split("\n").join("\r\n");
  for (const c of ["a\n^\nb", "a\n  ^\nb", "a^\nb", "^\nb"]) {
    for (const [name, command] of [["Enter", insertNewlineAndIndent], ["Ctrl+Enter", insertBlankLine]] as const) {
      const redone = (doc: string, at: number) => {
        let state = EditorState.create({ doc, selection: { anchor: at },
          extensions: [EditorState.lineSeparator.of("\n"), history(), markdown(), pairSafe, lineBreaks, crlfSafe, crlfIndent] });
        const target = () => ({ state, dispatch: (tr: Transaction) => { state = tr.state; } });
        command(target());
        undo(target());
        redo(target());
        return [state.doc.toString(), state.selection.main.head];
      };
      const lf = c.replace("^", ""), at = c.indexOf("^");
      const [text, head] = redone(lf, at) as [string, number];
      assert.deepEqual(redone(crlf(lf), crlf(c).indexOf("^")), [crlf(text), crlf(text.slice(0, head)).length], `${name} on ${JSON.stringify(c)}`);
    }
  }
});

// A line break made in a document that mixes "\n" and "\r\n" takes the kind
// of the one that ends the line it is made on (on the last line, which has
// none, the one before it; in a text of one line, "\n"), whatever its first
// line ends in: Enter, Ctrl+Enter, Ctrl+O, Shift+Alt+ArrowDown and a paste,
// at every place the caret can be.
test("a new line break takes the kind of the line it is made on", () => {
  const docs = ["ab", "a\nb", "a\r\nb", "a\nb\r\nc\r\nd\r\ne", "a\r\nb\nc\nd", "a\nb\r\n", "a\r\nb\n", "a\r\n\nb\n\r\nc", "\r\n\n"];
  const commands: Record<string, (t: Target) => boolean> = {
    Enter: (t) => insertNewlineContinueMarkup(t) || insertNewlineAndIndent(t), insertBlankLine, splitLine, copyLineDown,
    paste: (t) => (t.dispatch(t.state.update(t.state.replaceSelection("x\ny\r\nz"), { userEvent: "input.paste" })), true),
  };
  for (const doc of docs) {
    for (let at = 0; at <= doc.length; at++) {
      if (doc.slice(at - 1, at + 1) === "\r\n") continue; // The caret never rests there.
      // The caret's line: from, end (before its line break) and the break.
      const from = doc.lastIndexOf("\n", at - 1) + 1, next = doc.indexOf("\n", at);
      const end = next < 0 ? doc.length : doc[next - 1] === "\r" ? next - 1 : next;
      const prev = from - 1, br = next >= 0 ? doc.slice(end, next + 1) : prev < 0 ? "\n" : doc[prev - 1] === "\r" ? "\r\n" : "\n";
      const put = (pos: number, s: string) => doc.slice(0, pos) + s + doc.slice(pos);
      const want: Record<string, string> = { Enter: put(at, br), insertBlankLine: put(end, br), splitLine: put(at, br),
        copyLineDown: put(from, doc.slice(from, end) + br), paste: put(at, "x" + br + "y" + br + "z") };
      for (const [name, command] of Object.entries(commands)) {
        let state = EditorState.create({ doc, selection: { anchor: at },
          extensions: [EditorState.lineSeparator.of("\n"), markdown(), pairSafe, lineBreaks, crlfSafe, crlfIndent] });
        ensureSyntaxTree(state, state.doc.length, 5000);
        command({ state, dispatch: (tr) => { state = (tr instanceof Transaction ? tr : state.update(tr)).state; } });
        assert.equal(JSON.stringify(state.doc.toString()), JSON.stringify(want[name]), `${name} at ${at} in ${JSON.stringify(doc)}`);
      }
    }
  }
});
