package web

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/foliodocs/folio/collab"
)

// withHost sends method path to e with the Host header host and returns the
// response once its headers arrive (the body is read up to 4 KiB, so that an
// SSE stream does not hold the test).
func (e *testEnv) withHost(method, path, host string, body io.Reader, header ...string) response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s (Host %s): %v", method, path, host, err)
	}
	defer resp.Body.Close()
	var b []byte
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
	}
	return response{resp.StatusCode, resp.Header, b}
}

// port is the port of e's listener.
func (e *testEnv) port() string {
	u, err := url.Parse(e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.Port()
}

// dialWSHost opens an editor WebSocket to e as a page served from
// http://host would: Host host, Origin http://host.
func dialWSHost(ctx context.Context, e *testEnv, id, host string) (*websocket.Conn, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(e.url, "http") + "/api/v1/docs/" + id + "/ws"
	return websocket.Dial(ctx, u, &websocket.DialOptions{
		Subprotocols: []string{collab.Subprotocol},
		Host:         host,
		HTTPHeader:   http.Header{"Origin": {"http://" + host}},
	})
}

// TestOpenServerRefusesRebindingHosts: an open server answers only to IP
// literals and localhost names. A page on evil.example whose name was
// rebound to 127.0.0.1 is same-origin with itself, so its Origin passes;
// its Host is what gives it away, on every route but the health probes.
func TestOpenServerRefusesRebindingHosts(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "secret plans")
	port := e.port()
	evil := "evil.example:" + port

	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/docs"},
		{"GET", "/api/v1/docs/d"},
		{"GET", "/api/v1/docs/d/text"},
		{"GET", "/api/v1/docs/d/events"},
		{"GET", "/api/v1/docs/d/ops?since=0&wait=5"},
		{"GET", "/api/v1/docs/d/export/md"},
		{"GET", "/api/v1/admin/backup"},
		{"PUT", "/api/v1/docs/d/text"},
		{"DELETE", "/api/v1/docs/d"},
		{"GET", "/"},
		{"GET", "/d/d"},
		{"GET", "/metrics"},
	} {
		r := e.withHost(c.method, c.path, evil, strings.NewReader("pwned"), "Origin", "http://"+evil)
		if r.status != http.StatusForbidden || r.errCode() != "host_not_allowed" ||
			!strings.Contains(string(r.body), "--allowed-hosts") || strings.Contains(string(r.body), "secret plans") {
			t.Errorf("%s %s with Host %s: %d %s, want 403 host_not_allowed naming --allowed-hosts", c.method, c.path, evil, r.status, r.body)
		}
	}
	if got := e.get("/api/v1/docs/d/text"); string(got.body) != "secret plans" {
		t.Errorf("the refused requests changed the document: %q", got.body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if conn, resp, err := dialWSHost(ctx, e, "d", evil); err == nil {
		conn.Close(websocket.StatusNormalClosure, "")
		t.Error("WebSocket upgrade with a rebinding Host accepted")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("WebSocket upgrade with a rebinding Host: %v %v, want 403", err, resp)
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		if r := e.withHost("GET", path, evil, nil); r.status != http.StatusOK {
			t.Errorf("probe %s with Host %s: %d %s", path, evil, r.status, r.body)
		}
	}

	for _, host := range []string{
		"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "LocalHost.", "app.localhost:" + port,
		"127.0.0.2", "192.168.1.20:" + port, "[fd00::1]:" + port,
	} {
		for _, path := range []string{"/api/v1/docs/d/text", "/", "/metrics"} {
			if r := e.withHost("GET", path, host, nil); r.status != http.StatusOK {
				t.Errorf("GET %s with Host %s: %d %s", path, host, r.status, r.body)
			}
		}
		if r := e.withHost("GET", "/api/v1/docs/d/events", host, nil); r.status != http.StatusOK ||
			r.header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("SSE with Host %s: %d %s", host, r.status, r.body)
		}
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port} {
		conn, _, err := dialWSHost(ctx, e, "d", host)
		if err != nil {
			t.Errorf("WebSocket with Host %s refused: %v", host, err)
			continue
		}
		conn.Close(websocket.StatusNormalClosure, "")
	}
}

