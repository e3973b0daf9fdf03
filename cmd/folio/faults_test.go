package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// TestBinaryFaults drives the built binary through the faults a process
// can meet: SIGKILL between a commit and its ack, and a second server on
// the same data directory.
func TestBinaryFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; runs without -short (CI)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "folio")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("SIGKILL between commit and ack", func(t *testing.T) { testKillBetweenCommitAndAck(t, bin) })
	t.Run("second server on the same data", func(t *testing.T) { testSecondServer(t, bin) })
	t.Run("damaged database file", func(t *testing.T) { testDamagedDatabase(t, bin) })
	t.Run("second signal ends a slow shutdown", func(t *testing.T) { testSecondSignal(t, bin) })
}

// testSecondSignal: a second SIGINT during a graceful shutdown ends the
// process at once. The shutdown is held by a client that never answers the
// close handshake (the server waits 5 s for it); without the second signal's
// default handling the process would finish that wait and exit 0.
func testSecondSignal(t *testing.T, bin string) {
	s := startServer(t, bin, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mute := &wsClient{name: "mute", acked: map[uint64]string{}}
	if _, err := mute.join(ctx, s.base, "slow"); err != nil {
		t.Fatal(err)
	}
	defer mute.conn.CloseNow()
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	eventuallyT(t, "shutdown started", func() bool {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil || resp.StatusCode != http.StatusOK
	})
	// Again until it exits: the default handling comes back just after the
	// first signal, on another goroutine.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-s.exited:
			break wait
		case <-tick.C:
			_ = s.cmd.Process.Signal(os.Interrupt)
		}
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
		t.Fatalf("after a second SIGINT the server exited with %v, want killed by it\n%s", err, s.logs)
	}
}

// server is a running folio child process.
type server struct {
	cmd    *exec.Cmd
	base   string
	exited chan error
	logs   *bytes.Buffer
}

func startServer(t *testing.T, bin, data string) *server {
	t.Helper()
	addr := freeAddr(t)
	s := &server{base: "http://" + addr, exited: make(chan error, 1), logs: &bytes.Buffer{}}
	s.cmd = exec.Command(bin, "serve", "--addr", addr, "--data", data)
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	waitReady(t, s.base, s.exited)
	return s
}

func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-s.exited
}

// wsClient speaks the protocol by hand, inserting unique tokens at the start
// of the document (an insert at 0 fits every base version), one op in flight.
type wsClient struct {
	name     string
	conn     *websocket.Conn
	session  string // Public id, on its ops.
	key      string // Names the session in every hello.
	version  uint64
	seq      uint64
	inflight string            // Token of the op sent and not acknowledged.
	acked    map[uint64]string // seq → token
}

type serverMsg struct {
	Type    string         `json:"type"`
	Session string         `json:"session"`
	Key     string         `json:"key"`
	Version uint64         `json:"version"`
	Seq     uint64         `json:"seq"`
	Code    string         `json:"code"`
	Ops     []collab.OpMsg `json:"ops"`
}

func (c *wsClient) join(ctx context.Context, base, doc string) ([]collab.OpMsg, error) {
	url := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/docs/" + doc + "/ws"
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{collab.Subprotocol}})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(-1)
	c.conn = conn
	if c.key == "" {
		c.key = collab.NewKey() // As the browser and the Go client draw theirs.
	}
	hello := collab.ClientMsg{Type: collab.TypeHello, Key: c.key}
	if c.session != "" { // Joined before: resume from its version.
		hello.Version = &c.version
	}
	if err := c.write(ctx, hello); err != nil {
		return nil, err
	}
	m, err := c.until(ctx, collab.TypeWelcome)
	if err != nil {
		return nil, err
	}
	c.session, c.key, c.version = m.Session, m.Key, m.Version
	return m.Ops, nil
}

func (c *wsClient) write(ctx context.Context, m collab.ClientMsg) error {
	b, _ := json.Marshal(m)
	return c.conn.Write(ctx, websocket.MessageText, b)
}

