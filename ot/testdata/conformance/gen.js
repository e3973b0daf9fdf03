// Generates ../conformance.json: random cases whose expected results come from
// the reference implementation, npm ot-text-unicode (version pinned in
// package-lock.json). The Go test TestConformance reproduces every case.
//
// Regenerate (from the repository root):
//   cd ot/testdata/conformance && npm ci && node gen.js
//
// The output is deterministic for a given seed and package version.
'use strict';
const fs = require('fs');
const path = require('path');
const { type } = require('ot-text-unicode');

const SEED = 20261127;
const PER_KIND = 600; // per kind; transformUnrelated and normalize get half

// mulberry32: small deterministic PRNG.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(SEED);
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1)); // inclusive
const pick = (xs) => xs[int(0, xs.length - 1)];

// Pieces of text: ASCII, CRLF, combining marks, astral emoji, ZWJ sequences,
// flags, CJK, and a BMP character next to surrogates (U+FFFD, U+E000).
const PIECES = [
  'a', 'b', 'c', ' ', 'xyz', '\n', '\r\n', '\r', '\t',
  'é', 'e\u0301', 'a\u0308\u0323', '\u0301',
  '🎉', '👍', '👍🏽', '👨‍👩‍👧‍👦', '\u200d', '🇫🇷', '😀😀',
  '日本', '한', '\ufffd', '\ue000', '𝄞', '"', '\\', '\u2028',
];
const cps = (s) => Array.from(s); // code points
const randText = (maxPieces) => {
  let s = '';
  for (let i = int(0, maxPieces); i > 0; i--) s += pick(PIECES);
  return s;
};

// randOp makes a random op that fits doc; deletes carry their text when
// withText is set. A few are no-ops on purpose.
function randOp(doc, withText) {
  for (;;) {
    const op = randOpOnce(doc, withText);
    if (op.length > 0 || rand() < 0.15) return op;
  }
}

// randOpOnce may produce unmerged components; normalize merges them.
function randOpOnce(doc, withText) {
  const chars = cps(doc);
  const op = [];
  let pos = 0;
  for (let i = int(0, 6); i > 0; i--) {
    const k = int(0, 2);
    if (k === 0 && pos < chars.length) {
      const n = int(1, chars.length - pos);
      op.push(n);
      pos += n;
    } else if (k === 1) {
      const s = randText(3) || 'q';
      op.push(s);
    } else if (k === 2 && pos < chars.length) {
      const n = int(1, Math.min(4, chars.length - pos));
      op.push({ d: withText ? chars.slice(pos, pos + n).join('') : n });
      pos += n;
    }
  }
  return type.normalize(op);
}

const clone = (x) => JSON.parse(JSON.stringify(x));
const cases = { apply: [], transform: [], compose: [], transformPosition: [], transformUnrelated: [], normalize: [] };

for (let i = 0; i < PER_KIND; i++) {
  const doc = randText(8);
  const op = randOp(doc, rand() < 0.5);
  cases.apply.push({ doc, op, result: type.apply(doc, clone(op)) });
}
for (let i = 0; i < PER_KIND; i++) {
  const doc = randText(8);
  const withText = rand() < 0.5;
  const op = randOp(doc, withText);
  const other = randOp(doc, withText);
  cases.transform.push({
    doc, op, other,
    left: type.transform(clone(op), clone(other), 'left'),
    right: type.transform(clone(op), clone(other), 'right'),
  });
}
for (let i = 0; i < PER_KIND; i++) {
  const doc = randText(8);
  const withText = rand() < 0.5;
  const a = randOp(doc, withText);
  const b = randOp(type.apply(doc, clone(a)), withText);
  cases.compose.push({ doc, a, b, result: type.compose(clone(a), clone(b)) });
}
for (let i = 0; i < PER_KIND; i++) {
  const doc = randText(8);
  const op = randOp(doc, false);
  const pos = int(0, cps(doc).length + 1);
  cases.transformPosition.push({ pos, op, result: type.transformPosition(pos, clone(op)) });
}

// Ops written against different documents: text past the end of an op counts
// as retained.
for (let i = 0; i < PER_KIND / 2; i++) {
  const op = randOp(randText(8), rand() < 0.5);
  const other = randOp(randText(8), rand() < 0.5);
  cases.transformUnrelated.push({
    op, other,
    left: type.transform(clone(op), clone(other), 'left'),
    right: type.transform(clone(op), clone(other), 'right'),
  });
}
// Raw component lists: unmerged, with empty components and trailing skips.
for (let i = 0; i < PER_KIND / 2; i++) {
  const raw = [];
  for (let j = int(0, 7); j > 0; j--) {
    raw.push(pick([
      () => int(0, 3),
      () => pick(['', 'a', '🎉', 'e\u0301']),
      () => ({ d: int(0, 3) }),
      () => ({ d: pick(['', 'x', '👨‍👩‍👧‍👦', '\r\n']) }),
    ])());
  }
  cases.normalize.push({ raw, result: type.normalize(clone(raw)) });
}

const out = {
  generator: 'ot/testdata/conformance/gen.js',
  reference: 'ot-text-unicode@' + require('ot-text-unicode/package.json').version,
  seed: SEED,
  cases,
};
// One case per line keeps diffs of the committed file readable.
const lines = [];
for (const [kind, xs] of Object.entries(cases)) {
  lines.push(`  ${JSON.stringify(kind)}: [\n` + xs.map((c) => '   ' + JSON.stringify(c)).join(',\n') + '\n  ]');
}
const head = JSON.stringify({ generator: out.generator, reference: out.reference, seed: out.seed });
fs.writeFileSync(path.join(__dirname, '..', 'conformance.json'),
  head.slice(0, -1) + ',\n "cases": {\n' + lines.join(',\n') + '\n }\n}\n');
const total = Object.values(cases).reduce((n, xs) => n + xs.length, 0);
console.log(`wrote ${total} cases`);
