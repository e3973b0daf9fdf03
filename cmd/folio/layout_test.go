package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayout enforces the direction of imports that the package layout
// promises: ot <- storage <- collab <- web <- cmd, and ot uses only the
// standard library.
func TestLayout(t *testing.T) {
	const mod = "github.com/foliodocs/folio/"
	forbidden := map[string][]string{
		"ot":      {mod},
		"storage": {mod + "collab", mod + "web", mod + "cmd"},
		"collab":  {mod + "web", mod + "cmd"},
		"web":     {mod + "cmd"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", mod+pkg+"/...").CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if pkg == "ot" && !strings.HasPrefix(dep, mod+"ot") {
				t.Errorf("ot imports %s; ot may use only the standard library", dep)
				continue
			}
			for _, b := range bad {
				if strings.HasPrefix(dep, b) && !strings.HasPrefix(dep, mod+pkg) {
					t.Errorf("%s imports %s, against the layout", pkg, dep)
				}
			}
		}
	}
}
