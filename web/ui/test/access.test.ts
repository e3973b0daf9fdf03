// The page's token handling without a browser: what goes where, and what
// the share and create requests make of the server's answers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CreateError, Fetch, createDoc, expiryText, pageToken, readonlyLink, tokenClaims, withToken } from "../src/access";

const b64url = (s: string) => Buffer.from(s, "utf8").toString("base64url");
const jwt = (claims: object) => `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url(JSON.stringify(claims))}.c2ln`;

test("pageToken reads ?token= and nothing else", () => {
  assert.equal(pageToken("?readonly=1&token=a.b.c"), "a.b.c");
  assert.equal(pageToken("?token=a%2Bb"), "a+b");
  assert.equal(pageToken("?name=Ann"), "");
  assert.equal(pageToken(""), "");
});

test("withToken encodes and keeps other parameters", () => {
  assert.equal(withToken("/api/v1/docs/x/export/txt", ""), "/api/v1/docs/x/export/txt");
  assert.equal(withToken("/api/v1/docs/x/export/txt", "a.b_c-d"), "/api/v1/docs/x/export/txt?token=a.b_c-d");
  assert.equal(withToken("/d/x?readonly=1", "a+b/c=&d"), "/d/x?readonly=1&token=a%2Bb%2Fc%3D%26d");
});

test("tokenClaims decodes for display, and gives {} for anything malformed", () => {
  assert.deepEqual(tokenClaims(jwt({ doc: "d1", role: "edit", name: "Zoë 🎉", aud: "folio" })),
    { doc: "d1", role: "edit", name: "Zoë 🎉" });
  assert.deepEqual(tokenClaims(jwt({ doc: "d1", role: "view" })), { doc: "d1", role: "view", name: undefined });
  assert.deepEqual(tokenClaims(jwt({ name: 42 })).name, undefined);
  for (const bad of ["", "abc", "a..c", "a.!!!.c", `a.${b64url("null")}.c`, `a.${b64url("[1,2]")}.c`, `a.${b64url("42")}.c`,
    `a.${b64url("not json")}.c`, `a.${Buffer.from([0xff, 0xfe]).toString("base64url")}.c`]) {
    assert.deepEqual(tokenClaims(bad), {}, bad);
  }
});

// fakeFetch records requests and answers with status and body (a thrown
// error when status is 0: the network is down).
function fakeFetch(status: number, body: unknown) {
  const calls: { url: string; method: string; headers: Record<string, string>; body?: string }[] = [];
  const f: Fetch = async (url, init) => {
    calls.push({ url, ...init });
    if (status === 0) throw new TypeError("Failed to fetch");
    return { ok: status >= 200 && status < 300, status, json: async () => body };
  };
  return { f, calls };
}

test("readonlyLink asks the server with the token as a Bearer header", async () => {
  const { f, calls } = fakeFetch(200, { url: "/d/x?readonly=1&token=VIEW", expiresAt: "2026-12-04T10:30:00Z" });
  const link = await readonlyLink(f, { api: "http://h:1/api/v1", id: "x", token: "EDIT", root: "http://h:1/" });
  assert.deepEqual(link, { url: "http://h:1/d/x?readonly=1&token=VIEW", expiresAt: new Date("2026-12-04T10:30:00Z") });
  assert.deepEqual(calls, [{ url: "http://h:1/api/v1/docs/x/share", method: "POST", headers: { Authorization: "Bearer EDIT" } }]);
});

test("readonlyLink without a token sends no Authorization", async () => {
  const { f, calls } = fakeFetch(200, { url: "/d/x?readonly=1" });
  // No expiresAt: the link never expires.
  assert.deepEqual(await readonlyLink(f, { api: "http://h/api/v1", id: "x", token: "", root: "http://h/" }),
    { url: "http://h/d/x?readonly=1", expiresAt: null });
  assert.deepEqual(calls[0].headers, {});
});

test("readonlyLink stays under the page's root, whatever path the server names", async () => {
  // Behind a proxy serving Folio at /folio/, which the server may not know.
  for (const url of ["/d/x?readonly=1&token=VIEW", "/folio/d/x?readonly=1&token=VIEW"]) {
    const { f, calls } = fakeFetch(200, { url });
    const link = await readonlyLink(f, { api: "https://i.example/folio/api/v1", id: "x", token: "EDIT", root: "https://i.example/folio/" });
    assert.deepEqual(link, { url: "https://i.example/folio/d/x?readonly=1&token=VIEW", expiresAt: null }, url);
    assert.equal(calls[0].url, "https://i.example/folio/api/v1/docs/x/share");
  }
  const open = await readonlyLink(fakeFetch(404, {}).f, { api: "https://i.example/folio/api/v1", id: "x", token: "", root: "https://i.example/folio/" });
  assert.deepEqual(open, { url: "https://i.example/folio/d/x?readonly=1", expiresAt: null });
});

