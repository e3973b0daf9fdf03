// Command folio runs the Folio service and its maintenance commands: serve
// (the default), export, check, backup, restore, token and version; `folio
// --help` lists them and `folio <command> --help` their flags.
//
// Configuration is one struct, Config: defaults, then FOLIO_* environment
// variables, then flags, each later one winning; it is validated as a whole
// before anything starts, and the effective configuration is logged once,
// with secrets redacted.
//
// serve owns everything it starts and stops it in order (stack.shutdown):
// the listening port is taken before the data directory or the database is
// touched, so a port in use changes nothing on disk; on SIGINT or SIGTERM
// readiness turns 503 and streams end, the port closes, the hub closes
// (in-flight commits are acknowledged, WebSockets are closed with 1001 and
// waited for), then the store; a second signal ends the process at once.
//
// export and check open the data directory directly and refuse while a
// server holds it; check only reads (storage.CheckFile: the journal is
// checked in memory, not applied), so it changes nothing it diagnoses and
// works on a read-only copy; backup goes through the running server when one answers
// at --server; restore needs the server stopped and keeps the current
// database aside. Commands run in-process against their own env (arguments,
// environment, output), which is how the tests call them.
package main
