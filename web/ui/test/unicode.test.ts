import { test } from "node:test";
import assert from "node:assert/strict";
import { EditorState, Text } from "@codemirror/state";
import { cpLength, cpToUtf16, splitsPair, utf16ToCp, wellFormed } from "../src/unicode";
import { changesToOp, opToChanges, pairSafe } from "../src/changes";
import { type } from "ot-text-unicode";

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
