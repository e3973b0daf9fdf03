// The editor's extensions that need no DOM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EditorState } from "@codemirror/state";
import { language } from "@codemirror/language";
import { HIGHLIGHT_MAX_LINES, markdownUnlessLarge } from "../src/editor";

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
