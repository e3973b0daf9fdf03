// The status line and what is announced of it, without a DOM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Status, statusText } from "../src/status";

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
