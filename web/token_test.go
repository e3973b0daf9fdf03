package web

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/storage"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// testNow is a fixed clock, so expiry cases do not depend on the machine.
var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newTestAuth(t testing.TB) *TokenAuth {
	t.Helper()
	a, err := NewTokenAuth(testSecret, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mint(t testing.TB, a *TokenAuth, doc, role, name string) string {
	t.Helper()
	tok, err := a.Mint(TokenSpec{Doc: doc, Role: role, Name: name, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signed signs arbitrary claims with method and key, for tokens Mint refuses
// to make.
func signed(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func claims(mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"doc": "d", "role": "edit", "name": "Ann", "aud": "folio",
		"exp": testNow.Add(time.Hour).Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

// badTokens are the token failures every entry point must refuse.
func badTokens(t testing.TB, a *TokenAuth) map[string]string {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid := mint(t, a, "d", "view", "V")
	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(
		[]byte(strings.Replace(string(payload), `"view"`, `"edit"`, 1))) + "." + parts[2]
	noneTok := signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil))
	return map[string]string{
		"missing":           "",
		"garbage":           "not.a.token",
		"wrong secret":      signed(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), claims(nil)),
		"tampered payload":  tampered,
		"expired":           signed(t, jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Second).Unix() })),
		"no expiry":         signed(t, jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"not yet valid":     signed(t, jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Minute).Unix() })),
		"wrong audience":    signed(t, jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { c["aud"] = "other" })),
		"no audience":       signed(t, jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { delete(c, "aud") })),
		"alg none":          noneTok,
		"alg none unsigned": strings.TrimSuffix(noneTok, "."+strings.Split(noneTok, ".")[2]) + ".",
		"alg HS512":         signed(t, jwt.SigningMethodHS512, testSecret, claims(nil)),
		"alg RS256":         signed(t, jwt.SigningMethodRS256, rsaKey, claims(nil)),
		"unknown role":      signed(t, jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { c["role"] = "owner" })),
		"no role":           signed(t, jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { delete(c, "role") })),
		"bad doc claim":     signed(t, jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { c["doc"] = "../d" })),
		"no doc claim":      signed(t, jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { delete(c, "doc") })),
		"other document":    mint(t, a, "other", "edit", "E"),
	}
}

func TestNewTokenAuthNeedsALongSecret(t *testing.T) {
	if _, err := NewTokenAuth([]byte("short"), nil); err == nil {
		t.Fatal("a 5-byte secret was accepted")
	}
}

func TestTokenRefusals(t *testing.T) {
	a := newTestAuth(t)
	for name, tok := range badTokens(t, a) {
		t.Run(name, func(t *testing.T) {
			g, err := a.Authorize("d", tok)
			if err == nil {
				t.Fatalf("accepted: %+v", g)
			}
			if e := collab.AsError(err); e.Code != collab.CodeForbidden || tok != "" && strings.Contains(e.Message, tok) {
				t.Fatalf("refusal %+v", e)
			}
		})
	}
	for _, spec := range []TokenSpec{
		{Doc: "d", Role: "owner", TTL: time.Hour},
		{Doc: "../d", Role: "edit", TTL: time.Hour},
		{Doc: "d", Role: "edit"},
		{Doc: "d", Role: "edit", TTL: time.Hour, Name: strings.Repeat("n", 65)},
	} {
		if _, err := a.Mint(spec); err == nil {
			t.Errorf("minted %+v", spec)
		}
	}
}

