// The client side of Folio's OT protocol (docs/protocol.md), without any DOM
// or socket: the editor glue feeds it local ops and server messages, and it
// tells the glue what to send and which transformed ops to apply.
//
// Invariants (the same as the server and the Go client expect):
//   - local text = apply(server text at `version`, inflight ∘ buffer);
//   - at most one op is in flight; whatever is typed meanwhile is composed
//     into `buffer` (ot-text-unicode's compose);
//   - an incoming op is transformed with side "right" against inflight and
//     then buffer, which are themselves transformed with side "left";
//   - a resent op keeps its seq, so the server acknowledges a duplicate
//     instead of applying it twice.
// Local ops keep their deleted text ({"d":"text"}) so that the pending
// edits can be rebased onto a full snapshot when the server sends one; they
// are stripped to the plain {"d":N} form on the wire.

import { type as declared, TextOp } from "ot-text-unicode";
import { cpLength } from "./unicode";

// The package's typings omit the invertibility helpers it has at run time.
const type = declared as typeof declared & {
  stripInvertible(op: TextOp): TextOp;
  isInvertible(op: TextOp): boolean;
  invert(op: TextOp): TextOp;
};

export type Op = TextOp;
export interface Selection { anchor: number; head: number }

export interface OpMsg { version: number; op: Op; session: string; seq: number }
export interface PeerMsg {
  session: string; name: string; color: string;
  cursor: Selection | null; version: number;
  /** "view": the peer may only read (absent for an editor, and from servers before it). */
  role?: string;
}
export interface WelcomeMsg {
  /** The public id, which the others see on this client's ops and presence. */
  session: string;
  /** The hello's key, echoed (absent from a server before keys). */
  key?: string;
  version: number; role: "edit" | "view";
  peers: PeerMsg[] | null; text?: string; ops?: OpMsg[] | null;
}

/** What the client needs from its surroundings. */
export interface Host {
  /** Sends a protocol message; only called while the socket is open. */
  send(msg: object): void;
  /** Applies an op that is already transformed to the local text. */
  applyRemote(op: Op, author: string): void;
  /** Current local text (used only to rebase onto a snapshot). */
  text(): string;
}

interface Pending { op: Op; edits: number }
interface InFlight extends Pending { seq: number }

const HISTORY = 256;

export class OTClient {
  session = "";
  // The session's private key, drawn here: every hello names the session
  // by it (its public id, which everyone sees, cannot resume it). Kept in
  // this page only; "" after a welcome that did not echo it (a server from
  // before keys), which is resumed by its id.
  private key = newKey();
  version = 0;
  /** True once a welcome was processed on the current connection. */
  live = false;
  inflight: InFlight | null = null;
  buffer: Pending | null = null;
  private nextSeq = 1;
  private started = false;
  // Set after a desync: the next hello asks for the full text (no version)
  // while keeping the session, so the op in flight stays exactly-once and
  // the pending edits are rebased onto the text.
  private needText = false;
  // Set while waiting to learn whether the op in flight is in a snapshot;
  // op is the op in flight rebased onto it, as it is resent.
  private limbo: { text: string; version: number; queue: OpMsg[]; op: Op } | null = null;
  // The last HISTORY server ops, to bring older presence up to `version`.
  private recent: { version: number; op: Op }[] = [];

  constructor(private host: Host) {}

  /** Local edits not yet acknowledged by the server. */
  get unsynced(): number {
    return (this.inflight?.edits ?? 0) + (this.buffer?.edits ?? 0);
  }

  /**
   * The hello fields that name this client's session: its key and, once
   * known, its id, which a server from before keys resumes by (and whose
   * welcome echoes no key: the id alone is sent from then on). The id also
   * tells the server this page had the document, so that one deleted
   * meanwhile is not created again, even without a version (after a desync).
   */
  hello(): { key?: string; session?: string; version?: number } {
    if (!this.started) return { key: this.key };
    const resume = this.key ? { key: this.key, session: this.session } : { session: this.session };
    return this.needText ? resume : { ...resume, version: this.version };
  }

  /** Records a local edit (an op on the local text, invertible form). */
  local(op: Op): void {
    if (op.length === 0) return;
    if (this.buffer) this.buffer = { op: type.compose(this.buffer.op, op), edits: this.buffer.edits + 1 };
    else this.buffer = { op, edits: 1 };
    this.flush();
  }

