package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// sseEvent is one dispatched event as EventSource would see it; comment
// lines are reported as events named ":".
type sseEvent struct {
	name, id, data string
}

// sseClient reads a text/event-stream the way a browser's EventSource does
// (event/id/data fields, blank line dispatch, comments, remembered last id).
type sseClient struct {
	t      testing.TB
	resp   *http.Response
	rd     *bufio.Reader
	cancel context.CancelFunc
	lastID string
	retry  string // The last retry: field.
}

func (e *testEnv) sse(path string, lastEventID string) *sseClient {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	c := &sseClient{t: e.t, resp: resp, rd: bufio.NewReader(resp.Body), cancel: cancel, lastID: lastEventID}
	e.t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next event or comment; ok is false at the end of the stream.
func (c *sseClient) next() (ev sseEvent, ok bool) {
	c.t.Helper()
	var data []string
	for {
		line, err := c.rd.ReadString('\n')
		if err != nil {
			return sseEvent{}, false
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.name == "" && data == nil && ev.id == "" {
				continue
			}
			ev.data = strings.Join(data, "\n")
			if ev.id != "" {
				c.lastID = ev.id
			}
			return ev, true
		case strings.HasPrefix(line, ":"):
			return sseEvent{name: ":", data: line}, true
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.name = value
		case "id":
			ev.id = value
		case "data":
			data = append(data, value)
		case "retry":
			c.retry = value
		}
	}
}

// nextEvent skips comments, retry and presence events.
func (c *sseClient) nextEvent(skip ...string) sseEvent {
	c.t.Helper()
	for {
		ev, ok := c.next()
		if !ok {
			c.t.Fatal("stream ended")
		}
		if ev.name == ":" || ev.name == "" || contains(skip, ev.name) {
			continue
		}
		return ev
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestSSESnapshotOpsAndResume(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "hi")
	c := e.sse("/api/v1/docs/d/events", "")
	if ct := c.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	ev := c.nextEvent(ssePresence, sseLeave)
	var snap snapshotData
	if err := json.Unmarshal([]byte(ev.data), &snap); err != nil || ev.name != "snapshot" || ev.id != "0" || snap.Text != "hi" {
		t.Fatalf("first event %+v", ev)
	}
	e.postOp("d", 0, `[2,"!"]`)
	e.postOp("d", 1, `["¡"]`)
	e.postOp("d", 2, `[4,"\n🎉"]`)
	for v := 1; v <= 3; v++ {
		ev := c.nextEvent(ssePresence, sseLeave)
		var op struct {
			Version uint64          `json:"version"`
			Op      json.RawMessage `json:"op"`
		}
		if err := json.Unmarshal([]byte(ev.data), &op); err != nil || ev.name != "op" || ev.id != itoa(uint64(v)) || op.Version != uint64(v) {
			t.Fatalf("op event %d: %+v", v, ev)
		}
	}
	c.close()

	// The browser reconnects with Last-Event-ID: the ops after it, no snapshot.
	c = e.sse("/api/v1/docs/d/events", "1")
	for _, want := range []string{"2", "3"} {
		if ev := c.nextEvent(ssePresence, sseLeave); ev.name != "op" || ev.id != want {
			t.Fatalf("resumed event %+v, want op %s", ev, want)
		}
	}
	e.postOp("d", 3, `["x"]`)
	if ev := c.nextEvent(ssePresence, sseLeave); ev.name != "op" || ev.id != "4" {
		t.Fatalf("live after resume %+v", ev)
	}
	c.close()

	// An id we never issued (garbage, or beyond the head) starts over.
	for _, id := range []string{"garbage", "99"} {
		c = e.sse("/api/v1/docs/d/events", id)
		ev := c.nextEvent(ssePresence, sseLeave)
		if err := json.Unmarshal([]byte(ev.data), &snap); err != nil || ev.name != "snapshot" || ev.id != "4" || snap.Text != "x¡hi!\n🎉" {
			t.Errorf("Last-Event-ID %s: %+v", id, ev)
		}
		c.close()
	}
	if r := e.get("/api/v1/docs/d/events?since=abc"); r.status != 400 {
		t.Errorf("since=abc: %d", r.status)
	}
	if r := e.get("/api/v1/docs/missing/events"); r.status != 404 {
		t.Errorf("missing doc: %d %s", r.status, r.body)
	}
}

func TestSSEHeartbeatAndDrain(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Heartbeat = 20 * time.Millisecond })
	e.create("d", "")
	c := e.sse("/api/v1/docs/d/events", "")
	comments := 0
	for comments < 2 {
		ev, ok := c.next()
		if !ok {
			t.Fatal("stream ended")
		}
		if ev.name == ":" {
			comments++
		}
	}
	if g := testutilGauge(e, "folio_sse_clients"); g != 1 {
		t.Errorf("folio_sse_clients = %v with one stream open", g)
	}
	e.srv.Drain()
	for {
		if _, ok := c.next(); !ok {
			break // Drain ends the stream.
		}
	}
	eventually(t, "the SSE gauge to drop", func() bool { return testutilGauge(e, "folio_sse_clients") == 0 })
	if r := e.get("/readyz"); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz while draining: %d", r.status)
	}
	if r := e.get("/api/v1/docs/d/events"); r.status != http.StatusServiceUnavailable {
		t.Errorf("new stream while draining: %d %s", r.status, r.body)
	}
}

