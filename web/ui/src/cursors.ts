// Remote carets and selections as CodeMirror decorations.
//
// Each peer's selection is kept in local UTF-16 offsets and mapped through
// every transaction (local or remote), so it never jumps while others type.
// The peer's name is always set with textContent, never parsed as HTML.

import { EditorState, StateEffect, StateField, Text, Transaction, Annotation } from "@codemirror/state";
import { Decoration, DecorationSet, EditorView, ViewPlugin, ViewUpdate, WidgetType } from "@codemirror/view";

export interface Peer {
  session: string;
  name: string;
  color: string;
  anchor: number; // UTF-16 offsets in the local text
  head: number;
}

/** Marks a transaction that applies a remote op; the value is its author's session. */
export const remoteAuthor = Annotation.define<string>();

/** Sets or replaces one peer (cursor null: the peer has no cursor). */
export const setPeer = StateEffect.define<Peer>();
/** Removes one peer by session. */
export const removePeer = StateEffect.define<string>();
/** Removes every peer (after a reconnect the welcome sends them again). */
export const clearPeers = StateEffect.define<null>();

const colorRe = /^#[0-9a-fA-F]{6}$/;

/** Returns c when it is a valid #rrggbb colour, otherwise fallback. */
export function safeColor(c: unknown, fallback = "#888888"): string {
  return typeof c === "string" && colorRe.test(c) ? c : fallback;
}

/**
 * labelTextColor is the colour of a name label's text on bg (#rrggbb):
 * white while it has WCAG AA's 4.5:1 on it (the saturated colours most
 * people pick), else black. A user may pick any colour, a light yellow
 * among them, and white on that is unreadable; when white is under 4.5:1
 * the background's luminance is over 0.18, and black on it is over 4.6:1.
 */
export function labelTextColor(bg: string): string {
  const l = luminance(safeColor(bg));
  return 1.05 / (l + 0.05) >= 4.5 ? "#ffffff" : "#000000";
}

// luminance is WCAG 2's relative luminance of a #rrggbb colour.
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/**
 * LABEL_SHOWN_FOR is how long (ms) a caret's name label shows after its
 * person last moved or typed. The label sits above its line, over the text
 * of the line before, which someone may be reading: it shows while its
 * person is active, then fades (folio.css), and shows again on their next
 * move or while the pointer is on their caret. The people list names
 * everyone, for good; the label is aria-hidden, since it is not text.
 */
export const LABEL_SHOWN_FOR = 2500;

// On the first line there is nothing above to cover but the editor's edge,
// where the label would be cut off, so it goes below the caret instead.
// active is when the peer last moved or typed (Date.now()): a label built
// later, as CodeMirror redraws a line, shows only for what is left of
// LABEL_SHOWN_FOR.
class CaretWidget extends WidgetType {
  constructor(readonly name: string, readonly color: string, readonly below: boolean, readonly active: number) { super(); }
  eq(o: CaretWidget) {
    return o.name === this.name && o.color === this.color && o.below === this.below && o.active === this.active;
  }
  toDOM() {
    const caret = document.createElement("span");
    caret.className = "cm-remote-caret";
    caret.setAttribute("aria-hidden", "true");
    caret.style.borderLeftColor = this.color;
    const label = document.createElement("span");
    label.className = this.below ? "cm-remote-label cm-remote-label-below" : "cm-remote-label";
    label.style.backgroundColor = this.color;
    label.style.color = labelTextColor(this.color);
    label.textContent = this.name;
    const left = this.active + LABEL_SHOWN_FOR - Date.now();
    if (left > 0) label.style.animationDelay = `${left}ms`;
    else label.classList.add("cm-remote-label-idle");
    caret.appendChild(label);
    return caret;
  }
  // A click on the caret (its target is a few pixels wide, for hovering)
  // places the local caret as a click on the text beside it would.
  ignoreEvent() { return false; }
}

function clamp(p: number, len: number) { return Math.max(0, Math.min(p, len)); }

