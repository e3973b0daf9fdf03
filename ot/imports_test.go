package ot

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlyStandardLibrary enforces the layout rule that ot depends on
// nothing but the standard library.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/foliodocs/folio/ot" {
			t.Errorf("ot depends on non-standard package %s", p)
		}
	}
}
