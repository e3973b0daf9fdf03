package web

// The harness of the editor tests: one Chromium driven by chromedp (tabs,
// JS conditions polled with a deadline, real key presses), a page that
// frames the embed from another origin, and a TCP proxy that cuts the
// network.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// browser is one Chromium shared by every subtest; each page is a tab.
type browser struct{ ctx context.Context }

func newBrowser(t testing.TB) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("Chromium is required for the editor tests (apt-get install -y chromium): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		// Names under .example reach the test servers on 127.0.0.1, as a
		// DNS name the server was not told to answer to would.
		chromedp.Flag("host-resolver-rules", "MAP *.example 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(960, 600),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}
	return &browser{ctx: ctx}
}

type tab struct {
	ctx context.Context
	url string
}

// open loads url in a new tab, closed at the end of the (sub)test.
func (b *browser) open(t testing.TB, url string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	// The first Do binds the tab's life to its context: no timeout on that one.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, waitFor)
	defer tcancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return &tab{ctx: ctx, url: url}
}

// prefers sets the prefers-color-scheme the tab reports ("light" or
// "dark"), as a user's system setting would; pages see a change at once.
func (tb *tab) prefers(t *testing.T, scheme string) {
	t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
	if err != nil {
		t.Fatalf("prefers-color-scheme %s: %v", scheme, err)
	}
}

// viewport sets the tab's window to width × height CSS pixels, as a phone's
// (mobile: a touch screen, meta viewport honoured).
func (tb *tab) viewport(t *testing.T, width, height int64) {
	t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: width, Height: height, DeviceScaleFactor: 1, Mobile: true})
	if err != nil {
		t.Fatalf("viewport %dx%d: %v", width, height, err)
	}
}

// touch makes the tab's screen a touch screen (pointer: coarse), as a phone's.
func (tb *tab) touch(t *testing.T) {
	t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{
		Enabled: true, MaxTouchPoints: 5})
	if err != nil {
		t.Fatalf("touch screen: %v", err)
	}
}

// navigate loads url in the tab.
func (tb *tab) navigate(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	tb.url = url
}

// bounded returns the tab's context limited to waitFor, for one step.
func (tb *tab) bounded() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.ctx, waitFor)
}

func (tb *tab) eval(t testing.TB, expr string) {
	t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](expr)); err != nil {
		t.Fatalf("%s: eval %s: %v", tb.url, expr, err)
	}
}

func (tb *tab) evalInt(t testing.TB, expr string) int {
	t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		t.Fatalf("%s: eval %s: %v", tb.url, expr, err)
	}
	return n
}

// axNames lists the accessible names Chromium computes for the page's
// nodes of role (e.g. "button"), as a screen reader gets them.
func (tb *tab) axNames(t *testing.T, role string) []string {
	t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	tree, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		t.Fatalf("%s: accessibility tree: %v", tb.url, err)
	}
	var names []string
	for _, n := range tree.Nodes {
		var r, name string
		if n.Ignored || n.Role == nil || n.Name == nil || json.Unmarshal(n.Role.Value, &r) != nil || r != role {
			continue
		}
		if json.Unmarshal(n.Name.Value, &name) == nil {
			names = append(names, name)
		}
	}
	return names
}