func TestTokenGrants(t *testing.T) {
	a := newTestAuth(t)
	long := signed(t, jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { c["name"] = strings.Repeat("é", 1<<20) }))
	cases := []struct {
		name, doc, token string
		want             collab.Grant
	}{
		{"edit", "d", mint(t, a, "d", "edit", "Ann"), collab.Grant{Role: "edit", Name: "Ann"}},
		{"view", "d", mint(t, a, "d", "view", ""), collab.Grant{Role: "view"}},
		{"every document", "x", mint(t, a, "*", "view", "V"), collab.Grant{Role: "view", Name: "V"}},
		{"admin of all", "", mint(t, a, "*", "admin", "root"), collab.Grant{Role: "admin", Name: "root"}},
		{"audience in a list", "d", signed(t, jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { c["aud"] = []string{"x", "folio"} })), collab.Grant{Role: "edit", Name: "Ann"}},
		{"1 MB name clipped", "d", long, collab.Grant{Role: "edit", Name: strings.Repeat("é", maxTokenName)}},
	}
	for _, c := range cases {
		start := time.Now()
		g, err := a.Authorize(c.doc, c.token)
		end := time.Now()
		expires := g.Expires
		g.Expires = time.Time{}
		if err != nil || g != c.want {
			t.Errorf("%s: %+v %v, want %+v", c.name, g, err, c.want)
		}
		// Every case's token has an hour left on the auth's clock; Expires is
		// on this process's, an hour after some instant of the call (which
		// for the 1 MB token takes a good part of a second under -race).
		if expires.Before(start.Add(time.Hour)) || expires.After(end.Add(time.Hour)) {
			t.Errorf("%s: expires %v after the call's start (it took %v), want the token's hour", c.name, expires.Sub(start), end.Sub(start))
		}
	}
	if _, err := a.Authorize("", mint(t, a, "d", "admin", "")); err == nil {
		t.Error("an admin token for one document was accepted for a server-wide operation")
	}
}