// until reads to the next message of type typ; an error message fails.
func (c *wsClient) until(ctx context.Context, typ string) (serverMsg, error) {
	for {
		_, b, err := c.conn.Read(ctx)
		if err != nil {
			return serverMsg{}, err
		}
		var m serverMsg
		if err := json.Unmarshal(b, &m); err != nil {
			return m, err
		}
		switch m.Type {
		case typ:
			return m, nil
		case collab.TypeError:
			return m, fmt.Errorf("%s: server error %s", c.name, b)
		case collab.TypeOp:
			c.version = max(c.version, m.Version)
		}
	}
}

// send sends the next op (or resends the one in flight, same seq).
func (c *wsClient) send(ctx context.Context) error {
	if c.inflight == "" {
		c.seq++
		c.inflight = fmt.Sprintf("<%s.%d>", c.name, c.seq)
	}
	v := c.version
	return c.write(ctx, collab.ClientMsg{Type: collab.TypeOp, Seq: c.seq, Version: &v, Op: ot.Op{{Insert: c.inflight}}})
}

func (c *wsClient) awaitAck(ctx context.Context) (uint64, error) {
	m, err := c.until(ctx, collab.TypeAck)
	if err != nil {
		return 0, err
	}
	if m.Seq != c.seq {
		return 0, fmt.Errorf("%s: ack for seq %d, %d in flight", c.name, m.Seq, c.seq)
	}
	c.acked[c.seq], c.inflight, c.version = c.inflight, "", max(c.version, m.Version)
	return m.Version, nil
}

// typeUntilCut sends ops one at a time until the connection breaks.
func (c *wsClient) typeUntilCut(ctx context.Context, acks *atomic.Int64) {
	for {
		if c.send(ctx) != nil {
			return
		}
		if _, err := c.awaitAck(ctx); err != nil {
			return
		}
		acks.Add(1)
	}
}

// testKillBetweenCommitAndAck: typists keep one op in flight each while the
// server is SIGKILLed; one of them ("late") has an op that is committed
// before the kill but whose ack it never read. After a restart every
// client resumes with its session key and version and resends its op in flight
// with the same seq: every acknowledged op is present, and every resent op
// is in the text exactly once (the late one acknowledged with its original
// version, found in the catch-up).
func testKillBetweenCommitAndAck(t *testing.T, bin string) {
	data := t.TempDir()
	srv := startServer(t, bin, data)
	mustHTTP(t, "POST", srv.base+"/api/v1/docs", `{"id":"k"}`, http.StatusCreated)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var acks atomic.Int64
	typists := make([]*wsClient, 4)
	var wg sync.WaitGroup
	for i := range typists {
		c := &wsClient{name: fmt.Sprintf("t%d", i), acked: map[uint64]string{}}
		if _, err := c.join(ctx, srv.base, "k"); err != nil {
			t.Fatal(err)
		}
		typists[i] = c
		wg.Add(1)
		go func() { defer wg.Done(); c.typeUntilCut(ctx, &acks) }()
	}
	late := &wsClient{name: "late", acked: map[uint64]string{}}
	if _, err := late.join(ctx, srv.base, "k"); err != nil {
		t.Fatal(err)
	}
	eventuallyT(t, "40 acknowledged ops", func() bool { return acks.Load() >= 40 })
	if err := late.send(ctx); err != nil {
		t.Fatal(err)
	}
	eventuallyT(t, "the late op committed", func() bool {
		return strings.Contains(mustHTTP(t, "GET", srv.base+"/api/v1/docs/k/text", "", 200), late.inflight)
	})
	srv.kill(t)
	wg.Wait()

	srv = startServer(t, bin, data)
	resent := map[string]bool{}
	for _, c := range append(typists, late) {
		c.conn.CloseNow()
		catchUp, err := c.join(ctx, srv.base, "k")
		if err != nil {
			t.Fatal(err)
		}
		if c.inflight == "" {
			continue
		}
		var committed uint64 // Version of the op in flight if it was committed.
		for _, op := range catchUp {
			if op.Session == c.session && op.Seq == c.seq {
				committed = op.Version
			}
		}
		token := c.inflight
		if err := c.send(ctx); err != nil {
			t.Fatal(err)
		}
		v, err := c.awaitAck(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if committed != 0 && v != committed || c == late && committed == 0 {
			t.Errorf("%s: resent op acknowledged at v%d, committed at v%d", c.name, v, committed)
		}
		resent[token] = true
	}
	text := mustHTTP(t, "GET", srv.base+"/api/v1/docs/k/text", "", 200)
	total := 0
	for _, c := range append(typists, late) {
		for seq, tok := range c.acked {
			if n := strings.Count(text, tok); n != 1 {
				t.Errorf("%s seq %d (%s): %d times in the text (resent: %v)", c.name, seq, tok, n, resent[tok])
			}
			total++
		}
	}
	if n := strings.Count(text, "<"); n != total {
		t.Errorf("%d ops in the text, %d acknowledged", n, total)
	}
	t.Logf("%d acknowledged ops, %d resent after the kill", total, len(resent))
}

// testSecondServer: a second server on a data directory in use exits at
// once with a clear message, and the first one keeps serving.
func testSecondServer(t *testing.T, bin string) {
	data := t.TempDir()
	first := startServer(t, bin, data)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, "serve", "--addr", freeAddr(t), "--data", data).CombinedOutput()
	took := time.Since(start)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "another folio server") {
		t.Fatalf("second server: %v\n%s", err, out)
	}
	if took > 10*time.Second {
		t.Errorf("refused after %v", took)
	}
	t.Logf("second server refused in %v", took)
	mustHTTP(t, "POST", first.base+"/api/v1/docs", `{"id":"still"}`, http.StatusCreated)
	if _, err := os.Stat(filepath.Join(data, DBFile)); err != nil {
		t.Fatal(err)
	}
}

