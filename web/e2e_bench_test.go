package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// BenchmarkEditorLargeDocument measures, in Chromium, what one edit or one
// remote cursor costs the page in a 200,000-line document, at its start and
// at its end: a local keystroke (CodeMirror's update and its conversion to
// a code point op), a remote op applied (converted back to UTF-16 offsets),
// and a remote cursor placed. The figure reported as ns/op is the time the
// page spends, measured inside it with performance.now(), not the DevTools
// round trip around it. text=emoji has a surrogate pair on every 100th line.
func BenchmarkEditorLargeDocument(b *testing.B) {
	env := newEnv(b, func(o *Options) { o.MaxBodyBytes = 4 << 20 })
	br := newBrowser(b)
	for _, kind := range []string{"ascii", "emoji"} {
		b.Run("text="+kind, func(b *testing.B) {
			var sb strings.Builder
			for i := range 200000 {
				fmt.Fprintf(&sb, "L%06d", i)
				if kind == "emoji" && i%100 == 0 {
					sb.WriteString(" 🎉")
				}
				sb.WriteByte('\n')
			}
			id := env.create("large-"+kind, sb.String())
			tab := br.open(b, env.url+"/d/"+id)
			tab.waitSaved(b)
			for _, where := range []string{"start", "end"} {
				// pos and cp are the place in UTF-16 units and in code points.
				pos, cp := "0", "0"
				if where == "end" {
					pos, cp = "folio.view.state.doc.length", "[...folio.view.state.doc.toString()].length"
				}
				b.Run("remote-op-"+where, func(b *testing.B) {
					tab.eval(b, "window.benchCP = "+cp)
					pageTime(b, tab, `folio.applyRemote([benchCP, "x"], "bench"), folio.applyRemote([benchCP, {d: "x"}], "bench")`, 2)
				})
				b.Run("remote-cursor-"+where, func(b *testing.B) {
					tab.eval(b, "window.benchCP = "+cp)
					pageTime(b, tab, `folio.onPresence({session: "bench", name: "Bench", color: "#4363d8",
						version: folio.client.version, cursor: {anchor: benchCP, head: benchCP}})`, 1)
				})
				b.Run("local-edit-"+where, func(b *testing.B) {
					pageTime(b, tab, `folio.view.dispatch({changes: {from: `+pos+`, insert: "x"}})`, 1)
					tab.waitSaved(b)
				})
			}
		})
	}
}

// pageTime runs the JavaScript statement stmt (n operations) once per
// iteration and reports the page's own time per operation as ns/op.
func pageTime(b *testing.B, tab *tab, stmt string, n int) {
	expr := `(() => { const t0 = performance.now(); ` + stmt + `; return performance.now() - t0 })()`
	var ms float64
	for b.Loop() {
		ctx, cancel := tab.bounded()
		d, err := chromedp.Run(ctx, chromedp.Evaluate[float64](expr))
		cancel()
		if err != nil {
			b.Fatalf("%s: %v", stmt, err)
		}
		ms += d
	}
	b.ReportMetric(ms*1e6/float64(b.N*n), "ns/op")
}
