package collab

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestPongBehindBusyRoom: a client that keeps sending, whose message waits
// for a busy room, is not dropped for a pong that sits unread behind that
// message: the reader is late, not the client. Once the room is free the
// reader reads on, and the session goes on. The room is held by a request
// that waits for the test; the ping is the session's own, started by the
// test once the reader waits for the room.
func TestPongBehindBusyRoom(t *testing.T) {
	ts := newTestServer(t, Options{PingInterval: time.Hour, PongTimeout: 100 * time.Millisecond})
	c := dialTest(t, ts.url+"busy")
	c.hello(ClientMsg{})
	r := ts.hub.lookupRoom("busy")
	var s *session
	if err := r.do(context.Background(), func() {
		for x := range r.sessions {
			s = x
		}
	}); err != nil || s == nil {
		t.Fatalf("the session: %v", err)
	}

	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	if err := r.post(context.Background(), func() { <-release }); err != nil {
		t.Fatal(err)
	}
	turn := s.readTurn.Load()
	c.sendRaw(`{"type":"presence","version":0,"cursor":{"anchor":0,"head":0}}`)
	eventually(t, "the reader to wait for the room", func() bool {
		n := s.readTurn.Load()
		return n%2 == 0 && n > turn
	})

	s.pinging.Store(true)
	s.wg.Add(1)
	s.ping() // Its pong comes after the presence, which waits for the room.
	select {
	case <-s.kicked:
		t.Fatalf("dropped (%v) while its pong waited behind a busy room", s.closeErr)
	default:
	}
	free()
	c.sendRaw(`{"type":"ping"}`)
	c.expect(TypePong)
}
