import { test } from "node:test";
import assert from "node:assert/strict";
import { EditorState, Text } from "@codemirror/state";
import { cpLength, cpToUtf16, firstCodePoints, splitsPair, utf16ToCp, wellFormed } from "../src/unicode";
import { changesToOp, crlfSafe, lineBreaks, opToChanges, pairSafe } from "../src/changes";
import { remoteAuthor } from "../src/cursors";
import { type } from "ot-text-unicode";
import { insertNewlineAndIndent } from "@codemirror/commands";

const doc = (s: string) => Text.of(s.split("\n"));

test("code point counting and offsets", () => {
  const s = "a🎉b👨‍👩‍👧‍👦c\né";
  const d = doc(s);
  assert.equal(cpLength("🎉"), 1);
  assert.equal(cpLength(s), [...s].length);
  for (let cp = 0; cp <= [...s].length; cp++) {
    const u = cpToUtf16(d, cp);
    assert.equal(u, [...s].slice(0, cp).join("").length, `cp ${cp}`);
    assert.equal(utf16ToCp(d, u), cp);
  }
  assert.equal(cpToUtf16(d, 1000), d.length);
  assert.ok(splitsPair(d, 2)); // inside 🎉
  assert.ok(!splitsPair(d, 1) && !splitsPair(d, 3));
});

test("offsets in one long line of pairs", () => {
  const s = "🎉".repeat(70000) + "x";
  const d = doc(s);
  assert.equal(cpToUtf16(d, 70000), 140000);
  assert.equal(utf16ToCp(d, 140000), 70000);
  assert.equal(utf16ToCp(d, 1), 1); // between the halves: the high one counts
  assert.equal(cpToUtf16(d, 70001), 140001);
});

test("firstCodePoints never cuts an emoji in half", () => {
  const name = "Anna " + "🎉".repeat(30); // 35 code points, 65 UTF-16 units
  assert.equal(firstCodePoints(name, 64), name);
  assert.equal(firstCodePoints(name, 6), "Anna 🎉");
  assert.equal(firstCodePoints("a🎉b", 2), "a🎉");
  assert.equal(firstCodePoints("", 64), "");
  assert.equal(wellFormed(firstCodePoints("x" + "🎉".repeat(40), 64)), "x" + "🎉".repeat(40).slice(0, 126));
});

test("wellFormed replaces lone surrogates only", () => {
  assert.equal(wellFormed("a🎉b"), "a🎉b");
  assert.equal(wellFormed("a\ud83cb"), "a\ufffdb");
  assert.equal(wellFormed("\udf89x\ud83c"), "\ufffdx\ufffd");
});

test("local changes become code point ops with their deleted text", () => {
  const st = EditorState.create({ doc: "a🎉b\nc" });
  const ins = st.update({ changes: { from: 3, insert: "X" } });
  assert.deepEqual(changesToOp(ins.changes, st.doc), [2, "X"]);
  const del = st.update({ changes: { from: 1, to: 3 } });
  assert.deepEqual(changesToOp(del.changes, st.doc), [1, { d: "🎉" }]);
  const multi = st.update({ changes: [{ from: 0, insert: "😀" }, { from: 4, to: 6, insert: "\n" }] });
  const op = changesToOp(multi.changes, st.doc);
  assert.equal(type.apply(st.doc.toString(), op), multi.state.doc.toString());
});

test("remote ops become UTF-16 changes", () => {
  const s = "a🎉b👍\nz";
  const st = EditorState.create({ doc: s });
  const op = [2, "🙂", { d: 1 }, 1, "!"];
  const tr = st.update({ changes: opToChanges(op, st.doc) });
  assert.equal(tr.state.doc.toString(), type.apply(s, op));
  assert.throws(() => opToChanges([99, "x"], st.doc));
});

test("an emoji is never split by a local change", () => {
  const st = EditorState.create({ doc: "a🎉b", extensions: [pairSafe] });
  // Deleting one half of the pair deletes the whole emoji.
  let tr = st.update({ changes: { from: 2, to: 3 } });
  assert.equal(tr.state.doc.toString(), "ab");
  tr = st.update({ changes: { from: 1, to: 2 } });
  assert.equal(tr.state.doc.toString(), "ab");
  // Inserting between the halves inserts after the emoji.
  tr = st.update({ changes: { from: 2, insert: "x" } });
  assert.equal(tr.state.doc.toString(), "a🎉xb");
  // A lone surrogate typed or pasted becomes U+FFFD.
  tr = st.update({ changes: { from: 0, insert: "\ud83c" } });
  assert.equal(tr.state.doc.toString(), "\ufffda🎉b");
  // Whatever happens, the op is valid for ot-text-unicode and matches the text.
  for (const [from, to] of [[1, 2], [2, 3], [2, 4], [0, 3]]) {
    const t2 = st.update({ changes: { from, to, insert: "é" } });
    const op = changesToOp(t2.changes, st.doc);
    assert.equal(type.apply(st.doc.toString(), op), t2.state.doc.toString());
    assert.equal(wellFormed(t2.state.doc.toString()), t2.state.doc.toString());
  }
});