// A peer as shown: active is when they last moved or typed (Date.now()).
type Shown = Peer & { active: number };

function mapPeers(peers: Map<string, Shown>, tr: Transaction): Map<string, Shown> {
  let out = peers;
  if (tr.docChanged) {
    const author = tr.annotation(remoteAuthor);
    out = new Map();
    for (const [k, p] of peers) {
      // The author's caret follows its own insert; everyone else's stays put
      // before text inserted at their position (ot-text-unicode's rule).
      const assoc = k === author ? 1 : -1;
      out.set(k, { ...p, anchor: tr.changes.mapPos(p.anchor, assoc), head: tr.changes.mapPos(p.head, assoc),
        ...(k === author ? { active: Date.now() } : {}) });
    }
  }
  for (const e of tr.effects) {
    if (out === peers) out = new Map(peers);
    if (e.is(setPeer)) {
      const len = tr.state.doc.length, prev = out.get(e.value.session);
      const p = { ...e.value, anchor: clamp(e.value.anchor, len), head: clamp(e.value.head, len) };
      // The same presence again (its person came back to the window) is no move.
      const same = prev && prev.anchor === p.anchor && prev.head === p.head && prev.name === p.name && prev.color === p.color;
      out.set(p.session, { ...p, active: same ? prev.active : Date.now() });
    } else if (e.is(removePeer)) out.delete(e.value);
    else if (e.is(clearPeers)) out.clear();
  }
  return out;
}

function decorate(peers: Map<string, Shown>, doc: Text): DecorationSet {
  const ranges = [];
  for (const p of peers.values()) {
    if (p.head < 0) continue; // no cursor
    const color = safeColor(p.color);
    const from = Math.min(p.anchor, p.head), to = Math.max(p.anchor, p.head);
    if (from < to) {
      ranges.push(Decoration.mark({ class: "cm-remote-selection", attributes: { style: `background-color: ${color}40` } }).range(from, to));
    }
    const below = doc.lineAt(p.head).number === 1;
    ranges.push(Decoration.widget({ widget: new CaretWidget(p.name, color, below, p.active), side: 1 }).range(p.head));
  }
  return Decoration.set(ranges, true);
}

// A label runs right from its caret. Near the editor's right edge (on a
// phone, any line that fills the width) it would be cut off and widen the
// scroller, so the text would scroll sideways under a finger: it is moved
// left to end at the edge instead.
const labelsInside = ViewPlugin.fromClass(class {
  constructor(view: EditorView) { this.place(view); }
  update(u: ViewUpdate) {
    if (u.docChanged || u.geometryChanged || u.viewportChanged || u.startState.field(peersField) !== u.state.field(peersField)) {
      this.place(u.view);
    }
  }
  place(view: EditorView) {
    view.requestMeasure({
      key: this,
      read: (v) => {
        const s = v.scrollDOM, edge = s.getBoundingClientRect().left + s.clientWidth;
        // How far the label's right end, at its usual left (-2px, folio.css, from inside the
        // caret's 2px border), is past the edge.
        return [...v.contentDOM.querySelectorAll<HTMLElement>(".cm-remote-label")].map((label) => ({
          label, over: label.parentElement!.getBoundingClientRect().left + label.getBoundingClientRect().width - edge,
        }));
      },
      write: (labels) => {
        for (const { label, over } of labels) label.style.left = over > 0 ? `${-2 - over}px` : "";
      },
    });
  }
});

/** The peers and their decorations. */
export const peersField: StateField<{ peers: Map<string, Shown>; deco: DecorationSet }> = StateField.define({
  create: () => ({ peers: new Map(), deco: Decoration.none }),
  update(value, tr) {
    const peers = mapPeers(value.peers, tr);
    return peers === value.peers ? value : { peers, deco: decorate(peers, tr.state.doc) };
  },
  provide: (f) => [EditorView.decorations.from(f, (v) => v.deco), labelsInside],
});

/** The peers currently known to the editor state. */
export function peersOf(state: EditorState): Peer[] {
  return [...state.field(peersField).peers.values()];
}
