package web

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
)

// fakeClock is a settable clock for the limiters.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// serveFrom runs one request through the handler as if from addr.
func serveFrom(h http.Handler, addr, method, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://localhost"+path, strings.NewReader(body))
	r.RemoteAddr = addr
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestRateLimitedWritesAndExports: a burst passes whole, the next request
// gets 429 with Retry-After and rate_limited, another address is not
// affected, reads are never limited, and the bucket refills with time.
func TestRateLimitedWritesAndExports(t *testing.T) {
	clock := &fakeClock{t: testNow}
	e := newEnv(t, func(o *Options) {
		o.RateLimits = RateLimits{Writes: Limit{PerSecond: 1, Burst: 20}, Exports: Limit{PerSecond: 0.5, Burst: 3}, Now: clock.now}
	})
	e.create("d", "")
	h := e.srv.Handler()
	const office, other = "203.0.113.7:4000", "198.51.100.1:5000"
	for i := 0; i < 20; i++ { // A whole office saving at once.
		if w := serveFrom(h, office, "PUT", "/api/v1/docs/d/text", "v"+strconv.Itoa(i)); w.Code != 200 {
			t.Fatalf("write %d of the burst: %d %s", i, w.Code, w.Body)
		}
	}
	w := serveFrom(h, office, "POST", "/api/v1/docs/d/ops", `{"version":0,"op":["x"]}`)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" ||
		!strings.Contains(w.Body.String(), `"code":"rate_limited"`) {
		t.Fatalf("over the limit: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if w := serveFrom(h, office, "GET", "/api/v1/docs/d/text", ""); w.Code != 200 {
		t.Errorf("reads are not limited: %d", w.Code)
	}
	if w := serveFrom(h, other, "PUT", "/api/v1/docs/d/text", "other"); w.Code != 200 {
		t.Errorf("another address: %d", w.Code)
	}
	clock.add(time.Second)
	if w := serveFrom(h, office, "PUT", "/api/v1/docs/d/text", "later"); w.Code != 200 {
		t.Errorf("after a second: %d", w.Code)
	}
	for i := 0; i < 3; i++ {
		if w := serveFrom(h, office, "GET", "/api/v1/docs/d/export/html", ""); w.Code != 200 {
			t.Fatalf("export %d: %d", i, w.Code)
		}
	}
	w = serveFrom(h, office, "GET", "/api/v1/docs/d/export/txt", "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "2" {
		t.Errorf("export over the limit: %d %v", w.Code, w.Header())
	}
}

func TestRateLimitedUpgrades(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RateLimits = RateLimits{Upgrades: Limit{PerSecond: 0.001, Burst: 3}} })
	e.create("d", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		conn, _, err := dialWS(ctx, e, "d", nil)
		if err != nil {
			t.Fatalf("upgrade %d: %v", i, err)
		}
		defer conn.CloseNow()
	}
	_, resp, err := dialWS(ctx, e, "d", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th upgrade: %v %+v", err, resp)
	}
	// An SSE stream is held open like a WebSocket: it draws on the same budget.
	if r := e.get("/api/v1/docs/d/events"); r.status != http.StatusTooManyRequests || r.errCode() != "rate_limited" {
		t.Fatalf("SSE stream over the limit: %d %s", r.status, r.body)
	}
}

// TestLimiterMemoryBounded: many addresses never grow the map past
// MaxAddrs, and refilled buckets are forgotten.
func TestLimiterMemoryBounded(t *testing.T) {
	clock := &fakeClock{t: testNow}
	l := newAddrLimiter(Limit{PerSecond: 10, Burst: 20}, 100, clock.now)
	for i := 0; i < 10000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if ok, _ := l.reserve(netip.PrefixFrom(a, 32)); !ok {
			t.Fatal("a fresh address was limited")
		}
		if n := l.size(); n > 100 {
			t.Fatalf("%d buckets", n)
		}
	}
	clock.add(2 * time.Second) // Every bucket has refilled.
	l.reserve(netip.MustParsePrefix("192.0.2.1/32"))
	if n := l.size(); n != 1 {
		t.Errorf("%d buckets after every other one refilled", n)
	}
}

