package collab

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/foliodocs/folio/storage"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is a hub on a real bbolt file behind an httptest server that
// serves documents at /ws/{id}.
type testServer struct {
	hub  *Hub
	db   *storage.DB
	url  string
	peer Peer
	// noWire serves the next connections without a Wire (coder/websocket
	// writes every message).
	noWire bool
	// accepted, when set, runs after the upgrade (the 101 is sent) and
	// before the hub takes the connection.
	accepted func()
}

func newTestServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return newTestServerStore(t, db, db, opts)
}

// newTestServerStore serves store; db (may be nil) is closed at the end.
func newTestServerStore(t *testing.T, store Store, db *storage.DB, opts Options) *testServer {
	t.Helper()
	opts.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	ts := &testServer{hub: NewHub(store, opts), db: db}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, wire, err := Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		if ts.noWire {
			wire = nil
		}
		if ts.accepted != nil {
			ts.accepted()
		}
		ts.hub.ServeConn(c, r.PathValue("id"), Peer{Addr: r.RemoteAddr, Authorize: ts.peer.Authorize, Wire: wire})
	})
	srv := httptest.NewServer(mux)
	ts.url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/"
	t.Cleanup(func() {
		if db != nil {
			if err := db.Close(); err != nil {
				t.Error(err)
			}
		}
	})
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := ts.hub.Close(ctx); err != nil {
			t.Errorf("hub close: %v", err)
		}
	})
	return ts
}

// testClient is a raw WebSocket client that collects every frame it receives.
type testClient struct {
	t    *testing.T
	conn *websocket.Conn
	msgs chan []byte
	done chan struct{}
	err  error // Set before done closes.

	stall   sync.Mutex // Held while the reader must not read.
	stalled atomic.Bool
}

func dialTest(t *testing.T, url string) *testClient {
	t.Helper()
	return dialProto(t, url, []string{Subprotocol})
}

func dialProto(t *testing.T, url string, protos []string) *testClient {
	t.Helper()
	return dialWith(t, url, &websocket.DialOptions{Subprotocols: protos})
}

func dialWith(t *testing.T, url string, opts *websocket.DialOptions) *testClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(-1)
	tc := &testClient{t: t, conn: c, msgs: make(chan []byte, 100000), done: make(chan struct{})}
	go func() {
		defer close(tc.done)
		for {
			tc.stall.Lock()
			tc.stall.Unlock()
			_, b, err := c.Read(context.Background())
			if err != nil {
				tc.err = err
				return
			}
			tc.msgs <- b
		}
	}()
	t.Cleanup(tc.close)
	return tc
}

// stopReading makes the client stop reading frames, like a frozen tab: its
// socket buffers fill and the server's writes block.
func (c *testClient) stopReading() {
	c.stall.Lock()
	c.stalled.Store(true)
}

func (c *testClient) resumeReading() {
	if c.stalled.Swap(false) {
		c.stall.Unlock()
	}
}

func (c *testClient) close() {
	_ = c.conn.CloseNow()
	if c.stalled.Swap(false) {
		c.stall.Unlock()
	}
	_ = c.conn.CloseNow()
	<-c.done
}

func (c *testClient) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *testClient) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

// next returns the next frame, failing after a few seconds.
func (c *testClient) next() []byte {
	c.t.Helper()
	select {
	case b := <-c.msgs:
		return b
	case <-time.After(5 * time.Second):
		c.t.Fatal("no message within 5s")
		return nil
	}
}

// expect returns the next frame of type typ, skipping presence and leave
// frames (which interleave with everything), and fails on any other type.
func (c *testClient) expect(typ string) []byte {
	c.t.Helper()
	for {
		b := c.next()
		got := msgType(b)
		if got == typ {
			return b
		}
		if got == TypePresence || got == TypeLeave {
			continue
		}
		c.t.Fatalf("want %s, got %s", typ, b)
	}
}

// expectExactly returns the next frame and fails unless it has type typ.
func (c *testClient) expectExactly(typ string) []byte {
	c.t.Helper()
	b := c.next()
	if got := msgType(b); got != typ {
		c.t.Fatalf("want %s, got %s", typ, b)
	}
	return b
}

func (c *testClient) expectInto(typ string, v any) {
	c.t.Helper()
	if err := json.Unmarshal(c.expect(typ), v); err != nil {
		c.t.Fatal(err)
	}
}

func (c *testClient) expectError(code Code) ErrorMsg {
	c.t.Helper()
	var e ErrorMsg
	c.expectInto(TypeError, &e)
	if e.Code != code {
		c.t.Fatalf("want error %s, got %+v", code, e)
	}
	return e
}

// closed waits for the connection to end and returns the close code the
// server sent (-1 when none).
func (c *testClient) closed() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.done:
		return websocket.CloseStatus(c.err)
	case <-time.After(15 * time.Second):
		c.t.Fatal("connection not closed within 15s")
		return 0
	}
}

// hello sends hello and returns the welcome. Without Key or Session it
// draws a key, as the browser editor and the Go client do.
func (c *testClient) hello(h ClientMsg) Welcome {
	c.t.Helper()
	h.Type = TypeHello
	if h.Key == "" && h.Session == "" {
		h.Key = NewKey()
	}
	c.send(h)
	var w Welcome
	c.expectInto(TypeWelcome, &w)
	return w
}

func msgType(b []byte) string {
	var m struct{ Type string }
	_ = json.Unmarshal(b, &m)
	return m.Type
}

func u64(v uint64) *uint64 { return &v }

// eventually polls cond until it holds or fails the test after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// opJSON is an op message as a client writes it.
func opJSON(seq, version uint64, op string) string {
	b, _ := json.Marshal(map[string]any{"type": "op", "seq": seq, "version": version, "op": json.RawMessage(op)})
	return string(b)
}

// textOf reads the document's head text from storage.
func textOf(t *testing.T, db *storage.DB, id string) (string, uint64) {
	t.Helper()
	m, err := db.Meta(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	text, err := db.TextAt(context.Background(), id, m.Version)
	if err != nil {
		t.Fatal(err)
	}
	return text, m.Version
}
