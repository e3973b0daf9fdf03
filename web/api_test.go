package web

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestCreate(t *testing.T) {
	e := newEnv(t, nil)
	r := e.send("POST", "/api/v1/docs", `{"id":"notes","text":"héllo 🎉"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	var c createResponse
	r.json(t, &c)
	want := createResponse{ID: "notes", Version: 0, URL: "/d/notes", EmbedURL: "/embed/notes"}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
	if got := r.header.Get("Location"); got != "/api/v1/docs/notes" {
		t.Errorf("Location %q", got)
	}
	if got := e.text("notes"); got != "héllo 🎉" {
		t.Errorf("text %q", got)
	}

	r = e.send("POST", "/api/v1/docs", `{"id":"notes"}`)
	if r.status != http.StatusConflict || r.errCode() != "exists" {
		t.Errorf("duplicate: %d %s", r.status, r.body)
	}

	r = e.send("POST", "/api/v1/docs", `{}`)
	if r.status != http.StatusCreated {
		t.Fatalf("generated: %d %s", r.status, r.body)
	}
	r.json(t, &c)
	if len(c.ID) != 16 || c.URL != "/d/"+c.ID {
		t.Errorf("generated id %+v", c)
	}
	if got := e.text(c.ID); got != "" {
		t.Errorf("generated doc text %q", got)
	}
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxBodyBytes = 1024 })
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"bad id", `{"id":"../x"}`, 400, "invalid_id"},
		{"long id", `{"id":"` + strings.Repeat("a", 65) + `"}`, 400, "invalid_id"},
		{"not json", `{"id":`, 400, "invalid_message"},
		{"unknown field", `{"name":"x"}`, 400, "invalid_message"},
		// Keys as a WebSocket frame's: exactly as spelled, once.
		{"key case", `{"ID":"kc"}`, 400, "invalid_message"},
		{"key twice", `{"id":"k1","id":"k2"}`, 400, "invalid_message"},
		{"key twice, escaped", `{"id":"k3","\u0069d":"k4"}`, 400, "invalid_message"},
		{"trailing", `{} {}`, 400, "invalid_message"},
		{"trailing brace", `{"id":"tb"}}`, 400, "invalid_message"},
		{"trailing bracket", `{"id":"tk"} ]`, 400, "invalid_message"},
		{"null", `null`, 400, "invalid_message"},
		{"lone surrogate", `{"text":"a\ud800b"}`, 400, "invalid_message"},
		{"array", ` [] `, 400, "invalid_message"},
		{"empty", ``, 400, "invalid_message"},
		{"wrong type", `{"text":5}`, 400, "invalid_message"},
		{"bad utf8", "{\"text\":\"\xff\"}", 400, "invalid_message"},
		{"oversize", `{"text":"` + strings.Repeat("x", 2000) + `"}`, 413, "too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.send("POST", "/api/v1/docs", c.body)
			if r.status != c.status || r.errCode() != c.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
		})
	}
	// A key matches after JSON unescaping, as in a WebSocket frame.
	if r := e.send("POST", "/api/v1/docs", `{"\u0069d":"esc"}`); r.status != http.StatusCreated {
		t.Errorf("escaped key: %d %s", r.status, r.body)
	}
	for _, id := range []string{"kc", "k1", "k2", "k3", "k4"} {
		if r := e.get("/api/v1/docs/" + id); r.status != http.StatusNotFound {
			t.Errorf("%s created by a refused body: %d", id, r.status)
		}
	}
}

// TestBodyErrorsSpeakJSON: a body refused for a value of the wrong type
// or for bad syntax says which field and what it should be in JSON's
// terms, not in Go's (struct names, uint64).
func TestBodyErrorsSpeakJSON(t *testing.T) {
	e := newEnv(t, nil)
	e.create("typed", "")
	cases := []struct{ path, body, code, want string }{
		{"/api/v1/docs", `{"text":5}`, "invalid_message", `invalid JSON body: "text" must be a string, not a number`},
		{"/api/v1/docs/typed/ops", `{"version":"3","op":[]}`, "invalid_op", `invalid JSON body: "version" must be a non-negative integer, not a string`},
		{"/api/v1/docs/typed/ops", `{"version":-1,"op":[]}`, "invalid_op", `invalid JSON body: "version" must be a non-negative integer, not -1`},
		{"/api/v1/docs/typed/ops", `{"version":1.5,"op":[]}`, "invalid_op", `invalid JSON body: "version" must be a non-negative integer, not 1.5`},
		{"/api/v1/docs", `{"id":`, "invalid_message", `invalid JSON body: unexpected end of JSON input`},
		{"/api/v1/docs", `{"id":"x",}`, "invalid_message", `invalid JSON body at byte 11: invalid character '}' looking for beginning of object key string`},
	}
	for _, c := range cases {
		r := e.send("POST", c.path, c.body)
		var body struct {
			Error struct{ Code, Message string }
		}
		r.json(t, &body)
		if r.status != http.StatusBadRequest || body.Error.Code != c.code || body.Error.Message != c.want ||
			strings.Contains(string(r.body), "Go ") || strings.Contains(string(r.body), "int64") {
			t.Errorf("%s %s: %d %s, want 400 %s %q", c.path, c.body, r.status, r.body, c.code, c.want)
		}
	}
}

func TestListPaginates(t *testing.T) {
	e := newEnv(t, nil)
	for _, id := range []string{"c", "a", "e", "b", "d"} {
		e.create(id, id+id)
	}
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		path := "/api/v1/docs?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.get(path)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		var l listResponse
		r.json(t, &l)
		if len(l.Docs) > 2 {
			t.Fatalf("page of %d", len(l.Docs))
		}
		for _, d := range l.Docs {
			all = append(all, d.ID)
			if d.Length != 2 || d.UpdatedAt.IsZero() {
				t.Errorf("summary %+v", d)
			}
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if strings.Join(all, ",") != "a,b,c,d,e" {
		t.Errorf("listed %v", all)
	}
	for _, q := range []string{"limit=0", "limit=-1", "limit=abc", "limit=", "limit=1001", "limit=1&limit=2",
		"cursor=../x", "cursor=a&cursor=b", "cursor=", "cursor", "cursor=a&cursor="} {
		if r := e.get("/api/v1/docs?" + q); r.status != 400 || r.errCode() != "invalid_message" {
			t.Errorf("%s: %d %s, want 400 invalid_message", q, r.status, r.body)
		}
	}
}

func TestGetAndDelete(t *testing.T) {
	e := newEnv(t, nil)
	e.create("doc", "abc")
	r := e.get("/api/v1/docs/doc")
	var d docResponse
	r.json(t, &d)
	if r.status != 200 || d.ID != "doc" || d.Version != 0 || d.Length != 3 || d.Participants == nil || d.CreatedAt.IsZero() {
		t.Errorf("%d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/api/v1/docs/doc", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := e.get("/api/v1/docs/doc"); r.status != 404 || r.errCode() != "not_found" {
		t.Errorf("after delete: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/api/v1/docs/doc", nil); r.status != 404 {
		t.Errorf("second delete: %d %s", r.status, r.body)
	}
}

// TestBadIDsEverywhere checks that every route validates the id first: 400,
// never a 500, never a file outside the data directory.
func TestBadIDsEverywhere(t *testing.T) {
	e := newEnv(t, nil)
	e.create("ok", "x")
	bad := []string{"..%2Fx", "%2e%2e", "%2E%2E", strings.Repeat("a", 65), "a%20b", "%C3%A9", "a.b"}
	routes := []struct{ method, suffix, body string }{
		{"GET", "", ""}, {"DELETE", "", ""}, {"GET", "/text", ""}, {"PUT", "/text", "x"},
		{"POST", "/ops", `{"version":0,"op":["a"]}`}, {"GET", "/ops", ""}, {"GET", "/events", ""},
		{"GET", "/export/txt", ""}, {"GET", "/ws", ""},
	}
	for _, id := range bad {
		for _, rt := range routes {
			r := e.send(rt.method, "/api/v1/docs/"+id+rt.suffix, rt.body)
			if r.status != 400 || r.errCode() != "invalid_id" {
				t.Errorf("%s %s%s: %d %s", rt.method, id, rt.suffix, r.status, r.body)
			}
		}
	}
}

func TestTextVersionsAndETag(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "ab")
	e.postOp("d", 0, `[2,"c"]`)
	e.postOp("d", 1, `[3,"d"]`)

	r := e.get("/api/v1/docs/d/text")
	if r.status != 200 || string(r.body) != "abcd" || r.header.Get("ETag") != `"2"` ||
		r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("head: %d %q %v", r.status, r.body, r.header)
	}
	if r := e.get("/api/v1/docs/d/text?version=1"); string(r.body) != "abc" || r.header.Get("ETag") != `"1"` {
		t.Errorf("v1: %d %q", r.status, r.body)
	}
	if r := e.get("/api/v1/docs/d/text?version=0"); string(r.body) != "ab" {
		t.Errorf("v0: %d %q", r.status, r.body)
	}
	if r := e.get("/api/v1/docs/d/text", "If-None-Match", `"2"`); r.status != http.StatusNotModified || len(r.body) != 0 {
		t.Errorf("304: %d %q", r.status, r.body)
	}
	if r := e.get("/api/v1/docs/d/text", "If-None-Match", `"1"`); r.status != 200 {
		t.Errorf("stale etag: %d", r.status)
	}
	for _, q := range []string{"-1", "abc", "1.5", "+1", "01", "", "99999999999999999999999", "1e3"} {
		if r := e.get("/api/v1/docs/d/text?version=" + q); r.status != 400 {
			t.Errorf("version=%s: %d %s", q, r.status, r.body)
		}
	}
	if r := e.get("/api/v1/docs/d/text?version=3"); r.status != 400 || r.errCode() != "version_ahead" {
		t.Errorf("beyond head: %d %s", r.status, r.body)
	}
	if r := e.get("/api/v1/docs/nope/text"); r.status != 404 {
		t.Errorf("missing doc: %d %s", r.status, r.body)
	}
}

func TestPutText(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxTextBytes = 64 })
	e.create("d", "hello world")
	r := e.send("PUT", "/api/v1/docs/d/text", "hello brave world 👋")
	var v versionResponse
	r.json(t, &v)
	if r.status != 200 || v.Version != 1 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	if got := e.text("d"); got != "hello brave world 👋" {
		t.Errorf("text %q", got)
	}
	if r := e.send("PUT", "/api/v1/docs/d/text", "x", "If-Match", `"0"`); r.status != 412 || r.errCode() != "precondition_failed" {
		t.Errorf("stale If-Match: %d %s", r.status, r.body)
	}
	// A version beyond the head is not the head either: 412, not version_ahead.
	if r := e.send("PUT", "/api/v1/docs/d/text", "x", "If-Match", `"9"`); r.status != 412 || r.errCode() != "precondition_failed" {
		t.Errorf("If-Match beyond the head: %d %s", r.status, r.body)
	}
	if r := e.send("PUT", "/api/v1/docs/d/text", "x", "If-Match", `"1"`); r.status != 200 {
		t.Errorf("fresh If-Match: %d %s", r.status, r.body)
	}
	if r := e.send("PUT", "/api/v1/docs/d/text", "x", "If-Match", `"abc"`); r.status != 400 {
		t.Errorf("bad If-Match: %d %s", r.status, r.body)
	}
	if r := e.send("PUT", "/api/v1/docs/d/text", strings.Repeat("y", 65)); r.status != 413 || r.errCode() != "too_large" {
		t.Errorf("oversize: %d %s", r.status, r.body)
	}
	if r := e.send("PUT", "/api/v1/docs/d/text", "bad \xff utf8"); r.status != 400 {
		t.Errorf("bad utf8: %d %s", r.status, r.body)
	}
	if got := e.text("d"); got != "x" {
		t.Errorf("text after refused PUTs %q", got)
	}
}

func TestOpsEndpoint(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxBodyBytes = 256 })
	e.create("d", "abc")
	if v := e.postOp("d", 0, `[3,"d"]`); v != 1 {
		t.Fatalf("version %d", v)
	}
	// A stale base is transformed, as an editor's op would be.
	if v := e.postOp("d", 0, `["0"]`); v != 2 {
		t.Fatalf("version %d", v)
	}
	if got := e.text("d"); got != "0abcd" {
		t.Errorf("text %q", got)
	}
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"past end", `{"version":2,"op":[99,"x"]}`, 400, "invalid_op"},
		{"zero skip", `{"version":2,"op":[0,"x"]}`, 400, "invalid_op"},
		{"negative", `{"version":2,"op":[-1]}`, 400, "invalid_op"},
		{"fraction", `{"version":2,"op":[1.5]}`, 400, "invalid_op"},
		{"unknown shape", `{"version":2,"op":[{"x":1}]}`, 400, "invalid_op"},
		{"lone surrogate", `{"version":2,"op":["\ud800"]}`, 400, "invalid_op"},
		{"no version", `{"op":["x"]}`, 400, "invalid_op"},
		{"no op", `{"version":2}`, 400, "invalid_op"},
		{"trailing brace", `{"version":2,"op":["x"]}}`, 400, "invalid_op"},
		{"unknown field", `{"version":2,"op":["x"],"seq":1}`, 400, "invalid_op"},
		{"key case", `{"Version":2,"op":["x"]}`, 400, "invalid_op"},
		{"key twice", `{"version":9,"version":2,"op":["x"]}`, 400, "invalid_op"},
		{"op twice", `{"version":2,"op":["x"],"op":["y"]}`, 400, "invalid_op"},
		{"version ahead", `{"version":9,"op":["x"]}`, 400, "version_ahead"},
		{"negative version", `{"version":-1,"op":["x"]}`, 400, "invalid_op"},
		{"oversize", `{"version":2,"op":["` + strings.Repeat("x", 300) + `"]}`, 413, "too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.send("POST", "/api/v1/docs/d/ops", c.body)
			if r.status != c.status || r.errCode() != c.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
		})
	}
	if got := e.text("d"); got != "0abcd" {
		t.Errorf("text after refused ops %q", got)
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	v1 := e.postOp("d", 0, `["a"]`, "Idempotency-Key", "k-1")
	v2 := e.postOp("d", 0, `["a"]`, "Idempotency-Key", "k-1")
	if v1 != 1 || v2 != 1 {
		t.Errorf("retried request got versions %d and %d", v1, v2)
	}
	if v := e.postOp("d", 1, `["b"]`, "Idempotency-Key", "k-2"); v != 2 {
		t.Errorf("new key: version %d", v)
	}
	if v := e.postOp("d", 2, `["c"]`); v != 3 {
		t.Errorf("no key: version %d", v)
	}
	if got := e.text("d"); got != "cba" {
		t.Errorf("text %q: a retried request applied twice?", got)
	}
	for _, bad := range []string{strings.Repeat("k", 256), ""} {
		r := e.send("POST", "/api/v1/docs/d/ops", `{"version":0,"op":["z"]}`, "Idempotency-Key", bad)
		if r.status != 400 {
			t.Errorf("key %q: %d %s", bad, r.status, r.body)
		}
	}
	// Two keys: which one would a retry that sends them the other way round match?
	req, _ := http.NewRequest("POST", e.url+"/api/v1/docs/d/ops", strings.NewReader(`{"version":3,"op":["z"]}`))
	req.Header.Add("Idempotency-Key", "k-a")
	req.Header.Add("Idempotency-Key", "k-b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || e.text("d") != "cba" {
		t.Errorf("two keys: %d, text %q", resp.StatusCode, e.text("d"))
	}
}

// TestIdempotencyKeyReusedForAnotherRequest: a key already used is refused
// with 422 idempotency_mismatch when the request differs (another op or
// another base), applying nothing; the first request's retries still get
// its version. Concurrent requests with one key and two bodies commit one.
func TestIdempotencyKeyReusedForAnotherRequest(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	v := e.postOp("d", 0, `["a"]`, "Idempotency-Key", "k")
	for _, body := range []string{`{"version":0,"op":["b"]}`, `{"version":1,"op":["a"]}`} {
		r := e.send("POST", "/api/v1/docs/d/ops", body, "Idempotency-Key", "k")
		if r.status != http.StatusUnprocessableEntity || r.errCode() != "idempotency_mismatch" {
			t.Errorf("key reused with %s: %d %s", body, r.status, r.body)
		}
	}
	if again := e.postOp("d", 0, `["a"]`, "Idempotency-Key", "k"); again != v {
		t.Errorf("retry of the first request: version %d, want %d", again, v)
	}
	if got := e.text("d"); got != "a" {
		t.Fatalf("text %q", got)
	}

	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := `{"version":1,"op":["x"]}`
			if i%2 == 1 {
				body = `{"version":1,"op":["y"]}`
			}
			codes[i] = e.send("POST", "/api/v1/docs/d/ops", body, "Idempotency-Key", "race").status
		}()
	}
	wg.Wait()
	text := e.text("d")
	winner := map[string]int{"xa": 0, "ya": 1}[text]
	if text != "xa" && text != "ya" {
		t.Fatalf("text %q after one key with two bodies", text)
	}
	for i, c := range codes {
		if want := map[bool]int{true: http.StatusOK, false: http.StatusUnprocessableEntity}[i%2 == winner]; c != want {
			t.Errorf("request %d (body %d, %q won): %d, want %d", i, i%2, text, c, want)
		}
	}
}

func TestOpsPolling(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	for i, s := range []string{"a", "b", "c"} {
		e.postOp("d", uint64(i), `["`+s+`"]`)
	}
	var p opsResponse
	r := e.get("/api/v1/docs/d/ops?since=1")
	r.json(t, &p)
	if r.status != 200 || p.Version != 3 || len(p.Ops) != 2 || p.Ops[0].Version != 2 || p.Ops[1].Version != 3 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if p.Ops[0].Author != defaultAuthor || p.Ops[0].Time.IsZero() {
		t.Errorf("op record %+v", p.Ops[0])
	}
	e.get("/api/v1/docs/d/ops?since=0&limit=1").json(t, &p)
	if len(p.Ops) != 1 || p.Ops[0].Version != 1 || p.Version != 3 {
		t.Errorf("limit: %+v", p)
	}
	e.get("/api/v1/docs/d/ops?since=3").json(t, &p)
	if len(p.Ops) != 0 || p.Ops == nil {
		t.Errorf("at head: %+v", p)
	}
	for _, q := range []string{"since=-1", "since=x", "since=4", "since=", "since=0&since=0", "limit=0", "limit=",
		"limit=1&limit=1", "wait=-1", "wait=1.5", "wait=", "wait=1&wait=1"} {
		if r := e.get("/api/v1/docs/d/ops?" + q); r.status != 400 {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
}

func TestUnknownAPIPath(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.get("/api/v1/nothing"); r.status != 404 || r.errCode() != "not_found" {
		t.Errorf("%d %s", r.status, r.body)
	}
	if r := e.get("/api/v1/docs/d/export/pdf"); r.status != 400 && r.status != 404 {
		t.Errorf("unknown format: %d %s", r.status, r.body)
	}
}

// TestVersionBeforeBaseIsNeverNotModified: a text or export at a version of
// a deleted document, under the id of the one created again, is
// version_too_old even when If-None-Match lists its tag (a 304 would tell a
// cache that the version is still served), and the error carries no ETag.
func TestVersionBeforeBaseIsNeverNotModified(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "old")
	e.postOp("d", 0, `[3,"!"]`)
	if r := e.send("DELETE", "/api/v1/docs/d", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	e.create("d", "new") // Starts at version 2.
	for _, path := range []string{"/text?version=1", "/export/txt?version=1", "/export/json?version=0"} {
		for _, inm := range []string{"", `"1"`, `"0"`, "*"} {
			var r response
			if inm == "" {
				r = e.get("/api/v1/docs/d" + path)
			} else {
				r = e.get("/api/v1/docs/d"+path, "If-None-Match", inm)
			}
			if r.status != http.StatusConflict || r.errCode() != "version_too_old" || r.header.Get("ETag") != "" {
				t.Errorf("%s If-None-Match %s: %d ETag %q %s, want 409 version_too_old without ETag",
					path, inm, r.status, r.header.Get("ETag"), r.body)
			}
		}
	}
	if r := e.get("/api/v1/docs/d/text?version=2", "If-None-Match", `"2"`); r.status != http.StatusNotModified {
		t.Errorf("base version: %d %s, want 304", r.status, r.body)
	}
}

// TestIfMatchStrict: If-Match is one version, quoted ("1", W/"1") or bare
// (1); anything else, such as doubled or unbalanced quotes, is
// invalid_message and changes nothing.
func TestIfMatchStrict(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "a")
	e.postOp("d", 0, `[1,"b"]`)
	for _, h := range []string{`""1""`, `"1`, `1"`, `W/1`, `"W/"1""`, `W/""1""`, `"1" "1"`, `"1", "2"`, `"`, `""`, `W/`} {
		if r := e.send("PUT", "/api/v1/docs/d/text", "changed", "If-Match", h); r.status != 400 || r.errCode() != "invalid_message" {
			t.Errorf("If-Match %s: %d %s, want 400 invalid_message", h, r.status, r.body)
		}
	}
	if got := e.text("d"); got != "ab" {
		t.Fatalf("text %q after refused PUTs", got)
	}
	for i, h := range []string{`"1"`, `W/"2"`, ` 3 `, `*`} {
		if r := e.send("PUT", "/api/v1/docs/d/text", "v"+itoa(uint64(i)), "If-Match", h); r.status != 200 {
			t.Errorf("If-Match %s: %d %s", h, r.status, r.body)
		}
	}
}
