package livetest

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// HTTPClient is an HTTP client for one collab client whose connections
// jitter like the server's (Options.MaxDelay), so both directions are
// delayed; t.Cleanup closes its idle connections. Without MaxDelay it is nil,
// which collab/client reads as http.DefaultClient.
func (s *Server) HTTPClient() *http.Client {
	delay := s.opts.MaxDelay
	if delay <= 0 {
		return nil
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &jitterConn{Conn: c, max: delay}, nil
	}}
	s.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// jitterListener delays every write on accepted connections by a random
// duration up to max, keeping the byte order.
type jitterListener struct {
	net.Listener
	max time.Duration
}

func (l *jitterListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jitterConn{Conn: c, max: l.max}, nil
}

type jitterConn struct {
	net.Conn
	max time.Duration
}

func (c *jitterConn) Write(b []byte) (int, error) {
	time.Sleep(rand.N(c.max))
	return c.Conn.Write(b)
}
