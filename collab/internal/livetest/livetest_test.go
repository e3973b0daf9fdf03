package livetest

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/foliodocs/folio/collab/client"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRestart: a client's edit through the jittered network is in the store,
// and after a stop and a start the server has the same address and the
// same data.
func TestRestart(t *testing.T) {
	s := New(t, Options{NoSync: true, MaxDelay: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.URL("d"), client.Options{HTTPClient: s.HTTPClient(),
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := c.Insert(0, "héllo 🎉"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	s.Stop()
	s.Stop() // A second Stop does nothing.
	if s.Running() || s.DB() != nil {
		t.Fatal("running after Stop")
	}
	s.Start()
	if !s.Running() || s.Addr() != addr {
		t.Fatalf("restarted at %s (running %v), was at %s", s.Addr(), s.Running(), addr)
	}
	if text, v := s.Text("d"); text != "héllo 🎉" || v != 1 {
		t.Fatalf("text %q at %d after the restart", text, v)
	}
}