func newAuthEnv(t *testing.T) (*testEnv, *TokenAuth) {
	t.Helper()
	a := newTestAuth(t)
	e := newEnv(t, func(o *Options) { o.Tokens = a })
	admin := bearer(mint(t, a, "*", "admin", "root"))
	for _, id := range []string{"d", "other"} {
		if r := e.send("POST", "/api/v1/docs", `{"id":"`+id+`","text":"secret `+id+`"}`, admin...); r.status != 201 {
			t.Fatalf("create %s: %d %s", id, r.status, r.body)
		}
	}
	return e, a
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// docRoutes are every route that reads or writes document d.
var docRoutes = []struct{ method, path, body string }{
	{"GET", "/api/v1/docs/d", ""},
	{"GET", "/api/v1/docs/d/text", ""},
	{"PUT", "/api/v1/docs/d/text", "x"},
	{"POST", "/api/v1/docs/d/ops", `{"version":0,"op":["x"]}`},
	{"GET", "/api/v1/docs/d/ops", ""},
	{"GET", "/api/v1/docs/d/events", ""},
	{"GET", "/api/v1/docs/d/export/html", ""},
	{"GET", "/api/v1/docs/d/export/json?history=1", ""},
	{"DELETE", "/api/v1/docs/d", ""},
	{"GET", "/d/d", ""},
	{"GET", "/embed/d", ""},
}

// TestEveryRouteRefusesBadTokens sends every token failure to every route of
// a document, by header and by ?token=: 403, and nothing of the document in
// the answer.
func TestEveryRouteRefusesBadTokens(t *testing.T) {
	e, a := newAuthEnv(t)
	bad := badTokens(t, a)
	for _, rt := range docRoutes {
		for name, tok := range bad {
			for _, inQuery := range []bool{false, true} {
				path, h := rt.path, bearer(tok)
				if inQuery {
					h = nil
					path += map[bool]string{true: "&", false: "?"}[strings.Contains(path, "?")] + "token=" + tok
				}
				r := e.send(rt.method, path, rt.body, h...)
				if r.status != http.StatusForbidden || strings.Contains(string(r.body), "secret d") {
					t.Errorf("%s %s with %s (query %v): %d %.80s", rt.method, rt.path, name, inQuery, r.status, r.body)
				}
			}
		}
	}
	if text, _ := e.db.TextAt(context.Background(), "d", 0); text != "secret d" {
		t.Errorf("document changed: %q", text)
	}
}

// TestTokenRoles: view reads but cannot write; edit writes; only admin
// (of every document) lists, deletes, creates with an id and backs up.
func TestTokenRoles(t *testing.T) {
	e, a := newAuthEnv(t)
	view, edit := mint(t, a, "d", "view", "V"), mint(t, a, "d", "edit", "Ann")
	admin, adminD := mint(t, a, "*", "admin", "root"), mint(t, a, "d", "admin", "")
	cases := []struct {
		method, path, body, token string
		status                    int
	}{
		{"GET", "/api/v1/docs/d/text", "", view, 200},
		{"GET", "/api/v1/docs/d/text?token=" + view, "", "", 200},
		{"GET", "/api/v1/docs/d/export/txt", "", view, 200},
		{"GET", "/d/d?token=" + view, "", "", 200},
		{"GET", "/embed/d?token=" + edit, "", "", 200},
		{"PUT", "/api/v1/docs/d/text", "y", view, 403},
		{"POST", "/api/v1/docs/d/ops", `{"version":0,"op":["z"]}`, view, 403},
		{"POST", "/api/v1/docs/d/ops", `{"version":0,"op":["z"]}`, edit, 200},
		{"POST", "/api/v1/docs", `{"id":"new"}`, edit, 403},
		{"POST", "/api/v1/docs", `{"id":"new"}`, adminD, 403},
		{"POST", "/api/v1/docs", `{"id":"new"}`, admin, 201},
		{"GET", "/api/v1/docs", "", edit, 403},
		{"GET", "/api/v1/docs", "", adminD, 403},
		{"GET", "/api/v1/docs", "", admin, 200},
		{"GET", "/api/v1/admin/backup", "", adminD, 403},
		{"GET", "/api/v1/admin/backup", "", admin, 200},
		{"DELETE", "/api/v1/docs/d", "", edit, 403},
		{"DELETE", "/api/v1/docs/new", "", admin, 204},
		{"DELETE", "/api/v1/docs/d", "", adminD, 204},
	}
	for _, c := range cases {
		var h []string
		if c.token != "" {
			h = bearer(c.token)
		}
		if r := e.send(c.method, c.path, c.body, h...); r.status != c.status {
			t.Errorf("%s %s: %d %.100s, want %d", c.method, c.path, r.status, r.body, c.status)
		}
	}
}

// wsHello dials doc, sends hello with token and returns the first
// non-presence frame and the close code (-1 while open).
func wsHello(t *testing.T, e *testEnv, doc, token string) (*websocket.Conn, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := dialWS(ctx, e, doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	b, _ := json.Marshal(collab.ClientMsg{Type: collab.TypeHello, Token: token, User: &collab.User{Name: "Mallory"}})
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	return conn, readFrame(t, conn)
}

func readFrame(t *testing.T, conn *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, raw, err := conn.Read(ctx)
	if err != nil {
		return map[string]any{"closed": float64(websocket.CloseStatus(err))}
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestWebSocketTokens: every bad token is refused at hello with forbidden and
// 1008, before anything of the document is sent; a view token reads but its
// ops are forbidden; the name others see is the token's.
func TestWebSocketTokens(t *testing.T) {
	e, a := newAuthEnv(t)
	for name, tok := range badTokens(t, a) {
		conn, m := wsHello(t, e, "d", tok)
		if m["type"] != "error" || m["code"] != "forbidden" {
			t.Errorf("%s: first frame %v", name, m)
		}
		if m := readFrame(t, conn); m["closed"] != float64(websocket.StatusPolicyViolation) {
			t.Errorf("%s: then %v", name, m)
		}
	}
	edConn, w := wsHello(t, e, "d", mint(t, a, "d", "edit", "Ann"))
	if w["type"] != "welcome" || w["role"] != "edit" {
		t.Fatalf("edit welcome %v", w)
	}
	viewConn, w := wsHello(t, e, "d", mint(t, a, "d", "view", "Vic"))
	if w["type"] != "welcome" || w["role"] != "view" {
		t.Fatalf("view welcome %v", w)
	}
	peers, _ := w["peers"].([]any)
	if len(peers) != 1 || peers[0].(map[string]any)["name"] != "Ann" {
		t.Errorf("peers %v: the name must come from the token", w["peers"])
	}
	_ = edConn
	ctx := context.Background()
	b, _ := json.Marshal(map[string]any{"type": "op", "seq": 1, "version": 0, "op": []any{"x"}})
	if err := viewConn.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	for {
		m := readFrame(t, viewConn)
		if m["type"] == "presence" {
			continue
		}
		if m["type"] != "error" || m["code"] != "forbidden" {
			t.Fatalf("view op: %v", m)
		}
		break
	}
	if text := must(e.db.TextAt(ctx, "d", 0)); text != "secret d" {
		t.Errorf("text %q", text)
	}
	if _, w := wsHello(t, e, "d", mint(t, a, "*", "admin", "root")); w["role"] != "edit" {
		t.Errorf("admin joins as an editor: %v", w)
	}

	// A hello creates a missing document only with what a REST create of a
	// chosen id needs: admin for every document.
	for _, tok := range []string{
		mint(t, a, "new", "edit", ""), mint(t, a, "*", "edit", ""), mint(t, a, "new", "admin", ""),
	} {
		if _, m := wsHello(t, e, "new", tok); m["type"] != "error" || m["code"] != "not_found" {
			t.Errorf("hello for a missing document without admin for all: %v", m)
		}
	}
	if _, err := e.db.Meta(ctx, "new"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the refused hellos created the document: %v", err)
	}
	if _, m := wsHello(t, e, "new", mint(t, a, "*", "admin", "")); m["type"] != "welcome" {
		t.Errorf("admin for all documents creates: %v", m)
	}
}

// TestShareLinks: a read-only link carries a view token for the same
// document that expires with the presented token; without access control
// it is only the readonly=1 hint.
// TestCreateChecksTokenFirst: a create without a token is refused before
// its body is read: a malformed body, or none, is 403 like a good one.
func TestCreateChecksTokenFirst(t *testing.T) {
	e, a := newAuthEnv(t)
	for _, body := range []string{`{"id":`, ``, `{"id":"x"}`} {
		if r := e.send("POST", "/api/v1/docs", body); r.status != 403 || r.errCode() != "forbidden" {
			t.Errorf("create %q without a token: %d %s", body, r.status, r.body)
		}
	}
	if r := e.send("POST", "/api/v1/docs", `{"id":"x"}`, bearer(mint(t, a, "*", "edit", ""))...); r.status != 403 {
		t.Errorf("create of a chosen id with an edit token: %d %s", r.status, r.body)
	}
	if r := e.send("POST", "/api/v1/docs", `{}`, bearer(mint(t, a, "*", "edit", ""))...); r.status != 201 {
		t.Errorf("create of a random id with an edit token: %d %s", r.status, r.body)
	}
}

func TestShareLinks(t *testing.T) {
	open := newEnv(t, nil)
	open.create("d", "x")
	var sr shareResponse
	open.send("POST", "/api/v1/docs/d/share", "").json(t, &sr)
	if sr.URL != "/d/d?readonly=1" || sr.EmbedURL != "/embed/d?readonly=1" || sr.Token != "" {
		t.Errorf("open share %+v", sr)
	}
	if r := open.send("POST", "/api/v1/docs/missing/share", ""); r.status != 404 || !strings.Contains(string(r.body), "not_found") {
		t.Errorf("share of a missing document: %d %s", r.status, r.body)
	}

	e, a := newAuthEnv(t)
	edit := signed(t, jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(10 * time.Minute).Unix() }))
	if r := e.send("POST", "/api/v1/docs/d/share", ""); r.status != 403 {
		t.Errorf("share without a token: %d", r.status)
	}
	if r := e.send("POST", "/api/v1/docs/d/share", "", bearer(mint(t, a, "other", "edit", ""))...); r.status != 403 {
		t.Errorf("share with another document's token: %d", r.status)
	}
	r := e.send("POST", "/api/v1/docs/d/share", "", bearer(edit)...)
	if r.status != 200 {
		t.Fatalf("share: %d %s", r.status, r.body)
	}
	r.json(t, &sr)
	c, err := a.Parse(sr.Token)
	if err != nil || c.Doc != "d" || c.Role != "view" || c.Name != "" || !c.ExpiresAt.Time.Equal(testNow.Add(10*time.Minute)) {
		t.Fatalf("view token %+v %v", c, err)
	}
	if !strings.HasPrefix(sr.URL, "/d/d?") || !strings.Contains(sr.URL, "readonly=1") || !strings.Contains(sr.URL, "token="+sr.Token) {
		t.Errorf("url %s", sr.URL)
	}
	if r := e.get(sr.URL); r.status != 200 {
		t.Errorf("the shared page: %d", r.status)
	}
	if r := e.send("PUT", "/api/v1/docs/d/text", "y", bearer(sr.Token)...); r.status != 403 {
		t.Errorf("the view token wrote: %d", r.status)
	}
	if r := e.get("/api/v1/docs/other/text", bearer(sr.Token)...); r.status != 403 {
		t.Errorf("the view token read another document: %d", r.status)
	}

	hook := newEnv(t, func(o *Options) { o.Authorize = fakeAuthorize })
	if r := hook.send("POST", "/api/v1/docs/d/share", "", bearer("admin")...); r.status != 404 {
		t.Errorf("share with a custom Authorize: %d", r.status)
	}
}

// BenchmarkTokenAuthorize measures verifying one token (parse, HMAC-SHA256,
// claims), the cost added to every request and WebSocket join.
func BenchmarkTokenAuthorize(b *testing.B) {
	a := newTestAuth(b)
	tok := mint(b, a, "d", "edit", "Ann")
	for b.Loop() {
		if _, err := a.Authorize("d", tok); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTokenExpiryEndsLiveAccess: a WebSocket session and an SSE stream opened
// with a token end when it expires: close 4401 and an end event
// token_expired, then the end of the stream.
func TestTokenExpiryEndsLiveAccess(t *testing.T) {
	e, a := newAuthEnv(t)
	tok, err := a.Mint(TokenSpec{Doc: "d", Role: "edit", TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	opened := time.Now()
	conn, w := wsHello(t, e, "d", tok)
	if w["type"] != "welcome" {
		t.Fatalf("welcome %v", w)
	}
	sse := e.sse("/api/v1/docs/d/events?token="+tok, "")
	if ev := sse.nextEvent(); ev.name != sseSnapshot {
		t.Fatalf("first event %+v", ev)
	}
	for {
		m := readFrame(t, conn)
		if m["type"] == "presence" {
			continue
		}
		if m["closed"] != float64(collab.CloseTokenExpired) {
			t.Fatalf("WebSocket: %v, want closed %d", m, collab.CloseTokenExpired)
		}
		break
	}
	ev := sse.nextEvent(ssePresence, sseLeave) // The WebSocket session's.
	if ev.name != "end" || !strings.Contains(ev.data, `"code":"token_expired"`) {
		t.Fatalf("SSE: %+v, want an end event token_expired", ev)
	}
	if ev, ok := sse.next(); ok {
		t.Fatalf("SSE went on after the expiry: %+v", ev)
	}
	if time.Since(opened) < 900*time.Millisecond {
		t.Fatalf("access ended %v after a token of 1 s", time.Since(opened))
	}
}

// TestLongPollEndsAtExpiry: a long-poll whose token expires while it waits
// is answered then, with forbidden, not at the end of its wait.
func TestLongPollEndsAtExpiry(t *testing.T) {
	e, a := newAuthEnv(t)
	tok, err := a.Mint(TokenSpec{Doc: "d", Role: "view", TTL: 2 * time.Second}) // exp has whole seconds.
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.db.Meta(context.Background(), "d")
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/docs/d/ops?since=%d", m.Version)
	if r := e.get(path, bearer(tok)...); r.status != 200 {
		t.Fatalf("a poll with the fresh token: %d %s", r.status, r.body)
	}
	if r := e.get(path+"&wait=60", bearer(tok)...); r.status != 403 || r.errCode() != "forbidden" || !strings.Contains(string(r.body), "expired") {
		t.Errorf("long-poll past its token's expiry: %d %s", r.status, r.body)
	}
}

// TestRefusedPageIsHTML: a page asked without a token gets the error page,
// 403, headed in words with the status beside it, that runs nothing, loads
// only the stylesheet, is never cached and tells nothing of the document.
func TestRefusedPageIsHTML(t *testing.T) {
	e, _ := newAuthEnv(t)
	for _, path := range []string{"/d/d", "/embed/d", "/d/missing"} {
		r := e.send("GET", path, "")
		body := string(r.body)
		if r.status != http.StatusForbidden || r.header.Get("Content-Type") != "text/html; charset=utf-8" ||
			!strings.HasPrefix(r.header.Get("Content-Security-Policy"), "default-src 'none'; style-src 'self'; ") ||
			strings.Contains(r.header.Get("Content-Security-Policy"), "script-src") || r.header.Get("Cache-Control") != "no-store" ||
			!strings.Contains(body, "<h1>Access needed</h1>") || !strings.Contains(body, `class="caption error-status">Error 403<`) ||
			!strings.Contains(body, "needs a link with a valid token") || strings.Contains(body, "secret") ||
			strings.Contains(body, "<script") || strings.Contains(body, "missing") {
			t.Errorf("%s: %d %v %q", path, r.status, r.header, body)
		}
	}
}

// legacyID is a session id as servers before session keys issued them (a
// UUID), which a client built then resumes by the id alone.
const legacyID = "0b7d3f0e-7d1f-4b8e-9d7e-2f0c1a9b6e11"

// TestSessionTakeoverNeedsSameHolder: a legacy session (resumed by its id,
// without a key) is taken over only by the same holder — same role and same
// token name — since its id is no secret (every participant sees it in
// welcome, presence and GET /docs/{id}/ops). Otherwise a share link's viewer
// could close every editor with 4003, which the browser editor takes as
// final. A keyed session's id is refused outright (TestSessionKeyProvesHolder).
func TestSessionTakeoverNeedsSameHolder(t *testing.T) {
	e, a := newAuthEnv(t)
	hello := func(token, session string) (*websocket.Conn, map[string]any) {
		return helloDoc(t, e, collab.ClientMsg{Token: token, Session: session})
	}
	ann, w := hello(mint(t, a, "d", "edit", "Ann"), legacyID)
	if w["type"] != "welcome" || w["session"] != legacyID {
		t.Fatalf("welcome %v", w)
	}
	for name, tok := range map[string]string{
		"view token without a name": mint(t, a, "d", "view", ""),
		"view token named Ann":      mint(t, a, "d", "view", "Ann"),
		"edit token named Bob":      mint(t, a, "d", "edit", "Bob"),
		"edit token without a name": mint(t, a, "d", "edit", ""),
	} {
		conn, m := hello(tok, legacyID)
		if m["type"] != "error" || m["code"] != "forbidden" {
			t.Errorf("%s: took the session over: %v", name, m)
		}
		if m := readFrame(t, conn); m["closed"] != float64(websocket.StatusPolicyViolation) {
			t.Errorf("%s: then %v", name, m)
		}
	}
	stillThere(t, ann)
	// Ann herself, with a fresh token, takes her session back.
	if _, m := hello(mint(t, a, "d", "edit", "Ann"), legacyID); m["type"] != "welcome" {
		t.Fatalf("Ann's reconnect: %v", m)
	}
	replaced(t, ann)
}

// stillThere fails unless conn is open: its ping is answered.
func stillThere(t *testing.T, conn *websocket.Conn) {
	t.Helper()
	if err := conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	for m := readFrame(t, conn); m["type"] != "pong"; m = readFrame(t, conn) {
		if m["closed"] != nil {
			t.Fatalf("the connection was cut: %v", m)
		}
	}
}

// replaced fails unless conn is closed with 4003 (session_replaced).
func replaced(t *testing.T, conn *websocket.Conn) {
	t.Helper()
	for m := readFrame(t, conn); ; m = readFrame(t, conn) {
		if m["closed"] != nil {
			if m["closed"] != float64(collab.CloseReplaced) {
				t.Errorf("the old connection closed with %v", m["closed"])
			}
			return
		}
	}
}

// TestSessionResumeNeedsSameHolder: while Ann is offline, Bob (another name)
// cannot resume her legacy session by its id: he would take her next seqs,
// and her resent op would be answered as a duplicate and dropped. Ann
// resumes it, and her op resent with its seq commits once.
func TestSessionResumeNeedsSameHolder(t *testing.T) {
	e, a := newAuthEnv(t)
	hello := func(token, session string) (*websocket.Conn, map[string]any) {
		return helloDoc(t, e, collab.ClientMsg{Token: token, Session: session})
	}
	ann, _ := hello(mint(t, a, "d", "edit", "Ann"), legacyID)
	sendFrame(t, ann, `{"type":"op","seq":1,"version":0,"op":["A"]}`)
	if m := readUntil(t, ann, "ack"); m["version"] != float64(1) {
		t.Fatalf("Ann's first op: %v", m)
	}
	ann.CloseNow() // Offline, about to send seq 2.
	bob, m := hello(mint(t, a, "d", "edit", "Bob"), legacyID)
	if m["type"] != "error" || m["code"] != "forbidden" {
		sendFrame(t, bob, `{"type":"op","seq":2,"version":1,"op":["B"]}`) // Would take Ann's seq 2.
		readUntil(t, bob, "ack")
		t.Errorf("Bob resumed Ann's session: %v", m)
	}
	ann, m = hello(mint(t, a, "d", "edit", "Ann"), legacyID)
	if m["type"] != "welcome" {
		t.Fatalf("Ann's resume: %v", m)
	}
	sendFrame(t, ann, `{"type":"op","seq":2,"version":1,"op":[1,"n"]}`)
	if m := readUntil(t, ann, "ack"); m["version"] != float64(2) {
		t.Fatalf("Ann's resent op: %v", m)
	}
	if r := e.get("/api/v1/docs/d/text", "Authorization", "Bearer "+mint(t, a, "d", "view", "")); string(r.body) != "Ansecret d" {
		t.Fatalf("text %d %q", r.status, r.body)
	}
}

// TestSessionKeyProvesHolder: a keyed session's public id takes over and
// resumes nothing, whatever the token (Ann's own name included: a token's
// name is no proof, share links let anyone pick one); its key does both,
// whatever the token: Ann's client, now with a view token, takes over her
// connection, and, offline, resumes her session under a renamed token, her
// resent op committed once.
func TestSessionKeyProvesHolder(t *testing.T) {
	e, a := newAuthEnv(t)
	key := collab.NewKey()
	ann, w := helloDoc(t, e, collab.ClientMsg{Token: mint(t, a, "d", "edit", "Ann"), Key: key})
	id, _ := w["session"].(string)
	if w["type"] != "welcome" || w["key"] != key || id != collab.SessionID(key) {
		t.Fatalf("welcome %v", w)
	}
	for name, tok := range map[string]string{
		"view token without a name": mint(t, a, "d", "view", ""),
		"edit token without a name": mint(t, a, "d", "edit", ""),
		"edit token named Ann":      mint(t, a, "d", "edit", "Ann"),
	} {
		conn, m := helloDoc(t, e, collab.ClientMsg{Token: tok, Session: id})
		if m["type"] != "error" || m["code"] != "forbidden" {
			t.Errorf("%s: took the session over by its id: %v", name, m)
		}
		if m := readFrame(t, conn); m["closed"] != float64(websocket.StatusPolicyViolation) {
			t.Errorf("%s: then %v", name, m)
		}
	}
	stillThere(t, ann)
	viewer, m := helloDoc(t, e, collab.ClientMsg{Token: mint(t, a, "d", "view", "Ann"), Key: key})
	if m["type"] != "welcome" || m["session"] != id || m["role"] != "view" {
		t.Fatalf("takeover with the key: %v", m)
	}
	replaced(t, ann)
	viewer.CloseNow()

	ann, m = helloDoc(t, e, collab.ClientMsg{Token: mint(t, a, "d", "edit", "Ann"), Key: key})
	if m["type"] != "welcome" {
		t.Fatalf("Ann's resume: %v", m)
	}
	sendFrame(t, ann, `{"type":"op","seq":1,"version":0,"op":["A"]}`)
	readUntil(t, ann, "ack")
	ann.CloseNow() // Offline, about to send seq 2.
	ann, m = helloDoc(t, e, collab.ClientMsg{Token: mint(t, a, "d", "edit", "Ann Smith"), Key: key, Version: ptr(uint64(1))})
	if m["type"] != "welcome" || m["session"] != id {
		t.Fatalf("resume with the key under another name: %v", m)
	}
	sendFrame(t, ann, `{"type":"op","seq":2,"version":1,"op":[1,"n"]}`)
	if m := readUntil(t, ann, "ack"); m["version"] != float64(2) {
		t.Fatalf("Ann's op: %v", m)
	}
	sendFrame(t, ann, `{"type":"op","seq":2,"version":1,"op":[1,"n"]}`) // Resent, as after a lost ack: once.
	if m := readUntil(t, ann, "ack"); m["version"] != float64(2) {
		t.Fatalf("Ann's resent op: %v", m)
	}
	if r := e.get("/api/v1/docs/d/text", "Authorization", "Bearer "+mint(t, a, "d", "view", "")); string(r.body) != "Ansecret d" {
		t.Fatalf("text %d %q", r.status, r.body)
	}
}

func ptr[T any](v T) *T { return &v }

// sendFrame writes msg to conn.
func sendFrame(t *testing.T, conn *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// readUntil reads frames up to one of type typ, or the close.
func readUntil(t *testing.T, conn *websocket.Conn, typ string) map[string]any {
	t.Helper()
	for {
		m := readFrame(t, conn)
		if m["type"] == typ || m["closed"] != nil {
			return m
		}
	}
}

// helloDoc opens a WebSocket on document d, sends h as its hello, and
// returns the connection and the first frame it gets.
func helloDoc(t *testing.T, e *testEnv, h collab.ClientMsg) (*websocket.Conn, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := dialWS(ctx, e, "d", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	h.Type = collab.TypeHello
	b, _ := json.Marshal(h)
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	return conn, readFrame(t, conn)
}