test("readonlyLink falls back to ?readonly=1 on an open server, and to nothing with a token", async () => {
  for (const [status, body] of [[403, {}], [404, {}], [0, null], [200, { url: "//evil.example/x" }], [200, { url: "https://evil.example/" }], [200, null]] as const) {
    const open = await readonlyLink(fakeFetch(status, body).f, { api: "http://h/api/v1", id: "a b", token: "", root: "http://h/" });
    assert.deepEqual(open, { url: "http://h/d/a%20b?readonly=1", expiresAt: null }, `open server, ${status} ${JSON.stringify(body)}`);
    const withTok = await readonlyLink(fakeFetch(status, body).f, { api: "http://h/api/v1", id: "x", token: "T", root: "http://h/" });
    assert.equal(withTok, null, `with a token, ${status} ${JSON.stringify(body)}`);
  }
});

test("expiryText says when a link stops working, relative and absolute", () => {
  const now = new Date("2026-11-28T10:30:00Z");
  const at = (ms: number) => new Date(now.getTime() + ms);
  const min = 60e3, hour = 60 * min, day = 24 * hour;
  assert.equal(expiryText(null, now, "en-US", "UTC"), "Never expires");
  assert.equal(expiryText(at(6 * day), now, "en-US", "UTC"), "Expires in 6 days (Dec 4, 2026, 10:30 AM)");
  // A page reads it a moment after the server wrote it.
  assert.ok(expiryText(at(6 * day - 500), now, "en-US", "UTC").startsWith("Expires in 6 days ("));
  assert.ok(expiryText(at(hour - 500), now, "en-US", "UTC").startsWith("Expires in 1 hour ("));
  assert.equal(expiryText(at(47 * hour), now, "en-US", "UTC"), "Expires in 47 hours (Nov 30, 2026, 9:30 AM)");
  assert.equal(expiryText(at(10 * min), now, "en-US", "UTC"), "Expires in 10 minutes (Nov 28, 2026, 10:40 AM)");
  assert.equal(expiryText(at(5e3), now, "en-US", "UTC"), "Expires in 1 minute (Nov 28, 2026, 10:30 AM)");
  assert.equal(expiryText(at(-1), now, "en-US", "UTC"), "Expired");
  // The user's locale, not English, for the date and the relative time.
  assert.equal(expiryText(at(6 * day), now, "de-DE", "UTC"), "Expires in 6 Tagen (04.12.2026, 10:30)");
});

test("createDoc carries the token to the new document", async () => {
  const { f, calls } = fakeFetch(201, { id: "n1", url: "/d/n1" });
  assert.equal(await createDoc(f, "http://h/api/v1", "http://h/", "ALL"), "http://h/d/n1?token=ALL");
  assert.deepEqual(calls[0], { url: "http://h/api/v1/docs", method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer ALL" }, body: "{}" });
  assert.equal(await createDoc(fakeFetch(201, { id: "n2" }).f, "http://h/api/v1", "http://h/", ""), "http://h/d/n2");
});

test("createDoc opens the new document under the page's root", async () => {
  // Behind a proxy serving Folio at /folio/: the server's url names /d/n1.
  const { f, calls } = fakeFetch(201, { id: "n1", url: "/d/n1" });
  assert.equal(await createDoc(f, "https://i.example/folio/api/v1", "https://i.example/folio/", ""), "https://i.example/folio/d/n1");
  assert.equal(calls[0].url, "https://i.example/folio/api/v1/docs");
});

test("createDoc explains refusals", async () => {
  const msg = async (status: number, token: string) => {
    try {
      await createDoc(fakeFetch(status, {}).f, "http://h/api/v1", "http://h/", token);
    } catch (e) {
      assert.ok(e instanceof CreateError);
      return (e as Error).message;
    }
    assert.fail("no error");
  };
  assert.match(await msg(403, ""), /needs an access token to create documents/);
  assert.match(await msg(403, "T"), /your access token does not allow creating documents/);
  assert.match(await msg(429, ""), /too many requests/);
  assert.match(await msg(500, ""), /answered 500/);
  assert.match(await msg(0, ""), /cannot be reached/);
});