// TestAllowedHosts: Options.AllowedHosts adds names (any port, any case),
// "*.example.com" the names under it, "*" any host; IP literals and
// localhost stay allowed.
func TestAllowedHosts(t *testing.T) {
	cases := []struct {
		allowed    []string
		pass, fail []string
	}{
		{[]string{"docs.example.com"},
			[]string{"docs.example.com", "docs.example.com:443", "DOCS.Example.com.", "localhost:8080", "10.0.0.1"},
			[]string{"example.com", "a.docs.example.com", "docs.example.com.evil.example", "evil.example"}},
		{[]string{"*.example.com"},
			[]string{"a.example.com", "a.b.example.com:8443"},
			[]string{"example.com", "evilexample.com", "example.com.evil.example"}},
		{[]string{"*"}, []string{"evil.example", "docs.example.com:443", "localhost"}, nil},
	}
	for _, c := range cases {
		e := newEnv(t, func(o *Options) { o.AllowedHosts = c.allowed })
		e.create("d", "x")
		for _, host := range c.pass {
			if r := e.withHost("GET", "/api/v1/docs/d/text", host, nil); r.status != http.StatusOK {
				t.Errorf("AllowedHosts %q, Host %s: %d %s", c.allowed, host, r.status, r.body)
			}
		}
		for _, host := range c.fail {
			if r := e.withHost("GET", "/api/v1/docs/d/text", host, nil); r.errCode() != "host_not_allowed" {
				t.Errorf("AllowedHosts %q, Host %s: %d %s, want host_not_allowed", c.allowed, host, r.status, r.body)
			}
		}
		if len(c.fail) == 0 { // "*": even a rebinding page's upgrade is the Origin check's to judge.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			conn, _, err := dialWSHost(ctx, e, "d", "evil.example:"+e.port())
			if err != nil {
				t.Errorf("AllowedHosts *: WebSocket refused: %v", err)
			} else {
				conn.Close(websocket.StatusNormalClosure, "")
			}
			cancel()
		}
	}
}

// TestHostsWithTokens: when requests need a token, a rebinding page gains
// nothing (it has none), so any Host is answered unless AllowedHosts says
// otherwise.
func TestHostsWithTokens(t *testing.T) {
	auth := newTestAuth(t)
	e := newEnv(t, func(o *Options) { o.Tokens = auth })
	tok := mint(t, auth, "*", roleAdmin, "")
	if r := e.withHost("GET", "/api/v1/docs", "folio.example.net", nil, "Authorization", "Bearer "+tok); r.status != http.StatusOK {
		t.Errorf("tokens, no AllowedHosts: %d %s", r.status, r.body)
	}
	if r := e.withHost("GET", "/api/v1/docs", "evil.example", nil); r.errCode() != "forbidden" {
		t.Errorf("tokens, no token: %d %s, want forbidden", r.status, r.body)
	}

	e = newEnv(t, func(o *Options) { o.Tokens = auth; o.AllowedHosts = []string{"folio.example.net"} })
	if r := e.withHost("GET", "/api/v1/docs", "folio.example.net", nil, "Authorization", "Bearer "+tok); r.status != http.StatusOK {
		t.Errorf("tokens, allowed host: %d %s", r.status, r.body)
	}
	if r := e.withHost("GET", "/api/v1/docs", "evil.example", nil, "Authorization", "Bearer "+tok); r.errCode() != "host_not_allowed" {
		t.Errorf("tokens, other host: %d %s, want host_not_allowed", r.status, r.body)
	}
}

// chromeAccept is the Accept header Chromium sends when it navigates.
const chromeAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"

// TestHostRefusalPageForBrowsers: a browser that reaches the server by a
// name it does not answer to gets the error page, 403, saying which name
// to add to --allowed-hosts and nothing else: no document, no script, not
// cached, not even the stylesheet (refused under that name as well, and its
// versioned link would name the build), and no "Back to Folio" link (Folio's
// root under that name is this page again). Clients that do not ask for HTML
// keep the JSON error.
func TestHostRefusalPageForBrowsers(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "secret plans")
	host := "Folio.LAN:" + e.port()

	for _, path := range []string{"/", "/d/d", "/embed/d", "/api/v1/docs/d/text", "/nothing"} {
		r := e.withHost("GET", path, host, nil, "Accept", chromeAccept)
		body := string(r.body)
		if r.status != http.StatusForbidden || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s (Host %s) from a browser: %d %s %s, want a 403 page", path, host, r.status, r.header.Get("Content-Type"), body)
			continue
		}
		for _, want := range []string{"<h1>Host name not allowed</h1>", "name folio.lan ", "adds folio.lan to --allowed-hosts", "Error 403"} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s page lacks %q:\n%s", path, want, body)
			}
		}
		for _, leak := range []string{"secret plans", "<script", "folio-config", "/assets/", e.srv.pages.version, e.port(), "<a ", "Back to Folio"} {
			if strings.Contains(body, leak) {
				t.Errorf("GET %s page has %q:\n%s", path, leak, body)
			}
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("GET %s page: Cache-Control %q, want no-store", path, cc)
		}
	}

	for _, accept := range []string{"", "*/*", "application/json", "text/event-stream"} {
		r := e.withHost("GET", "/api/v1/docs/d/text", host, nil, "Accept", accept)
		if r.status != http.StatusForbidden || r.errCode() != "host_not_allowed" {
			t.Errorf("Accept %q: %d %s, want the JSON host_not_allowed", accept, r.status, r.body)
		}
	}

}
