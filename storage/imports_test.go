package storage

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports enforces the layout rule ot <- storage: storage depends on the
// standard library, ot and bbolt (and what bbolt needs), never on collab,
// web or cmd.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{"github.com/foliodocs/folio/ot", "github.com/foliodocs/folio/storage", "go.etcd.io/bbolt", "golang.org/x/sys/"}
	for _, p := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowed {
			ok = ok || p == a || strings.HasPrefix(p, a+"/") || strings.HasSuffix(a, "/") && strings.HasPrefix(p, a)
		}
		if !ok {
			t.Errorf("storage depends on %s", p)
		}
	}
}
