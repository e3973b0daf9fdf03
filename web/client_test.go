package web

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/foliodocs/folio/collab/client"
)

// TestPutTextConvergesWithClients has two Go clients type without waiting
// for acknowledgements (ops buffered and composed) while unconditional PUTs
// replace the text: at the end both clients and the server hold one text.
func TestPutTextConvergesWithClients(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "hello wide world")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.url, "http") + "/api/v1/docs/d/ws"
	clients := make([]*client.Client, 2)
	for i := range clients {
		c, err := client.Dial(ctx, url, client.Options{Name: fmt.Sprintf("c%d", i), Color: "#aa0000"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 10; i++ {
			cur := e.text("d")
			next := strings.Replace(cur, "wide", "narrow", 1)
			if next == cur {
				next = strings.Replace(cur, "narrow", "wide", 1)
			}
			if r := e.send("PUT", "/api/v1/docs/d/text", next+fmt.Sprintf(" p%d", i)); r.status != 200 {
				t.Errorf("put: %d %s", r.status, r.body)
				return
			}
		}
	}()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 40; i++ {
		c := clients[i%2]
		pos := rng.IntN(utf8.RuneCountInString(c.Text()) + 1)
		if err := c.Insert(pos, fmt.Sprintf("[%d🎉]", i)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for _, c := range clients {
		if err := c.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var server string
	eventually(t, "clients and server to converge", func() bool {
		var d docResponse
		e.get("/api/v1/docs/d").json(t, &d)
		server = e.text("d")
		for _, c := range clients {
			if c.Version() != d.Version || c.Text() != server {
				return false
			}
		}
		return true
	})
	if utf8.RuneCountInString(server) < len("hello wide world") {
		t.Errorf("text shrank: %q", server)
	}
}
