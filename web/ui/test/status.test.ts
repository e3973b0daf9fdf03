// The status line and what is announced of it, without a DOM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RETRY_HINT, Status, announcement, statusText } from "../src/status";

test("statusText: an editor's save state", () => {
  assert.equal(statusText({ state: "saved", unsynced: 0 }), "Saved");
  assert.equal(statusText({ state: "connected", unsynced: 1 }), "Connected · 1 unsynced edit");
  assert.equal(statusText({ state: "offline", unsynced: 3 }), "Offline · 3 unsynced edits");
  assert.equal(statusText({ state: "closed", unsynced: 2, reason: "the document was deleted" }),
    "Closed · the document was deleted · 2 edits not saved");
});

test("statusText: a read-only page says so, never Saved, and still shows connection trouble", () => {
  const ro = (s: Omit<Status, "readonly">) => statusText({ ...s, readonly: true });
  assert.equal(ro({ state: "saved", unsynced: 0 }), "Read-only");
  assert.equal(ro({ state: "connecting", unsynced: 0 }), "Connecting…");
  assert.equal(ro({ state: "offline", unsynced: 0 }), "Read-only · Offline");
  assert.equal(ro({ state: "reconnecting", unsynced: 0 }), "Read-only · Reconnecting…");
  assert.equal(ro({ state: "closed", unsynced: 0, reason: "the access token expired" }), "Closed · the access token expired");
});

test("statusText: the server's reason shows while the page retries", () => {
  const reason = "too many connections to this document";
  assert.equal(statusText({ state: "offline", unsynced: 2, reason }), `Offline · 2 unsynced edits · ${reason}`);
  assert.equal(statusText({ state: "reconnecting", unsynced: 0, reason }), `Reconnecting… · ${reason}`);
  assert.equal(statusText({ state: "connecting", unsynced: 0, reason }), `Connecting… · ${reason}`);
  assert.equal(statusText({ state: "offline", unsynced: 0, readonly: true, reason }), `Read-only · Offline · ${reason}`);
});

test("announcement: typing and saving say nothing; losing, regaining and closing do", () => {
  const saved: Status = { state: "saved", unsynced: 0 };
  const typing: Status = { state: "connected", unsynced: 1 };
  const offline: Status = { state: "offline", unsynced: 1 };
  const retrying: Status = { state: "reconnecting", unsynced: 1 };
  assert.equal(announcement(undefined, saved), "", "the first status of a page");
  assert.equal(announcement({ state: "connecting", unsynced: 0 }, saved), "", "the page's first welcome");
  for (const [a, b] of [[saved, typing], [typing, saved], [typing, { ...typing, unsynced: 2 }]]) {
    assert.equal(announcement(a, b), "", `${a.state} → ${b.state}`);
  }
  // Said once as the connection goes: the Retry now button that comes with it.
  assert.equal(RETRY_HINT, "Retry now button available");
  assert.equal(announcement(typing, offline), "Offline · 1 unsynced edit · Retry now button available");
  assert.equal(announcement(saved, { state: "reconnecting", unsynced: 0 }), "Reconnecting… · Retry now button available");
  // Each retry flips offline and reconnecting, and typing offline counts up: not news.
  assert.equal(announcement(offline, retrying), "");
  assert.equal(announcement(retrying, { ...offline, unsynced: 2 }), "");
  assert.equal(announcement({ state: "connecting", unsynced: 0 }, { state: "offline", unsynced: 0 }),
    "Offline · 0 unsynced edits · Retry now button available", "a page that never got in");
  const reason = "too many connections to this document";
  assert.equal(announcement(saved, { ...offline, reason }), `Offline · 1 unsynced edit · ${reason} · Retry now button available`);
  assert.equal(announcement(retrying, { ...offline, reason }), `Offline · 1 unsynced edit · ${reason}`, "a new reason: no hint again");
  assert.equal(announcement({ ...offline, reason }, { ...retrying, reason }), "");
  assert.equal(announcement(offline, typing), "Back online · Connected · 1 unsynced edit");
  assert.equal(announcement(retrying, { ...saved, readonly: true }), "Back online · Read-only");
  const closed: Status = { state: "closed", unsynced: 1, reason: "the document was deleted" };
  assert.equal(announcement(offline, closed), "Closed · the document was deleted · 1 edit not saved");
  assert.equal(announcement(closed, closed), "");
  const undone: Status = { ...saved, notice: "an edit was undone: the document would be too large" };
  assert.equal(announcement(typing, undone), "Saved · an edit was undone: the document would be too large");
  assert.equal(announcement(undone, { ...undone, state: "connected", unsynced: 1 }), "", "the same notice again");
});