  /** The socket closed: nothing is sent until the next welcome. */
  disconnected(): void {
    this.live = false;
  }

  /**
   * Handles welcome: catch up with the missed ops (learning on the way
   * whether the op in flight was committed), or rebase onto a snapshot, then
   * resend the op in flight with its seq.
   */
  welcome(w: WelcomeMsg): void {
    const resumed = this.started && w.session === this.session;
    this.limbo = null;
    this.needText = false;
    this.session = w.session;
    this.key = w.key ?? "";
    this.started = true;
    if (w.text == null) {
      for (const o of w.ops ?? []) this.remote(o); // not live yet: nothing is sent meanwhile
      this.version = w.version;
      this.live = true;
    } else if (resumed && this.inflight) {
      this.live = true;
      // The snapshot may or may not contain the op in flight. Resending it
      // tells: a duplicate is acknowledged with its old version. It is sent
      // rebased onto the snapshot, the way leaveLimbo rebases it locally, so
      // that where it lands does not depend on the server's transforms
      // agreeing with a diff.
      const op = type.transform(this.inflight.op, diff(this.serverText(), w.text), "left");
      this.limbo = { text: w.text, version: w.version, queue: [], op };
      this.sendInflight();
      return;
    } else {
      this.live = true;
      if (this.inflight) this.requeueInflight(); // a new session: the server cannot dedupe it
      this.rebase(w.text, w.version);
    }
    if (this.inflight) this.sendInflight(); // the resend, same seq, new base
    else this.flush();
  }

  /** Handles ack of the op in flight. */
  ack(seq: number, version: number): void {
    if (!this.inflight || seq !== this.inflight.seq) return;
    if (this.limbo) return this.leaveLimbo(version <= this.limbo.version ? "in-snapshot" : "after", version);
    this.acked(version, this.inflight.op);
    this.flush();
  }

  /** Handles an op committed by someone else (or a REST edit). */
  remote(o: OpMsg): void {
    if (this.limbo) {
      this.limbo.queue.push(o);
      return;
    }
    if (o.session === this.session && this.inflight && o.seq === this.inflight.seq) {
      this.acked(o.version, o.op);
      this.flush();
      return;
    }
    if (o.version <= this.version) return; // already seen (catch-up overlap)
    this.incoming(o.op, o.session);
    this.remember(o.version, o.op);
    this.version = o.version;
  }

  /**
   * Handles an error about op seq. "retry": resend it later (rate limited);
   * "resync": reconnect for a fresh snapshot, the pending edits kept (the op
   * was only too old); "undone": refused for good, the op was undone
   * locally and what was typed after it kept; "handled": done here (the
   * answer that ends a limbo); "ignored": not about the op in flight.
   */
  refused(seq: number, code: string): "retry" | "resync" | "undone" | "handled" | "ignored" {
    if (!this.inflight || this.inflight.seq !== seq) return "ignored";
    // Transient refusals: the same op is sent again later. The server decides
    // these before its exactly-once check, so in limbo they say nothing about
    // whether the op is in the snapshot.
    if (["rate_limited", "unavailable", "conflict", "internal"].includes(code)) return "retry";
    if (this.limbo) {
      this.leaveLimbo("not-committed", 0);
      return "handled";
    }
    // A base the server cannot rebase from: reconnecting brings a snapshot
    // and the edits are rebased onto it.
    if (code === "version_too_old" || code === "version_ahead") return "resync";
    // Anything else (invalid_op, doc_too_large, ...) refuses this op for good:
    // undo it locally and keep what was typed after it.
    const undo = type.invert(this.inflight.op);
    this.inflight = null;
    this.incoming(undo, "");
    this.flush();
    return "undone";
  }

  /**
   * The local text no longer fits the server's ops (a desync): the next
   * hello asks for the full text, in the same session, and what is pending
   * is rebased onto it (as after any snapshot), so nothing typed is lost.
   */
  resync(): void {
    this.limbo = null;
    this.needText = true;
  }

  /** Resends the op in flight (after rate limiting) without changing its seq. */
  resend(): void {
    if (this.live && this.inflight) this.sendInflight();
  }

