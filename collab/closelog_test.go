package collab

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/storage"
)

// lockedBuffer is a log destination that tests read while sessions write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestCloseLoggedWithItsCode: each connection's end is logged once, with the
// close code the connection really ended with: the server's when it closed
// it, the client's when the client did (1001 from a closing tab), and 1006
// when the connection dropped without a close frame, so that operators can
// tell a network loss from a clean close.
func TestCloseLoggedWithItsCode(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	hub := NewHub(db, Options{Logger: zerolog.New(&logs)})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, wire, err := Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		hub.ServeConn(c, strings.TrimPrefix(r.URL.Path, "/"), Peer{Addr: r.RemoteAddr, Wire: wire})
	}))
	defer func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"

	cases := []struct {
		doc   string
		end   func(c *testClient)
		proto []string
		want  int
	}{
		{"client-normal", func(c *testClient) { _ = c.conn.Close(websocket.StatusNormalClosure, "") }, nil, 1000},
		{"client-going-away", func(c *testClient) { _ = c.conn.Close(websocket.StatusGoingAway, "tab closed") }, nil, 1001},
		{"dropped", func(c *testClient) { _ = c.conn.CloseNow() }, nil, 1006},
		{"server-refused", func(c *testClient) { c.closed() }, []string{"other"}, 4000},
	}
	for _, tc := range cases {
		proto := tc.proto
		if proto == nil {
			proto = []string{Subprotocol}
		}
		c := dialProto(t, url+tc.doc, proto)
		if tc.want != 4000 {
			c.hello(ClientMsg{Type: TypeHello})
		}
		tc.end(c)
	}
	type line struct {
		Doc     string `json:"doc"`
		Close   int    `json:"close"`
		Message string `json:"message"`
	}
	var closes map[string][]int
	eventually(t, "every close logged", func() bool {
		closes = map[string][]int{}
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var ln line
			if json.Unmarshal([]byte(l), &ln) == nil && ln.Message == "connection closed" {
				closes[ln.Doc] = append(closes[ln.Doc], ln.Close)
			}
		}
		return len(closes) == len(cases)
	})
	for _, tc := range cases {
		if got := closes[tc.doc]; len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: logged close codes %v, want [%d]", tc.doc, got, tc.want)
		}
	}
}
