package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:6060": true, "[::1]:6060": true, "localhost:6060": true, "127.0.0.2:1": true,
		":6060": false, "0.0.0.0:6060": false, "10.0.0.1:6060": false, "example.com:6060": false, "127.0.0.1": false,
	} {
		if got := loopbackAddr(addr); got != want {
			t.Errorf("loopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestPprofListener serves the profiles on a real loopback socket and stops.
func TestPprofListener(t *testing.T) {
	bound, stop, err := startPprof("127.0.0.1:0", zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + bound + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("pprof index: %d %.200s", resp.StatusCode, body)
	}
	stop()
	if _, err := http.Get("http://" + bound + "/debug/pprof/"); err == nil {
		t.Fatal("pprof still serving after stop")
	}
}

// TestPprofRefusesRebindingHosts: a page that points its DNS name at the
// pprof listener cannot read the profiles, the command line least of all.
func TestPprofRefusesRebindingHosts(t *testing.T) {
	bound, stop, err := startPprof("127.0.0.1:0", zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_, port, _ := net.SplitHostPort(bound)
	for host, want := range map[string]int{
		"evil.example:" + port: http.StatusForbidden, "192.168.1.20:" + port: http.StatusForbidden,
		"localhost:" + port: http.StatusOK, "127.0.0.1:" + port: http.StatusOK, "[::1]:" + port: http.StatusOK,
	} {
		if status, _ := getWithHost(t, "http://"+bound+"/debug/pprof/cmdline", host); status != want {
			t.Errorf("Host %s: %d, want %d", host, status, want)
		}
	}
}
