package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// CORS answers for the API (/api and /api/...), for the origins of Options.CORSOrigins.
const (
	// corsMethods are the methods the API routes take (HEAD and GET need no
	// preflight, but listing them costs nothing).
	corsMethods = "GET, HEAD, POST, PUT, DELETE"
	// corsRequestHeaders are the request headers the API reads that are not
	// CORS-safelisted: the token, JSON bodies, preconditions, idempotency
	// and an SSE resume sent by fetch (EventSource sends its own).
	corsRequestHeaders = "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, Last-Event-ID"
	// corsExposedHeaders are the response headers the API sets that a
	// script could not read otherwise (Content-Type and Cache-Control are
	// safelisted).
	corsExposedHeaders = "ETag, X-Folio-Version, Location, Retry-After, Content-Disposition"
	// corsMaxAge is how long, in seconds, a browser may reuse a preflight:
	// two hours, Chromium's cap. A cached preflight grants nothing on its
	// own: CrossOriginProtection still refuses the writes of an origin
	// removed meanwhile.
	corsMaxAge = "7200"
)

// CORSOrigin is o as Options.CORSOrigins keeps it: the origin as a
// browser sends it in its Origin header, http or https, lower case,
// without a default port, path, user or wildcard ("https://app.example.com",
// "http://localhost:3000"). A host written in Unicode is converted to its
// ASCII form, as browsers serialize an origin (IDNA ToASCII, the URL
// Standard's options): "https://bücher.example" is
// "https://xn--bcher-kva.example". Folio compares Origin headers with the
// entries as they are, so any other spelling would match nothing: it is
// refused, with the spelling to use when there is one.
func CORSOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Opaque != "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Path != "" && u.Path != "/" ||
		strings.Contains(u.Host, "*") {
		return "", errors.New("is not an origin: http or https://host[:port], no path, query, user or wildcard")
	}
	host, written := strings.ToLower(u.Hostname()), u.Hostname()
	if !isASCII(host) {
		if host, err = originHost(u.Hostname()); err != nil {
			return "", err
		}
	} else {
		written = host // An ASCII host must be written in lower case already.
	}
	if strings.Contains(host, ":") {
		host, written = "["+host+"]", "["+written+"]"
	}
	if p := u.Port(); p != "" && !(p == "80" && u.Scheme == "http" || p == "443" && u.Scheme == "https") {
		host, written = host+":"+p, written+":"+p
	}
	canonical := u.Scheme + "://" + host
	if u.Scheme+"://"+written != o {
		return "", fmt.Errorf("is not written as browsers send it: %s", canonical)
	}
	return canonical, nil
}

// CheckCORSOrigin reports whether o can be an entry of Options.CORSOrigins
// (CORSOrigin).
func CheckCORSOrigin(o string) error {
	_, err := CORSOrigin(o)
	return err
}

// ASCIIHost is the host name h, which may hold Unicode labels and start
// with "*." (a pattern), in the ASCII form browsers send in Origin and Host
// headers: "*.bücher.example" is "*.xn--bcher-kva.example". An ASCII h is
// returned as it is.
func ASCIIHost(h string) (string, error) {
	if isASCII(h) {
		return h, nil
	}
	rest, wild := strings.CutPrefix(h, "*.")
	a, err := originHost(rest)
	if err != nil {
		return "", err
	}
	if wild {
		a = "*." + a
	}
	return a, nil
}

// idnaOrigin converts host names as browsers do when they parse a URL:
// UTS 46 without transitional mapping, with the Bidi and joiner rules but
// neither STD3 rules (browsers take "_") nor hyphen checks.
var idnaOrigin = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false),
	idna.StrictDomainName(false), idna.CheckHyphens(false))

// originHost is the ASCII form of the Unicode host name h, as it appears
// in the Origin header of a page served under h.
func originHost(h string) (string, error) {
	ascii, err := idnaOrigin.ToASCII(h)
	if err != nil || strings.IndexFunc(ascii, notHostByte) >= 0 {
		return "", fmt.Errorf("is not an origin: %q is not a host name browsers accept", h)
	}
	return ascii, nil
}

// notHostByte reports whether r is outside what an ASCII host name may
// hold: "<", "%", a space and the like pass IDNA without STD3 rules.
func notHostByte(r rune) bool {
	return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_')
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// corsOrigins is the set of Options.CORSOrigins that CORSOrigin accepts,
// in the form it gives; the others could match no Origin header anyway.
func corsOrigins(list []string) map[string]bool {
	set := map[string]bool{}
	for _, o := range list {
		if c, err := CORSOrigin(o); err == nil {
			set[c] = true
		}
	}
	return set
}

// cors lets the browser apps of Options.CORSOrigins use the API: their
// requests get Access-Control-Allow-Origin (their own origin, never "*",
// and no Allow-Credentials: Folio's tokens are never cookies) and the
// headers they may read, errors included; their preflights are answered
// here, 204, before any handler. A preflight from any other origin is
// refused (403 forbidden, no CORS headers), so the browser sends nothing
// after it. It runs after checkHost, so it opens no Host that check
// refuses (whose refusal, like boundPath's, gets the same headers from
// corsRefusal), and grants no access: every request still needs its token.
// Pages and the operational endpoints get none of it.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !apiPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		if len(s.corsOrigins) > 0 {
			h.Add("Vary", "Origin") // Caches must not hand one origin's answer to another.
		}
		origin := r.Header.Get("Origin")
		allowed := origin != "" && s.corsOrigins[origin]
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			// Named for logRequests as the mux names what it routes: a
			// preflight is not one of the refusals before routing.
			r.Pattern = routePreflight
			if !allowed {
				s.writeError(w, r, apiError(codeForbidden, "this origin may not use the API from a browser; "+
					"to allow it, the server's operator adds it to --cors-origins (FOLIO_CORS_ORIGINS)"))
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsRequestHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			allowOrigin(h, origin)
		}
		next.ServeHTTP(w, r)
	})
}

// allowOrigin sets the headers that let a page of origin, one of
// Options.CORSOrigins, read an answer that is not a preflight's.
func allowOrigin(h http.Header, origin string) {
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposedHeaders)
}

// corsRefusal gives an API refusal made before cors runs (boundPath's 414,
// checkHost's 403) the headers cors gives every other answer: Vary: Origin
// when there is a list, and for an origin of the list alone
// Access-Control-Allow-Origin and the headers it may read, so that its page
// can read why it was refused instead of seeing a network error. A
// preflight refused there fails all the same (its status is not 2xx), and
// nothing is granted: the refusal stands. Only those refusals call it, so
// the requests that pass them pay nothing for it.
func (s *Server) corsRefusal(h http.Header, r *http.Request) {
	if len(s.corsOrigins) == 0 || !apiPath(r.URL.Path) {
		return
	}
	h.Add("Vary", "Origin")
	if origin := r.Header.Get("Origin"); origin != "" && s.corsOrigins[origin] {
		allowOrigin(h, origin)
	}
}
