// The remote carets' name labels, without a DOM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { labelTextColor } from "../src/cursors";
import { contrast } from "./contrast";

const hex = (r: number, g: number, b: number) => "#" + [r, g, b].map((c) => c.toString(16).padStart(2, "0")).join("");

// A user picks any colour with the colour input: the label's name must stay
// readable on it (WCAG AA, 4.5:1), the light ones included.
test("labelTextColor: a label's text has 4.5:1 on any colour", () => {
  const palette = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#0fa3a3", "#d6338a", "#6b8e23"]; // folio.ts
  const light = ["#ffffff", "#ffeb3b", "#ffff00", "#00ffff", "#f0f0f0", "#b3e5fc", "#c8e6c9", "#ffcdd2", "#00ff00"];
  const edge = ["#000000", "#767676", "#777777", "#808080", "#757575", "#888888", "#ff0000", "#0000ff"];
  const grid: string[] = [];
  for (let r = 0; r < 256; r += 15) for (let g = 0; g < 256; g += 15) for (let b = 0; b < 256; b += 15) grid.push(hex(r, g, b));
  for (const bg of [...palette, ...light, ...edge, ...grid]) {
    const fg = labelTextColor(bg);
    assert.ok(fg === "#ffffff" || fg === "#000000", `${bg}: ${fg}`);
    const r = contrast(fg, bg);
    assert.ok(r >= 4.5, `${fg} on ${bg} has contrast ${r.toFixed(2)}, under 4.5`);
  }
});

// White stays where it reads (4.5:1): on the dark and saturated colours. Five
// of the eight colours folio.ts picks from at random are too light for it.
test("labelTextColor: white on dark and saturated colours, black on lighter ones", () => {
  for (const bg of ["#e6194b", "#4363d8", "#911eb4", "#000000", "#757575"]) assert.equal(labelTextColor(bg), "#ffffff", bg);
  for (const bg of ["#ffeb3b", "#ffffff", "#00ffff", "#777777", "#3cb44b", "#f58231", "#0fa3a3", "#d6338a", "#6b8e23"]) {
    assert.equal(labelTextColor(bg), "#000000", bg);
  }
  assert.equal(labelTextColor("not a colour"), labelTextColor("#888888"), "an invalid colour is shown as the fallback grey");
});
