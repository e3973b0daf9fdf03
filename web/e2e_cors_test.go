package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCORSInBrowser: a browser app served from another origin (another
// 127.0.0.1 port) uses the API with fetch(), a bearer token (so every
// request but the GETs is preflighted) and an EventSource, on a server that
// lists its origin in CORSOrigins, and reads the 414 of a query too long
// (refused before CORS runs); a server that does not list it lets it read
// nothing and change nothing.
func TestCORSInBrowser(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>app</title>`)
	}))
	t.Cleanup(app.Close)
	allowing := newEnv(t, func(o *Options) {
		o.CORSOrigins = []string{app.URL}
		o.Authorize = fakeAuthorize
	})
	refusing := newEnv(t, nil)
	refusing.create("d", "secret")
	b := newBrowser(t)

	t.Run("Allowed", func(t *testing.T) {
		tab := b.open(t, app.URL+"/")
		tab.eval(t, `(async base => {
			const r = window.r = {ops: []};
			const auth = {'Authorization': 'Bearer admin'};
			try {
				let res = await fetch(base + '/api/v1/docs', {method: 'POST', body: '{"id":"d","text":"hi"}',
					headers: {...auth, 'Content-Type': 'application/json'}});
				r.create = res.status; r.location = res.headers.get('Location');
				res = await fetch(base + '/api/v1/docs/d/text', {headers: auth});
				r.text = await res.text(); r.etag = res.headers.get('ETag'); r.version = res.headers.get('X-Folio-Version');
				res = await fetch(base + '/api/v1/docs/d/text', {method: 'PUT', body: 'hello',
					headers: {...auth, 'If-Match': r.etag, 'Content-Type': 'text/plain'}});
				r.put = res.status;
				res = await fetch(base + '/api/v1/docs/d/text', {method: 'PUT', body: 'x', headers: {'If-Match': r.etag}});
				r.refused = res.status + ' ' + (await res.json()).error.code;
				res = await fetch(base + '/api/v1/docs/d/export/md', {headers: auth});
				r.export = await res.text(); r.disposition = res.headers.get('Content-Disposition');
				res = await fetch(base + '/api/v1/docs/d/text?x=' + 'q'.repeat(9000));
				r.tooLong = res.status + ' ' + (await res.json()).error.code;
			} catch (e) {
				r.error = String(e);
			}
			const es = new EventSource(base + '/api/v1/docs/d/events?token=view-d');
			es.addEventListener('snapshot', e => { r.snapshot = JSON.parse(e.data).text; });
			es.addEventListener('op', e => { r.ops.push(e.lastEventId); });
			es.onerror = () => { r.streamError = es.readyState; };
		})(`+jsString(allowing.url)+`)`)
		tab.waitJS(t, "the snapshot", `window.r && r.snapshot === 'hello'`)
		tab.waitJS(t, "what fetch read", `r.export === 'hello'`)
		want := map[string]any{"create": 201, "location": "/api/v1/docs/d", "text": "hi", "etag": `"0"`, "version": "0",
			"put": 200, "refused": "403 forbidden", "disposition": `attachment; filename="d.md"`, "tooLong": "414 uri_too_long"}
		for key, v := range want {
			if got := tab.evalString(t, `String(r.`+key+`)`); got != fmt.Sprint(v) {
				t.Errorf("%s: %q, want %q", key, got, fmt.Sprint(v))
			}
		}
		allowing.postOp("d", 1, `["¡"]`, "Authorization", "Bearer admin")
		tab.waitJS(t, "the op on the stream", `r.ops.includes('2')`)
		if got := tab.evalString(t, `String(r.error) + ' ' + String(r.streamError)`); got != "undefined undefined" {
			t.Errorf("errors: %s", got)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		tab := b.open(t, app.URL+"/")
		tab.eval(t, `(async base => {
			const r = window.r = {};
			const attempt = async (key, url, init) => {
				try { r[key] = 'read ' + await (await fetch(url, init)).text(); } catch (e) { r[key] = e.name; }
			};
			await attempt('read', base + '/api/v1/docs/d/text');
			await attempt('create', base + '/api/v1/docs', {method: 'POST', body: '{"id":"made"}',
				headers: {'Content-Type': 'application/json'}});
			await attempt('write', base + '/api/v1/docs/made/text', {method: 'PUT', body: 'x'});
			await attempt('simplePost', base + '/api/v1/docs', {method: 'POST', body: '{"id":"made2"}'});
			await attempt('tooLong', base + '/api/v1/docs/d/text?x=' + 'q'.repeat(9000));
			const es = new EventSource(base + '/api/v1/docs/d/events');
			es.addEventListener('snapshot', e => { r.snapshot = e.data; });
			es.onerror = () => { r.streamState = es.readyState; };
			r.done = true;
		})(`+jsString(refusing.url)+`)`)
		tab.waitJS(t, "the attempts", `window.r && r.done && r.streamState === EventSource.CLOSED`)
		for _, key := range []string{"read", "create", "write", "simplePost", "tooLong"} {
			if got := tab.evalString(t, `r.`+key); got != "TypeError" {
				t.Errorf("%s: %q, want a TypeError (refused by CORS)", key, got)
			}
		}
		if got := tab.evalString(t, `String(r.snapshot)`); got != "undefined" {
			t.Errorf("the stream read %s", got)
		}
		for _, id := range []string{"made", "made2"} {
			if r := refusing.get("/api/v1/docs/" + id); r.status != http.StatusNotFound {
				t.Errorf("a refused origin made %s: %d %s", id, r.status, r.body)
			}
		}
	})
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string { return string(must(json.Marshal(s))) }
