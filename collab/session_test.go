package collab

import (
	"encoding/json"
	"testing"
)

func TestTwoClientsEditAndConverge(t *testing.T) {
	ts := newTestServer(t, Options{})
	a := dialTest(t, ts.url+"doc1")
	wa := a.hello(ClientMsg{User: &User{Name: "Ann", Color: "#3366FF"}})
	if wa.Text == nil || *wa.Text != "" || wa.Version != 0 || wa.Role != "edit" || len(wa.Peers) != 0 {
		t.Fatalf("welcome A: %+v", wa)
	}
	b := dialTest(t, ts.url+"doc1")
	wb := b.hello(ClientMsg{User: &User{Name: "Bob", Color: "nope"}})
	if len(wb.Peers) != 1 || wb.Peers[0].Name != "Ann" || wb.Peers[0].Color != "#3366ff" {
		t.Fatalf("welcome B peers: %+v", wb.Peers)
	}

	a.sendRaw(opJSON(1, 0, `["héllo 🎉"]`))
	var ack Ack
	a.expectInto(TypeAck, &ack)
	if ack.Seq != 1 || ack.Version != 1 {
		t.Fatalf("ack %+v", ack)
	}
	var op OpMsg
	b.expectInto(TypeOp, &op)
	if op.Version != 1 || op.Session != wa.Session || op.Seq != 1 {
		t.Fatalf("broadcast %+v", op)
	}

	// Concurrent edits on version 1: B's is rebased over A's.
	a.sendRaw(opJSON(2, 1, `[7,"A"]`))
	a.expectInto(TypeAck, &ack)
	b.sendRaw(opJSON(1, 1, `[7,"B"]`))
	b.expect(TypeOp) // A's op (version 2)
	var bAck Ack
	b.expectInto(TypeAck, &bAck)
	if bAck.Version != 3 {
		t.Fatalf("B ack %+v", bAck)
	}
	var aSees OpMsg
	a.expectInto(TypeOp, &aSees)
	got, _ := json.Marshal(aSees.Op)
	if string(got) != `[7,"B"]` { // Left: the later op's insert goes first at a tie.
		t.Fatalf("rebased op %s", got)
	}
	text, v := textOf(t, ts.db, "doc1")
	if text != "héllo 🎉BA" || v != 3 {
		t.Fatalf("stored %q@%d", text, v)
	}
}
