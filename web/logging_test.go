package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/storage"
)

// lockedStore fails every read as a database another process holds.
type lockedStore struct{ Store }

func (lockedStore) Meta(context.Context, string) (storage.Meta, error) {
	return storage.Meta{}, fmt.Errorf("meta d: %w", storage.ErrLocked)
}

// appendFails is a real store whose commits fail with err.
type appendFails struct {
	*storage.DB
	err error
}

func (s appendFails) Append(context.Context, string, []storage.OpRecord, int, *storage.Snapshot) error {
	return s.err
}

// logLine is one JSON log line.
type logLine map[string]any

func (l logLine) String() string { b, _ := json.Marshal(l); return string(b) }

// parseLogs splits JSON log output into lines.
func parseLogs(t *testing.T, out string) []logLine {
	t.Helper()
	var lines []logLine
	for _, s := range strings.Split(strings.TrimSpace(out), "\n") {
		if s == "" {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		lines = append(lines, l)
	}
	return lines
}

// TestOneLogLinePerFailure: a failed request logs one line at warn or
// error, with the cause, wherever the cause was handled (web converting a
// store error, or the hub converting a commit's); the request line stays at
// info with the status, so an operator counting warnings counts failures.
// A 503 from the hub names both what the client was told and the storage
// error behind it.
func TestOneLogLinePerFailure(t *testing.T) {
	cases := []struct {
		name      string
		store     Store    // web's reads; nil: the real database
		commitErr error    // the hub's commits fail with it; nil: they succeed
		method    string   // of the request
		path      string   //
		body      string   //
		status    int      // expected
		level     string   // of the one loud line
		cause     []string // in the loud line's error
	}{
		{name: "store locked, read by web", store: lockedStore{}, method: "GET", path: "/api/v1/docs/d",
			status: http.StatusServiceUnavailable, level: "warn", cause: []string{"meta d: database file is held"}},
		{name: "store broken, read by web", store: brokenStore{}, method: "GET", path: "/api/v1/docs/d",
			status: http.StatusInternalServerError, level: "error", cause: []string{"database not open"}},
		{name: "commit fails in the hub", commitErr: errors.New("disk on fire"), method: "POST",
			path: "/api/v1/docs/d/ops", body: `{"version":0,"op":["x"]}`,
			status: http.StatusInternalServerError, level: "error", cause: []string{"disk on fire"}},
		{name: "storage full in the hub", commitErr: fmt.Errorf("append: %w",
			&os.PathError{Op: "write", Path: "/data/folio.db", Err: syscall.ENOSPC}), method: "POST",
			path: "/api/v1/docs/d/ops", body: `{"version":0,"op":["x"]}`, status: http.StatusServiceUnavailable, level: "warn",
			cause: []string{"storage is full", "commit d: append: write /data/folio.db: no space left on device"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs syncBuffer
			log := zerolog.New(&logs).Level(zerolog.DebugLevel)
			db, err := storage.Open(filepath.Join(t.TempDir(), "folio.db"), storage.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var hubStore collab.Store = db
			if c.commitErr != nil {
				hubStore = appendFails{db, c.commitErr}
			}
			hub := collab.NewHub(hubStore, collab.Options{Logger: log})
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = hub.Close(ctx)
			}()
			if _, err := hub.Create(context.Background(), "d", ""); err != nil {
				t.Fatal(err)
			}
			opts := Options{Hub: hub, Store: db, Logger: log}
			if c.store != nil {
				opts.Store = c.store
			}
			rec := httptest.NewRecorder()
			New(opts).Handler().ServeHTTP(rec, httptest.NewRequest(c.method, "http://localhost"+c.path, strings.NewReader(c.body)))
			if rec.Code != c.status {
				t.Fatalf("%s %s: %d %s", c.method, c.path, rec.Code, rec.Body)
			}
			if detail := c.cause[len(c.cause)-1]; strings.Contains(rec.Body.String(), detail) {
				t.Errorf("the client was told %q: %s", detail, rec.Body)
			}
			var loud []logLine
			var request logLine
			for _, l := range parseLogs(t, logs.String()) {
				if l["level"] == "warn" || l["level"] == "error" {
					loud = append(loud, l)
				}
				if l["message"] == "http request" {
					request = l
				}
			}
			if len(loud) != 1 || loud[0]["level"] != c.level || !containsAll(fmt.Sprint(loud[0]["error"]), c.cause) {
				t.Errorf("want one %s line with %q, got %d:\n%s", c.level, c.cause, len(loud), loud)
			}
			if request == nil || request["level"] != "info" || request["status"] != float64(c.status) {
				t.Errorf("request line: %v", request)
			}
		})
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestRequestDurationInMilliseconds: the request line names its duration's
// unit. A long-poll that waits a second must read about 1000, not 1.
func TestRequestDurationInMilliseconds(t *testing.T) {
	var logs syncBuffer
	log := zerolog.New(&logs).Level(zerolog.InfoLevel)
	e := newEnvWith(t, nil, func(o *Options) { o.Logger = log })
	e.create("d", "")
	if r := e.get("/api/v1/docs/d/ops?since=0&wait=1"); r.status != http.StatusOK {
		t.Fatalf("long-poll: %d %s", r.status, r.body)
	}
	e.close()
	var found bool
	for _, l := range parseLogs(t, logs.String()) {
		if l["message"] != "http request" || l["route"] != "GET /api/v1/docs/{id}/ops" {
			continue
		}
		found = true
		if _, ok := l["duration"]; ok {
			t.Errorf("a duration without its unit: %v", l)
		}
		if ms, ok := l["duration_ms"].(float64); !ok || ms < 900 || ms > 30000 {
			t.Errorf("duration_ms of a one-second wait: %v", l)
		}
	}
	if !found {
		t.Fatalf("no request line for the long-poll:\n%s", logs.String())
	}
}

// TestDrainRefusalsNotLoggedEach: while a server drains, every viewer and
// editor that reconnects to it is refused; each refusal is its request
// line, not also a warning (thousands of them in a drain are noise). So is
// a REST write that reaches the hub after it closed behind the drain.
func TestDrainRefusalsNotLoggedEach(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, func(o *Options) { o.Logger = zerolog.New(&logs) })
	e.create("d", "")
	e.srv.Drain()
	for range 3 {
		if r := e.get("/api/v1/docs/d/events"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("stream while draining: %d %s", r.status, r.body)
		}
		reconnectOf(t, e.sse("/api/v1/docs/d/events", "0"), "unavailable", sseRetry)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.hub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/api/v1/docs/d/ops", `{"version":0,"op":["x"]}`},
		{"PUT", "/api/v1/docs/d/text", "x"},
		{"POST", "/api/v1/docs", `{}`},
		{"DELETE", "/api/v1/docs/d", ""},
	} {
		if r := e.send(w.method, w.path, w.body); r.status != http.StatusServiceUnavailable || r.errCode() != "unavailable" {
			t.Fatalf("%s %s after the hub closed: %d %s, want 503 unavailable", w.method, w.path, r.status, r.body)
		}
	}
	if got := logs.String(); strings.Contains(got, `"level":"warn"`) {
		t.Errorf("drain refusals logged as warnings:\n%s", got)
	}
}
