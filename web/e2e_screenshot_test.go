package web

import (
	"bytes"
	"encoding/hex"
	"image/color"
	"image/png"
	"net/url"
	"os"
	"regexp"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// maxScreenshotBytes keeps the README's picture light to clone and load.
const maxScreenshotBytes = 150 << 10

// TestEditorScreenshot writes docs/editor.png, the README's picture: two
// editors in Chromium on one Markdown document, each showing the other's
// caret and name. It runs only when EDITOR_SCREENSHOT names the file to
// write (from the repository's root):
//
//	EDITOR_SCREENSHOT=$PWD/docs/editor.png go test -run TestEditorScreenshot ./web/
//
// It checks what the picture is meant to show before taking it, and that
// the file stays under maxScreenshotBytes.
func TestEditorScreenshot(t *testing.T) {
	path := os.Getenv("EDITOR_SCREENSHOT")
	if path == "" {
		t.Skip("set EDITOR_SCREENSHOT to the PNG file to write (docs/editor.png)")
	}
	env := newEnv(t, nil)
	b := newBrowser(t)
	id := env.create("launch-notes", "# Launch notes\n\nFolio keeps **everyone's edits** in step while they type.\n\n"+
		"## This week\n\n- [x] Draft the announcement\n- [ ] Review the *pricing* page\n- [ ] Record the demo\n\n"+
		"> Ship when every box is ticked.\n")
	ann := b.open(t, env.url+"/d/"+id+"?name=Ann&color="+url.QueryEscape(annColor))
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob&color="+url.QueryEscape(bobColor))
	for _, tb := range []*tab{ann, bob} {
		// A desktop window tall enough for the whole side panel.
		ctx, cancel := tb.bounded()
		_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: 960, Height: 520, DeviceScaleFactor: 1})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		tb.waitSaved(t)
	}
	// Ann's caret after "pricing"; Bob selects "Record the demo".
	ann.eval(t, `(d => folio.view.dispatch({selection: {anchor: d.toString().indexOf('pricing*') + 7}}))(folio.view.state.doc), folio.view.focus()`)
	bob.eval(t, `(d => folio.view.dispatch({selection: {anchor: d.toString().indexOf('Record'), head: d.toString().indexOf(' demo') + 5}}))(folio.view.state.doc), folio.view.focus()`)
	bob.waitJS(t, "Ann's caret and name", caretCheck("Ann", "rgb(230, 25, 75)", "Review the *pricing* page"))
	ann.waitJS(t, "Bob's caret and name", caretCheck("Bob", "rgb(67, 99, 216)", "Record the demo"))
	ann.waitJS(t, "Bob's selection", `[...document.querySelectorAll('.cm-remote-selection')].map(e => e.textContent).join('') === 'Record the demo'`)
	for _, tb := range []*tab{ann, bob} {
		tb.waitJS(t, "both listed, the links filled", `document.querySelectorAll('#participants li').length === 2 &&
			document.getElementById('readonly-link').value !== ''`)
	}
	// A name label fades LABEL_SHOWN_FOR (2.5 s) after its person last moved:
	// a machine slow enough to get here later takes a picture without names.
	for _, tb := range []*tab{ann, bob} {
		if tb.evalInt(t, `[...document.querySelectorAll('.cm-remote-label')].every(l => getComputedStyle(l).opacity === '1') ? 1 : 0`) != 1 {
			t.Fatal("the name labels faded before the picture was taken")
		}
	}
	saveSideBySide(t, path, ann, bob)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > maxScreenshotBytes {
		t.Errorf("%s is %d bytes; keep it under %d", path, fi.Size(), maxScreenshotBytes)
	}
}

// TestReadmeScreenshotIsCurrent: docs/editor.png stays under
// maxScreenshotBytes and shows the editor's current accent colour (the
// light theme's --accent, as on the Copy buttons and links), so that a
// change of the palette without a new picture (TestEditorScreenshot) fails
// here rather than leaving the README showing an older editor.
func TestReadmeScreenshotIsCurrent(t *testing.T) {
	raw, err := os.ReadFile("../docs/editor.png")
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > maxScreenshotBytes {
		t.Errorf("docs/editor.png is %d bytes; keep it under %d", len(raw), maxScreenshotBytes)
	}
	css, err := os.ReadFile("ui/src/folio.css")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`--accent: #([0-9a-f]{6});`).FindSubmatch(css)
	if m == nil {
		t.Fatal("no --accent in folio.css")
	}
	accent, err := hex.DecodeString(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	n, b := 0, img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if c.R == accent[0] && c.G == accent[1] && c.B == accent[2] {
				n++
			}
		}
	}
	if n < 50 { // The Copy buttons' and export links' text, in two editors.
		t.Errorf("docs/editor.png has %d pixels of --accent #%s: it shows an older editor; "+
			"regenerate it with TestEditorScreenshot (see README)", n, m[1])
	}
}