  /** Moves a selection given at server version v to local coordinates. */
  toLocal(sel: Selection, v: number): Selection | null {
    let s: Selection = { anchor: sel.anchor, head: sel.head };
    if (v < this.version) {
      const i = this.recent.findIndex((r) => r.version === v + 1);
      if (i < 0) return null;
      for (const r of this.recent.slice(i)) s = moveSel(s, r.op);
    } else if (v > this.version) {
      return null;
    }
    if (this.inflight) s = moveSel(s, this.inflight.op);
    if (this.buffer) s = moveSel(s, this.buffer.op);
    return s;
  }

  /** Whether local coordinates equal the server's at `version` (nothing pending). */
  get synced(): boolean {
    return this.live && !this.inflight && !this.buffer;
  }

  private acked(version: number, op: Op): void {
    this.remember(version, op);
    this.inflight = null;
    this.version = version;
  }

  // incoming transforms an op on the server text against what is pending
  // (ours "left", theirs "right") and applies it to the local text.
  // Nothing changes when applyRemote throws (a desync): what is pending
  // still fits the local text, for the resync to rebase.
  private incoming(op: Op, author: string): void {
    let inflight = this.inflight?.op;
    let buffer = this.buffer?.op;
    if (inflight) {
      const mine = type.transform(inflight, op, "left");
      op = type.transform(op, inflight, "right");
      inflight = mine;
    }
    if (buffer) {
      const mine = type.transform(buffer, op, "left");
      op = type.transform(op, buffer, "right");
      buffer = mine;
    }
    if (op.length > 0) this.host.applyRemote(op, author);
    if (this.inflight) this.inflight.op = inflight!;
    if (this.buffer) this.buffer.op = buffer!;
  }

  private flush(): void {
    if (!this.live || this.limbo || this.inflight || !this.buffer) return;
    this.inflight = { ...this.buffer, seq: this.nextSeq++ };
    this.buffer = null;
    this.sendInflight();
  }

  private sendInflight(): void {
    const f = this.inflight!;
    const [version, op] = this.limbo ? [this.limbo.version, this.limbo.op] : [this.version, f.op];
    this.host.send({ type: "op", seq: f.seq, version, op: type.stripInvertible(op) });
  }

  // serverText is the text at `version`: the local text without what is
  // pending, recovered through the pending ops' deleted text.
  private serverText(): string {
    let pending: Op = [];
    if (this.inflight) pending = this.inflight.op;
    if (this.buffer) pending = type.compose(pending, this.buffer.op);
    const local = this.host.text();
    return pending.length > 0 ? type.apply(local, type.invert(pending)) : local;
  }

  private remember(version: number, op: Op): void {
    this.recent.push({ version, op });
    if (this.recent.length > HISTORY) this.recent.splice(0, this.recent.length - HISTORY);
  }

  // requeueInflight turns the op in flight back into buffered edits, to be
  // sent again under a new seq.
  private requeueInflight(): void {
    const f = this.inflight!;
    this.buffer = { op: this.buffer ? type.compose(f.op, this.buffer.op) : f.op, edits: this.unsynced };
    this.inflight = null;
  }

  // rebase moves the client onto a snapshot: the change from our last known
  // server text (the local text without what is pending, recovered through
  // the pending ops' deleted text) to the snapshot is applied as one remote op.
  private rebase(text: string, version: number): void {
    this.incoming(diff(this.serverText(), text), "");
    this.version = version;
    this.recent = [];
  }

  // leaveLimbo ends the wait for the answer about the op in flight after a
  // snapshot: it was in the snapshot, committed after it, or not at all.
  private leaveLimbo(outcome: "in-snapshot" | "after" | "not-committed", ackVersion: number): void {
    const { text, version, queue } = this.limbo!;
    this.limbo = null;
    const seq = this.inflight!.seq;
    if (outcome === "in-snapshot") {
      // The local text without the buffer is the committed op's result.
      const local = this.host.text();
      const base = this.buffer ? type.apply(local, type.invert(this.buffer.op)) : local;
      this.inflight = null;
      this.incoming(diff(base, text), "");
      this.version = version;
      this.recent = [];
    } else {
      if (outcome === "not-committed") this.requeueInflight();
      this.rebase(text, version);
    }
    for (const o of queue) this.remote(o);
    if (outcome === "after") this.ack(seq, ackVersion);
    else this.flush();
  }
}