func TestLongPollWakesOnNewOp(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	e.postOp("d", 0, `["a"]`)

	var wg sync.WaitGroup
	var got response
	start := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		got = e.get("/api/v1/docs/d/ops?since=1&wait=30")
	}()
	eventually(t, "the poller to wait", func() bool {
		return testutilGauge(e, "folio_longpoll_clients") == 1
	})
	e.postOp("d", 1, `["b"]`)
	wg.Wait()
	var p opsResponse
	got.json(t, &p)
	if got.status != 200 || len(p.Ops) != 1 || p.Ops[0].Version != 2 || p.Version != 2 {
		t.Fatalf("%d %s", got.status, got.body)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("long-poll did not wake on the op")
	}

	// A wait with nothing new ends empty after the wait.
	r := e.get("/api/v1/docs/d/ops?since=2&wait=1")
	r.json(t, &p)
	if r.status != 200 || len(p.Ops) != 0 || p.Version != 2 {
		t.Errorf("empty wait: %d %s", r.status, r.body)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.get("/healthz"); r.status != 200 {
		t.Errorf("healthz %d", r.status)
	}
	if r := e.get("/readyz"); r.status != 200 {
		t.Errorf("readyz %d", r.status)
	}
	e.create("m", "")
	r := e.get("/metrics")
	for _, name := range []string{"folio_http_requests_total", "folio_sse_clients", "folio_longpoll_clients"} {
		if !strings.Contains(string(r.body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if !strings.Contains(string(r.body), `folio_http_requests_total{code="201",route="POST /api/v1/docs"} 1`) {
		t.Errorf("create not counted:\n%s", r.body)
	}
	// The create was one storage request in at least one transaction.
	for _, line := range []string{"folio_storage_transactions_total ", "folio_storage_requests_total "} {
		i := strings.Index(string(r.body), "\n"+line)
		if i < 0 {
			t.Errorf("/metrics lacks %s", line)
			continue
		}
		v, _, _ := strings.Cut(string(r.body[i+1+len(line):]), "\n")
		if n, err := strconv.ParseFloat(v, 64); err != nil || n < 1 {
			t.Errorf("%s= %q, want >= 1", line, v)
		}
	}
}

// testutilGauge reads a gauge from the server's registry.
func testutilGauge(e *testEnv, name string) float64 {
	mfs, err := e.srv.opts.Registry.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// brokenStore fails every read, like a closed database.
type brokenStore struct{ Store }

func (brokenStore) Meta(context.Context, string) (storage.Meta, error) {
	return storage.Meta{}, errors.New("database not open")
}

func TestReadyzChecksStore(t *testing.T) {
	srv := New(Options{Store: brokenStore{}, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz with a broken store: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("healthz: %d", rec.Code)
	}
}

// TestSSEPresence shows editors joining and leaving on the event stream.
func TestSSEPresence(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	c := e.sse("/api/v1/docs/d/events", "")
	if ev := c.nextEvent(); ev.name != sseSnapshot {
		t.Fatalf("first event %+v", ev)
	}
	ed := newEditor(t, e, "d")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cur := &ot.Selection{Anchor: 0, Head: 0}
	if err := ed.write(ctx, collab.ClientMsg{Type: collab.TypePresence, Cursor: collab.CursorField{Set: true, Sel: cur}}); err != nil {
		t.Fatal(err)
	}
	for {
		ev := c.nextEvent()
		if ev.name != ssePresence {
			continue
		}
		var p collab.Presence
		if err := json.Unmarshal([]byte(ev.data), &p); err != nil {
			t.Fatal(err)
		}
		if p.Session == ed.session && p.Name == "ed" && p.Color == "#336699" && ev.id == "" {
			break
		}
	}
	ed.conn.Close(websocket.StatusNormalClosure, "")
	for {
		ev := c.nextEvent()
		if ev.name == sseLeave && strings.Contains(ev.data, ed.session) {
			break
		}
	}
}

// TestSSEResumeTooOld resumes from a version older than the hub replays:
// the stream starts over with a fresh snapshot, then continues live.
func TestSSEResumeTooOld(t *testing.T) {
	e := newEnvWith(t, func(o *collab.Options) { o.OpWindow, o.CatchUpLimit = 2, 2 }, nil)
	e.create("d", "")
	for i := uint64(0); i < 6; i++ {
		e.postOp("d", i, `["x"]`)
	}
	c := e.sse("/api/v1/docs/d/events", "1")
	ev := c.nextEvent(ssePresence, sseLeave)
	var snap snapshotData
	if err := json.Unmarshal([]byte(ev.data), &snap); err != nil || ev.name != sseSnapshot || ev.id != "6" || snap.Text != "xxxxxx" {
		t.Fatalf("resume from v1 with a window of 2: %+v", ev)
	}
	e.postOp("d", 6, `["y"]`)
	if ev := c.nextEvent(ssePresence, sseLeave); ev.name != sseOp || ev.id != "7" {
		t.Fatalf("live event %+v", ev)
	}
	c.close()
	c = e.sse("/api/v1/docs/d/events", "5")
	for _, want := range []string{"6", "7"} {
		if ev := c.nextEvent(ssePresence, sseLeave); ev.name != sseOp || ev.id != want {
			t.Fatalf("resume within reach: %+v, want op %s", ev, want)
		}
	}
}

// TestSSEOpPayloadSharedMatchesJSON: live ops reach SSE viewers with the
// payload the room encoded once for all of them; it must be byte for byte
// what encoding/json writes for the op (HTML escapes, non-ASCII, control
// characters), as the catch-up path (encoded per viewer) does.
func TestSSEOpPayloadSharedMatchesJSON(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	c := e.sse("/api/v1/docs/d/events", "")
	c.nextEvent(ssePresence, sseLeave) // The snapshot.
	text := "<script>&\"é🎉\u2028\t"
	op, err := json.Marshal([]any{text})
	if err != nil {
		t.Fatal(err)
	}
	e.postOp("d", 0, string(op))
	ev := c.nextEvent(ssePresence, sseLeave)
	want, err := json.Marshal(collab.OpMsg{Version: 1, Op: ot.Op{{Insert: text}}, Session: "", Seq: 0})
	if err != nil {
		t.Fatal(err)
	}
	if ev.name != sseOp || ev.data != string(want) {
		t.Fatalf("op event %q %s, want %s", ev.name, ev.data, want)
	}
	// The same op read as catch-up (encoded for this viewer alone) is identical.
	c2 := e.sse("/api/v1/docs/d/events", "0")
	if ev2 := c2.nextEvent(ssePresence, sseLeave); ev2.data != ev.data {
		t.Fatalf("catch-up %s, live %s", ev2.data, ev.data)
	}
}

// TestSSEEndsWithDeleted: a stream whose document is deleted ends with an
// end event saying so, then closes: the viewer must start over rather than
// resume a document that may come back with its versions restarted.
func TestSSEEndsWithDeleted(t *testing.T) {
	env := newEnv(t, nil)
	id := env.create("gone", "text")
	c := env.sse("/api/v1/docs/"+id+"/events", "")
	if ev := c.nextEvent("presence"); ev.name != "snapshot" {
		t.Fatalf("first event %+v", ev)
	}
	if r := env.send("DELETE", "/api/v1/docs/"+id, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.status)
	}
	ev := c.nextEvent("presence", "leave")
	if ev.name != "end" || !strings.Contains(ev.data, `"code":"deleted"`) {
		t.Fatalf("after the delete: %+v", ev)
	}
	if ev, ok := c.next(); ok {
		t.Fatalf("the stream goes on after end: %+v", ev)
	}
}

// TestResumeAfterRecreate: a document created under the id of a deleted one
// continues its versions, so every way of resuming from a version of the
// deleted document (SSE Last-Event-ID, a poll's since, a long-poll, a text
// or export at a version) is told that version is gone, never given the new
// document's ops as if they followed the old text.
func TestResumeAfterRecreate(t *testing.T) {
	env := newEnv(t, nil)
	id := env.create("again", "abc")
	for v := uint64(0); v < 3; v++ {
		env.postOp(id, v, `["x"]`) // Versions 1..3 of the first document.
	}
	if r := env.send("DELETE", "/api/v1/docs/"+id, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.status)
	}
	r := env.send(http.MethodPost, "/api/v1/docs", `{"id":"again","text":"new"}`)
	var c createResponse
	r.json(t, &c)
	if r.status != http.StatusCreated || c.Version != 4 {
		t.Fatalf("re-create: %d %s, want version 4", r.status, r.body)
	}
	if v := env.postOp(id, 4, `[3,"!"]`); v != 5 {
		t.Fatalf("first op of the new document made version %d, want 5", v)
	}
	for _, last := range []string{"1", "3"} {
		ev := env.sse("/api/v1/docs/"+id+"/events", last).nextEvent("presence")
		if ev.name != "snapshot" || ev.id != "5" || !strings.Contains(ev.data, `"text":"new!"`) {
			t.Errorf("SSE resumed from the deleted document's %s: %+v, want the snapshot at 5", last, ev)
		}
	}
	for _, path := range []string{"/ops?since=3", "/ops?since=0&wait=1", "/text?version=2", "/export/json?version=3"} {
		if r := env.get("/api/v1/docs/" + id + path); r.status != http.StatusConflict || r.errCode() != "version_too_old" {
			t.Errorf("%s: %d %s, want 409 version_too_old", path, r.status, r.body)
		}
	}
	// Without since, a poll reads from the new document's first version
	// (docs/api.md), not from 0, a version of the deleted one.
	for _, path := range []string{"/ops?since=4", "/ops", "/ops?wait=1"} {
		r = env.get("/api/v1/docs/" + id + path)
		var ops opsResponse
		r.json(t, &ops)
		if r.status != http.StatusOK || ops.Version != 5 || len(ops.Ops) != 1 || ops.Ops[0].Version != 5 {
			t.Errorf("%s: %d %s, want the op that made version 5", path, r.status, r.body)
		}
	}
	var e Export
	r = env.get("/api/v1/docs/" + id + "/export/json?history=1")
	r.json(t, &e)
	if e.Base != 4 || e.Version != 5 || e.Text != "new!" || len(e.History) != 1 || e.History[0].Version != 5 {
		t.Errorf("export with history: %s", r.body)
	}
}

// TestLongPollDuringDeleteIsNotFound: a long-poll or SSE stream that
// starts while its document is being deleted (ops still committing) answers
// what docs/api.md lists for them, 200 or not_found, never deleted (410).
func TestLongPollDuringDeleteIsNotFound(t *testing.T) {
	e := newEnv(t, nil)
	for round := range 20 {
		id := e.create("d"+itoa(uint64(round)), "")
		var wg sync.WaitGroup
		var mu sync.Mutex
		var polls []response
		for range 10 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				e.send("POST", "/api/v1/docs/"+id+"/ops", `{"version":0,"op":["x"]}`)
			}()
			go func() {
				defer wg.Done()
				r := e.get("/api/v1/docs/" + id + "/ops?since=0&wait=5")
				mu.Lock()
				polls = append(polls, r)
				mu.Unlock()
			}()
		}
		for range 5 { // An SSE stream starting then: the same codes before it starts.
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.get("/api/v1/docs/" + id + "/events?since=0")
				mu.Lock()
				polls = append(polls, r)
				mu.Unlock()
			}()
		}
		e.send("DELETE", "/api/v1/docs/"+id, "")
		wg.Wait()
		for _, r := range polls {
			if r.status != http.StatusOK && r.errCode() != "not_found" {
				t.Fatalf("round %d: long-poll or stream during delete: %d %s", round, r.status, r.body)
			}
		}
	}
}

