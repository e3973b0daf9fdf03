package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the result of one measured phase of a run. The JSON form is the
// machine-readable output of --json; field names are stable.
type Report struct {
	Scenario string    `json:"scenario"`
	Date     time.Time `json:"date"`
	Server   string    `json:"server"` // How the server ran; says whether CPU includes the generator.

	Docs          int     `json:"docs"`
	EditorsPerDoc int     `json:"editors_per_doc"`
	Rate          float64 `json:"rate_per_editor"` // Offered edits/s per editor.
	Presence      float64 `json:"presence_per_editor"`
	ViewersPerDoc int     `json:"viewers_per_doc"`
	Connections   int     `json:"connections"`
	WarmupS       float64 `json:"warmup_s"`
	DurationS     float64 `json:"duration_s"` // The measured window, warm-up excluded.
	// Deletes is what the editors' deletes carried: "text" ({"d":"text"},
	// as the browser editor sends them) or "count" ({"d":N}; --delete-text=false,
	// the replay's traces, and runs before the flag existed).
	Deletes string `json:"deletes"`

	EditsPerS      float64          `json:"edits_per_s"`      // Local edits actually made.
	CommittedPerS  float64          `json:"committed_per_s"`  // Acks received (committed server ops; composed edits count once).
	DeliveriesPerS float64          `json:"deliveries_per_s"` // Remote ops received by editors.
	ViewerEvents   float64          `json:"viewer_events_per_s,omitempty"`
	Ack            Summary          `json:"ack"`
	Broadcast      Summary          `json:"broadcast"`
	Errors         int64            `json:"errors"`
	ErrorCodes     map[string]int64 `json:"error_codes,omitempty"` // Server error codes, failed submits and why connections dropped.
	Reconnects     int64            `json:"reconnects"`

	CPUSeconds float64 `json:"server_cpu_s"`
	CPUPercent float64 `json:"server_cpu_percent"` // Of one core.
	CPUPerOpUS float64 `json:"server_cpu_us_per_op"`
	// SysCPUPerOpUS is the kernel's part of CPUPerOpUS (system time: socket
	// and file system calls, the loopback network stack they run).
	SysCPUPerOpUS float64 `json:"server_sys_cpu_us_per_op"`
	RSSMB         float64 `json:"server_rss_mb"`
	PeakRSSMB     float64 `json:"server_peak_rss_mb"`
	CPUMeasured   bool    `json:"cpu_measured"`
	// GeneratorCPUPercent is this process's CPU (% of a core) when the
	// server runs elsewhere; 0 in-process.
	GeneratorCPUPercent float64 `json:"generator_cpu_percent,omitempty"`
	DiskWriteMBps       float64 `json:"server_disk_write_mb_per_s"`
	// Read and write syscalls (sockets and files) per committed op: unlike
	// CPU time, they do not depend on how busy the machine is.
	ReadCallsPerOp  float64 `json:"server_read_syscalls_per_op,omitempty"`
	WriteCallsPerOp float64 `json:"server_write_syscalls_per_op,omitempty"`
	LoadAvgStart    string  `json:"loadavg_start"`
	LoadAvgEnd      string  `json:"loadavg_end"`

	// From the server's /metrics (absent when it has none).
	Commits      int64   `json:"server_commits,omitempty"`
	CommitMeanMS float64 `json:"server_commit_mean_ms,omitempty"`
	// Room commits that took over 64 ms (waiting for the committer and the
	// transaction), and the storage transactions that took 64 ms or more
	// (mostly a stalled fsync): ack stalls that come from the disk.
	SlowCommits  int64   `json:"server_commits_over_64ms"`
	SlowTxns     int64   `json:"server_storage_txns_over_64ms"`
	OpsPerCommit float64 `json:"server_ops_per_commit,omitempty"`
	SubmitMeanMS float64 `json:"server_submit_mean_ms,omitempty"`
	// Storage commits (journal writes and bbolt transactions) and the write
	// requests (room commits, creates) each carried: the group-commit
	// factor; and the bbolt transactions that took journaled ops.
	StorageTxns       int64   `json:"server_storage_txns,omitempty"`
	RoomCommitsPerTxn float64 `json:"server_requests_per_txn,omitempty"`
	Checkpoints       int64   `json:"server_storage_checkpoints,omitempty"`
	CheckpointMeanMS  float64 `json:"server_storage_checkpoint_mean_ms,omitempty"`
	SlowConsumers     int64   `json:"server_slow_consumer_disconnects,omitempty"`
	// Whole-process Go allocations in the window per applied op (every
	// delivery, read, commit and heartbeat included).
	AllocsPerOp     float64 `json:"server_allocs_per_op,omitempty"`
	AllocBytesPerOp float64 `json:"server_alloc_bytes_per_op,omitempty"`

	Converged   bool     `json:"converged"`
	Convergence string   `json:"convergence,omitempty"` // What differed, when it did not converge.
	Notes       []string `json:"notes,omitempty"`

	Replay *ReplayResult `json:"replay,omitempty"`
}

// ReplayResult describes a trace replay.
type ReplayResult struct {
	Trace     string  `json:"trace"`
	Mode      string  `json:"mode"`
	Patches   int     `json:"patches"`
	Committed int64   `json:"committed_ops"`
	TotalS    float64 `json:"total_s"`
	PatchesPS float64 `json:"patches_per_s"`
	Matches   bool    `json:"matches_end_content"`
}

