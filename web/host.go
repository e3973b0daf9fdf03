package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/foliodocs/folio/collab"
)

// codeHostNotAllowed refuses a request whose Host header names a host the
// server does not answer to.
const codeHostNotAllowed = collab.CodeHostNotAllowed

// hostPolicy decides which Host headers the server answers, against DNS
// rebinding: a page on evil.example whose name the attacker points at
// 127.0.0.1 (or at a private address) is same-origin with itself, so the
// Origin checks let its requests through; only its Host header still says
// evil.example. IP literals cannot be rebound (rebinding needs a DNS name),
// and localhost and *.localhost resolve to loopback without asking DNS, so
// they are always answered. Static after newHostPolicy.
type hostPolicy struct {
	any      bool            // "*", or no list with access control on.
	names    map[string]bool // Exact names, lower case, no trailing dot.
	suffixes []string        // ".example.com" for a "*.example.com" entry.
}

// newHostPolicy builds the policy of Options.AllowedHosts; guarded says
// whether requests need a token (Options.Authorize is set).
func newHostPolicy(allowed []string, guarded bool) hostPolicy {
	p := hostPolicy{any: len(allowed) == 0 && guarded, names: map[string]bool{}}
	for _, a := range allowed {
		a = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(a)), ".")
		switch {
		case a == "*":
			p.any = true
		case strings.HasPrefix(a, "*."):
			p.suffixes = append(p.suffixes, a[1:])
		case a != "":
			p.names[a] = true
		}
	}
	return p
}

// allows reports whether the server answers a request with Host hostport.
// No Host at all (HTTP/1.0) is answered: browsers always send one.
func (p hostPolicy) allows(hostport string) bool {
	h := hostName(hostport)
	if p.any || h == "" || p.names[h] {
		return true
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(h, s) {
			return true
		}
	}
	return false
}

// LoopbackHost reports whether a Host header names localhost or a loopback
// address: the only Hosts a loopback-only listener (folio's pprof) answers.
func LoopbackHost(hostport string) bool {
	h := hostName(hostport)
	ip, err := netip.ParseAddr(h)
	return h == "localhost" || err == nil && ip.IsLoopback()
}

// hostName is the host of a Host header without its port or IPv6
// brackets, in lower case and without a trailing dot ("Example.COM." and
// "example.com:80" are one host).
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// probePaths are answered whatever the Host: load balancers and
// orchestrators probe them by whatever name they were given, and their
// answers ("ok", "ready") tell a rebinding page nothing.
var probePaths = map[string]bool{"/healthz": true, "/readyz": true}

// checkHost refuses, before anything else but a path or query too long
// (boundPath), a request whose Host the server
// does not answer to (hostPolicy), except the health probes. A browser
// navigating there (Accept names text/html) gets the error page saying which
// name to allow; other clients the JSON error. A refusal under /api carries
// the CORS headers of a listed origin (corsRefusal): its page may read why,
// and still gets nothing else from this Host.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.hosts.allows(r.Host) || probePaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		host := hostName(r.Host)
		if len(host) > 100 {
			host = host[:100] + "…"
		}
		s.log.Info().Str(keyHost, host).Str(keyPath, r.URL.Path).Msg("request refused: host not allowed")
		s.corsRefusal(w.Header(), r)
		if accepts(r, "text/html") {
			s.pages.refuseHost(w, r, host)
			return
		}
		s.writeError(w, r, apiError(codeHostNotAllowed, "this server does not answer to the host %q (a guard against DNS rebinding); "+
			"to serve it, its operator adds it to --allowed-hosts (FOLIO_ALLOWED_HOSTS)", host))
	})
}