func TestClientKey(t *testing.T) {
	trusted := proxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		addr, xff string
		want      string
	}{
		{"192.0.2.1:5", "", "192.0.2.1/32"},
		{"[::ffff:192.0.2.1]:5", "", "192.0.2.1/32"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ff::1]:9", "", "2001:db8:1:2::/64"},
		{"not an address", "", "invalid Prefix"},
		// A forged header from an untrusted peer is ignored.
		{"192.0.2.1:5", "198.51.100.9", "192.0.2.1/32"},
		// Behind a trusted proxy: the right-most untrusted hop.
		{"10.1.2.3:80", "198.51.100.9", "198.51.100.9/32"},
		{"10.1.2.3:80", "6.6.6.6, 198.51.100.9, 10.9.9.9", "198.51.100.9/32"},
		{"[::1]:80", "2001:db8:aa:bb::7", "2001:db8:aa:bb::/64"},
		// Only proxies, or a malformed hop: the last trusted address.
		{"10.1.2.3:80", "10.4.4.4", "10.4.4.4/32"},
		{"10.1.2.3:80", "junk, 10.4.4.4", "10.4.4.4/32"},
		{"10.1.2.3:80", "", "10.1.2.3/32"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.addr
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientKey(r, trusted).String(); got != c.want {
			t.Errorf("%s (X-Forwarded-For %q): %s, want %s", c.addr, c.xff, got, c.want)
		}
	}
}

// TestRateLimitBehindProxy: behind a trusted proxy, clients get their own
// buckets; a client cannot escape its bucket by forging X-Forwarded-For.
func TestRateLimitBehindProxy(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.RateLimits = RateLimits{Writes: Limit{PerSecond: 0.001, Burst: 1},
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}
	})
	e.create("d", "")
	h := e.srv.Handler()
	put := func(peer, xff string) int {
		r := httptest.NewRequest("PUT", "http://localhost/api/v1/docs/d/text", strings.NewReader("t"))
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for _, c := range []struct {
		peer, xff string
		want      int
	}{
		{"10.0.0.1:1", "192.0.2.1", 200},
		{"10.0.0.1:1", "192.0.2.2", 200}, // Another client behind the same proxy.
		{"10.0.0.1:1", "192.0.2.1", 429},
		{"10.0.0.1:1", "203.0.113.5, 192.0.2.1", 429}, // Forged left part.
		{"192.0.2.9:1", "1.1.1.1", 200},               // Untrusted peer: its own address.
		{"192.0.2.9:1", "2.2.2.2", 429},
	} {
		if got := put(c.peer, c.xff); got != c.want {
			t.Errorf("%s via %s: %d, want %d", c.xff, c.peer, got, c.want)
		}
	}
}

// TestBadIDsOnEveryRoute adds the page routes and the WebSocket route with
// access control on to TestBadIDsEverywhere: a malformed id is answered
// without any document access, and a token cannot change that.
func TestBadIDsOnEveryRoute(t *testing.T) {
	e, a := newAuthEnv(t)
	tok := mint(t, a, "*", "admin", "")
	bad := []string{"..%2Fd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", strings.Repeat("a", 65), strings.Repeat("b", 4000),
		strings.Repeat("b", 10000), "a%00b", "%C3%A9", "d%2F..", "."}
	for _, id := range bad {
		for _, p := range []string{"/api/v1/docs/" + id, "/api/v1/docs/" + id + "/text", "/api/v1/docs/" + id + "/ws",
			"/api/v1/docs/" + id + "/export/html", "/api/v1/docs/" + id + "/events", "/d/" + id, "/embed/" + id} {
			r := e.get(p, bearer(tok)...)
			if len(p) > maxPathBytes { // Past any URL of Folio's, refused before the id is read.
				if r.status != http.StatusRequestURITooLong {
					t.Errorf("GET %.80s…: %d %.80s, want 414", p, r.status, r.body)
				}
				continue
			}
			api := strings.HasPrefix(p, "/api/")
			// A literal dot segment is cleaned first: a redirect to the
			// cleaned path, which names no document.
			to := must(url.Parse(p)).ResolveReference(must(url.Parse(r.header.Get("Location")))).Path
			cleaned := r.status == http.StatusTemporaryRedirect && !strings.Contains(to, "/.")
			if !cleaned && (api && (r.status != 400 || r.errCode() != "invalid_id") || !api && r.status != 400 && r.status != 404) {
				t.Errorf("GET %s: %d %.80s", p, r.status, r.body)
			}
			if strings.Contains(string(r.body), "secret d") {
				t.Errorf("GET %s leaked the document", p)
			}
		}
	}
}

