// The OT client against a model server that follows docs/protocol.md
// (transform over committed ops with side "left", exactly-once by
// (session, seq), catch-up ops or a snapshot in welcome), with random
// delivery order and dropped connections.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type } from "ot-text-unicode";
import { OTClient, Op, OpMsg, WelcomeMsg, diff } from "../src/otclient";

interface Logged extends OpMsg {}

class Server {
  text = "";
  log: Logged[] = [];
  sessions = 0;
  window = Infinity; // ops kept for catch-up and for rebasing a submitted op

  // A new session gets a key and an id derived from it (here "s-" + key); a
  // hello resumes one by its key, or, from a client before keys, by its id.
  hello(h: { key?: string; session?: string; version?: number }): WelcomeMsg {
    assert.ok(!(h.key && h.session) || h.session === `s-${h.key}`, "a session that is not the key's");
    // As the server: a key names its session; neither key nor session is a
    // client from before keys, which gets a fresh id.
    const key = h.key;
    const session = key ? `s-${key}` : h.session ?? `legacy${++this.sessions}`;
    const version = this.log.length;
    if ((h.key || h.session) && h.version !== undefined && version - h.version <= this.window) {
      return { session, key, version, role: "edit", peers: [], ops: this.log.slice(h.version) };
    }
    return { session, key, version, role: "edit", peers: [], text: this.text };
  }

  submit(session: string, seq: number, base: number, op: Op): { ack: number; fresh: boolean } | null {
    const dup = this.log.find((o) => o.session === session && o.seq === seq);
    if (dup) return { ack: dup.version, fresh: false };
    assert.ok(base <= this.log.length, "base version in the future");
    if (this.log.length - base > this.window) return null; // error: version too old
    for (const o of this.log.slice(base)) op = type.transform(op, o.op, "left");
    this.text = type.apply(this.text, op);
    const version = this.log.length + 1;
    this.log.push({ version, op, session, seq });
    return { ack: version, fresh: true };
  }
}

class Peer {
  text = "";
  client: OTClient;
  up: any[] = []; // to the server
  down: any[] = []; // to the client
  online = false;

  constructor(private server: Server, private rnd: () => number) {
    this.client = new OTClient({
      send: (m) => this.up.push(m),
      applyRemote: (op) => { this.text = type.apply(this.text, op); },
      text: () => this.text,
    });
  }

  connect(): void {
    this.online = true;
    this.client.welcome(this.server.hello(this.client.hello()));
  }

  drop(): void {
    this.online = false;
    this.up = [];
    this.down = [];
    this.client.disconnected();
  }

  edit(): void {
    const chars = [...this.text];
    const pos = Math.floor(this.rnd() * (chars.length + 1));
    let op: Op;
    if (chars.length > 0 && this.rnd() < 0.35) {
      const n = 1 + Math.floor(this.rnd() * Math.min(3, chars.length - pos));
      op = pos < chars.length ? [pos, { d: chars.slice(pos, pos + n).join("") }] : [];
    } else {
      const pool = ["a", "b", "🎉", "\n", "é", "👨‍👩‍👧"];
      op = [pos, pool[Math.floor(this.rnd() * pool.length)]];
    }
    op = type.normalize(op);
    if (op.length === 0) return;
    this.text = type.apply(this.text, op);
    this.client.local(op);
  }
}

function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

function run(seed: number, window: number): void {
  const rnd = rng(seed);
  const server = new Server();
  server.window = window;
  const peers = [0, 1, 2, 3].map(() => new Peer(server, rnd));
  for (const p of peers) p.connect();
  const deliverUp = (p: Peer) => {
    const m = p.up.shift();
    if (m.type !== "op") return;
    const r = server.submit(p.client.session, m.seq, m.version, m.op);
    if (!r) {
      p.down.push({ type: "error", code: "version_too_old", seq: m.seq });
      return;
    }
    p.down.push({ type: "ack", seq: m.seq, version: r.ack });
    if (!r.fresh) return;
    const o = server.log[r.ack - 1];
    for (const q of peers) if (q !== p && q.online) q.down.push({ type: "op", ...o });
  };
  const deliverDown = (p: Peer) => {
    const m = p.down.shift();
    if (m.type === "ack") p.client.ack(m.seq, m.version);
    else if (m.type === "error") {
      const r = p.client.refused(m.seq, m.code);
      assert.notEqual(r, "ignored");
      if (r === "resync") p.drop();
    }
    else p.client.remote(m);
  };
  for (let step = 0; step < 3000; step++) {
    const p = peers[Math.floor(rnd() * peers.length)];
    const r = rnd();
    if (r < 0.3) p.edit();
    else if (r < 0.55 && p.up.length) deliverUp(p);
    else if (r < 0.85 && p.down.length) deliverDown(p);
    else if (r < 0.87 && p.online) p.drop();
    else if (r < 0.92 && !p.online) p.connect();
    if (r > 0.99) assert.equal(type.apply(server.text, []), server.text);
  }
  for (let busy = true, rounds = 0; busy; rounds++) {
    assert.ok(rounds < 1000, "no quiescence");
    busy = false;
    for (const p of peers) {
      if (!p.online) { p.connect(); busy = true; }
      while (p.up.length) { deliverUp(p); busy = true; }
      while (p.down.length) { deliverDown(p); busy = true; }
    }
  }
  const seen = new Set<string>();
  for (const o of server.log) {
    const k = `${o.session}/${o.seq}`;
    assert.ok(!seen.has(k), `${k} committed twice`);
    seen.add(k);
  }
  for (const p of peers) {
    assert.equal(p.client.unsynced, 0);
    assert.equal(p.text, server.text, `seed ${seed}: peer text differs from the server`);
    assert.equal(p.client.version, server.log.length);
  }
}

