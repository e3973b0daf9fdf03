package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/storage"
)

// testEnv is a real stack: bbolt in t.TempDir(), a hub, the web server and an
// httptest server on 127.0.0.1.
type testEnv struct {
	t    testing.TB
	db   *storage.DB
	hub  *collab.Hub
	srv  *Server
	ts   *httptest.Server
	url  string
	path string
}

func newEnv(t testing.TB, mod func(*Options)) *testEnv {
	t.Helper()
	return newEnvWith(t, nil, mod)
}

// newEnvWith also lets the test change the hub's options.
func newEnvWith(t testing.TB, hubMod func(*collab.Options), mod func(*Options)) *testEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "folio.db")
	db, err := storage.Open(path, storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	if _, ok := t.(*testing.B); ok {
		log = zerolog.Nop() // Per-request lines would drown the figures.
	}
	hubOpts := collab.Options{Logger: log, OpsPerSecond: 10000, OpBurst: 10000}
	if hubMod != nil {
		hubMod(&hubOpts)
	}
	hub := collab.NewHub(db, hubOpts)
	opts := Options{Hub: hub, Store: db, Logger: log}
	if mod != nil {
		mod(&opts)
	}
	srv := New(opts)
	ts := httptest.NewServer(srv.Handler())
	e := &testEnv{t: t, db: db, hub: hub, srv: srv, ts: ts, url: ts.URL, path: path}
	t.Cleanup(e.close)
	return e
}

// close shuts down in cmd's order; safe to call twice.
func (e *testEnv) close() {
	if e.ts == nil {
		return
	}
	e.srv.Drain()
	e.ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.hub.Close(ctx); err != nil {
		e.t.Errorf("hub close: %v", err)
	}
	if err := e.db.Check(ctx); err != nil {
		e.t.Errorf("storage check: %v", err)
	}
	if err := e.db.Close(); err != nil {
		e.t.Errorf("store close: %v", err)
	}
	e.ts = nil
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errCode returns the code of an error body ("" if it is not one).
func (r response) errCode() string {
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &b)
	return b.Error.Code
}

// do sends a request; path is used verbatim (escapes are kept).
func (e *testEnv) do(method, path string, body io.Reader, header ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (e *testEnv) get(path string, header ...string) response {
	e.t.Helper()
	return e.do(http.MethodGet, path, nil, header...)
}

func (e *testEnv) send(method, path, body string, header ...string) response {
	e.t.Helper()
	return e.do(method, path, strings.NewReader(body), header...)
}

// create makes a document and returns its id.
func (e *testEnv) create(id, text string) string {
	e.t.Helper()
	b, _ := json.Marshal(createRequest{ID: id, Text: text})
	r := e.do(http.MethodPost, "/api/v1/docs", bytes.NewReader(b))
	if r.status != http.StatusCreated {
		e.t.Fatalf("create %q: %d %s", id, r.status, r.body)
	}
	var c createResponse
	r.json(e.t, &c)
	return c.ID
}

// text returns the head text over REST.
func (e *testEnv) text(id string) string {
	e.t.Helper()
	r := e.get("/api/v1/docs/" + id + "/text")
	if r.status != http.StatusOK {
		e.t.Fatalf("text %s: %d %s", id, r.status, r.body)
	}
	return string(r.body)
}

// postOp submits op (JSON) on base and returns the new version.
func (e *testEnv) postOp(id string, base uint64, op string, header ...string) uint64 {
	e.t.Helper()
	r := e.send(http.MethodPost, "/api/v1/docs/"+id+"/ops", `{"version":`+itoa(base)+`,"op":`+op+`}`, header...)
	if r.status != http.StatusOK {
		e.t.Fatalf("post op %s: %d %s", op, r.status, r.body)
	}
	var v versionResponse
	r.json(e.t, &v)
	return v.Version
}

func itoa(v uint64) string { return strings.TrimSpace(string(must(json.Marshal(v)))) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