function moveSel(s: Selection, op: Op): Selection {
  return { anchor: type.transformPosition(s.anchor, op), head: type.transformPosition(s.head, op) };
}

/**
 * The op turning a into b (a snapshot): the common prefix and suffix kept,
 * and between them a shortest edit script, so that text the snapshot left
 * alone is kept rather than deleted and inserted again. What is pending and
 * the editor's undo history are mapped through this op: replaced whole, the
 * text around a change would take the user's edits in it along (a pending
 * edit moved to the end of the change or lost, an undo that undoes nothing
 * or puts text back in the wrong place). Where the script is too long to
 * find cheaply (see MAX_EDITS), the middle is replaced whole.
 */
export function diff(a: string, b: string): Op {
  if (a === b) return [];
  let p = 0;
  const max = Math.min(a.length, b.length);
  while (p < max && a.charCodeAt(p) === b.charCodeAt(p)) p++;
  if (p > 0 && isHighAt(a, p - 1)) p--;
  let s = 0;
  while (s < max - p && a.charCodeAt(a.length - 1 - s) === b.charCodeAt(b.length - 1 - s)) s++;
  if (s > 0 && isLowAt(a, a.length - s)) s--;
  const del = a.slice(p, a.length - s);
  const ins = b.slice(p, b.length - s);
  const op: Op = [];
  if (p > 0) op.push(cpLength(a.slice(0, p)));
  const script = del.length > 0 && ins.length > 0 ? shortestEdit(Array.from(del), Array.from(ins)) : null;
  if (script) op.push(...script);
  else op.push({ d: del }, ins);
  return type.normalize(op);
}

// MAX_EDITS bounds the edit scripts diff looks for, in code points deleted
// plus inserted: the search keeps, to trace the script back, the furthest
// point of each path it tried, a number that grows with the square of the
// script's length. MAX_STEPS bounds its time (one step per point compared).
const MAX_EDITS = 2000;
const MAX_STEPS = 20_000_000;

// shortestEdit returns an op turning the code points a into b with as few
// code points deleted and inserted as possible (Myers' O(ND) algorithm,
// "An O(ND) Difference Algorithm and Its Variations", 1986), or null past
// MAX_EDITS or MAX_STEPS.
function shortestEdit(a: string[], b: string[]): Op | null {
  const n = a.length, m = b.length;
  const most = Math.min(n + m, MAX_EDITS);
  // v[off + k]: how far (x, in a) the furthest path with d edits reaches on diagonal k = x - y.
  const off = most + 1;
  const v = new Int32Array(2 * most + 3);
  const trace: Int32Array[] = [];
  let steps = 0;
  for (let d = 0; d <= most; d++) {
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1;
      let y = x - k;
      steps++;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; steps++; }
      v[off + k] = x;
      if (x >= n && y >= m) {
        trace.push(v.slice(off - d, off + d + 1));
        return traceBack(trace, a, b);
      }
    }
    trace.push(v.slice(off - d, off + d + 1));
    if (steps > MAX_STEPS) return null;
  }
  return null;
}

// traceBack walks shortestEdit's paths back from the end of a and b.
// trace[d][k + d] is the furthest x on diagonal k after d edits.
function traceBack(trace: Int32Array[], a: string[], b: string[]): Op {
  const back: Op = []; // components, last first
  let x = a.length, y = b.length;
  for (let d = trace.length - 1; d > 0; d--) {
    const prev = (k: number) => trace[d - 1][k + d - 1];
    const k = x - y;
    const down = k === -d || (k !== d && prev(k - 1) < prev(k + 1)); // down: an insert
    const pk = down ? k + 1 : k - 1;
    const px = prev(pk), py = px - pk;
    const kept = x - (down ? px : px + 1);
    if (kept > 0) back.push(kept);
    back.push(down ? b[py] : { d: a[px] });
    x = px;
    y = py;
  }
  if (x > 0) back.push(x);
  return type.normalize(back.reverse());
}

const isHighAt = (s: string, i: number) => { const c = s.charCodeAt(i); return c >= 0xd800 && c <= 0xdbff; };
const isLowAt = (s: string, i: number) => { const c = s.charCodeAt(i); return c >= 0xdc00 && c <= 0xdfff; };

/** A new session key: 32 hex digits (128 bits) from the platform's CSPRNG. */
function newKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
