// The CodeMirror 6 editor with Folio's extensions.

import { Compartment, EditorState, Extension, Transaction } from "@codemirror/state";
import { Decoration, DecorationSet, EditorView, MatchDecorator, ViewPlugin, ViewUpdate, keymap, lineNumbers, drawSelection, highlightActiveLine } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { markdown } from "@codemirror/lang-markdown";
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";
import { peersField } from "./cursors";
import { crlfIndent, crlfKeys, crlfSafe, historyCarets, lineBreaks, pairSafe } from "./changes";

// Colours come from CSS variables so one style serves the light and dark themes.
const highlight = HighlightStyle.define([
  { tag: t.heading, color: "var(--hl-heading)", fontWeight: "700" },
  { tag: t.heading1, fontSize: "1.3em" },
  { tag: t.heading2, fontSize: "1.15em" },
  { tag: t.strong, fontWeight: "700" },
  { tag: t.emphasis, fontStyle: "italic" },
  { tag: t.strikethrough, textDecoration: "line-through" },
  { tag: [t.link, t.url], color: "var(--hl-link)" },
  { tag: t.monospace, color: "var(--hl-code)", fontFamily: "var(--mono)" },
  { tag: [t.quote], color: "var(--hl-quote)", fontStyle: "italic" },
  // Marks (list markers among them), not list items: the muted colour is too faint for text.
  { tag: [t.processingInstruction, t.meta, t.contentSeparator], color: "var(--hl-mark)" },
]);

/**
 * The number of lines above which Markdown is not parsed (no highlighting).
 * lezer-markdown parses a block (a paragraph, a code block) as a whole on
 * every edit inside it, and a text of many lines without a blank one (a
 * log, a list of names, code) is one block: at 200,000 lines every keystroke
 * cost 150-400 ms in Chromium. Parsing resumes below 90% of it, so that
 * editing around the limit does not switch back and forth.
 */
export const HIGHLIGHT_MAX_LINES = 10000;

/** markdownUnlessLarge is markdown() while the text has at most HIGHLIGHT_MAX_LINES lines. */
export function markdownUnlessLarge(): Extension {
  const lang = new Compartment();
  const md = markdown();
  return [
    lang.of(md),
    EditorState.transactionExtender.of((tr: Transaction) => {
      if (!tr.docChanged) return null;
      const on = lang.get(tr.startState) === md, lines = tr.newDoc.lines;
      if (on && lines > HIGHLIGHT_MAX_LINES) return { effects: lang.reconfigure([]) };
      if (!on && lines <= HIGHLIGHT_MAX_LINES * 0.9) return { effects: lang.reconfigure(md) };
      return null;
    }),
  ];
}

const crMarks = new MatchDecorator({ regexp: /\r/g, decoration: Decoration.mark({ class: "cm-cr" }) });

/**
 * crApart puts every "\r" in an element of its own, out of the text node
 * of the line it ends. CodeMirror keeps an input method's composition
 * (Chinese, Japanese, Korean, dead keys, Android keyboards) alive through
 * a redraw of its line, such as a remote edit arriving, only when the
 * composed text node holds no line break, and a "\r" counts as one: in a
 * document with "\r\n" line breaks every line's text node ended in one, so
 * an edit from someone else ended the composition, and the candidate being
 * chosen stayed in the text beside the one chosen.
 */
const crApart = ViewPlugin.fromClass(class {
  decorations: DecorationSet;
  constructor(view: EditorView) { this.decorations = crMarks.createDeco(view); }
  update(u: ViewUpdate) { this.decorations = crMarks.updateDeco(u, this.decorations); }
}, { decorations: (v) => v.decorations });

export interface EditorOptions {
  parent: HTMLElement;
  lineNumbers: boolean;
  dark: boolean;
  onUpdate: Extension; // an EditorView.updateListener
}

/** Editor wraps the view and the settings that change at run time. */
export class Editor {
  readonly view: EditorView;
  private editable = new Compartment();
  private numbers = new Compartment();
  private scheme = new Compartment();
  private stale = new Compartment();

  constructor(o: EditorOptions) {
    const state = EditorState.create({
      doc: "",
      extensions: [
        EditorState.lineSeparator.of("\n"), // the wire counts "\r\n" as two code points: never normalize
        history(),
        drawSelection(),
        keymap.of([...crlfKeys, ...defaultKeymap, ...historyKeymap, indentWithTab]),
        markdownUnlessLarge(),
        syntaxHighlighting(highlight),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ "aria-label": "Document text" }),
        this.scheme.of(EditorView.theme({}, { dark: o.dark })),
        this.numbers.of(o.lineNumbers ? lineNumbers() : []),
        this.editable.of(readonlyExt(true)),
        peersField,
        this.stale.of([]),
        pairSafe,
        lineBreaks,
        crlfSafe,
        crlfIndent,
        crApart,
        o.onUpdate,
      ],
    });
    // Undo and redo skip the transaction filters: historyCarets does crlfSafe's part.
    this.view = new EditorView({ state, parent: o.parent, dispatchTransactions: (trs, view) => view.update(historyCarets(trs)) });
    const hint = document.createElement("span");
    hint.id = HINT_ID;
    hint.className = "visually-hidden";
    hint.textContent = "Press Escape then Tab to leave the editor";
    o.parent.append(hint);
  }

  setReadonly(ro: boolean): void {
    this.view.dispatch({ effects: this.editable.reconfigure(readonlyExt(ro)) });
  }

  /** setDark switches CodeMirror's own colours (its base theme) to dark or light. */
  setDark(dark: boolean): void {
    this.view.dispatch({ effects: this.scheme.reconfigure(EditorView.theme({}, { dark })) });
  }

  /**
   * setPeersStale fades the others' carets and selections (class
   * cm-peers-stale): offline, they are where they were last seen.
   */
  setPeersStale(stale: boolean): void {
    this.view.dispatch({ effects: this.stale.reconfigure(stale ? EditorView.editorAttributes.of({ class: "cm-peers-stale" }) : []) });
  }

  setLineNumbers(on: boolean): void {
    this.view.dispatch({ effects: this.numbers.reconfigure(on ? lineNumbers() : []) });
  }
}

/**
 * HINT_ID is the element that tells a keyboard user how to leave the
 * text: Tab indents in it (indentWithTab), and CodeMirror lets Tab move
 * the focus after Escape. The text points to it while it is editable.
 */
const HINT_ID = "editor-keys-hint";

// A read-only text has no current line to highlight: the band reads as "you
// are typing here" to someone who cannot type.
function readonlyExt(ro: boolean): Extension {
  return [EditorState.readOnly.of(ro), EditorView.editable.of(!ro),
    ro ? [] : [highlightActiveLine(), EditorView.contentAttributes.of({ "aria-describedby": HINT_ID })]];
}
