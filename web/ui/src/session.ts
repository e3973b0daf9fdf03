// FolioSession joins the editor, the OT client and the connection: it is the
// whole client of one document, used by the full page and the embed alike.

import { EditorView, ViewUpdate } from "@codemirror/view";
import { Transaction } from "@codemirror/state";
import { Connection, ConnState } from "./connection";
import { OTClient, PeerMsg, WelcomeMsg, Op } from "./otclient";
import { changesToOp, opToChanges, DesyncError } from "./changes";
import { clearPeers, removePeer, remoteAuthor, safeColor, setPeer } from "./cursors";
import { cpToUtf16, utf16ToCp } from "./unicode";
import { Editor } from "./editor";

import { Status, StatusState } from "./status";

// Close codes after which reconnecting cannot help (docs/protocol.md).
const FINAL_CLOSES: Record<number, string> = {
  1008: "access refused",
  4000: "too many protocol errors",
  4003: "this session was opened elsewhere",
  4004: "the document was deleted",
  4400: "invalid document id",
  4401: "the access token expired",
  4404: "no such document",
};
// Final closes after which the page's share and export links fail as well.
const LINKS_DEAD = new Set([1008, 4004, 4400, 4401, 4404]);
// Why the server refused an edit for good, for the notice that it was undone.
const REFUSALS: Record<string, string> = {
  doc_too_large: "the document would be too large",
  too_large: "the edit is too large to send",
  forbidden: "read-only access",
  invalid_op: "the server could not apply it",
};
export interface Participant {
  session: string; name: string; color: string; self: boolean;
  /** The participant may only read (a read-only link or token). */
  viewing: boolean;
  /** Offline: the peer was here when the connection dropped, and may have left since. */
  stale: boolean;
}

export interface SessionOptions {
  parent: HTMLElement;
  wsURL: string;
  /** The page's access token, sent in every hello (never in the URL). */
  token?: string;
  name: string;
  color: string;
  readonly: boolean;
  lineNumbers: boolean;
  dark: boolean;
  onStatus?(s: Status): void;
  onChange?(version: number): void;
  /** stale: offline, the peers are those last seen (as each Participant's stale says, also when there are none). */
  onPeers?(p: Participant[], stale: boolean): void;
  onReady?(): void;
}

const PRESENCE_EVERY = 50; // ms between two presence messages

export class FolioSession {
  readonly editor: Editor;
  readonly client: OTClient;
  private conn: Connection;
  private connState: ConnState = "connecting";
  private everLive = false;
  private role: "edit" | "view" = "edit";
  private peers = new Map<string, { name: string; color: string; viewing: boolean }>();
  // Offline, the peers are those of the last connection, as last seen: the
  // next welcome says who is still here.
  private peersStale = false;
  // Cursors that could not be placed yet (reported at a version the client
  // has not reached, e.g. listed in a text welcome while an op waits for its
  // answer): placed as soon as they can be.
  private unplaced = new Map<string, PeerMsg>();
  private presenceDirty = true;
  // Whether the user has put the caret anywhere (focus, a selection). Until
  // then the page sends no cursor: a page only opened, never clicked into,
  // would show the others a caret at the start, its name over the first line.
  private placed = false;
  private presenceTimer: number | undefined;
  private lastStatus = "";
  private lastVersion = -1;
  private closedReason = "";
  private linksDead = false;
  // Set when the server refused an edit for good and it was undone; cleared
  // by the next local edit.
  private notice = "";
  // The last error about the connection itself (no seq), e.g. why a hello
  // was refused; shown with a final close.
  private connError = "";
  // Why the server closed the last connection when it is worth retrying
  // (too many connections, shutting down, …): shown until the next welcome.
  private retryReason = "";

  constructor(private o: SessionOptions) {
    this.editor = new Editor({
      parent: o.parent, lineNumbers: o.lineNumbers, dark: o.dark,
      onUpdate: EditorView.updateListener.of((u) => this.onUpdate(u)),
    });
    this.client = new OTClient({
      send: (m) => { this.conn.send(m); },
      applyRemote: (op, author) => this.applyRemote(op, author),
      text: () => this.view.state.doc.toString(),
    });
    this.conn = new Connection(o.wsURL, {
      open: () => this.sendHello(),
      message: (m) => this.onMessage(m),
      close: (code, reason) => this.onClose(code, reason),
      state: (s) => { this.connState = s; this.emitStatus(); },
    });
    window.addEventListener("beforeunload", (e) => {
      if (this.client.unsynced > 0) { e.preventDefault(); e.returnValue = ""; }
    });
    window.addEventListener("online", () => this.conn.retryNow());
    // A page left for another, or closed, leaves the document at once, so
    // that its name and caret go from the others' screens; left alone, a
    // page kept in the back/forward cache keeps its socket open, frozen,
    // until the server gives up on it a minute later. Brought back from
    // that cache, it joins again with whatever it had not sent.
    window.addEventListener("pagehide", () => this.conn.stop());
    window.addEventListener("pageshow", (e) => {
      if (e.persisted && !this.closedReason) this.conn.start();
    });
    this.conn.start();
  }

