package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// editor is a minimal protocol client over a raw WebSocket: one op in
// flight, incoming ops transformed against it (in-flight side Left, incoming
// Right, as the browser editor does). One goroutine drives it.
type editor struct {
	t        *testing.T
	conn     *websocket.Conn
	session  string
	text     string
	version  uint64
	seq      uint64
	inflight ot.Op // nil when nothing is waiting for an ack
	acked    map[uint64]uint64
}

func dialWS(ctx context.Context, e *testEnv, id string, header http.Header) (*websocket.Conn, *http.Response, error) {
	url := "ws" + strings.TrimPrefix(e.url, "http") + "/api/v1/docs/" + id + "/ws"
	return websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{collab.Subprotocol}, HTTPHeader: header})
}

func newEditor(t *testing.T, e *testEnv, id string) *editor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := dialWS(ctx, e, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(16 << 20)
	ed := &editor{t: t, conn: conn, acked: map[uint64]uint64{}}
	t.Cleanup(func() { conn.CloseNow() })
	ed.write(ctx, collab.ClientMsg{Type: collab.TypeHello, User: &collab.User{Name: "ed", Color: "#336699"}})
	for {
		typ, raw, err := ed.read(ctx)
		if err != nil {
			t.Fatalf("waiting for welcome: %v", err)
		}
		if typ == collab.TypeWelcome {
			var w collab.Welcome
			if err := json.Unmarshal(raw, &w); err != nil || w.Text == nil {
				t.Fatalf("welcome %s: %v", raw, err)
			}
			ed.session, ed.text, ed.version = w.Session, *w.Text, w.Version
			return ed
		}
	}
}

func (ed *editor) write(ctx context.Context, m collab.ClientMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		ed.t.Fatal(err)
	}
	return ed.conn.Write(ctx, websocket.MessageText, b)
}

func (ed *editor) read(ctx context.Context) (string, []byte, error) {
	_, raw, err := ed.conn.Read(ctx)
	if err != nil {
		return "", nil, err
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		ed.t.Fatalf("bad server message %s", raw)
	}
	return head.Type, raw, nil
}

// handle applies one server message to the editor's state.
func (ed *editor) handle(typ string, raw []byte) error {
	switch typ {
	case collab.TypeAck:
		var a collab.Ack
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		ed.acked[a.Seq] = a.Version
		ed.inflight, ed.version = nil, a.Version
	case collab.TypeOp:
		var m collab.OpMsg
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		op := m.Op
		if ed.inflight != nil {
			op = ot.Transform(m.Op, ed.inflight, ot.Right)
			ed.inflight = ot.Transform(ed.inflight, m.Op, ot.Left)
		}
		text, err := ot.Apply(ed.text, op)
		if err != nil {
			return fmt.Errorf("apply remote op v%d: %w", m.Version, err)
		}
		ed.text, ed.version = text, m.Version
	case collab.TypeError:
		return serverError(raw)
	}
	return nil
}

// serverError is an error message from the server (the op was refused).
type serverError []byte

func (e serverError) Error() string { return "server error: " + string(e) }

// edit inserts s at a random place and sends it; only when nothing is in flight.
func (ed *editor) edit(ctx context.Context, rng *rand.Rand, s string) error {
	n := utf8.RuneCountInString(ed.text)
	pos := rng.IntN(n + 1)
	op := ot.Op{}
	if pos > 0 {
		op = append(op, ot.Component{Skip: pos})
	}
	op = append(op, ot.Component{Insert: s})
	text, err := ot.Apply(ed.text, op)
	if err != nil {
		return err
	}
	ed.seq++
	v := ed.version
	if err := ed.write(ctx, collab.ClientMsg{Type: collab.TypeOp, Seq: ed.seq, Version: &v, Op: op}); err != nil {
		return err
	}
	ed.text, ed.inflight = text, op
	return nil
}

// settle reads until nothing is in flight.
func (ed *editor) settle(ctx context.Context) error {
	for ed.inflight != nil {
		typ, raw, err := ed.read(ctx)
		if err != nil {
			return err
		}
		if err := ed.handle(typ, raw); err != nil {
			return err
		}
	}
	return nil
}

// catchUp reads until the editor has seen version v.
func (ed *editor) catchUp(ctx context.Context, v uint64) error {
	for ed.version < v || ed.inflight != nil {
		typ, raw, err := ed.read(ctx)
		if err != nil {
			return err
		}
		if err := ed.handle(typ, raw); err != nil {
			return err
		}
	}
	return nil
}