test("clients converge under random delivery and dropped connections", () => {
  for (let seed = 1; seed <= 40; seed++) run(seed, Infinity);
});

test("clients converge when the server answers reconnects with snapshots", () => {
  for (let seed = 100; seed <= 130; seed++) run(seed, seed % 3);
});

test("a resent op is acknowledged once, not applied twice", () => {
  const server = new Server();
  const p = new Peer(server, rng(7));
  p.connect();
  p.text = "hi";
  p.client.local(["hi"]);
  const sent = p.up.shift();
  server.submit(p.client.session, sent.seq, sent.version, sent.op); // committed, ack lost
  p.drop();
  p.connect(); // the catch-up shows our op: it is our ack
  assert.equal(p.client.inflight, null);
  assert.equal(p.up.length, 0);
  assert.equal(p.text, "hi");
  assert.equal(server.log.length, 1);
});

test("presence at an older version is moved through later ops and pending edits", () => {
  const server = new Server();
  const p = new Peer(server, rng(1));
  p.connect();
  p.client.remote({ version: 1, op: ["hello"], session: "x", seq: 1 });
  p.client.remote({ version: 2, op: [">> "], session: "x", seq: 2 });
  p.text = ">> hello";
  p.client.local([3, "¡"]);
  // A cursor after "hello" at version 1 is after ">> ¡hello" locally.
  assert.deepEqual(p.client.toLocal({ anchor: 5, head: 5 }, 1), { anchor: 9, head: 9 });
  assert.equal(p.client.toLocal({ anchor: 0, head: 0 }, 5), null);
});

test("diff keeps surrogate pairs whole", () => {
  for (const [a, b] of [["a🎉b", "a🎊b"], ["🎉", "🎉🎉"], ["x👍y", "xy"], ["", "é"], ["same", "same"]]) {
    const op = diff(a, b);
    assert.equal(type.apply(a, op), b);
    for (const c of op) if (typeof c === "string") assert.doesNotMatch(c, /^[\udc00-\udfff]|[\ud800-\udbff]$/);
  }
});

test("diff keeps what the snapshot left alone, between changes far apart", () => {
  assert.deepEqual(diff("helloX world", "AhelloX worldB"), ["A", 12, "B"]);
  assert.deepEqual(diff("hell world", "Ahello worldB"), ["A", 4, "o", 6, "B"]);
  assert.deepEqual(diff("a🎉b🎊c", "xa🎉b🎊cy"), ["x", 5, "y"], "positions in code points");
  // A pending insert between the two changes stays where it was typed.
  assert.equal(type.apply("helloX world", type.transform(diff("hello world", "Ahello worldB"), [5, "X"], "right")), "AhelloX worldB");
  // Random texts over a small alphabet (many equal code points to align), and past the bounds.
  const rnd = rng(3);
  const pick = (n: number) => Array.from({ length: n }, () => ["a", "b", "\r\n", "🎉", "é"][Math.floor(rnd() * 5)]).join("");
  for (let i = 0; i < 300; i++) {
    const a = pick(Math.floor(rnd() * 40)), b = pick(Math.floor(rnd() * 40));
    assert.equal(type.apply(a, diff(a, b)), b, JSON.stringify([a, b]));
  }
  const long = pick(20000), other = pick(20000);
  assert.equal(type.apply(long, diff(long, other)), other, "past MAX_EDITS: the middle replaced whole");
});

// A client with a plain host, driven by hand: sent holds what it sent.
function bare(text = "") {
  const sent: any[] = [];
  const h = { text, fail: false };
  const client = new OTClient({
    send: (m) => sent.push(m),
    applyRemote: (op) => {
      if (h.fail) throw new Error("desync");
      h.text = type.apply(h.text, op);
    },
    text: () => h.text,
  });
  return { client, sent, h };
}

test("an op in flight is sent once, whatever is typed meanwhile", () => {
  const { client, sent, h } = bare();
  client.welcome({ session: "s1", version: 0, role: "edit", peers: [], text: "" });
  h.text = "a";
  client.local(["a"]);
  for (const k of "bcdef") {
    client.local([h.text.length, k]);
    h.text += k;
  }
  assert.deepEqual(sent.map((m) => m.seq), [1]);
  client.ack(1, 1);
  assert.deepEqual(sent.map((m) => m.seq), [1, 2]);
  assert.deepEqual(sent[1].op, [1, "bcdef"]);
});