  get view(): EditorView { return this.editor.view; }

  /** Whether this page may not edit: readonly=1, or a view role from the server. */
  get readOnly(): boolean {
    return this.o.readonly || this.role === "view";
  }

  /** Reconnects now rather than after the backoff, when the page is waiting to. */
  retryNow(): void {
    this.conn.retryNow();
  }

  /** Changes the name or colour shown to others. */
  setUser(name: string, color: string): void {
    this.o.name = name;
    this.o.color = safeColor(color, this.o.color);
    if (this.client.live) this.conn.send({ type: "presence", name: this.o.name, color: this.o.color });
    this.emitPeers();
  }

  status(): Status {
    const unsynced = this.client.unsynced;
    let state: StatusState;
    if (this.closedReason) {
      return { state: "closed", unsynced, reason: this.closedReason, ...(this.linksDead ? { linksDead: true } : {}) };
    }
    if (this.client.live) state = unsynced > 0 ? "connected" : "saved";
    else if (this.connState === "waiting") state = "offline";
    else state = this.everLive ? "reconnecting" : "connecting";
    const s: Status = { state, unsynced };
    if (this.readOnly) s.readonly = true;
    if (!this.client.live && this.retryReason) s.reason = this.retryReason;
    if (this.notice) s.notice = this.notice;
    return s;
  }

  // A read-only page says so in its hello, so that the server treats it
  // as a viewer (whatever its token allows) and the others list it as one.
  private sendHello(): void {
    const token = this.o.token ? { token: this.o.token } : {};
    const readonly = this.o.readonly ? { readonly: true } : {};
    this.conn.send({ type: "hello", ...this.client.hello(), ...token, ...readonly, user: { name: this.o.name, color: this.o.color } });
  }

  private onMessage(m: any): void {
    switch (m.type) {
      case "welcome": return this.onWelcome(m as WelcomeMsg);
      case "ack": this.guard(() => this.client.ack(m.seq, m.version)); break;
      case "op": this.guard(() => this.client.remote(m)); break;
      case "presence": this.onPresence(m as PeerMsg); break;
      case "leave": this.onLeave(m.session); break;
      case "error": this.onError(m); break;
    }
    if (this.unplaced.size > 0) this.placeUnplaced();
    this.afterChange();
  }

  private onWelcome(w: WelcomeMsg): void {
    const first = !this.everLive;
    this.connError = "";
    this.retryReason = "";
    this.view.dispatch({ effects: clearPeers.of(null) });
    this.peers.clear();
    this.unplaced.clear();
    this.setPeersStale(false);
    this.guard(() => this.client.welcome(w));
    this.everLive = true;
    this.conn.healthy();
    this.role = w.role;
    this.editor.setReadonly(this.readOnly);
    // One list for the whole welcome: the embed's parent is told the count
    // of people, and one peer at a time it would hear every number up to it.
    for (const p of w.peers ?? []) this.onPresence(p, false);
    this.emitPeers();
    this.presenceDirty = true;
    this.afterChange();
    if (first) this.o.onReady?.();
  }

  private onPresence(p: PeerMsg, emit = true): void {
    if (p.session === this.client.session) return;
    this.peers.set(p.session, { name: String(p.name ?? ""), color: safeColor(p.color), viewing: p.role === "view" });
    const sel = p.cursor ? this.client.toLocal(p.cursor, p.version) : null;
    if (p.cursor && !sel) this.unplaced.set(p.session, p);
    else this.unplaced.delete(p.session);
    const doc = this.view.state.doc;
    const effect = sel
      ? setPeer.of({ session: p.session, name: String(p.name ?? ""), color: safeColor(p.color),
          anchor: cpToUtf16(doc, sel.anchor), head: cpToUtf16(doc, sel.head) })
      : removePeer.of(p.session);
    this.view.dispatch({ effects: effect });
    if (emit) this.emitPeers();
  }

  // placeUnplaced places the cursors that could not be placed before.
  private placeUnplaced(): void {
    for (const p of [...this.unplaced.values()]) {
      if (this.client.toLocal(p.cursor!, p.version)) this.onPresence(p);
    }
  }

  private onLeave(session: string): void {
    this.unplaced.delete(session);
    this.peers.delete(session);
    this.view.dispatch({ effects: removePeer.of(session) });
    this.emitPeers();
  }

