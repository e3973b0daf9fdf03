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
// export and check, and backup when no server answers at --server, open
// the data directory directly and refuse while a server holds it. They
// only read, so they change nothing in it and work on a read-only copy:
// check with storage.CheckFile (the journal is checked in memory, not
// applied), export and backup with storage.OpenReadOnly (the journal's
// records are held in memory and read with bbolt's; backup's copy has
// them applied, in a scratch copy in the temporary directory that it
// then removes; one it cannot remove, a full copy of the data, is named
// in a warning, and the backup succeeds all the same). Files they
// write are written beside their name, synced, put in place and their
// directory synced (writeOut); backup replaces an existing file only with
// --force (a rename), and without it links the copy to the name, which
// fails rather than replace a file that appeared meanwhile, then removes
// the temporary name (a removal that fails is a warning naming the file
// left, not a failure: the backup is complete and its directory synced;
// so is the failed removal of a temporary file left unused, such as the
// one backup begins before it finds that no server answers).
// restore needs the server stopped, stages the backup in the data
// directory through writeOut (a temporary file it cannot remove is named
// in a warning too, and so is a staged copy it did not put in place),
// says whether a failure was the backup's (unusable) or the copy's (a full
// disk, a failed sync), replays the current database's journal into it and
// keeps both aside. Commands run in-process against
// their own env (arguments, environment, output), which is how the tests
// call them.
package main