test("a CRLF is one line break for the caret and for local changes", () => {
  // "ab\r\ncd": the "\r" is at 2, the "\n" at 3; 3 is between them.
  const st = EditorState.create({ doc: "ab\r\ncd", extensions: [EditorState.lineSeparator.of("\n"), pairSafe, crlfSafe] });
  const caret = (from: number, to: number) =>
    st.update({ selection: { anchor: from } }).state.update({ selection: { anchor: to } }).state.selection.main.head;
  assert.equal(caret(0, 3), 2, "End, a click or ArrowDown stops before the \\r");
  assert.equal(caret(4, 3), 2, "ArrowLeft from the next line skips the \\r");
  assert.equal(caret(2, 3), 4, "ArrowRight from the end of the line goes to the next one");
  const click = st.update({ selection: { anchor: 2 } }).state.update({ selection: { anchor: 3 }, userEvent: "select.pointer" });
  assert.equal(click.state.selection.main.head, 2, "a click past the end of the line where the caret is leaves it there");
  const shift = st.update({ selection: { anchor: 0, head: 2 } }).state.update({ selection: { anchor: 0, head: 3 } });
  assert.deepEqual([shift.state.selection.main.anchor, shift.state.selection.main.head], [0, 4], "Shift+ArrowRight takes the line break");
  const sel = st.update({ selection: { anchor: 3, head: 0 } }).state.selection.main;
  assert.deepEqual([sel.anchor, sel.head], [2, 0]);
  const edit = (from: number, to: number, insert = "") => st.update({ changes: { from, to, insert } }).state.doc.toString();
  assert.equal(edit(3, 3, "X"), "abX\r\ncd", "text typed there goes before the \\r");
  assert.equal(edit(3, 4), "abcd", "Backspace at the start of a line deletes the whole line break");
  assert.equal(edit(2, 3), "abcd", "Delete at the end of a line deletes the whole line break");
  assert.equal(edit(1, 3, "Z"), "aZ\r\ncd", "a replacement ending on the \\r leaves the line break");
  // Enter at the end of the line takes the whitespace after the caret, "\r" included.
  let after = st.update({ selection: { anchor: 2 } }).state;
  insertNewlineAndIndent({ state: after, dispatch: (tr) => { after = tr.state; } });
  assert.equal(after.doc.toString(), "ab\n\r\ncd", "Enter at the end of a line breaks it");
  assert.equal(after.selection.main.head, 3);
  // The text after the change never holds a lone "\r", and the op matches it.
  for (const [from, to] of [[3, 3], [3, 4], [2, 3], [1, 3], [3, 6], [0, 3]]) {
    const t2 = st.update({ changes: { from, to, insert: "é" } });
    assert.ok(!/\r(?!\n)/.test(t2.state.doc.toString()), `${from}-${to}: ${JSON.stringify(t2.state.doc.toString())}`);
    assert.equal(type.apply(st.doc.toString(), changesToOp(t2.changes, st.doc)), t2.state.doc.toString());
  }
  // Remote ops are applied as they are: every client must apply the same op.
  const remote = st.update({ changes: { from: 3, insert: "R" }, annotations: remoteAuthor.of("s-1") });
  assert.equal(remote.state.doc.toString(), "ab\rR\ncd");
});

test("a line break typed or pasted gets the document's own kind", () => {
  const ext = [EditorState.lineSeparator.of("\n"), pairSafe, lineBreaks, crlfSafe];
  const input = (doc: string, from: number, insert: string, userEvent = "input.paste") => {
    const tr = EditorState.create({ doc, selection: { anchor: from }, extensions: ext })
      .update({ changes: { from, insert }, selection: { anchor: from + insert.length }, userEvent });
    return { text: tr.state.doc.toString(), head: tr.state.selection.main.head, op: changesToOp(tr.changes, tr.startState.doc) };
  };
  let r = input("a\r\nb", 4, "x\ny\r\nz");
  assert.deepEqual([r.text, r.head], ["a\r\nbx\r\ny\r\nz", 11], "CRLF document: every break \\r\\n, the caret after the paste");
  assert.deepEqual(r.op, [4, "x\r\ny\r\nz"]);
  r = input("a\nb", 3, "x\r\ny\nz");
  assert.deepEqual([r.text, r.head], ["a\nbx\ny\nz", 8], "LF document: every break \\n");
  assert.equal(input("ab", 1, "\n", "input").text, "a\nb", "one line: LF");
  assert.equal(input("a\r\nb", 4, "x\ny", "undo").text, "a\r\nbx\ny", "undo restores what was there");
  const remote = EditorState.create({ doc: "a\r\nb", extensions: ext })
    .update({ changes: { from: 4, insert: "\n" }, userEvent: "input", annotations: remoteAuthor.of("s-1") });
  assert.equal(remote.state.doc.toString(), "a\r\nb\n", "remote ops are applied as they are");
});
