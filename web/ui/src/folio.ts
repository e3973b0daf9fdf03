// Entry point: reads the page's configuration (a JSON block written by the
// server, since the CSP allows no inline script) and starts the landing page,
// the full editor or the embed.

import { FolioSession, Participant } from "./session";
import { Status, announcement, statusText } from "./status";
import { safeColor } from "./cursors";
import { createDoc, expiryText, pageToken, readonlyLink, tokenClaims, withToken } from "./access";
import { Presence, parentOrigin, postTargets, presenceUpdate } from "./embed";
import { firstCodePoints } from "./unicode";

interface PageConfig {
  page: "landing" | "editor" | "embed";
  id?: string;
  // Folio's root and REST API: relative to the page's address in the
  // server's block ("../", "../api/v1"), absolute once config() has read
  // them, so that they keep any path prefix a reverse proxy serves Folio under.
  root: string;
  api: string;
  embedOrigins?: string[]; // "*" alone means any
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T | null;
const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#0fa3a3", "#d6338a", "#6b8e23"];

function config(): PageConfig {
  const el = $("folio-config");
  const cfg = JSON.parse(el?.textContent ?? "{}") as PageConfig;
  cfg.root = new URL(cfg.root, location.href).href;
  cfg.api = new URL(cfg.api, location.href).href;
  return cfg;
}

function wsURL(api: string, id: string): string {
  const u = new URL(`${api}/docs/${encodeURIComponent(id)}/ws`);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

function stored(key: string): string | null {
  try { return localStorage.getItem(key); } catch { return null; }
}
function store(key: string, v: string): void {
  try { localStorage.setItem(key, v); } catch { /* private mode */ }
}

// MAX_NAME is the server's limit on names, in code points (docs/protocol.md).
const MAX_NAME = 64;

// identity is the name and colour this page shows for its user. A token's
// name wins: the server shows that one to the others whatever hello says.
function identity(params: URLSearchParams, token: string): { name: string; color: string; fixedName: boolean } {
  const fromToken = firstCodePoints((tokenClaims(token).name ?? "").trim(), MAX_NAME);
  let name = fromToken || firstCodePoints((params.get("name") ?? stored("folio.name") ?? "").trim(), MAX_NAME);
  if (!name) name = "Guest " + Math.floor(100 + Math.random() * 900);
  const fallback = PALETTE[Math.floor(Math.random() * PALETTE.length)];
  const color = safeColor(params.get("color"), safeColor(stored("folio.color"), fallback));
  return { name, color, fixedName: fromToken !== "" };
}

// say tells screen readers text, through the polite live region #status-live.
function say(text: string): void {
  const live = $("status-live");
  // The same words again must still be a change for a screen reader.
  if (live) live.textContent = live.textContent === text ? text + "\u00a0" : text;
}

let shownStatus: Status | undefined;

// showStatus updates the visible status, which is no live region, and says
// only what matters in #status-live, a visually hidden one.
function showStatus(s: Status): void {
  const said = announcement(shownStatus, s);
  shownStatus = s;
  if (said) say(said);
  const el = $("status");
  if (!el) return;
  el.textContent = statusText(s);
  el.dataset.state = s.state;
  el.dataset.unsynced = String(s.unsynced);
  el.toggleAttribute("data-readonly", s.readonly === true);
}

// retrying is whether the page has lost its connection and not got it
// back: the Retry now button shows meanwhile, through each attempt, so
// that it does not vanish from under a keyboard user's focus.
let retrying = false;

// focusText is called only once the button has been shown, long after the
// session exists (the first statuses come while it is being constructed).
function showRetry(s: Status, focusText: () => void): void {
  if (s.state === "offline" || s.state === "reconnecting") retrying = true;
  else if (s.state !== "connecting") retrying = false;
  const b = $<HTMLButtonElement>("retry-now");
  if (!b || b.hidden === !retrying) return;
  // Back online: the button goes, and the focus it had goes to the text.
  if (!retrying && document.activeElement === b) focusText();
  b.hidden = !retrying;
}

// retryButton makes Retry now reconnect at once instead of after the backoff (up to 10 s).
function retryButton(session: FolioSession): void {
  $("retry-now")?.addEventListener("click", () => {
    say("Retrying now");
    session.retryNow();
  });
}

function showPeers(list: Participant[]): void {
  const ul = $("participants");
  if (!ul) return;
  ul.replaceChildren(...list.map((p) => {
    const li = document.createElement("li");
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.style.backgroundColor = p.color;
    const name = document.createElement("span");
    name.textContent = p.name;
    // A viewer reads along and cannot type: said in words, beside the name.
    const notes = [...(p.self ? ["you"] : []), ...(p.viewing ? ["viewing"] : [])];
    if (notes.length) {
      const note = document.createElement("span");
      note.className = "who-note";
      note.textContent = ` (${notes.join(", ")})`;
      name.append(note);
    }
    li.append(dot, name);
    li.classList.toggle("viewing", p.viewing);
    li.classList.toggle("stale", p.stale);
    return li;
  }));
  $("participants-stale")?.toggleAttribute("hidden", !list.some((p) => p.stale));
}

function landing(cfg: PageConfig, token: string): void {
  const err = $("error");
  $("new-doc")?.addEventListener("click", async () => {
    try {
      location.href = await createDoc((u, init) => fetch(u, init), cfg.api, cfg.root, token);
    } catch (e) {
      if (err) err.textContent = (e as Error).message;
    }
  });
  $("open-form")?.addEventListener("submit", (e) => {
    e.preventDefault();
    const id = ($<HTMLInputElement>("open-id")?.value ?? "").trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
      if (err) err.textContent = "A document id is 1 to 64 letters, digits, '-' or '_'.";
      return;
    }
    location.href = withToken(`${cfg.root}d/${encodeURIComponent(id)}`, token);
  });
}

function editorPage(cfg: PageConfig, params: URLSearchParams, token: string): FolioSession {
  const id = cfg.id!;
  const { fixedName, ...me } = identity(params, token);
  const session = new FolioSession({
    parent: $("editor")!, wsURL: wsURL(cfg.api, id), token, ...me,
    readonly: params.get("readonly") === "1",
    lineNumbers: params.get("lineNumbers") === "1",
    dark: darkScheme(params),
    onStatus: (s) => {
      showStatus(s);
      showRetry(s, () => session.view.focus());
      if (s.linksDead) linksDead(s.reason ?? "closed");
    },
    onPeers: showPeers,
    onReady: () => startWriting(session),
  });
  retryButton(session);
  sidePanel();
  shareBox(cfg, id, token, session.readOnly);
  document.querySelectorAll<HTMLAnchorElement>("a[data-export]").forEach((a) => {
    a.href = withToken(a.getAttribute("href") ?? "", token);
  });
  const nameIn = $<HTMLInputElement>("user-name"), colorIn = $<HTMLInputElement>("user-color");
  if (nameIn && colorIn) {
    nameIn.value = me.name;
    colorIn.value = me.color;
    if (fixedName) {
      nameIn.disabled = true;
      nameIn.title = "Set by your access link";
    }
    const save = () => {
      const name = fixedName ? me.name : firstCodePoints(nameIn.value.trim(), MAX_NAME) || me.name;
      const color = safeColor(colorIn.value, me.color);
      if (!fixedName) store("folio.name", name);
      store("folio.color", color);
      session.setUser(name, color);
    };
    // At most MAX_NAME characters (code points, as the server counts), so
    // not the input's maxlength, which counts UTF-16 units: half for emoji.
    nameIn.addEventListener("input", () => {
      const cut = firstCodePoints(nameIn.value, MAX_NAME);
      if (cut !== nameIn.value) nameIn.value = cut;
    });
    nameIn.addEventListener("change", save);
    colorIn.addEventListener("change", save);
  }
  return session;
}

// sidePanel makes People & share open and close the side panel, which a
// narrow screen shows only as a sheet over the editor (folio.css; on a
// wide one the panel is always there and the button hidden). Opening it
// moves the focus into it; closing it, by the button, × or Escape from
// within it, gives the focus back to the button.
function sidePanel(): void {
  const toggle = $<HTMLButtonElement>("panel-toggle"), panel = $("side-panel"), close = $<HTMLButtonElement>("panel-close");
  const app = panel?.parentElement;
  if (!toggle || !panel || !close || !app) return;
  const show = (open: boolean) => {
    toggle.setAttribute("aria-expanded", String(open));
    app.classList.toggle("panel-open", open);
    if (open) close.focus();
    else if (panel.contains(document.activeElement) || document.activeElement === document.body) toggle.focus();
  };
  toggle.addEventListener("click", () => show(toggle.getAttribute("aria-expanded") !== "true"));
  close.addEventListener("click", () => show(false));
  const escape = (e: KeyboardEvent) => {
    if (e.key === "Escape" && app.classList.contains("panel-open") && getComputedStyle(close).display !== "none") {
      e.preventDefault();
      show(false);
    }
  };
  panel.addEventListener("keydown", escape);
  toggle.addEventListener("keydown", escape);
}

// linksDead hides the share and export links of a page whose access ended
// (its token expired, the document was deleted, …): they would lead to an
// error. A line says why they went.
function linksDead(reason: string): void {
  $("share")?.setAttribute("hidden", "");
  $("export")?.setAttribute("hidden", "");
  const note = $("links-gone");
  if (note) {
    note.textContent = `Sharing and export are unavailable: ${reason}.`;
    note.hidden = false;
  }
}

// startWriting puts the caret in an empty document (a new one, from the
// landing page's button) so that typing starts at once, as long as the
// page may edit and the user has not gone to another field meanwhile. A
// document with text is left unfocused: its reader may only read, and a
// phone would open its keyboard over the text.
function startWriting(session: FolioSession): void {
  const idle = document.activeElement === null || document.activeElement === document.body;
  if (idle && !session.readOnly && session.view.state.doc.length === 0) session.view.focus();
}

// shareBox fills the share links. The plain link lets anyone edit only on an
// open server, for good; a page opened with a token has no such link to
// give (its own token is personal), and a read-only page none it should
// offer (its reader was given a link to view), so that row is hidden. The read-only
// link comes from the server, with a view token when access control is on,
// which stops working when the page's own token does: the line below it
// says when, and keeps saying it as that comes nearer.
function shareBox(cfg: PageConfig, id: string, token: string, readonly: boolean): void {
  const share = $<HTMLInputElement>("share-link"), ro = $<HTMLInputElement>("readonly-link");
  if (share) share.value = `${cfg.root}d/${encodeURIComponent(id)}`;
  if (token || readonly) $("share-edit")?.setAttribute("hidden", "");
  readonlyLink((u, init) => fetch(u, init), { api: cfg.api, id, token, root: cfg.root }).then((link) => {
    if (link && ro) {
      ro.value = link.url;
      const note = $("readonly-link-expiry");
      if (!note) return;
      const say = () => { note.textContent = expiryText(link.expiresAt, new Date()); };
      say();
      if (link.expiresAt) {
        note.dataset.expires = link.expiresAt.toISOString();
        setInterval(say, EXPIRY_EVERY);
      }
    } else $("share-readonly")?.setAttribute("hidden", "");
    if (!link && token) $("share")?.setAttribute("hidden", "");
  });
  copyButtons();
}

const EXPIRY_EVERY = 30_000; // ms between two updates of a link's "Expires in …"

const COPIED_FOR = 2000; // ms a Copy button says Copied

// copyButtons makes each button[data-copy] copy its input. A button says
// Copied for a moment, and only the last one clicked: that is the link on
// the clipboard.
function copyButtons(): void {
  const buttons = [...document.querySelectorAll<HTMLButtonElement>("button[data-copy]")];
  const label = (b: HTMLButtonElement, text: string) => {
    const l = b.querySelector("[data-copy-label]");
    if (l) l.textContent = text;
  };
  let timer: number | undefined;
  const reset = () => {
    clearTimeout(timer);
    for (const b of buttons) label(b, "Copy");
  };
  for (const b of buttons) {
    b.addEventListener("click", async () => {
      const input = $<HTMLInputElement>(b.dataset.copy!);
      if (!input) return;
      reset();
      if (!(await copyText(input))) return;
      label(b, "Copied");
      say(b.textContent ?? "Copied");
      timer = setTimeout(reset, COPIED_FOR) as unknown as number;
    });
  }
}

// copyText copies input's value. Without the clipboard API (a page served
// over plain HTTP) or when it is refused, the text is selected and copied
// the old way; if that fails too, it stays selected for the user to copy.
async function copyText(input: HTMLInputElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch { /* below */ }
  input.select();
  try { return document.execCommand("copy"); } catch { return false; }
}

function embedPage(cfg: PageConfig, params: URLSearchParams, token: string): FolioSession {
  const targets = postTargets(cfg.embedOrigins?.length ? cfg.embedOrigins : ["*"],
    parentOrigin((location as any).ancestorOrigins, document.referrer));
  const post = (msg: object) => {
    if (window.parent === window) return;
    // The browser delivers a message only when its target matches the
    // parent's origin, so posting to each allowed origin reaches only the
    // parent, and only when it is allowed.
    for (const o of targets) {
      try { window.parent.postMessage({ ...msg, id: cfg.id }, o); } catch { /* not a valid origin */ }
    }
  };
  const { fixedName: _, ...me } = identity(params, token);
  let presence: Presence | undefined; // the last folio:presence: posted again only when it changes
  const session: FolioSession = new FolioSession({
    parent: $("editor")!, wsURL: wsURL(cfg.api, cfg.id!), token, ...me,
    readonly: params.get("readonly") === "1",
    lineNumbers: params.get("lineNumbers") === "1",
    dark: darkScheme(params),
    onStatus: (s) => {
      showStatus(s);
      showRetry(s, () => session.view.focus());
      post({ type: "folio:status", state: s.state, unsynced: s.unsynced, ...(s.readonly ? { readonly: true } : {}),
        ...(s.reason ? { reason: s.reason } : {}),
        ...(s.notice ? { notice: s.notice } : {}) });
    },
    onChange: (version) => post({ type: "folio:change", version }),
    onPeers: (p, stale) => {
      const next = presenceUpdate(presence, p.length, stale);
      if (next) post({ type: "folio:presence", ...(presence = next) });
    },
    onReady: () => post({ type: "folio:ready" }),
  });
  retryButton(session);
  return session;
}

// explicitTheme is the theme the page or embed asks for (?theme=), if any.
function explicitTheme(params: URLSearchParams): "light" | "dark" | undefined {
  const t = params.get("theme");
  return t === "light" || t === "dark" ? t : undefined;
}

const darkQuery = () => window.matchMedia?.("(prefers-color-scheme: dark)");

// darkScheme says whether the page is dark: as asked by ?theme=, else as the user prefers.
function darkScheme(params: URLSearchParams): boolean {
  const t = explicitTheme(params);
  return t ? t === "dark" : darkQuery()?.matches === true;
}

// followScheme keeps the editor's colours in step with the user's
// preference when it changes (folio.css follows it by itself).
function followScheme(params: URLSearchParams, session: FolioSession): void {
  if (explicitTheme(params)) return;
  darkQuery()?.addEventListener("change", (e) => session.editor.setDark(e.matches));
}

function main(): void {
  const cfg = config();
  const params = new URLSearchParams(location.search);
  const theme = explicitTheme(params);
  if (theme) document.documentElement.dataset.theme = theme;
  let session: FolioSession | undefined;
  const token = pageToken(location.search);
  if (cfg.page === "landing") landing(cfg, token);
  else if (cfg.page === "editor") session = editorPage(cfg, params, token);
  else if (cfg.page === "embed") session = embedPage(cfg, params, token);
  if (session) followScheme(params, session);
  // Exposed for tests and for debugging from the console.
  (window as any).folio = session;
}

main();