  private onError(m: { code: string; message: string; seq?: number }): void {
    console.warn("folio: server error", m.code, m.message);
    if (!m.seq) {
      this.connError = String(m.message ?? "").slice(0, 200);
      return;
    }
    let r: ReturnType<OTClient["refused"]>;
    try {
      r = this.client.refused(m.seq, m.code);
    } catch (e) {
      this.desynced(e);
      return;
    }
    if (r === "undone") this.undone(m.code);
    if (r === "retry") setTimeout(() => this.client.resend(), 500 + Math.random() * 1000);
    else if (r === "resync") this.conn.drop(); // reconnect for a fresh snapshot
  }

  private onClose(code: number, reason: string): boolean {
    this.client.disconnected();
    // 1009: the op in flight (the only large message a client sends) is over
    // the server's message limit; resending it would be closed again.
    const f = this.client.inflight;
    if (code === 1009 && f) this.guard(() => { if (this.client.refused(f.seq, "too_large") === "undone") this.undone("too_large"); });
    const final = FINAL_CLOSES[code];
    if (final) {
      this.closedReason = this.connError && code === 1008 ? `${final}: ${this.connError}` : final;
      this.linksDead = LINKS_DEAD.has(code);
      this.editor.setReadonly(true);
      this.view.dispatch({ effects: clearPeers.of(null) });
      this.peers.clear();
      this.emitPeers();
    } else {
      // "" when the network dropped or the client closed the socket itself.
      this.retryReason = reason.slice(0, 200);
      this.setPeersStale(true);
      this.emitPeers();
    }
    this.emitStatus();
    return !final;
  }

  // guard runs a step that applies remote ops; an op that does not fit the
  // local text means the two have diverged, and the only cure is a snapshot.
  private guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.desynced(e);
    }
  }

  private desynced(e: unknown): void {
    if (!(e instanceof DesyncError)) throw e;
    console.error("folio: resync after", e);
    this.client.resync();
    this.conn.drop();
  }

  private applyRemote(op: Op, author: string): void {
    const changes = opToChanges(op, this.view.state.doc);
    this.view.dispatch({
      changes,
      annotations: [Transaction.addToHistory.of(false), remoteAuthor.of(author), Transaction.remote.of(true)],
    });
  }

  private onUpdate(u: ViewUpdate): void {
    for (const tr of u.transactions) {
      if (!tr.docChanged || tr.annotation(remoteAuthor) !== undefined) continue;
      this.notice = "";
      this.client.local(changesToOp(tr.changes, tr.startState.doc));
    }
    if (u.docChanged || u.selectionSet || u.focusChanged) this.presenceDirty = true;
    if ((u.focusChanged && u.view.hasFocus) ||
      u.transactions.some((tr) => tr.selection !== undefined && tr.annotation(remoteAuthor) === undefined)) this.placed = true;
    if (u.docChanged && u.transactions.some((tr) => tr.annotation(remoteAuthor) === undefined)) this.afterChange();
    this.schedulePresence();
  }

  private afterChange(): void {
    this.emitStatus();
    if (this.client.version !== this.lastVersion && this.client.live) {
      this.lastVersion = this.client.version;
      this.o.onChange?.(this.client.version);
    }
    this.schedulePresence();
  }

  // Presence is sent only while nothing is pending, because only then do
  // local offsets equal the server's at our version. A read-only page sends
  // no cursor: it has no caret of its own, and a caret with a name in the
  // others' text reads as "someone is typing here". Viewers still show up
  // in the participants list (the server announces every join). Nor does a
  // page whose caret was never placed (see placed).
  private schedulePresence(): void {
    if (!this.presenceDirty || this.presenceTimer !== undefined || this.readOnly || !this.placed) return;
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = undefined;
      if (!this.presenceDirty || !this.client.synced || this.readOnly) return;
      this.presenceDirty = false;
      const s = this.view.state.selection.main, doc = this.view.state.doc;
      this.conn.send({ type: "presence", version: this.client.version,
        cursor: { anchor: utf16ToCp(doc, s.anchor), head: utf16ToCp(doc, s.head) } });
    }, PRESENCE_EVERY) as unknown as number;
  }

  private emitStatus(): void {
    const s = this.status();
    const key = JSON.stringify(s);
    if (key === this.lastStatus) return;
    this.lastStatus = key;
    this.o.onStatus?.(s);
  }

  private undone(code: string): void {
    this.notice = `an edit was undone: ${REFUSALS[code] ?? code}`;
    this.emitStatus();
  }

  private setPeersStale(stale: boolean): void {
    this.peersStale = stale;
    this.editor.setPeersStale(stale);
  }

  private emitPeers(): void {
    const list: Participant[] = [{ session: this.client.session, name: this.o.name, color: this.o.color, self: true,
      viewing: this.readOnly, stale: false }];
    for (const [session, p] of this.peers) list.push({ session, ...p, self: false, stale: this.peersStale });
    this.o.onPeers?.(list, this.peersStale);
  }
}