func TestAPISecurityHeaders(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "x")
	for _, p := range []string{"/api/v1/docs/d", "/api/v1/docs/d/text", "/api/v1/docs/nope/text", "/api/v1/unknown",
		"/api/v1/docs/d/export/md", "/api/v1/docs/d/ops"} {
		r := e.get(p)
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: %v", p, r.header)
		}
	}
	// A refusal before routing is an API answer too (docs/api.md: every response under /api/).
	r := e.withHost("GET", "/api/v1/docs/d", "evil.example:"+e.port(), nil)
	if r.errCode() != "host_not_allowed" || r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("host_not_allowed: %d %v", r.status, r.header)
	}
}

// syncBuffer is a log sink shared by goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestTokensNeverLogged sends tokens in every place they travel, accepted
// and refused, at debug level, and looks for them in the logs.
func TestTokensNeverLogged(t *testing.T) {
	var logs syncBuffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)
	a := newTestAuth(t)
	e := newEnvWith(t, func(o *collab.Options) { o.Logger = log }, func(o *Options) { o.Authorize = a.Authorize; o.Logger = log })
	admin := mint(t, a, "*", "admin", "root")
	view := mint(t, a, "d", "view", "V")
	bad := mint(t, a, "other", "edit", "")
	e.send("POST", "/api/v1/docs", `{"id":"d","text":"x"}`, bearer(admin)...)
	e.get("/api/v1/docs/d/text?token=" + view)
	e.get("/api/v1/docs/d/text?token=" + bad)
	e.get("/api/v1/docs/d/text", bearer(bad)...)
	e.get("/d/d?token=" + view)
	e.get("/embed/d?token=" + bad)
	conn, _ := wsHello(t, e, "d", view)
	conn.CloseNow()
	conn, _ = wsHello(t, e, "d", bad)
	conn.CloseNow()
	e.close()
	out := logs.String()
	if !strings.Contains(out, "http request") {
		t.Fatalf("nothing logged:\n%s", out)
	}
	for _, tok := range []string{admin, view, bad} {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(out, sig) {
			t.Errorf("a token is in the logs:\n%s", out)
		}
	}
}

// TestSessionKeysStayPrivate: a session's key, which resumes it, reaches its
// own client in welcome and nothing else: not the logs (debug level, with a
// resume, a takeover, a refused resume by id and a malformed key), the ops
// list, the SSE stream or another participant; those show the public id.
func TestSessionKeysStayPrivate(t *testing.T) {
	var logs syncBuffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)
	e := newEnvWith(t, func(o *collab.Options) { o.Logger = log }, func(o *Options) { o.Logger = log })
	e.create("d", "")
	stream := e.sse("/api/v1/docs/d/events", "")
	bob, _ := helloDoc(t, e, collab.ClientMsg{})
	key := collab.NewKey()
	ann, w := helloDoc(t, e, collab.ClientMsg{Key: key})
	id, _ := w["session"].(string)
	if w["key"] != key || id != collab.SessionID(key) {
		t.Fatalf("welcome %v", w)
	}
	sendFrame(t, ann, `{"type":"presence","version":0,"cursor":{"anchor":0,"head":0}}`)
	sendFrame(t, ann, `{"type":"op","seq":1,"version":0,"op":["A"]}`)
	readUntil(t, ann, "ack")
	again, _ := helloDoc(t, e, collab.ClientMsg{Key: key, Version: ptr(uint64(1))}) // Takes over.
	sendFrame(t, again, `{"type":"op","seq":2,"version":1,"op":[1,"n"]}`)
	readUntil(t, again, "ack")
	again.CloseNow()
	for _, h := range []collab.ClientMsg{{Session: id}, {Key: key + " !"}, {Key: key, Session: id + "0"}} {
		if conn, m := helloDoc(t, e, h); m["type"] != "error" {
			t.Errorf("hello %+v: %v", h, m)
		} else {
			conn.CloseNow()
		}
	}

	var seen []string
	for m := readFrame(t, bob); m["closed"] == nil; m = readFrame(t, bob) {
		seen = append(seen, fmt.Sprint(m))
		if m["type"] == "op" && m["seq"] == float64(2) {
			break
		}
	}
	for {
		ev := stream.nextEvent()
		seen = append(seen, ev.data)
		if ev.name == "op" && strings.Contains(ev.data, `"seq":2`) {
			break
		}
	}
	ops := e.get("/api/v1/docs/d/ops?since=0")
	seen = append(seen, string(ops.body))
	ann.CloseNow()
	bob.CloseNow()
	stream.close()
	e.close()
	seen = append(seen, logs.String())
	if !strings.Contains(string(ops.body), id) || !strings.Contains(logs.String(), id) {
		t.Fatalf("the public id is missing from the ops (%s) or the logs:\n%s", ops.body, logs.String())
	}
	for _, s := range seen {
		if strings.Contains(s, key) {
			t.Errorf("the key is out: %s", s)
		}
	}
}

