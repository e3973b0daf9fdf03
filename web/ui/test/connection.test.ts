// The connection's watchdog, with a fake WebSocket and a fake clock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Connection } from "../src/connection";

class FakeSocket {
  static OPEN = 1;
  static last: FakeSocket | null = null;
  readyState = 0;
  sent: string[] = [];
  closed: number | null = null;
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  constructor(readonly url: string, readonly protocol: string) { FakeSocket.last = this; }
  send(s: string) { this.sent.push(s); }
  close(code: number) { this.closed = code; }
  open() { this.readyState = FakeSocket.OPEN; this.onopen?.(); }
  receive(msg: object) { this.onmessage?.({ data: JSON.stringify(msg) }); }
}

function setup() {
  (globalThis as any).WebSocket = FakeSocket;
  let now = 1_000_000;
  const closes: number[] = [];
  const conn = new Connection("ws://folio.test/ws", {
    open() {}, message() {}, close(code) { closes.push(code); return false; }, state() {},
  }, { now: () => now, pingEvery: 15000, deadAfter: 40000 });
  conn.start();
  const ws = FakeSocket.last!;
  ws.open();
  return { conn, ws, closes, tick: (ms: number) => { now += ms; (conn as any).ping(); } };
}

// A hidden page runs its timers once a minute: a healthy socket on an idle
// document hears only the pongs to its own pings, each a minute after the
// last one, and must not be dropped for it.
test("a ping timer that runs once a minute does not drop a healthy socket", (t) => {
  const { conn, ws, closes, tick } = setup();
  t.after(() => conn.stop());
  for (let i = 0; i < 5; i++) {
    tick(60_000);
    assert.equal(JSON.parse(ws.sent.at(-1)!).type, "ping");
    ws.receive({ type: "pong" });
  }
  assert.deepEqual(closes, []);
  assert.equal(ws.closed, null);
  assert.equal(ws.sent.length, 5);
});

test("a socket whose ping goes unanswered for deadAfter is dropped", (t) => {
  const { conn, ws, closes, tick } = setup();
  t.after(() => conn.stop());
  tick(15_000); // ping sent
  tick(15_000);
  tick(15_000);
  assert.deepEqual(closes, [], "30 s after the ping: still waiting");
  assert.equal(ws.sent.length, 1, "one ping outstanding at a time");
  tick(15_000); // 45 s after the ping
  assert.deepEqual(closes, [4001]);
  assert.equal(ws.closed, 4001);
});

test("a hidden page's dead socket is dropped at its next timer run", (t) => {
  const { conn, ws, closes, tick } = setup();
  t.after(() => conn.stop());
  tick(60_000); // ping sent, never answered
  tick(60_000);
  assert.deepEqual(closes, [4001]);
  assert.equal(ws.closed, 4001);
});