test("a temporary refusal of the resend in limbo keeps its seq: nothing is doubled", () => {
  for (const code of ["rate_limited", "unavailable", "conflict", "internal"]) {
    const { client, sent, h } = bare();
    client.welcome({ session: "s1", version: 0, role: "edit", peers: [], text: "" });
    h.text = "hi";
    client.local(["hi"]);
    sent.length = 0; // committed as version 1; the ack is lost
    client.disconnected();
    // Too far behind: a snapshot that holds our op and four more.
    client.welcome({ session: "s1", version: 5, role: "edit", peers: [], text: "....hi" });
    assert.equal(sent.length, 1, code);
    assert.equal(client.refused(1, code), "retry", code);
    client.resend();
    assert.deepEqual(sent.map((m) => m.seq), [1, 1], code); // the same op again, never a new seq
    client.ack(1, 1); // the server's exactly-once answer: in the snapshot
    assert.equal(h.text, "....hi", code);
    assert.equal(client.unsynced, 0, code);
  }
});

test("an op refused for good is undone and what was typed after it is kept", () => {
  const { client, sent, h } = bare("0123456789");
  client.welcome({ session: "s1", version: 3, role: "edit", peers: [], text: "0123456789" });
  h.text = "0123456789XXXXX";
  client.local([10, "XXXXX"]); // in flight
  h.text = "456789XXXXX";
  client.local([{ d: "0123" }]); // buffered
  assert.equal(client.refused(1, "doc_too_large"), "undone");
  assert.equal(h.text, "456789");
  assert.equal(client.session, "s1");
  assert.deepEqual(sent.map((m) => [m.seq, m.version, m.op]), [[1, 3, [10, "XXXXX"]], [2, 3, [{ d: 4 }]]]);
});

test("a desync keeps the session and the pending edits: the next hello asks for the text", () => {
  const { client, sent, h } = bare("abc");
  client.welcome({ session: "s1", version: 1, role: "edit", peers: [], text: "abc" });
  h.text = "abcX";
  client.local([3, "X"]); // in flight, seq 1
  h.text = "YabcX";
  client.local(["Y"]); // buffered
  h.fail = true; // this remote op does not fit the local text
  assert.throws(() => client.remote({ version: 2, op: [1, "z"], session: "o", seq: 1 }));
  h.fail = false;
  client.resync();
  client.disconnected();
  assert.deepEqual(client.hello(), { session: "s1" });
  // The server never got seq 1: the snapshot holds only the other op.
  client.welcome({ session: "s1", version: 2, role: "edit", peers: [], text: "azbc" });
  assert.equal(sent.at(-1).seq, 1); // the resend, to find out whether it was committed
  client.refused(1, "version_too_old"); // its base is not the snapshot's: not committed
  assert.equal(h.text, "YazbcX");
  assert.deepEqual(client.hello(), { session: "s1", version: 2 });
  assert.equal(client.unsynced, 2);
});

test("an op resent in limbo is rebased onto the snapshot, as the client rebases it", () => {
  const { client, sent, h } = bare("aa");
  client.welcome({ session: "s1", version: 1, role: "edit", peers: [], text: "aa" });
  h.text = "aba";
  client.local([1, "b"]); // seq 1 at version 1: lost with the connection
  client.disconnected();
  // Someone inserted "a" at 0 as version 2; the server sends text (say, its
  // catch-up read failed), with the old base still in its window.
  client.welcome({ session: "s1", version: 2, role: "edit", peers: [], text: "aaa" });
  const resend = sent.at(-1);
  // The model server: the op is transformed over what was committed after its base.
  const log: Op[] = [["a"]];
  let op: Op = resend.op;
  for (const o of log.slice(resend.version - 1)) op = type.transform(op, o, "left");
  const server = type.apply("aaa", op);
  client.ack(resend.seq, 3);
  assert.equal(h.text, server);
});

test("every hello names the session by the client's own key, not by its public id", () => {
  const { client } = bare("abc");
  const first = client.hello();
  assert.deepEqual(Object.keys(first), ["key"]);
  assert.match(first.key!, /^[0-9a-f]{32}$/);
  assert.notEqual(bare("abc").client.hello().key, first.key, "each client draws its own key");
  client.welcome({ session: "s-public", key: first.key, version: 1, role: "edit", peers: [], text: "abc" });
  client.disconnected();
  assert.deepEqual(client.hello(), { key: first.key, session: "s-public", version: 1 });
  client.resync();
  assert.deepEqual(client.hello(), { key: first.key, session: "s-public" });
  assert.equal(client.session, "s-public");
  // A server from before keys sends none: the id resumes, as it did then.
  const old = bare("abc").client;
  old.welcome({ session: "0b7d3f0e-7d1f-4b8e-9d7e-2f0c1a9b6e11", version: 1, role: "edit", peers: [], text: "abc" });
  assert.deepEqual(old.hello(), { session: "0b7d3f0e-7d1f-4b8e-9d7e-2f0c1a9b6e11", version: 1 });
});