// testDamagedDatabase: check, export and restore on a database file with a
// damaged page, or cut short, exit 1 with a message (or 0 where the page is
// unused), never with a Go panic or fault and its stack trace.
func testDamagedDatabase(t *testing.T, bin string) {
	data := seedData(t, strings.Repeat("a line of text\n", 50))
	good, err := os.ReadFile(filepath.Join(data, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	damaged := map[string][]byte{"cut short after two pages": good[:2*page]}
	for p := 0; p < 16 && (p+1)*page <= len(good); p++ {
		b := bytes.Clone(good)
		copy(b[p*page:(p+1)*page], bytes.Repeat([]byte{0xa5}, page))
		damaged[fmt.Sprintf("page %d overwritten", p)] = b
	}
	// Branch pages, in a database with many documents, whose first element
	// points far past the file: bbolt's own check (tx.Check) walks them on
	// a goroutine of its own, where the memory fault cannot be recovered
	// and ended the process. Every branch page, since some are free.
	many := seedMany(t, 300)
	b, err := os.ReadFile(filepath.Join(many, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for off := 2 * page; off+page <= len(b); off += page {
		if binary.LittleEndian.Uint16(b[off+8:]) == 0x01 { // A branch page.
			// Its first element's page id: 4 TiB into the file, past bbolt's
			// mapping but within its largest one (an id past that is an
			// index out of range, which bbolt's check recovers).
			binary.LittleEndian.PutUint64(b[off+16+8:], 1<<30)
			damaged["a branch element past the file"] = b
		}
	}
	if damaged["a branch element past the file"] == nil {
		t.Fatal("no branch page in a database of 300 documents")
	}
	for name, b := range damaged {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, DBFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"check", "--data", dir},
			{"export", "doc", "--data", dir},
			{"restore", "--data", t.TempDir(), filepath.Join(dir, DBFile)},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
			cancel()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code > 1 || strings.Contains(string(out), "goroutine ") {
				t.Errorf("%s: folio %s: exit %d:\n%.600s", name, args[0], code, out)
			}
		}
	}
}

// seedMany makes a data directory holding n small documents.
func seedMany(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, DBFile), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range n {
		if _, err := db.Create(context.Background(), fmt.Sprintf("doc-%04d", i), "text"); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func eventuallyT(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
