package web

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// metricName matches the Name of a metric's options in Go source.
var metricName = regexp.MustCompile(`Name:\s*"(folio_[a-z0-9_]+)"`)

// metricRow matches a row of apiDoc's metrics table.
var metricRow = regexp.MustCompile("(?m)^\\| `(folio_[a-z0-9_]+)` \\|")

// metricMention matches a metric's name anywhere in a document.
var metricMention = regexp.MustCompile(`\bfolio_[a-z0-9_]+`)

// TestMetricsDocumented keeps the metrics table of docs/api.md (GET
// /metrics) and the metrics that web and collab register in step: every
// folio_ metric named in their source has a row, and every row, and every
// metric the other operator docs name, is such a metric. The source is read, not /metrics, because a metric with labels is
// exposed only once it has a value.
func TestMetricsDocumented(t *testing.T) {
	registered := map[string]bool{}
	for _, dir := range []string{".", "../collab"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range metricName.FindAllStringSubmatch(string(b), -1) {
				registered[m[1]] = true
			}
		}
	}
	if !registered["folio_http_requests_total"] || !registered["folio_ws_connections"] {
		t.Fatalf("found only %v: did metric registration change shape?", registered)
	}
	b, err := os.ReadFile(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range metricRow.FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = true
	}
	var missing, unknown []string
	for name := range registered {
		if !documented[name] {
			missing = append(missing, name)
		}
	}
	for name := range documented {
		if !registered[name] {
			unknown = append(unknown, name)
		}
	}
	// Metrics named in passing elsewhere ("folio_storage_*" names a family).
	for _, doc := range []string{"../README.md", apiDoc, "../docs/protocol.md", "../docs/security.md", "../docs/embed.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range metricMention.FindAllString(string(b), -1) {
			prefix, family := strings.CutSuffix(name, "_")
			if family && !slices.ContainsFunc(slices.Collect(maps.Keys(registered)), func(r string) bool {
				return strings.HasPrefix(r, prefix+"_")
			}) || !family && !registered[name] {
				t.Errorf("%s names metric %s, which is not registered", doc, name)
			}
		}
	}
	slices.Sort(missing)
	slices.Sort(unknown)
	for _, name := range missing {
		t.Errorf("metric %s has no row in %s's metrics table", name, apiDoc)
	}
	for _, name := range unknown {
		t.Errorf("%s documents metric %s, which is not registered", apiDoc, name)
	}
}
