package web

import (
	"testing"
)

// TestEventSourceSurvivesRestart: a real browser's EventSource, the viewer
// of a server that restarts. The drain ends its stream; its reconnect lands
// on the server still draining and is refused, which must not make it give
// up (EventSource fails for good on any answer but 200 text/event-stream);
// once the next server is behind the address it resumes after its
// Last-Event-ID and goes on receiving ops. It takes two reconnect delays
// (2 to 4 s each).
func TestEventSourceSurvivesRestart(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create("viewed", "")
	front := newSwitch(t, e.srv)
	b := newBrowser(t)
	tab := b.open(t, front.url+"/healthz") // Any page of the origin.
	tab.eval(t, `(() => {
		const s = window.sse = {ops: [], reconnects: [], snapshot: null};
		const es = window.es = new EventSource('/api/v1/docs/`+id+`/events');
		es.addEventListener('snapshot', e => { s.snapshot = e.lastEventId; });
		es.addEventListener('op', e => { s.ops.push(e.lastEventId); });
		es.addEventListener('reconnect', e => { s.reconnects.push(JSON.parse(e.data).code); });
	})()`)
	tab.waitJS(t, "the snapshot", `sse.snapshot === '0'`)
	e.postOp(id, 0, `["a"]`)
	tab.waitJS(t, "op 1", `sse.ops.includes('1')`)

	e.srv.Drain()
	eventually(t, "a reconnect to the draining server", func() bool { return front.streams.Load() >= 2 })
	front.to(New(Options{Hub: e.hub, Store: e.db, Logger: e.srv.log}))
	e.postOp(id, 1, `["b"]`)
	tab.waitJS(t, "op 2 from the next server", `sse.ops.includes('2') && sse.ops.length === 2`)
	tab.waitJS(t, "the reasons", `sse.reconnects.length >= 2 && sse.reconnects.every(c => c === 'unavailable')`)
}
