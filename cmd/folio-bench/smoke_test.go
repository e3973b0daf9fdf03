package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runJSON runs folio-bench with args and --json and decodes its output.
func runJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append(args, "--json"), &out, &errOut)
	if code != 0 {
		t.Fatalf("folio-bench %v: exit %d\nstdout: %s\nstderr: %s", args, code, out.String(), errOut.String())
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		t.Fatalf("decode output: %v\n%s", err, out.String())
	}
}

// TestSmokeLoad is the CI smoke run: a few seconds of editing on an
// in-process server. It asserts convergence and zero errors, never speed.
func TestSmokeLoad(t *testing.T) {
	var rep Report
	runJSON(t, &rep, "--docs", "2", "--editors", "3", "--rate", "20", "--presence", "4",
		"--viewers", "1", "--warmup", "300ms", "--duration", "1500ms", "--settle", "20s")
	if !rep.Converged {
		t.Fatalf("did not converge: %s", rep.Convergence)
	}
	if rep.Errors != 0 || rep.Reconnects != 0 {
		t.Fatalf("errors %d, reconnects %d; want none", rep.Errors, rep.Reconnects)
	}
	if rep.Deletes != "text" {
		t.Fatalf("deletes by %q, want text (the default, as the browser sends them)", rep.Deletes)
	}
	if rep.Ack.Count == 0 || rep.Broadcast.Count == 0 || rep.CommittedPerS == 0 {
		t.Fatalf("no traffic measured: %+v", rep)
	}
	if !rep.CPUMeasured || rep.CPUSeconds <= 0 {
		t.Fatalf("server CPU not measured: %+v", rep)
	}
}

// TestSmokeFindMax runs two short --find-max steps, deleting by count as
// runs before --delete-text did.
func TestSmokeFindMax(t *testing.T) {
	var res FindMaxResult
	runJSON(t, &res, "--find-max", "--delete-text=false", "--docs", "2", "--editors", "2", "--rate", "5", "--max-steps", "2",
		"--step-factor", "2", "--refine", "0", "--stall-retries", "0", "--presence", "0", "--warmup", "200ms", "--duration", "700ms", "--threshold", "2s")
	if len(res.Steps) == 0 || len(res.Steps) > 2 {
		t.Fatalf("%d steps, want 1 or 2", len(res.Steps))
	}
	for _, s := range res.Steps {
		if !s.Converged || s.Deletes != "count" {
			t.Fatalf("step %s: converged %v (%s), deletes by %q (want count)", s.Scenario, s.Converged, s.Convergence, s.Deletes)
		}
	}
}

// TestSmokeReplay replays a real trace in compose mode, deleting by text as
// the browser does, and checks the final text against its endContent.
func TestSmokeReplay(t *testing.T) {
	p := tracePath(t, "json-crdt-blog-post")
	var rep Report
	runJSON(t, &rep, "--replay", p, "--replay-mode", "compose")
	if rep.Replay == nil || !rep.Replay.Matches || !rep.Converged || rep.Errors != 0 || rep.Deletes != "text" {
		t.Fatalf("replay: %+v %+v", rep, rep.Replay)
	}
}

// TestUsageErrors checks that bad flags exit with status 2 before any work.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--docs", "0"},
		{"--url", "ftp://x"},
		{"--server-pid", "1"},
		{"--docs", "1000", "--editors", "1000"},
		{"--replay", "x", "--replay-mode", "fast"},
		{"--no-such-flag"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %s)", args, code, errOut.String())
		}
	}
}
