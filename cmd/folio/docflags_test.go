package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// operatorDocs are the documents an operator reads for the flags and the
// environment; docs/performance.md records runs and is not among them.
var operatorDocs = []string{"../../README.md", "../../docs/api.md", "../../docs/protocol.md",
	"../../docs/security.md", "../../docs/embed.md"}

var (
	docFlag   = regexp.MustCompile(`(?:^|[^\w-])--([a-z][a-z0-9-]*)`)
	helpFlag  = regexp.MustCompile(`(?m)^\s+--?([a-z][a-z0-9-]*)`)
	envVarRef = regexp.MustCompile(`\bFOLIO_[A-Z0-9_]+\b`)
	// flagTwin matches a flag written with its twin: "`--data` / `FOLIO_DATA`", "`--server` (`FOLIO_SERVER`".
	flagTwin = regexp.MustCompile("`--([a-z][a-z0-9-]*)`\\s*[/(]\\s*`(FOLIO_[A-Z0-9_]+)`")
)

// TestDocsNameRealFlags: every --flag and FOLIO_* variable the operator
// documentation names is one that some folio command's --help lists, so a
// renamed or removed setting cannot live on in the README; and a flag
// written with its twin is written with its own.
func TestDocsNameRealFlags(t *testing.T) {
	flags := map[string]bool{"help": true}
	envs := map[string]bool{}
	for name := range commands {
		if name == "version" {
			continue
		}
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{name, "--help"}, envMap(nil), &stdout, &stderr); code != 0 {
			t.Fatalf("folio %s --help: exit %d\n%s", name, code, stderr.String())
		}
		help := stdout.String() + stderr.String()
		for _, m := range helpFlag.FindAllStringSubmatch(help, -1) {
			flags[m[1]] = true
		}
		for _, v := range envVarRef.FindAllString(help, -1) {
			envs[v] = true
		}
	}
	if !flags["addr"] || !flags["ttl"] || !envs["FOLIO_ADDR"] || !envs["FOLIO_SERVER"] {
		t.Fatalf("the --help outputs changed shape; found flags %v, variables %v", flags, envs)
	}
	for _, doc := range operatorDocs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		var unknown []string
		for _, m := range docFlag.FindAllStringSubmatch(string(b), -1) {
			if !flags[m[1]] {
				unknown = append(unknown, "--"+m[1])
			}
		}
		for _, v := range envVarRef.FindAllString(string(b), -1) {
			if !envs[v] {
				unknown = append(unknown, v)
			}
		}
		for _, m := range flagTwin.FindAllStringSubmatch(string(b), -1) {
			if envName(m[1]) != m[2] {
				t.Errorf("%s pairs --%s with %s; its twin is %s", filepath.Base(doc), m[1], m[2], envName(m[1]))
			}
		}
		slices.Sort(unknown)
		for _, u := range slices.Compact(unknown) {
			t.Errorf("%s names %s, which no folio command has", filepath.Base(doc), u)
		}
	}
}
