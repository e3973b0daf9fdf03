package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestServeGracefulShutdown runs serve in-process with an editor connected
// and an SSE stream open, then cancels it as SIGTERM does: the editor is
// closed with 1001 after its op was acknowledged, the stream ends, serve
// returns, and the op is in the store.
func TestServeGracefulShutdown(t *testing.T) {
	cfg := defaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t))
	go func() { done <- serve(ctx, cfg, log, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	base := "http://" + addr
	resp, err := http.Post(base+"/api/v1/docs", "application/json", strings.NewReader(`{"id":"d","text":"x"}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %v %v", err, resp)
	}
	resp.Body.Close()

	sse, err := http.Get(base + "/api/v1/docs/d/events")
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Body.Close()

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	conn, _, err := websocket.Dial(dctx, "ws://"+addr+"/api/v1/docs/d/ws", &websocket.DialOptions{Subprotocols: []string{collab.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	writeMsg(t, dctx, conn, collab.ClientMsg{Type: collab.TypeHello})
	readUntil(t, dctx, conn, collab.TypeWelcome)
	v := uint64(0)
	writeMsg(t, dctx, conn, collab.ClientMsg{Type: collab.TypeOp, Seq: 1, Version: &v, Op: ot.Op{{Skip: 1}, {Insert: "y"}}})
	readUntil(t, dctx, conn, collab.TypeAck)

	cancel()
	for {
		if _, _, err := conn.Read(dctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Errorf("editor closed with %v, want 1001", err)
			}
			break
		}
	}
	buf := make([]byte, 4096)
	for {
		if _, err := sse.Body.Read(buf); err != nil {
			break // The stream ended.
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return")
	}
	db, err := storage.Open(filepath.Join(cfg.Data, DBFile), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if text, err := db.TextAt(context.Background(), "d", 1); err != nil || text != "xy" {
		t.Errorf("acknowledged op after shutdown: %q %v", text, err)
	}
}

func writeMsg(t *testing.T, ctx context.Context, conn *websocket.Conn, m collab.ClientMsg) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func readUntil(t *testing.T, ctx context.Context, conn *websocket.Conn, typ string) []byte {
	t.Helper()
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		var head struct{ Type string }
		_ = json.Unmarshal(b, &head)
		if head.Type == typ {
			return b
		}
		if head.Type == collab.TypeError {
			t.Fatalf("waiting for %s: %s", typ, b)
		}
	}
}

// TestOpenAccessWarned: a server without a secret says at start that
// everything is open; one with a secret does not.
func TestOpenAccessWarned(t *testing.T) {
	for _, secret := range []string{"", cliSecret} {
		cfg := defaultConfig()
		cfg.Addr, cfg.Data, cfg.Secret = "127.0.0.1:0", t.TempDir(), secret
		var logs bytes.Buffer
		log := zerolog.New(&logs)
		st, err := build(cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		st.closeHubAndStore(context.Background(), log)
		if warned := strings.Contains(logs.String(), "access control is off"); warned != (secret == "") {
			t.Errorf("secret %q: warned %v:\n%s", secret, warned, logs.String())
		}
	}
}

// TestServeAllowedHosts: the server folio serve builds refuses a rebinding
// Host when open, answers the names of --allowed-hosts and of --addr, and
// any Host once a secret is set (the request then needs a token instead).
func TestServeAllowedHosts(t *testing.T) {
	for _, c := range []struct {
		args       []string
		env        map[string]string
		pass, fail []string
	}{
		{nil, nil, []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080"}, []string{"evil.example:8080", "folio.lan"}},
		{[]string{"--allowed-hosts", "docs.example.com"}, nil, []string{"docs.example.com", "127.0.0.1"}, []string{"evil.example"}},
		{[]string{"--addr", "folio.lan:0"}, nil, []string{"folio.lan:8080"}, []string{"evil.example"}},
		{[]string{"--allowed-hosts", "*"}, nil, []string{"evil.example:8080"}, nil},
		{[]string{"--addr", "folio.lan:0"}, map[string]string{"FOLIO_SECRET": cliSecret}, []string{"evil.example:8080"}, nil},
		{[]string{"--allowed-hosts", "docs.example.com"}, map[string]string{"FOLIO_SECRET": cliSecret}, []string{"docs.example.com"}, []string{"evil.example"}},
	} {
		ts, _ := servedStack(t, c.args, c.env)
		get := func(host string) (int, string) {
			status, b := getWithHost(t, ts.URL+"/metrics", host)
			var body struct{ Error struct{ Code string } }
			_ = json.Unmarshal(b, &body)
			return status, body.Error.Code
		}
		for _, host := range c.pass {
			if status, code := get(host); status != http.StatusOK {
				t.Errorf("%v %v: Host %s: %d %s", c.args, c.env, host, status, code)
			}
		}
		for _, host := range c.fail {
			if status, code := get(host); status != http.StatusForbidden || code != "host_not_allowed" {
				t.Errorf("%v %v: Host %s: %d %s, want 403 host_not_allowed", c.args, c.env, host, status, code)
			}
		}
	}
}

// TestServeCORSOrigins: --cors-origins and FOLIO_CORS_ORIGINS, flag over
// environment, reach the server folio serve builds: a listed origin's
// preflight is answered and its requests carry its
// Access-Control-Allow-Origin; any other origin gets no CORS header. The
// configuration line logs the list. An origin with a Unicode host is
// served, and logged, in the ASCII form browsers send in Origin.
func TestServeCORSOrigins(t *testing.T) {
	const app, other = "https://app.example.com", "https://other.example"
	const idn, puny = "https://bücher.example", "https://xn--bcher-kva.example"
	for _, c := range []struct {
		args    []string
		env     map[string]string
		allowed []string
	}{
		{nil, nil, nil},
		{[]string{"--cors-origins", app}, nil, []string{app}},
		{nil, map[string]string{"FOLIO_CORS_ORIGINS": app + "," + other}, []string{app, other}},
		{[]string{"--cors-origins", other}, map[string]string{"FOLIO_CORS_ORIGINS": app}, []string{other}},
		{[]string{"--allowed-origins", "app.example.com"}, nil, nil},
		{[]string{"--cors-origins", idn}, nil, []string{puny}},
		{nil, map[string]string{"FOLIO_CORS_ORIGINS": app + "," + idn}, []string{app, puny}},
	} {
		var stderr, logs bytes.Buffer
		cfg, err := parseServe(c.args, envMap(c.env), &stderr)
		if err != nil {
			t.Fatal(err)
		}
		cfg.logTo(zerolog.New(&logs))
		var line struct {
			CORSOrigins []string `json:"cors_origins"`
		}
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil || !slices.Equal(line.CORSOrigins, c.allowed) {
			t.Errorf("%v %v: configuration line cors_origins %q, want %q (%v)", c.args, c.env, line.CORSOrigins, c.allowed, err)
		}

		ts, _ := servedStack(t, c.args, c.env)
		for _, origin := range []string{app, other, puny} {
			want := ""
			if slices.Contains(c.allowed, origin) {
				want = origin
			}
			for _, method := range []string{http.MethodOptions, http.MethodGet} {
				req, _ := http.NewRequest(method, ts.URL+"/api/v1/docs", nil)
				req.Header.Set("Origin", origin)
				if method == http.MethodOptions {
					req.Header.Set("Access-Control-Request-Method", http.MethodPost)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want {
					t.Errorf("%v %v: %s from %s: %d, Access-Control-Allow-Origin %q, want %q",
						c.args, c.env, method, origin, resp.StatusCode, got, want)
				}
			}
		}
	}
}

// servedStack is what folio serve builds from args and env (with a data
// directory of the test's), behind an httptest server; the test's cleanup
// closes the server, the hub and the store.
func servedStack(t *testing.T, args []string, env map[string]string) (*httptest.Server, *stack) {
	t.Helper()
	var stderr bytes.Buffer
	cfg, err := parseServe(append(args, "--data", t.TempDir()), envMap(env), &stderr)
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t))
	st, err := build(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(st.http.Handler)
	t.Cleanup(func() {
		ts.Close()
		st.closeHubAndStore(context.Background(), log)
	})
	return ts, st
}

// TestPortInUseCreatesNothing: a server that cannot listen fails before it
// creates its data directory or database file, so a mistaken start leaves
// nothing behind to confuse the next one.
func TestPortInUseCreatesNothing(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, pprof := range []bool{false, true} {
		cfg := defaultConfig()
		cfg.Addr, cfg.Data = "127.0.0.1:0", filepath.Join(t.TempDir(), "data")
		if pprof {
			cfg.PprofAddr = taken.Addr().String()
		} else {
			cfg.Addr = taken.Addr().String()
		}
		err := serve(context.Background(), cfg, zerolog.New(zerolog.NewTestWriter(t)), nil)
		if err == nil || !strings.Contains(err.Error(), "listen") {
			t.Fatalf("pprof %v: serve on a taken port: %v", pprof, err)
		}
		if _, err := os.Stat(cfg.Data); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pprof %v: the data directory was created (%v)", pprof, err)
		}
	}
}

// TestDrainDelayKeepsAnswering: with --drain-delay a shutdown keeps the port
// open with /readyz at 503 (what a load balancer needs to see to stop sending
// traffic) instead of refusing connections at once.
func TestDrainDelayKeepsAnswering(t *testing.T) {
	cfg := defaultConfig()
	cfg.Addr, cfg.Data, cfg.DrainDelay = "127.0.0.1:0", t.TempDir(), 2*time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t)), ready) }()
	base := "http://" + <-ready
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	readyz := func() (int, error) {
		resp, err := hc.Get(base + "/readyz")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if st, err := readyz(); st != http.StatusOK {
		t.Fatalf("readyz before the shutdown: %d %v", st, err)
	}
	cancel()
	for {
		st, err := readyz()
		if err != nil {
			t.Fatalf("readyz refused before it answered 503: %v", err)
		}
		if st == http.StatusServiceUnavailable {
			break
		}
	}
	for i := range 5 { // Still listening: each new connection is answered.
		if st, err := readyz(); st != http.StatusServiceUnavailable {
			t.Fatalf("readyz %d during the drain delay: %d %v", i, st, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := readyz(); err == nil {
		t.Fatal("still answering after the shutdown")
	}
}

// TestServeMaxWait: --max-wait shortens the long-poll wait a client asks
// for, so that it stays below the read timeout of a proxy in front; a
// longer ask is not refused (clients written for another maximum go on).
func TestServeMaxWait(t *testing.T) {
	ts, st := servedStack(t, []string{"--max-wait", "1s"}, nil)
	if _, err := st.hub.Create(context.Background(), "d", "x"); err != nil {
		t.Fatal(err)
	}
	// Asked for 30 s, answered at the 1 s maximum: the client's own
	// timeout (10 s) fails the test otherwise.
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(ts.URL + "/api/v1/docs/d/ops?since=0&wait=30")
	if err != nil {
		t.Fatalf("wait=30 past --max-wait 1s: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Version uint64
		Ops     []json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || len(body.Ops) != 0 {
		t.Fatalf("wait=30: %d %+v %v", resp.StatusCode, body, err)
	}
}

// TestServeBasePath: FOLIO_BASE_PATH reaches the server: a created
// document's URLs name the proxy's prefix.
func TestServeBasePath(t *testing.T) {
	ts, _ := servedStack(t, nil, map[string]string{"FOLIO_BASE_PATH": "/folio"})
	resp, err := http.Post(ts.URL+"/api/v1/docs", "application/json", strings.NewReader(`{"id":"d"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ URL, EmbedURL string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %v", resp.StatusCode, err)
	}
	if body.URL != "/folio/d/d" || body.EmbedURL != "/folio/embed/d" || resp.Header.Get("Location") != "/folio/api/v1/docs/d" {
		t.Errorf("url %q, embedUrl %q, Location %q: want them under /folio", body.URL, body.EmbedURL, resp.Header.Get("Location"))
	}
}

// TestServeConnLimits: --max-streams-per-doc refuses a document's streams
// past it, --max-conns every held connection past it, each with 503
// too_many_connections and Retry-After.
func TestServeConnLimits(t *testing.T) {
	ts, st := servedStack(t, []string{"--max-streams-per-doc", "1"}, map[string]string{"FOLIO_MAX_CONNS": "2"})
	for _, id := range []string{"a", "b", "c"} {
		if _, err := st.hub.Create(context.Background(), id, ""); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	open := func(id string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/v1/docs/"+id+"/events", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			t.Cleanup(func() { resp.Body.Close() })
			return resp, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	open("a")
	if resp, body := open("a"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(body, "too_many_connections") || !strings.Contains(body, "viewers of this document") {
		t.Errorf("a second stream on a document: %d %s", resp.StatusCode, body)
	}
	open("b")
	if resp, body := open("c"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(body, "too_many_connections") || !strings.Contains(body, "server holds too many connections") {
		t.Errorf("a third stream on the server: %d %s", resp.StatusCode, body)
	}
}

// getWithHost GETs url with the Host header host and returns the status
// and the body.
func getWithHost(t *testing.T, url, host string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestServePageBytes: --page-bytes reaches the server: a page of GET ops
// ends before the op that would pass it, where the default holds them all.
func TestServePageBytes(t *testing.T) {
	const ops, opBytes = 3, 40 << 10
	for _, c := range []struct {
		args []string
		want int
	}{{nil, ops}, {[]string{"--page-bytes", "65536"}, 1}} {
		ts, st := servedStack(t, c.args, nil)
		ctx := context.Background()
		if _, err := st.hub.Create(ctx, "d", ""); err != nil {
			t.Fatal(err)
		}
		var v uint64
		for range ops {
			var err error
			if v, err = st.hub.Submit(ctx, "d", collab.Submission{Base: v, Op: ot.Op{{Insert: strings.Repeat("z", opBytes)}}}); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.Get(ts.URL + "/api/v1/docs/d/ops?since=0")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Version uint64
			Ops     []json.RawMessage
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || body.Version != ops || len(body.Ops) != c.want {
			t.Errorf("%v: GET ops: %d, version %d, %d ops (%v); want %d ops", c.args, resp.StatusCode, body.Version, len(body.Ops), err, c.want)
		}
	}
}

// TestServeCatchUpBytes: FOLIO_CATCH_UP_BYTES reaches the server: an SSE
// stream resuming before ops that weigh more than it and than 4 bytes per
// code point of the text starts with a snapshot, where the default budget
// (8 MiB) sends it the ops.
func TestServeCatchUpBytes(t *testing.T) {
	const textLen, ops = 10_000, 8 // The ops weigh twice 4 × textLen.
	for _, c := range []struct {
		env  map[string]string
		want string
	}{{nil, "op"}, {map[string]string{"FOLIO_CATCH_UP_BYTES": "1024"}, "snapshot"}} {
		t.Run(c.want, func(t *testing.T) {
			ts, st := servedStack(t, nil, c.env)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := st.hub.Create(ctx, "d", strings.Repeat("a", textLen)); err != nil {
				t.Fatal(err)
			}
			var v uint64
			for i := range ops {
				op := ot.Op{{Delete: textLen}, {Insert: strings.Repeat(string(rune('b'+i)), textLen)}}
				var err error
				if v, err = st.hub.Submit(ctx, "d", collab.Submission{Base: v, Op: op}); err != nil {
					t.Fatal(err)
				}
			}
			if got := firstSSEEvent(t, ctx, ts.URL+"/api/v1/docs/d/events?since=0"); got != c.want {
				t.Errorf("%v: a stream resuming before %d ops of %d code points starts with %q, want %q", c.env, ops, textLen, got, c.want)
			}
		})
	}
}

// firstSSEEvent opens the SSE stream at url and returns the name of its
// first event.
func firstSSEEvent(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			return name
		}
	}
	t.Fatalf("GET %s: no event (%v)", url, sc.Err())
	return ""
}

// TestServeSendQueueBytes: --send-queue-bytes reaches the server: a
// subscription that is not read ends with slow_consumer once more than it
// waits, where the default (32 MiB) holds as much.
func TestServeSendQueueBytes(t *testing.T) {
	const ops, opBytes = 5, 300 << 10 // 1.5 MB: past 1 MiB with the fifth.
	for _, c := range []struct {
		args []string
		cut  bool
	}{{nil, false}, {[]string{"--send-queue-bytes", "1048576"}, true}} {
		_, st := servedStack(t, c.args, nil)
		ctx := context.Background()
		if _, err := st.hub.Create(ctx, "d", ""); err != nil {
			t.Fatal(err)
		}
		var v uint64
		sub, err := st.hub.Subscribe(ctx, "d", &v)
		if err != nil {
			t.Fatal(err)
		}
		for range ops {
			// The room hands the op to the subscription before it answers.
			if v, err = st.hub.Submit(ctx, "d", collab.Submission{Base: v, Op: ot.Op{{Insert: strings.Repeat("z", opBytes)}}}); err != nil {
				t.Fatal(err)
			}
		}
		e := collab.AsError(sub.Err())
		if cut := e != nil && e.Code == collab.CodeSlowConsumer; cut != c.cut || !cut && e != nil {
			t.Errorf("%v: a subscription holding %d × %d bytes: %v, want cut %v", c.args, ops, opBytes, sub.Err(), c.cut)
		}
		sub.Close()
	}
}