// BenchmarkAddrLimiter measures one admission decision with 10,000
// addresses tracked (the default bound), the cost added to every limited
// request.
func BenchmarkAddrLimiter(b *testing.B) {
	l := newAddrLimiter(Limit{PerSecond: 1e9, Burst: 1 << 30}, DefaultMaxAddrs, time.Now)
	keys := make([]netip.Prefix, DefaultMaxAddrs)
	for i := range keys {
		keys[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32)
	}
	i := 0
	for b.Loop() {
		l.reserve(keys[i%len(keys)])
		i++
	}
}

// TestSlowBodyCut: a client that trickles its request body is answered
// (and its request ends) once BodyTimeout has passed, not whenever it ends.
func TestSlowBodyCut(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.BodyTimeout = 100 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "POST /api/v1/docs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a trickled body: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "did not arrive") {
		t.Errorf("trickled body: %d %s", resp.StatusCode, b)
	}
}

// rawRequest writes req on a new connection, half-closes it when shut is set
// (the client has nothing more to send), and reads the answer.
func rawRequest(t *testing.T, e *testEnv, req string, shut bool) (int, response) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	if shut {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, response{resp.StatusCode, resp.Header, b}
}

// TestUnreadableBodyIsClientError: a body that ends before its
// Content-Length or has broken chunked framing is the client's fault (400
// invalid_message, as a body that never arrives is), never 500 internal,
// and nothing is committed.
func TestUnreadableBodyIsClientError(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "abc")
	cases := []struct {
		name, req string
		shut      bool
	}{
		{"short create", "POST /api/v1/docs HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{\"id\":", true},
		{"short put", "PUT /api/v1/docs/d/text HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc", true},
		{"short op", "POST /api/v1/docs/d/ops HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{\"version\":0", true},
		{"bad chunk", "POST /api/v1/docs/d/ops HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, r := rawRequest(t, e, c.req, c.shut)
			if status != http.StatusBadRequest || r.errCode() != "invalid_message" {
				t.Errorf("got %d %s, want 400 invalid_message", status, r.body)
			}
		})
	}
	if got := e.text("d"); got != "abc" {
		t.Errorf("text %q after unreadable bodies", got)
	}
}

// TestSlowOpBodyIsInvalidMessage: POST ops turns a malformed body into
// invalid_op, but a body that did not arrive in time is not malformed: it
// is invalid_message, as on every other endpoint (docs/api.md, Body limits).
func TestSlowOpBodyIsInvalidMessage(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.BodyTimeout = 100 * time.Millisecond })
	e.create("d", "")
	status, r := rawRequest(t, e, "POST /api/v1/docs/d/ops HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{", false)
	if status != http.StatusBadRequest || r.errCode() != "invalid_message" || !strings.Contains(string(r.body), "did not arrive") {
		t.Errorf("trickled op body: %d %s, want 400 invalid_message", status, r.body)
	}
}