// writeTable prints reports as an aligned human-readable table, one column
// per report (find-max prints one column per step).
func writeTable(w io.Writer, reports []Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(r Report) string) {
		cells := []string{name}
		for _, r := range reports {
			cells = append(cells, f(r))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	fl := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	lat := func(s Summary) string {
		return fmt.Sprintf("%.2f / %.2f / %.2f / %.2f", s.P50, s.P90, s.P99, s.Max)
	}
	row("scenario", func(r Report) string { return r.Scenario })
	row("docs × editors", func(r Report) string { return fmt.Sprintf("%d × %d", r.Docs, r.EditorsPerDoc) })
	row("rate/editor (edits/s)", func(r Report) string { return fmt.Sprintf("%.3g", r.Rate) })
	row("connections", func(r Report) string { return fmt.Sprint(r.Connections) })
	row("deletes by", func(r Report) string { return r.Deletes })
	row("window (s)", func(r Report) string { return fmt.Sprintf("%.1f", r.DurationS) })
	row("edits/s", func(r Report) string { return fl(r.EditsPerS) })
	row("committed ops/s", func(r Report) string { return fl(r.CommittedPerS) })
	row("deliveries/s", func(r Report) string { return fl(r.DeliveriesPerS) })
	row("SSE viewer events/s", func(r Report) string { return fl(r.ViewerEvents) })
	row("ack ms p50/p90/p99/max", func(r Report) string { return lat(r.Ack) })
	row("broadcast ms p50/p90/p99/max", func(r Report) string { return lat(r.Broadcast) })
	row("errors / reconnects / slow-consumer cuts", func(r Report) string {
		return fmt.Sprintf("%d / %d / %d", r.Errors, r.Reconnects, r.SlowConsumers)
	})
	row("server CPU % of a core", func(r Report) string { return cpuCell(r, fmt.Sprintf("%.1f", r.CPUPercent)) })
	row("generator CPU % of a core", func(r Report) string {
		if r.GeneratorCPUPercent == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1f", r.GeneratorCPUPercent)
	})
	row("server CPU µs/committed op", func(r Report) string { return cpuCell(r, fmt.Sprintf("%.1f", r.CPUPerOpUS)) })
	row("server kernel (system) CPU µs/op, share", func(r Report) string {
		return cpuCell(r, fmt.Sprintf("%.1f (%.0f %%)", r.SysCPUPerOpUS, 100*r.SysCPUPerOpUS/max(r.CPUPerOpUS, 1e-9)))
	})
	row("server RSS / peak (MB)", func(r Report) string {
		return cpuCell(r, fmt.Sprintf("%.0f / %.0f", r.RSSMB, r.PeakRSSMB))
	})
	row("server commits: mean ms, ops/commit", func(r Report) string {
		if r.Commits == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f, %.1f", r.CommitMeanMS, r.OpsPerCommit)
	})
	row("server commits, storage txns over 64 ms", func(r Report) string {
		if r.Commits == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%d, %d", r.SlowCommits, r.SlowTxns)
	})
	row("server storage txns/s, requests/txn", func(r Report) string {
		if r.StorageTxns == 0 || r.DurationS == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.0f, %.1f", float64(r.StorageTxns)/r.DurationS, r.RoomCommitsPerTxn)
	})
	row("server storage checkpoints/s, mean ms", func(r Report) string {
		if r.StorageTxns == 0 || r.DurationS == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1f, %.2f", float64(r.Checkpoints)/r.DurationS, r.CheckpointMeanMS)
	})
	row("server disk writes MB/s, KB/commit", func(r Report) string {
		if !r.CPUMeasured || r.Commits == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1f, %.1f", r.DiskWriteMBps, r.DiskWriteMBps*1024*r.DurationS/float64(r.Commits))
	})
	row("server read / write syscalls per op", func(r Report) string {
		if r.WriteCallsPerOp == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f / %.2f", r.ReadCallsPerOp, r.WriteCallsPerOp)
	})
	row("server allocs / KB per op", func(r Report) string {
		if r.AllocsPerOp == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.0f / %.1f", r.AllocsPerOp, r.AllocBytesPerOp/1024)
	})
	row("server submit→apply mean ms", func(r Report) string { return fmt.Sprintf("%.2f", r.SubmitMeanMS) })
	row("loadavg start → end", func(r Report) string { return r.LoadAvgStart + " → " + r.LoadAvgEnd })
	row("converged", func(r Report) string { return fmt.Sprint(r.Converged) })
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range reports {
		if r.Server != "" {
			fmt.Fprintf(w, "server: %s\n", r.Server)
			break
		}
	}
	for _, r := range reports {
		if rp := r.Replay; rp != nil {
			fmt.Fprintf(w, "replay %s (%s): %d patches, %d committed ops in %.2f s = %.0f patches/s, matches endContent: %v\n",
				rp.Trace, rp.Mode, rp.Patches, rp.Committed, rp.TotalS, rp.PatchesPS, rp.Matches)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "note (%s): %s\n", r.Scenario, n)
		}
		if len(r.ErrorCodes) > 0 {
			fmt.Fprintf(w, "errors and disconnects (%s): %v\n", r.Scenario, r.ErrorCodes)
		}
		if !r.Converged && r.Convergence != "" {
			fmt.Fprintf(w, "NOT CONVERGED (%s): %s\n", r.Scenario, r.Convergence)
		}
	}
	return nil
}

// deleteKind is Report.Deletes for editors whose deletes carry their text or not.
func deleteKind(text bool) string {
	if text {
		return "text"
	}
	return "count"
}

func cpuCell(r Report, s string) string {
	if !r.CPUMeasured {
		return "n/a"
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
