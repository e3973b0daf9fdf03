package web

import (
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/foliodocs/folio/collab"
)

// TestEditorUndoAfterResync: a page that missed more ops than the server
// sends to catch up gets the whole text in its welcome, and turns it into an
// op from the text it had. Others edited on both sides of the user's own
// edit meanwhile; the user's edit (acknowledged before the connection
// dropped, or typed offline and still pending) stays where it was made, and
// Ctrl+Z then undoes exactly it, nothing of the others' edits.
func TestEditorUndoAfterResync(t *testing.T) {
	env := newEnvWith(t, func(o *collab.Options) { o.CatchUpLimit = 2; o.OpWindow = 2 }, nil)
	proxy := newCutProxy(t, env.ts.Listener.Addr().String())
	b := newBrowser(t)

	// othersEdit makes, while tb is offline, more edits than the server sends
	// to catch up: one at the start and two at the end of the text.
	othersEdit := func(t *testing.T, id string, tb *tab, edit func()) {
		t.Helper()
		proxy.cut()
		tb.waitJS(t, "offline", `document.getElementById('status').dataset.state === 'offline'`)
		edit()
		for _, ins := range []string{"A", "B", "C"} {
			var meta versionResponse
			env.get("/api/v1/docs/"+id).json(t, &meta)
			op := `["A"]`
			if ins != "A" {
				op = fmt.Sprintf(`[%d,%q]`, utf8.RuneCountInString(env.text(id)), ins)
			}
			env.postOp(id, meta.Version, op)
		}
		proxy.restore()
	}

	t.Run("AcknowledgedInsert", func(t *testing.T) {
		id := env.create("undo-resync-ack", "hello world")
		tb := b.open(t, proxy.url+"/d/"+id)
		tb.waitSaved(t)
		tb.eval(t, `folio.view.dispatch({selection: {anchor: 5}}), folio.view.focus()`) // After "hello".
		if err := tb.typeKeys("X"); err != nil {
			t.Fatal(err)
		}
		converged(t, env, id, "helloX world", tb)
		othersEdit(t, id, tb, func() {})
		converged(t, env, id, "AhelloX worldBC", tb)
		if err := tb.typeKeys("\x1a"); err != nil {
			t.Fatal(err)
		}
		converged(t, env, id, "Ahello worldBC", tb)
	})

	t.Run("PendingDelete", func(t *testing.T) {
		id := env.create("undo-resync-pending", "hello world")
		tb := b.open(t, proxy.url+"/d/"+id)
		tb.waitSaved(t)
		tb.eval(t, `folio.view.dispatch({selection: {anchor: 5}}), folio.view.focus()`) // After "hello".
		othersEdit(t, id, tb, func() {
			if err := tb.typeKeys("\b"); err != nil { // Offline: the "o" goes, pending.
				t.Fatal(err)
			}
			tb.waitJS(t, "the edit pending", `folio.client.unsynced === 1`)
		})
		converged(t, env, id, "Ahell worldBC", tb)
		if err := tb.typeKeys("\x1a"); err != nil {
			t.Fatal(err)
		}
		converged(t, env, id, "Ahello worldBC", tb)
	})
}
