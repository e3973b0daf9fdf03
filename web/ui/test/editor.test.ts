// The editor's extensions that need no DOM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EditorState, Transaction } from "@codemirror/state";
import { ensureSyntaxTree, language } from "@codemirror/language";
import { indentSelection, insertNewlineAndIndent } from "@codemirror/commands";
import { insertNewlineContinueMarkup, markdown } from "@codemirror/lang-markdown";
import { HIGHLIGHT_MAX_LINES, markdownUnlessLarge } from "../src/editor";
import { crlfIndent, crlfSafe, lineBreaks, pairSafe } from "../src/changes";

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
