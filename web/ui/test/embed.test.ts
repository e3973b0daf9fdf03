// Where the embedded editor posts its events.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parentOrigin, postTargets, presenceUpdate } from "../src/embed";

test("postTargets: exact origins always, a wildcard only through a matching parent", () => {
  assert.deepEqual(postTargets(["*"], "https://evil.test"), ["*"]);
  assert.deepEqual(postTargets(["https://app.example.com"], undefined), ["https://app.example.com"]);
  const allowed = ["https://app.example.com", "https://*.example.com"];
  assert.deepEqual(postTargets(allowed, "https://docs.example.com"), ["https://app.example.com", "https://docs.example.com"]);
  for (const parent of ["https://example.com", "https://a.example.com.evil.test", "http://docs.example.com",
    "https://x.evilexample.com", undefined]) {
    assert.deepEqual(postTargets(allowed, parent), ["https://app.example.com"], String(parent));
  }
});

test("parentOrigin: ancestorOrigins first, else the referrer's origin", () => {
  assert.equal(parentOrigin(["https://a.example.com", "https://top.test"], "https://b.example.com/x"), "https://a.example.com");
  // Firefox has no ancestorOrigins: the referrer (a full URL or, by default across origins, just the origin).
  assert.equal(parentOrigin(undefined, "https://docs.example.com/page?q=1#h"), "https://docs.example.com");
  assert.equal(parentOrigin(undefined, "https://docs.example.com:8443/"), "https://docs.example.com:8443");
  assert.equal(parentOrigin([], "https://docs.example.com/"), "https://docs.example.com");
  for (const none of ["", "not a url", "about:blank", "data:text/html,x"]) {
    assert.equal(parentOrigin(undefined, none), undefined, none);
  }
});

// Offline, the editor does not know who is still there: the parent is told
// the count is as last seen (stale), then the current one once it is back,
// even when the number is the same. A parent that knows only count sees the
// same numbers as before stale existed.
test("presenceUpdate: the count when it changes, and whether it is as last seen", () => {
  assert.deepEqual(presenceUpdate(undefined, 1, false), { count: 1 }, "the first");
  assert.equal(presenceUpdate({ count: 3 }, 3, false), null, "someone moved or typed");
  assert.deepEqual(presenceUpdate({ count: 3 }, 4, false), { count: 4 });
  assert.deepEqual(presenceUpdate({ count: 3 }, 3, true), { count: 3, stale: true }, "offline");
  assert.equal(presenceUpdate({ count: 3, stale: true }, 3, true), null, "still offline");
  assert.deepEqual(presenceUpdate({ count: 3, stale: true }, 3, false), { count: 3 }, "back, the same people");
  assert.deepEqual(presenceUpdate({ count: 3, stale: true }, 2, false), { count: 2 }, "back, one gone");
  assert.ok(!("stale" in presenceUpdate({ count: 3, stale: true }, 3, false)!), "no stale: false for an old parent to trip on");
});
