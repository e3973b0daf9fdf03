package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func TestWriteTableAndJSON(t *testing.T) {
	r := Report{
		Scenario: "hot", Deletes: "text", Docs: 1, EditorsPerDoc: 2, Rate: 10, Connections: 2, DurationS: 5,
		EditsPerS: 20, CommittedPerS: 20, Ack: Summary{Count: 100, P50: 1, P90: 2, P99: 3, Max: 4},
		CPUMeasured: true, CPUPercent: 12.5, CPUPerOpUS: 60, Converged: false, Convergence: "doc d0: editor 1 differs",
	}
	var buf bytes.Buffer
	if err := writeTable(&buf, []Report{r}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"1.00 / 2.00 / 3.00 / 4.00", "12.5", "1 × 2", "NOT CONVERGED (hot): doc d0"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`deletes by\s+text`).MatchString(out) {
		t.Errorf("table does not say the deletes were by text:\n%s", out)
	}
	buf.Reset()
	if err := writeJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Ack.P99 != 3 || back.Deletes != "text" || back.CPUPerOpUS != 60 || back.Converged {
		t.Fatalf("JSON round trip lost fields: %+v", back)
	}
}
