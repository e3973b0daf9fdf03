package main

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// trace is a sequential editing trace in the josephg/editing-traces format:
// gzipped JSON {"startContent", "endContent", "txns":[{"patches":[[pos, del,
// "ins"], ...]}]}. Positions count code points; the patches of a txn apply in
// order, each to the result of the previous one.
type trace struct {
	StartContent string `json:"startContent"`
	EndContent   string `json:"endContent"`
	Txns         []struct {
		Patches []patch `json:"patches"`
	} `json:"txns"`
}

// patch is [pos, del, ins]: delete del code points at pos, then insert ins there.
type patch struct {
	Pos, Del int
	Ins      string
}

func (p *patch) UnmarshalJSON(b []byte) error {
	var raw [3]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("patch: %w", err)
	}
	if err := json.Unmarshal(raw[0], &p.Pos); err != nil {
		return fmt.Errorf("patch pos: %w", err)
	}
	if err := json.Unmarshal(raw[1], &p.Del); err != nil {
		return fmt.Errorf("patch del: %w", err)
	}
	if err := json.Unmarshal(raw[2], &p.Ins); err != nil {
		return fmt.Errorf("patch ins: %w", err)
	}
	if p.Pos < 0 || p.Del < 0 || (p.Del == 0 && p.Ins == "") {
		return fmt.Errorf("patch %s: negative or empty", b)
	}
	return nil
}

// patchCount is the number of patches in the trace.
func (t *trace) patchCount() int {
	n := 0
	for _, tx := range t.Txns {
		n += len(tx.Patches)
	}
	return n
}

func loadTrace(path string) (*trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("trace %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	var t trace
	if err := json.NewDecoder(r).Decode(&t); err != nil {
		return nil, fmt.Errorf("trace %s: %w", path, err)
	}
	return &t, nil
}

// resolveTrace turns a trace name ("automerge-paper") or a path into a file
// path. Names are looked up in $FOLIO_TRACES/sequential_traces, else in
// <repo root>/../shared/traces/sequential_traces, where the repo root is the
// nearest directory above the working directory holding go.mod.
func resolveTrace(nameOrPath string) (string, error) {
	if strings.ContainsRune(nameOrPath, os.PathSeparator) || strings.HasSuffix(nameOrPath, ".gz") {
		return nameOrPath, nil
	}
	dir, err := tracesDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "sequential_traces", nameOrPath+".json.gz")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("trace %q: %w", nameOrPath, err)
	}
	return p, nil
}

// tracesDir locates the shared traces directory (see resolveTrace).
func tracesDir() (string, error) {
	if d := os.Getenv("FOLIO_TRACES"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "traces")
			if _, err := os.Stat(d); err != nil {
				return "", fmt.Errorf("traces not found at %s (set FOLIO_TRACES): %w", d, err)
			}
			return d, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; set FOLIO_TRACES")
		}
		dir = parent
	}
}
