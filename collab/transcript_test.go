package collab

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// transcript records the frames of a scripted session, in the order the
// script sends and receives them.
type transcript struct {
	t   *testing.T
	buf bytes.Buffer
}

func (tr *transcript) send(who string, c *testClient, raw string) {
	tr.t.Helper()
	c.sendRaw(raw)
	fmt.Fprintf(&tr.buf, "%s> %s\n", who, raw)
}

func (tr *transcript) recv(who string, c *testClient, typ string) {
	tr.t.Helper()
	fmt.Fprintf(&tr.buf, "%s< %s\n", who, c.expectExactly(typ))
}

// TestGoldenTranscript pins the v1 wire format: docs/protocol.md quotes it.
// Regenerate with: go test ./collab -run TestGoldenTranscript -update
func TestGoldenTranscript(t *testing.T) {
	ts := newTestServer(t, Options{})
	tr := &transcript{t: t}
	a := dialTest(t, ts.url+"notes")
	tr.send("A", a, `{"type":"hello","key":"ann-5d1c0f3e9a7b2c48","user":{"name":"Ann","color":"#3366ff"}}`)
	tr.recv("A", a, TypeWelcome)
	tr.send("A", a, `{"type":"op","seq":1,"version":0,"op":["Hello 🎉"]}`)
	tr.recv("A", a, TypeAck)

	b := dialTest(t, ts.url+"notes")
	tr.send("B", b, `{"type":"hello","key":"bob-8e2a6f41c9d07b35","user":{"name":"Bob","color":"not a colour"}}`)
	tr.recv("B", b, TypeWelcome)
	tr.recv("A", a, TypePresence)
	tr.send("B", b, `{"type":"presence","version":1,"cursor":{"anchor":7,"head":7}}`)
	tr.recv("A", a, TypePresence)
	tr.send("B", b, `{"type":"op","seq":1,"version":1,"op":[5,{"d":1},", world "]}`)
	tr.recv("B", b, TypeAck)
	tr.recv("A", a, TypeOp)
	tr.send("A", a, `{"type":"op","seq":2,"version":1,"op":[7,"!"]}`)
	tr.recv("A", a, TypeAck)
	tr.recv("B", b, TypeOp)
	tr.send("A", a, `{"type":"ping"}`)
	tr.recv("A", a, TypePong)
	tr.send("A", a, `{"type":"op","seq":3,"version":9,"op":["x"]}`)
	tr.recv("A", a, TypeError)
	b.close()
	tr.recv("A", a, TypeLeave)

	b2 := dialTest(t, ts.url+"notes")
	tr.send("B", b2, `{"type":"hello","key":"bob-8e2a6f41c9d07b35","version":1,"user":{"name":"Bob"}}`)
	tr.recv("B", b2, TypeWelcome)
	tr.recv("A", a, TypePresence)
	tr.send("B", b2, `{"type":"op","seq":1,"version":1,"op":[5,{"d":1},", world "]}`)
	tr.recv("B", b2, TypeAck)

	golden := filepath.Join("testdata", "transcript.golden")
	if *update {
		if err := os.WriteFile(golden, tr.buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(tr.buf.Bytes(), want) {
		t.Fatalf("transcript differs from %s:\n%s", golden, tr.buf.String())
	}
}
