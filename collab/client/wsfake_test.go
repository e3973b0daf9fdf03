package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

// wsFake serves the fakeServer over real WebSockets so that the transport
// (dial, handshake, writer, reconnect, close) is tested without the collab
// package's hub. Every rateLimit-th op is refused with rate_limited.
type wsFake struct {
	t         *testing.T
	srv       *httptest.Server
	rateLimit int
	wg        sync.WaitGroup // Handlers and their writers.

	mu       sync.Mutex
	f        *fakeServer
	conns    map[*fakeConn]bool
	presence map[string]collab.Presence
	ops      int
	refuse   collab.Code // Non-empty: answer hello with this error.
	httpCode int         // Non-zero: refuse the upgrade with this HTTP status (and the API's error body).
	after    string      // With httpCode: its Retry-After header.
	refused  int
	refusals []time.Time   // When each refusal was made.
	stall    chan struct{} // Non-nil: after welcome, stop reading until closed.
	limit    int64         // Non-zero: the read limit (a larger message closes with 1009); set before dialling.
}

type fakeConn struct {
	ws      *websocket.Conn
	session string
	out     chan any
}

func newWSFake(t *testing.T, text string, rateLimit int) *wsFake {
	s := &wsFake{t: t, f: newFakeServer(t, text), rateLimit: rateLimit,
		conns: map[*fakeConn]bool{}, presence: map[string]collab.Presence{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.close)
	return s
}

func (s *wsFake) url() string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/api/v1/docs/d/ws"
}

func (s *wsFake) close() {
	s.srv.Close()
	s.mu.Lock()
	if s.stall != nil {
		close(s.stall)
		s.stall = nil
	}
	for c := range s.conns {
		c.ws.CloseNow()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// closeAll closes every connection from the server side with code.
func (s *wsFake) closeAll(code websocket.StatusCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		go c.ws.Close(code, "closed by the test")
	}
}

// dropAll cuts every connection from the server side.
func (s *wsFake) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.ws.CloseNow()
	}
}

func (s *wsFake) text() (string, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.text, s.f.version()
}

func (s *wsFake) serve(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1)
	defer s.wg.Done()
	s.mu.Lock()
	status, after := s.httpCode, s.after
	if status != 0 {
		s.refused++
		s.refusals = append(s.refusals, time.Now())
	}
	s.mu.Unlock()
	if status != 0 {
		code := map[int]collab.Code{403: collab.CodeForbidden, 400: collab.CodeInvalidID, 503: collab.CodeUnavailable,
			500: collab.CodeInternal, 429: collab.CodeRateLimited}[status]
		if after != "" {
			w.Header().Set("Retry-After", after)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%q,"message":"refused by the test"}}`, code)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{collab.Subprotocol}})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	if s.limit > 0 {
		ws.SetReadLimit(s.limit)
	}
	ctx := context.Background()
	var hello collab.ClientMsg
	if _, b, err := ws.Read(ctx); err != nil || json.Unmarshal(b, &hello) != nil {
		return
	}
	c := &fakeConn{ws: ws, out: make(chan any, 4096)}
	s.mu.Lock()
	if s.refuse != "" {
		s.refused++
		s.refusals = append(s.refusals, time.Now())
		b, _ := json.Marshal(collab.ErrorMsg{Type: collab.TypeError, Code: s.refuse, Message: "no"})
		s.mu.Unlock()
		ws.Write(ctx, websocket.MessageText, b)
		ws.Close(websocket.StatusPolicyViolation, "refused")
		return
	}
	w0 := s.f.welcome(hello, false)
	c.session = w0.Session
	for id, p := range s.presence {
		if id != c.session {
			w0.Peers = append(w0.Peers, p)
		}
	}
	s.conns[c] = true
	c.out <- w0
	stall := s.stall
	s.mu.Unlock()
	s.wg.Add(1)
	go s.write(c)
	defer s.gone(c)
	if stall != nil {
		<-stall // Not reading: pings go unanswered.
		return
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return
		}
		var m collab.ClientMsg
		if err := json.Unmarshal(b, &m); err != nil {
			s.t.Errorf("fake server: bad message %s: %v", b, err)
			return
		}
		s.recv(c, m)
	}
}

func (s *wsFake) write(c *fakeConn) {
	defer s.wg.Done()
	for m := range c.out {
		b, _ := json.Marshal(m)
		if c.ws.Write(context.Background(), websocket.MessageText, b) != nil {
			c.ws.CloseNow()
			for range c.out {
			}
			return
		}
	}
}

func (s *wsFake) gone(c *fakeConn) {
	s.mu.Lock()
	delete(s.conns, c)
	delete(s.presence, c.session)
	s.broadcastLocked(c, collab.Leave{Type: collab.TypeLeave, Session: c.session})
	close(c.out)
	s.mu.Unlock()
}

func (s *wsFake) broadcastLocked(from *fakeConn, m any) {
	for o := range s.conns {
		if o != from {
			o.out <- m
		}
	}
}

func (s *wsFake) recv(c *fakeConn, m collab.ClientMsg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m.Type {
	case collab.TypeOp:
		s.ops++
		if s.rateLimit > 0 && s.ops%s.rateLimit == 0 {
			c.out <- collab.ErrorMsg{Type: collab.TypeError, Code: collab.CodeRateLimited, Message: "slow down", Seq: m.Seq}
			return
		}
		committed, ack := s.f.submit(c.session, m)
		c.out <- ack
		if committed != nil {
			s.movePresenceLocked(committed.Op)
			s.broadcastLocked(c, *committed)
		}
	case collab.TypePresence:
		p := collab.Presence{Type: collab.TypePresence, Session: c.session, Version: s.f.version()}
		if m.Cursor.Sel != nil {
			sel := *m.Cursor.Sel
			for _, op := range s.f.log[*m.Version:] {
				sel = ot.TransformSelection(sel, op.Op)
			}
			p.Cursor = &sel
		}
		s.presence[c.session] = p
		s.broadcastLocked(c, p)
	case collab.TypePing:
		c.out <- collab.Pong{Type: collab.TypePong}
	}
}

func (s *wsFake) movePresenceLocked(op ot.Op) {
	for id, p := range s.presence {
		if p.Cursor != nil {
			sel := ot.TransformSelection(*p.Cursor, op)
			p.Cursor = &sel
		}
		p.Version = s.f.version()
		s.presence[id] = p
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
