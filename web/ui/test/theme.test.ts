// folio.css writes the dark colours twice (see its first comment): this
// keeps the two copies in step.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

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
