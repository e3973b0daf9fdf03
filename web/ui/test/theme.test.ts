// folio.css writes the dark colours twice (see its first comment): this
// keeps the two copies in step.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { contrast } from "./contrast";

// declarations returns the declarations of the rule for selector, sorted and
// with whitespace normalized.
function declarations(css: string, selector: string): string[] {
  const start = css.indexOf(selector + " {");
  assert.notEqual(start, -1, `no rule for ${selector}`);
  const body = css.slice(css.indexOf("{", start) + 1, css.indexOf("}", start));
  return body.split(";").map((d) => d.replace(/\s+/g, " ").trim()).filter((d) => d !== "").sort();
}

test("folio.css: ?theme=dark and a preference for dark get the same colours", () => {
  const css = readFileSync("src/folio.css", "utf8");
  const asked = declarations(css, ':root[data-theme="dark"]');
  assert.ok(asked.some((d) => d.startsWith("--bg:")), "the dark rule sets --bg");
  assert.deepEqual(declarations(css, ':root:not([data-theme="light"])'), asked);
});

// palette is the custom properties a theme sets: the light ones, with the
// dark rule's over them when dark is given.
function palette(css: string, dark?: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const sel of dark ? [":root", dark] : [":root"]) {
    for (const d of declarations(css, sel)) {
      const m = /^(--[\w-]+): (#[0-9a-f]{6})$/i.exec(d);
      if (m) vars.set(m[1], m[2]);
    }
  }
  return vars;
}

test("contrast: a sanity check of the formula", () => {
  assert.equal(contrast("#000000", "#ffffff"), 21);
  assert.equal(contrast("#777777", "#777777"), 1);
  assert.ok(Math.abs(contrast("#ffffff", "#6f8fff") - 2.98) < 0.01);
});

// Text needs 4.5:1 against what is behind it (WCAG AA), the focus ring 3:1
// (non-text), in each theme and in both copies of the dark colours.
test("folio.css: text and the focus ring stand out in light and dark", () => {
  const css = readFileSync("src/folio.css", "utf8");
  const text: [string, string, string][] = [
    ["--accent-text", "--accent", "a button's label"],
    ["--accent", "--panel", "a ghost button, a link beside the editor"],
    ["--accent", "--bg", "a link on the landing page"],
    ["--text", "--bg", "text"], ["--text", "--panel", "the editor's text"],
    ["--muted", "--bg", "the status"], ["--muted", "--panel", "a caption, the document id"],
    ["--danger", "--bg", "the status offline or closed, an error"],
  ];
  const rings: [string, string, string][] = [["--focus", "--panel", "the focus ring"], ["--focus", "--bg", "the focus ring"]];
  for (const [name, dark] of [["light", undefined], ["?theme=dark", ':root[data-theme="dark"]'],
    ["dark preferred", ':root:not([data-theme="light"])']] as const) {
    const p = palette(css, dark);
    for (const [pairs, min] of [[text, 4.5], [rings, 3]] as const) {
      for (const [fg, bg, what] of pairs) {
        const r = contrast(p.get(fg)!, p.get(bg)!);
        assert.ok(r >= min, `${name}: ${what} (${fg} ${p.get(fg)} on ${bg} ${p.get(bg)}) has contrast ${r.toFixed(2)}, under ${min}`);
      }
    }
  }
});