// TestLogLevelsOfUnavailable: a client that hangs up mid-request and the
// refusals of a draining server (readiness, new streams and WebSockets) are
// not server errors, so nothing about them is logged at error level; an
// internal error still is, with its detail.
func TestLogLevelsOfUnavailable(t *testing.T) {
	var logs syncBuffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)
	e := newEnvWith(t, func(o *collab.Options) { o.Logger = log }, func(o *Options) { o.Logger = log })
	e.create("d", "abc")
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for _, path := range []string{"/api/v1/docs/d", "/api/v1/docs/d/text", "/api/v1/docs", "/api/v1/docs/d/export/txt"} {
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost"+path, nil).WithContext(gone))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s with the client gone: %d %s", path, rec.Code, rec.Body)
		}
	}
	e.srv.Drain()
	for _, path := range []string{"/readyz", "/api/v1/docs/d/events", "/api/v1/docs/d/ws"} {
		if r := e.get(path); r.status != http.StatusServiceUnavailable {
			t.Errorf("%s while draining: %d %s", path, r.status, r.body)
		}
	}
	if out := logs.String(); strings.Contains(out, `"level":"error"`) {
		t.Errorf("error-level lines for a client that left or a draining server:\n%s", out)
	}

	logs = syncBuffer{}
	srv := New(Options{Store: brokenStore{}, Logger: log})
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost/api/v1/docs/d", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("broken store: %d %s", rec.Code, rec.Body)
	}
	if out := logs.String(); !strings.Contains(out, `"level":"error"`) || !strings.Contains(out, "database not open") {
		t.Errorf("internal error not logged at error level with its detail:\n%s", out)
	}
}

