// Command folio-bench is Folio's load generator (issue 7).
//
// It drives a Folio server through the real protocol: simulated editors use
// the Go client (collab/client) over real WebSockets, one op in flight and a
// composed buffer, as browsers do. By default it starts the server itself on
// 127.0.0.1 with a temporary data directory and durable storage (fsync on),
// either in this process (--server inproc: CPU and RSS then include the
// generator) or in a child process (--server child: the server is measured
// alone); --url points it at a running server instead (--token when it checks
// tokens), and --server-pid lets it sample that server's CPU and RSS from
// /proc. A started server has production settings except the per-connection
// abuse limits, which a load test must lift; --pprof, --nosync,
// --send-queue and --commit-delay exist for diagnosis, and --cpuprofile
// profiles the generator itself over the measured window (it shares the
// machine with the server, so its cost per op is reported too: "generator
// CPU % of a core"). CPU per committed op, allocations, syscalls and storage
// transactions per op (from /metrics and /proc) and commit timings are
// reported beside the latencies, with the commits and storage transactions
// that took over 64 ms: an ack stall that coincides with them was the disk.
//
// The editors' deletes carry the text they delete ({"d":"text"}), read from
// the editor's local text as the browser editor reads it from its own, so
// the server checks that text as it does the browser's (--delete-text, the
// default); --delete-text=false sends counts ({"d":N}), as runs before the
// flag did, for comparing with them. The report says which. A replay's
// deletes follow the flag too (they carry the text its trace deletes).
//
// Modes:
//   - a load run: --docs D documents × --editors E editors typing --rate R
//     edits/s each (single characters at a wandering caret, backspaces, emoji,
//     occasional multi-line pastes), --presence cursor moves/s, --viewers SSE
//     viewers per document, --warmup not counted, then --duration measured;
//   - --find-max: the same, stepping the rate up until a step fails;
//   - --replay: one editor types a sequential editing trace.
//
// What it promises:
//   - Exact percentiles: every latency sample is kept (a reservoir only past
//     4 M samples, flagged in the output).
//   - Ack latency is from the moment an op is sent (the seq leaves the client)
//     to its ack; broadcast latency from the same moment to its arrival at each
//     other editor of the document, matched by (session, seq).
//   - A run ends with a convergence check: every editor synced and equal to
//     the server's committed text (GET /api/v1/docs/{id}/text) at the same
//     version. A run that does not converge exits with status 1.
//   - Bounded: at most 20,000 connections, 30 minutes per phase; it connects
//     only to the server it started on loopback or to --url.
package main