// TestPutTextWhileEditing replaces the whole text over REST while an editor
// types: the PUT goes through OT as a diff, so both end with the same text.
// Each PUT is conditional on the version its text came from (If-Match), so
// it never removes an editor's insertion: all of them must be there.
func TestPutTextWhileEditing(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "the quick brown fox")
	ed := newEditor(t, e, "d")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 15; i++ {
			for attempt := 0; ; attempt++ {
				if attempt == 200 {
					t.Errorf("put %d: too many precondition failures", i)
					return
				}
				cur := e.get("/api/v1/docs/d/text")
				next := strings.Replace(string(cur.body), "quick", "slow", 1)
				if next == string(cur.body) {
					next = strings.Replace(next, "slow", "quick", 1)
				}
				next += fmt.Sprintf(" r%d", i)
				r := e.send("PUT", "/api/v1/docs/d/text", next, "If-Match", cur.header.Get("ETag"))
				if r.status == http.StatusOK {
					break
				}
				if r.status != http.StatusPreconditionFailed {
					t.Errorf("put: %d %s", r.status, r.body)
					return
				}
			}
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 30; i++ {
		if err := ed.edit(ctx, rng, fmt.Sprintf("<e%d🎉>", i)); err != nil {
			t.Fatal(err)
		}
		if err := ed.settle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	var d docResponse
	e.get("/api/v1/docs/d").json(t, &d)
	if err := ed.catchUp(ctx, d.Version); err != nil {
		t.Fatal(err)
	}
	server := e.text("d")
	if ed.text != server {
		t.Fatalf("diverged:\neditor %q\nserver %q", ed.text, server)
	}
	// Insertions may land inside earlier ones, so count their markers.
	if n := strings.Count(server, "🎉"); n != 30 {
		t.Errorf("%d of 30 editor insertions in %q", n, server)
	}
}

func TestWebSocketOrigins(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowedOrigins = []string{"app.example.com"} })
	e.create("d", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := dialWS(ctx, e, "d", http.Header{"Origin": {"http://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: %v %v", err, resp)
	}
	for _, origin := range []string{"", e.url, "https://app.example.com"} {
		conn, _, err := dialWS(ctx, e, "d", http.Header{"Origin": {origin}})
		if err != nil {
			t.Errorf("origin %q refused: %v", origin, err)
			continue
		}
		conn.Close(websocket.StatusNormalClosure, "")
	}
	// Without the subprotocol: an invalid_message error, then close 4000,
	// as docs/protocol.md says.
	url := "ws" + strings.TrimPrefix(e.url, "http") + "/api/v1/docs/d/ws"
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, msg, err := conn.Read(ctx)
	if err != nil || !strings.Contains(string(msg), `"code":"invalid_message"`) || !strings.Contains(string(msg), "subprotocol") {
		t.Errorf("no subprotocol: first message %s, %v", msg, err)
	}
	_, _, err = conn.Read(ctx)
	if websocket.CloseStatus(err) != 4000 {
		t.Errorf("no subprotocol: close %v, want 4000", err)
	}
}

func TestDeleteClosesEditors(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "x")
	ed := newEditor(t, e, "d")
	if r := e.do("DELETE", "/api/v1/docs/d", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete %d %s", r.status, r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := ed.read(ctx)
		if err != nil {
			if got := websocket.CloseStatus(err); got != collab.CloseDeleted {
				t.Errorf("close status %d (%v), want %d", got, err, collab.CloseDeleted)
			}
			return
		}
	}
}

// TestShutdownLosesNoAckedOp runs editors that type until the server shuts
// down in cmd's order (drain, stop HTTP, close the hub, close the store),
// then reopens the store: every acknowledged op is there, with its version.
func TestShutdownLosesNoAckedOp(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	const n = 3
	eds := make([]*editor, n)
	for i := range eds {
		eds[i] = newEditor(t, e, "d")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	closes := map[websocket.StatusCode]int{}
	for i, ed := range eds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for {
				err := ed.edit(ctx, rng, fmt.Sprintf("%c", 'a'+i))
				if err == nil {
					err = ed.settle(ctx)
				}
				if err != nil {
					// A refused op (unavailable while shutting down) or a
					// write that lost the race with the close: the close
					// frame is still to be read.
					for websocket.CloseStatus(err) == -1 && ctx.Err() == nil {
						_, _, err = ed.conn.Read(ctx)
					}
					code := websocket.CloseStatus(err)
					mu.Lock()
					closes[code]++
					mu.Unlock()
					return
				}
			}
		}()
	}
	eventually(t, "some acknowledged ops", func() bool {
		m, err := e.db.Meta(ctx, "d")
		return err == nil && m.Version >= 15
	})
	e.close()
	wg.Wait()
	if closes[websocket.StatusGoingAway] != n {
		t.Errorf("close codes %v, want %d × 1001", closes, n)
	}

	db, err := storage.Open(e.path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	meta, err := db.Meta(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := db.Ops(ctx, "d", 0, meta.Version)
	if err != nil {
		t.Fatal(err)
	}
	bySession := map[string]map[uint64]uint64{}
	for _, r := range recs {
		if bySession[r.Session] == nil {
			bySession[r.Session] = map[uint64]uint64{}
		}
		bySession[r.Session][r.Seq] = r.Version
	}
	total := 0
	for _, ed := range eds {
		for seq, v := range ed.acked {
			total++
			if got, ok := bySession[ed.session][seq]; !ok || got != v {
				t.Errorf("session %s seq %d acked as v%d, stored as v%d (present %v)", ed.session, seq, v, got, ok)
			}
		}
	}
	if total == 0 || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("acked %d ops (ctx %v)", total, ctx.Err())
	}
}