// TestRESTRefusedOpsCounted: folio_ops_rejected_total counts a REST op that
// is refused, by the code its client got, whether its body does not decode
// (bad JSON, a malformed op, a missing field) or its op does not fit the
// text, as the WebSocket path counts its op frames.
func TestRESTRefusedOpsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(o *collab.Options) { o.Metrics = collab.NewMetrics(reg) },
		func(o *Options) { o.Registry = reg })
	e.create("d", "abc")
	for _, body := range []string{`{"version":0,"op":[0,"x"]}`, `{"version":0,"op":"x"}`, `not json`,
		`{"version":0}`, `{"version":0,"op":[9,"x"]}`} {
		if r := e.send("POST", "/api/v1/docs/d/ops", body); r.errCode() != "invalid_op" {
			t.Fatalf("%s: %d %s", body, r.status, r.body)
		}
	}
	// Refused before the body is read: a bad Idempotency-Key, a body over the limit.
	if r := e.send("POST", "/api/v1/docs/d/ops", `{"version":0,"op":["x"]}`, "Idempotency-Key", ""); r.errCode() != "invalid_message" {
		t.Fatalf("empty Idempotency-Key: %d %s", r.status, r.body)
	}
	if r := e.send("POST", "/api/v1/docs/d/ops", `{"version":0,"op":["`+strings.Repeat("x", int(DefaultMaxBodyBytes))+`"]}`); r.errCode() != "too_large" {
		t.Fatalf("body over the limit: %d %.200s", r.status, r.body)
	}
	r := e.get("/metrics")
	for _, want := range []string{`folio_ops_rejected_total{reason="invalid_op"} 5`,
		`folio_ops_rejected_total{reason="invalid_message"} 1`, `folio_ops_rejected_total{reason="too_large"} 1`} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("want %s in:\n%s", want, grepLines(string(r.body), "folio_ops_rejected_total"))
		}
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestRESTForbiddenAndRateLimitedOpsCounted: a REST op refused for its
// token or its address's rate counts in folio_ops_rejected_total under the
// code its client got, as a view session's or a flooding session's op frame
// does; an op the hub refuses is counted once, by the hub; a refused create
// is no op.
func TestRESTForbiddenAndRateLimitedOpsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(o *collab.Options) { o.Metrics = collab.NewMetrics(reg) }, func(o *Options) {
		o.Registry, o.Authorize = reg, fakeAuthorize
		o.RateLimits = RateLimits{Writes: Limit{PerSecond: 0.001, Burst: 4}}
	})
	if _, err := e.hub.Create(context.Background(), "d", "abc"); err != nil {
		t.Fatal(err)
	}
	const ops = "/api/v1/docs/d/ops"
	for _, c := range []struct {
		token, body, code string
	}{
		{"view-d", `{"version":0,"op":["x"]}`, "forbidden"},
		{"", `{"version":0,"op":["x"]}`, "forbidden"},
		{"edit-d", `{"version":0,"op":[9,"x"]}`, "invalid_op"}, // Refused by the hub.
		{"edit-d", `{"version":0,"op":["x"]}`, ""},
		{"edit-d", `{"version":1,"op":["y"]}`, "rate_limited"}, // The burst of 4 is spent.
	} {
		if r := e.send("POST", ops, c.body, "Authorization", "Bearer "+c.token); r.errCode() != c.code {
			t.Fatalf("%q %s: %d %s, want %q", c.token, c.body, r.status, r.body, c.code)
		}
	}
	if r := e.send("POST", "/api/v1/docs", `{}`, "Authorization", "Bearer admin"); r.errCode() != "rate_limited" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	body := string(e.get("/metrics").body)
	for _, want := range []string{`folio_ops_rejected_total{reason="forbidden"} 2`,
		`folio_ops_rejected_total{reason="invalid_op"} 1`, `folio_ops_rejected_total{reason="rate_limited"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("want %s in:\n%s", want, grepLines(body, "folio_ops_rejected_total"))
		}
	}
}

// TestSSEHeadIsNotAStream: a HEAD of the events URL (a link checker, an
// uptime monitor) gets the stream's headers and ends: it holds no
// subscription, and its keep-alive connection serves the next request.
func TestSSEHeadIsNotAStream(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	tr := &http.Transport{MaxConnsPerHost: 1} // The GET below reuses the HEAD's connection.
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := client.Head(e.url + "/api/v1/docs/d/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" ||
		resp.Header.Get("X-Accel-Buffering") != "no" || resp.Header.Get("Cache-Control") != "no-cache, no-transform" {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = client.Get(e.url + "/api/v1/docs/d")
	if err != nil {
		t.Fatalf("a request after the HEAD, on its connection: %v", err)
	}
	resp.Body.Close()
	if g := testutilGauge(e, "folio_sse_clients"); g != 0 {
		t.Errorf("folio_sse_clients = %v after a HEAD", g)
	}
	if r, err := client.Head(e.url + "/api/v1/docs/missing/events"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD of a missing document's events: %v %v", r, err)
	}
}

// TestHeadLongPollDoesNotWait: a HEAD of a long-poll (a link checker, a
// monitor) is answered at once, as a HEAD of a stream is: there is no body
// to wait for. The client's own timeout fails the test otherwise.
func TestHeadLongPollDoesNotWait(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Head(e.url + "/api/v1/docs/d/ops?since=0&wait=60")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD of a long-poll: %d", resp.StatusCode)
	}
}
