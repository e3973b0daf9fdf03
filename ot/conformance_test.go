package ot

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// conformanceFile holds cases whose expected results were computed by the
// reference implementation, npm ot-text-unicode. Regenerate with
//
//	cd ot/testdata/conformance && npm ci && node gen.js
type conformanceFile struct {
	Reference string `json:"reference"`
	Cases     struct {
		Apply []struct {
			Doc    string `json:"doc"`
			Op     Op     `json:"op"`
			Result string `json:"result"`
		} `json:"apply"`
		Transform []struct {
			Doc         string `json:"doc"`
			Op, Other   Op
			Left, Right Op
		} `json:"transform"`
		Compose []struct {
			Doc    string `json:"doc"`
			A, B   Op
			Result Op `json:"result"`
		} `json:"compose"`
		TransformUnrelated []struct {
			Op, Other   Op
			Left, Right Op
		} `json:"transformUnrelated"`
		Normalize []struct {
			Raw    []any `json:"raw"`
			Result Op    `json:"result"`
		} `json:"normalize"`
		TransformPosition []struct {
			Pos    int `json:"pos"`
			Op     Op  `json:"op"`
			Result int `json:"result"`
		} `json:"transformPosition"`
	} `json:"cases"`
}

func TestConformance(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "conformance.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f conformanceFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("decode conformance.json: %v", err)
	}
	c := f.Cases
	if n := len(c.Apply) + len(c.Transform) + len(c.Compose) + len(c.TransformPosition) +
		len(c.TransformUnrelated) + len(c.Normalize); n < 2000 {
		t.Fatalf("only %d cases", n)
	}
	for i, tc := range c.Apply {
		got, err := Apply(tc.Doc, tc.Op)
		if err != nil || got != tc.Result {
			t.Errorf("apply %d: Apply(%q, %v) = %q, %v; %s gives %q", i, tc.Doc, tc.Op, got, err, f.Reference, tc.Result)
		}
		d := NewDocument(tc.Doc)
		if err := d.Apply(tc.Op); err != nil || d.String() != tc.Result {
			t.Errorf("apply %d: Document gives %q, %v; want %q", i, d.String(), err, tc.Result)
		}
	}
	for i, tc := range c.Transform {
		if got := Transform(tc.Op, tc.Other, Left); !sameOp(got, tc.Left) {
			t.Errorf("transform %d: Transform(%v, %v, Left) = %v; %s gives %v", i, tc.Op, tc.Other, got, f.Reference, tc.Left)
		}
		if got := Transform(tc.Op, tc.Other, Right); !sameOp(got, tc.Right) {
			t.Errorf("transform %d: Transform(%v, %v, Right) = %v; %s gives %v", i, tc.Op, tc.Other, got, f.Reference, tc.Right)
		}
	}
	for i, tc := range c.TransformUnrelated {
		if got := Transform(tc.Op, tc.Other, Left); !sameOp(got, tc.Left) {
			t.Errorf("transformUnrelated %d: Transform(%v, %v, Left) = %v; %s gives %v", i, tc.Op, tc.Other, got, f.Reference, tc.Left)
		}
		if got := Transform(tc.Op, tc.Other, Right); !sameOp(got, tc.Right) {
			t.Errorf("transformUnrelated %d: Transform(%v, %v, Right) = %v; %s gives %v", i, tc.Op, tc.Other, got, f.Reference, tc.Right)
		}
	}
	for i, tc := range c.Normalize {
		raw := rawOp(t, tc.Raw)
		if got := Normalize(raw); !sameOp(got, tc.Result) {
			t.Errorf("normalize %d: Normalize(%v) = %v; %s gives %v", i, raw, got, f.Reference, tc.Result)
		}
	}
	for i, tc := range c.Compose {
		got, err := Compose(tc.A, tc.B)
		if err != nil || !sameOp(got, tc.Result) {
			t.Errorf("compose %d: Compose(%v, %v) = %v, %v; %s gives %v", i, tc.A, tc.B, got, err, f.Reference, tc.Result)
		}
	}
	for i, tc := range c.TransformPosition {
		if got := TransformPosition(tc.Pos, tc.Op); got != tc.Result {
			t.Errorf("transformPosition %d: TransformPosition(%d, %v) = %d; %s gives %d", i, tc.Pos, tc.Op, got, f.Reference, tc.Result)
		}
	}
}

// rawOp converts a component list that need not be well formed (zero skips,
// empty inserts and deletes), which the strict decoder rejects.
func rawOp(t *testing.T, raw []any) Op {
	var op Op
	for _, v := range raw {
		switch v := v.(type) {
		case float64:
			op = append(op, Component{Skip: int(v)})
		case string:
			op = append(op, Component{Insert: v})
		case map[string]any:
			switch d := v["d"].(type) {
			case float64:
				op = append(op, Component{Delete: int(d)})
			case string:
				op = append(op, Component{Delete: len([]rune(d)), DelText: d})
			default:
				t.Fatalf("bad raw delete %v", v)
			}
		default:
			t.Fatalf("bad raw component %v", v)
		}
	}
	return op
}
