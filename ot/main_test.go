package ot

import (
	"flag"
	"os"
	"testing"
)

// TestMain raises rapid's default number of cases per property from 100 to
// 2,000 for full runs (CI); -short keeps the default and an explicit
// -rapid.checks wins.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if !explicit && !testing.Short() {
		if err := flag.Set("rapid.checks", "2000"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
