package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/foliodocs/folio/collab"
)

// TestEditorCatchUpOverBudget: a page that comes back from offline after
// others committed ops weighing more than the catch-up's byte budget
// (collab.Options.CatchUpBytes; here the budget is 4 bytes per code point
// of the text) gets a welcome with the whole text instead of the ops,
// though it missed far fewer ops than CatchUpLimit. What it typed offline
// is rebased onto that text: applied once, where it was typed, and saved,
// whether the op it had in flight when the connection dropped was
// committed before the snapshot, was lost on the way, or there was none.
// The others' ops each replace the whole text, as an integration that
// writes its text back does: had the page transformed its typing over
// them, the typing would have moved to the start of the text.
func TestEditorCatchUpOverBudget(t *testing.T) {
	env := newEnvWith(t, func(o *collab.Options) { o.CatchUpBytes = 1 }, nil)
	proxy := newCutProxy(t, env.ts.Listener.Addr().String())
	b := newBrowser(t)

	// rewrite commits, over REST, ops that each replace the whole text
	// with itself changed by one of edits, and returns the final text.
	rewrite := func(t *testing.T, id string) string {
		t.Helper()
		edits := []func(string) string{
			func(s string) string { return strings.Replace(s, "one", "ONE", 1) },
			func(s string) string { return s + "four\n" },
			func(s string) string { return strings.Replace(s, "three", "THREE", 1) },
			func(s string) string { return "# 🎉 " + s },
		}
		var text string
		for _, edit := range edits {
			var meta versionResponse
			env.get("/api/v1/docs/"+id).json(t, &meta)
			text = env.text(id)
			ins, _ := json.Marshal(edit(text))
			env.postOp(id, meta.Version, fmt.Sprintf(`[{"d":%d},%s]`, utf8.RuneCountInString(text), ins))
			text = edit(text)
		}
		return text
	}
	// open opens a page on a new document "one\ntwo\nthree\n" with the
	// caret after "two", and records what its welcomes carry in
	// window.welcomes.
	open := func(t *testing.T, id string) *tab {
		t.Helper()
		env.create(id, "one\ntwo\nthree\n")
		tb := b.open(t, proxy.url+"/d/"+id)
		tb.waitSaved(t)
		tb.eval(t, `window.welcomes = [], folio.client.welcome = (f => w => (welcomes.push(w.text != null ? 'text' : 'ops'), f(w)))(
			folio.client.welcome.bind(folio.client))`)
		tb.eval(t, `folio.view.dispatch({selection: {anchor: 7}}), folio.view.focus()`)
		return tb
	}
	// offline cuts tb's connection, types s while offline, and has the
	// others rewrite the text meanwhile; then the network comes back.
	offline := func(t *testing.T, id string, tb *tab, s string) string {
		t.Helper()
		proxy.cut()
		tb.waitJS(t, "offline", `document.getElementById('status').dataset.state === 'offline'`)
		if err := tb.typeKeys(s); err != nil {
			t.Fatal(err)
		}
		tb.waitJS(t, "the typing pending", `folio.client.buffer !== null`)
		final := rewrite(t, id)
		proxy.restore()
		return final
	}
	// textWelcome checks that the reconnect's welcome carried the text.
	textWelcome := func(t *testing.T, tb *tab) {
		t.Helper()
		tb.waitJS(t, "one welcome, with the text", `welcomes.join() === 'text'`)
	}

	t.Run("Pending", func(t *testing.T) {
		id := "catch-up-pending"
		tb := open(t, id)
		if final := offline(t, id, tb, " 2👍"); final != "# 🎉 ONE\ntwo\nTHREE\nfour\n" {
			t.Fatalf("the others' text %q", final)
		}
		converged(t, env, id, "# 🎉 ONE\ntwo 2👍\nTHREE\nfour\n", tb)
		textWelcome(t, tb)
	})

	// The op in flight was committed, but its ack never arrived: the page
	// learns from the answer to its resend that the snapshot holds it.
	t.Run("InFlightCommitted", func(t *testing.T) {
		id := "catch-up-committed"
		tb := open(t, id)
		tb.eval(t, `folio.client.ack = () => {}`)
		if err := tb.typeKeys("X"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the op in flight committed", func() bool { return env.text(id) == "one\ntwoX\nthree\n" })
		tb.eval(t, `delete folio.client.ack`)
		offline(t, id, tb, " 2👍")
		converged(t, env, id, "# 🎉 ONE\ntwoX 2👍\nTHREE\nfour\n", tb)
		textWelcome(t, tb)
	})

	// The op in flight never reached the server: its resend commits it.
	t.Run("InFlightLost", func(t *testing.T) {
		id := "catch-up-lost"
		tb := open(t, id)
		tb.eval(t, `window.realSend = folio.client.host.send, folio.client.host.send = m => m.type === 'op' || realSend(m)`)
		if err := tb.typeKeys("X"); err != nil {
			t.Fatal(err)
		}
		tb.waitJS(t, "the op in flight", `folio.client.inflight !== null`)
		tb.eval(t, `folio.client.host.send = realSend`)
		if got := env.text(id); got != "one\ntwo\nthree\n" {
			t.Fatalf("the lost op reached the server: %q", got)
		}
		offline(t, id, tb, " 2👍")
		converged(t, env, id, "# 🎉 ONE\ntwoX 2👍\nTHREE\nfour\n", tb)
		textWelcome(t, tb)
	})
}