func (tb *tab) text(t *testing.T) string {
	t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`folio.view.state.doc.toString()`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitJS polls a JS condition until it is true or waitFor passes. The
// polling runs here, not in the page: the page's CSP forbids eval.
func (tb *tab) waitJS(t testing.TB, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		ctx, cancel := tb.bounded()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("Boolean("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waiting for %s: last error %v; page state %s", tb.url, what, err, tb.debugState())
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline, as eventually does
	}
}

func (tb *tab) debugState() string {
	ctx, cancel := tb.bounded()
	defer cancel()
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		text: window.folio ? (t => t.length > 400 ? t.slice(0, 400) + '… (' + t.length + ' UTF-16 units)' : t)(folio.view.state.doc.toString()) : null,
		status: document.getElementById('status')?.textContent,
		unsynced: window.folio ? folio.client.unsynced : null,
		msgs: window.msgs})`))
	if err != nil {
		return err.Error()
	}
	return state
}

func (tb *tab) waitSaved(t testing.TB) {
	t.Helper()
	tb.waitJS(t, "connected and saved", `window.folio !== undefined && document.getElementById('status').dataset.state === 'saved'`)
}

// typeKeys types s: '\n' is Enter, '\b' is Backspace, '\x1a' is Ctrl+Z (key
// presses handled by CodeMirror's keymap), anything else is inserted one code point
// at a time as an input method would.
func (tb *tab) typeKeys(s string) error {
	ctx, cancel := tb.bounded()
	defer cancel()
	for _, r := range s {
		var err error
		switch r {
		case '\n':
			err = tb.key(ctx, "Enter", "Enter", 13, 0)
		case '\b':
			err = tb.key(ctx, "Backspace", "Backspace", 8, 0)
		case '\x1a':
			err = tb.key(ctx, "z", "KeyZ", 90, 2)
		default:
			_, err = chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: string(r)})
		}
		if err != nil {
			return fmt.Errorf("%s: typing %q: %w", tb.url, r, err)
		}
	}
	return nil
}

// key presses one key without a char event (modifiers: 2 is Ctrl).
func (tb *tab) key(ctx context.Context, key, code string, vk int64, modifiers int64) error {
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
		_, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: typ, Key: key, Code: code, WindowsVirtualKeyCode: vk, NativeVirtualKeyCode: vk, Modifiers: modifiers,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// saveSideBySide writes the two tabs' screenshots next to each other.
func saveSideBySide(t *testing.T, path string, left, right *tab) {
	t.Helper()
	var imgs []image.Image
	for _, tb := range []*tab{left, right} {
		tb.eval(t, `document.activeElement.blur()`) // keep only the remote carets and labels
		buf, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(buf))
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	const gap = 12
	w := imgs[0].Bounds().Dx() + gap + imgs[1].Bounds().Dx()
	h := max(imgs[0].Bounds().Dy(), imgs[1].Bounds().Dy())
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.RGBA{0x2c, 0x31, 0x3c, 0xff}), image.Point{}, draw.Src)
	draw.Draw(out, imgs[0].Bounds(), imgs[0], image.Point{}, draw.Src)
	draw.Draw(out, imgs[1].Bounds().Add(image.Pt(imgs[0].Bounds().Dx()+gap, 0)), imgs[1], image.Point{}, draw.Src)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, out); err != nil {
		t.Fatal(err)
	}
}

// newFrameHost serves a page on its own 127.0.0.1 port that frames ?src=
// and records every message it receives in window.msgs.
func newFrameHost(t *testing.T) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		src, _ := json.Marshal(r.URL.Query().Get("src"))
		fmt.Fprintf(w, `<!doctype html><title>host</title>
<script>window.msgs = []; addEventListener('message', e => msgs.push({origin: e.origin, data: e.data}));</script>
<iframe id="frame" width="600" height="300"></iframe>
<script>document.getElementById('frame').src = %s;</script>`, src)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// cutProxy forwards TCP to the server and can cut every connection and
// refuse new ones, as a dropped network would, then let them through again.
type cutProxy struct {
	url    string
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{url: "http://" + ln.Addr().String(), ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		p.wg.Go(func() { p.pipe(c) })
	}
}

func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *cutProxy) pipe(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(s) {
		if s != nil {
			s.Close()
		}
		return
	}
	defer s.Close()
	var inner sync.WaitGroup
	inner.Go(func() {
		io.Copy(s, c)
		s.Close()
	})
	io.Copy(c, s)
	c.Close()
	inner.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// cut closes every connection and refuses new ones until restore.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func (p *cutProxy) close() {
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}
