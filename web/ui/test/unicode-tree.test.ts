// The tree walk in unicode.ts against the straightforward scan of the whole
// text, on random texts built the way the editor builds them (lines split
// on "\n" only, so "\r" is an ordinary character) and edited the way
// CodeMirror edits them (new nodes beside shared ones, so cached counts of
// old nodes are reused).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ChangeSet, Text } from "@codemirror/state";
import { type, TextOp } from "ot-text-unicode";
import { cpLength, cpToUtf16, docCpLength, utf16ToCp } from "../src/unicode";
import { changesToOp, opToChanges } from "../src/changes";

// mulberry32: a seeded generator, so a failure names the seed that repeats it.
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Mostly ASCII, some lines with pairs, line breaks, CR LF, and (in texts
// only) the odd lone surrogate, which counts as one code point.
const pieces = ["a", "b", "é", "🎉", "👨‍👩‍👧", "\n", "\n", "\r\n", "\r", "\t"];
const lone = ["\ud83c", "\udf89"];

function randomString(r: () => number, n: number, lonely: boolean): string {
  let s = "";
  const astral = r() < 0.7; // some texts have no pair at all
  while (s.length < n) {
    let p = pieces[Math.floor(r() * pieces.length)];
    if (!astral && cpLength(p) !== p.length) p = "x";
    if (lonely && r() < 0.01) p = lone[Math.floor(r() * 2)];
    s += r() < 0.8 ? p : "line".repeat(1 + Math.floor(r() * 5)); // lines of varied length
  }
  return s;
}

const textOf = (s: string) => Text.of(s.split("\n"));

// The scans that were the implementation before the tree walk.
const scanToCp = (s: string, pos: number) => cpLength(s.slice(0, pos));
function scanToUtf16(s: string, cp: number): number {
  let i = 0;
  for (; cp > 0 && i < s.length; cp--) {
    const c = s.charCodeAt(i), d = s.charCodeAt(i + 1);
    i += c >= 0xd800 && c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff ? 2 : 1;
  }
  return i;
}

function checkPositions(r: () => number, t: Text, s: string, what: string) {
  assert.equal(t.toString(), s);
  const cps = cpLength(s);
  assert.equal(docCpLength(t), cps, `${what}: length`);
  const at = (max: number) => [0, max, Math.floor(r() * (max + 1)), Math.floor(r() * (max + 1)), Math.floor(r() * (max + 1))];
  for (const pos of [...at(s.length), s.length + 5, -3]) {
    assert.equal(utf16ToCp(t, pos), scanToCp(s, Math.max(0, pos)), `${what}: utf16ToCp(${pos})`);
  }
  for (const cp of [...at(cps), cps + 5, -3]) {
    assert.equal(cpToUtf16(t, cp), Math.max(0, scanToUtf16(s, cp)), `${what}: cpToUtf16(${cp})`);
  }
}

const depth = (t: Text): number => (t.children ? 1 + Math.max(...t.children.map(depth)) : 0);

test("conversions match the scan on random texts and their edited versions", () => {
  const depths = new Set<number>();
  for (let seed = 1; seed <= 150; seed++) {
    const r = rng(seed);
    // Up to ~60,000 units: trees of one leaf up to three levels.
    let s = randomString(r, Math.floor(r() ** 2 * 60000), true);
    let t = textOf(s);
    depths.add(depth(t));
    const versions: [Text, string][] = [[t, s]];
    checkPositions(r, t, s, `seed ${seed}`);
    for (let e = 0; e < 12; e++) {
      const from = Math.floor(r() * (s.length + 1));
      const to = Math.min(s.length, from + Math.floor(r() * (r() < 0.1 ? 5000 : 20)));
      const ins = randomString(r, Math.floor(r() * (r() < 0.1 ? 3000 : 10)), true);
      t = t.replace(from, to, textOf(ins));
      s = s.slice(0, from) + ins + s.slice(to);
      versions.push([t, s]);
      checkPositions(r, t, s, `seed ${seed} edit ${e}`);
    }
    // Older versions still answer right: nothing cached for a node went stale.
    for (const [i, [vt, vs]] of versions.entries()) checkPositions(r, vt, vs, `seed ${seed} version ${i}`);
  }
  // A leaf holds up to 32 lines and a node a few dozen children: the texts
  // must reach trees of two levels of nodes above the leaves.
  assert.deepEqual([0, 1, 2].filter((d) => !depths.has(d)), [], `tree depths seen: ${[...depths]}`);
});

// A random code point position in s that is not inside a pair (local
// changes never split one: pairSafe widens them first).
function boundary(r: () => number, s: string): number {
  return scanToUtf16(s, Math.floor(r() * (cpLength(s) + 1)));
}

test("local changes and remote ops convert as the scan does, both ways", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(1000 + seed);
    const s = randomString(r, Math.floor(r() ** 2 * 40000), false);
    const t = textOf(s);

    // Local: a change set of a few changes at pair-safe places.
    const at = Array.from({ length: 1 + Math.floor(r() * 4) }, () => boundary(r, s)).sort((a, b) => a - b);
    const specs = [];
    for (let i = 0; i + 1 < at.length; i += 2) specs.push({ from: at[i], to: at[i + 1], insert: randomString(r, Math.floor(r() * 6), false) });
    if (at.length % 2) specs.push({ from: at[at.length - 1], insert: "🙂" });
    const changes = ChangeSet.of(specs, s.length, "\n");
    const op = changesToOp(changes, t);
    const after = changes.apply(t).toString();
    assert.equal(type.apply(s, op), after, `seed ${seed}: local op ${JSON.stringify(op).slice(0, 200)}`);

    // Remote: an op made in code points lands where the scan puts it.
    const cps = cpLength(s);
    const a = Math.floor(r() * (cps + 1)), b = a + Math.floor(r() * Math.min(10, cps - a + 1));
    const remote: TextOp = type.normalize([a, { d: b - a }, "x🎉\r\n", cps - b]);
    const ch = ChangeSet.of(opToChanges(remote, t), s.length, "\n");
    assert.equal(ch.apply(t).toString(), type.apply(s, remote), `seed ${seed}: remote op ${JSON.stringify(remote)}`);
  }
});
