// Package web is Folio's HTTP front (reference: docs/api.md, which
// TestAPIDocumented keeps in step with the routes): the REST API under /api/v1, live
// read-only views over Server-Sent Events, polling and long-polling, the
// WebSocket upgrade for editors, the pages (pages.go) and the operational
// endpoints /healthz, /readyz and /metrics.
//
// Promises:
//   - Every write (create, delete, PUT text, POST ops) goes through the
//     collab.Hub, so REST edits are transformed and broadcast exactly like an
//     editor's. Reads of metadata, history and old versions go to the Store;
//     an acknowledged op is committed before it is acknowledged, so a read
//     after an acknowledgement sees it.
//   - Ids are checked against ^[A-Za-z0-9_-]{1,64}$ before access control
//     and storage (400; only rate limits come first). Versions are strict
//     decimal integers; a version beyond the head is version_ahead, never
//     clamped, except in If-Match (412 precondition_failed) and where an SSE
//     stream resumes: there it starts over from a snapshot, since
//     EventSource would not retry after an error (e.g. a client of a server
//     restored from a backup); nothing in input yields a 500.
//   - Errors are {"error":{"code","message"}} with the status from
//     collab.HTTPStatus, the one mapping of codes to statuses. Anything that
//     is not a *collab.Error is "internal" to the client and logged here once.
//   - One version numbering everywhere: SSE event ids, ETags, polling's
//     since, export versions and the WebSocket protocol all count the same
//     committed ops, so a client can switch transports and resume.
//   - What a read of ops costs is bounded by bytes as well as by count: a
//     page of GET ops ends past Options.PageBytes (storage.DB.OpsWithin
//     reads no further), a JSON export with history streams its ops,
//     read a page of PageBytes at a time, whatever the history's length
//     (an error after its first byte cuts the connection), and an SSE
//     stream resumed before more than the hub's catch-up budget starts
//     with a snapshot (collab.Options.CatchUpBytes).
//   - The pages and the editor name every other URL from Folio's root as
//     the page gives it (pages.go; web/ui's config() resolves it), never
//     from the server's root, so that they work under a reverse proxy
//     serving Folio at a path prefix it strips (README.md): that root is
//     Options.BasePath, the prefix, when it is set, else relative to the
//     page's own address (rootOf). So is the 307 answering a path that is
//     not canonical (/d//x, /d/./x; canonicalPaths), which the mux would
//     send from the server's root; /api itself gets the API's 404, not the
//     mux's redirect to /api/ from that root. The paths the API answers
//     with (url, embedUrl, Location) start with Options.BasePath too; New
//     ignores a BasePath that CheckBasePath refuses ("//evil.example"
//     would make them name another host), as it ignores CORSOrigins
//     entries that CORSOrigin refuses, and takes the others in the form
//     browsers send (a Unicode host in ASCII, IDNA).
//   - HTML exports render Markdown with goldmark, sanitise with bluemonday
//     and ship a CSP forbidding every script; no script from a document runs.
//   - Request logs carry method, path (cut when too long), route, status,
//     bytes, duration_ms and remote (the peer address); never query
//     strings (tokens), bodies or document text. A request line is info (debug for probes and
//     scrapes) whatever its status: a failure's cause is logged once, at
//     warn or error, where it is handled (here, or in collab for the
//     *collab.Error it made of an internal error or a storage refusal).
//   - Access control (token.go, guard.go): with Options.Tokens or
//     Options.Authorize, every request about a document — REST, SSE,
//     export, page, WebSocket hello — is checked by value against the
//     document id and the role it needs; a refusal is 403 forbidden and says
//     nothing about whether the document exists. Tokens are HS256 JWTs only.
//   - A request whose Host header names a host the server does not answer to
//     (host.go: beyond IP literals and localhost, Options.AllowedHosts; any
//     when tokens are required and no list is given) is refused with 403
//     host_not_allowed before anything else (but a path or query too long,
//     below), /healthz and /readyz excepted: a page cannot rebind its DNS
//     name to the server to use it. A browser
//     navigating there (Accept names text/html) gets the 403 as a bare
//     error page naming the host to allow.
//   - A request whose path, as sent or decoded, is longer than 4 KiB
//     (maxPathBytes; Folio's URLs stay under 120 bytes), or whose query
//     string, as sent, is longer than 8 KiB (maxQueryBytes; a token is a
//     few hundred bytes), is answered 414 uri_too_long first of all
//     (guard.go, boundPath): the API's JSON error under /api, a line of
//     text elsewhere, the same few bytes whatever the path or query, saying
//     which was too long. So what grows with them — a page's "../" per
//     directory, the 307 to a clean path naming both, the API's 404 naming
//     the path, the parsing of a parameter — stays within a few times
//     those bounds; its request line carries the path cut to 256 bytes (and
//     never a query) and its metrics the route "unmatched", as for every
//     request answered before routing.
//   - A state-changing request a browser sends from another site is
//     refused (CSRF; net/http's CrossOriginProtection) unless its origin is
//     one of Options.CORSOrigins, and a request body must arrive within
//     Options.BodyTimeout, read only after the token is checked.
//   - Browser apps of Options.CORSOrigins may use the API across origins
//     (cors.go): its answers to them, errors and streams included, carry
//     Access-Control-Allow-Origin (their origin, never "*", and never
//     Allow-Credentials: tokens are not cookies), the headers they may read
//     and Vary: Origin; their preflights are answered 204 before any
//     handler. Other origins get no CORS header, and their preflights 403.
//     Preflights carry the route "preflight" in request logs and metrics;
//     the other requests answered before routing carry none in logs and
//     "unmatched" in metrics.
//     CORS comes after the Host check and grants no access: a refused Host
//     stays refused, and every request still needs its token. The API's
//     refusals before it (a path or query too long, a Host refused) carry
//     the same headers (cors.go, corsRefusal), so that a listed origin's
//     page can read why; the guards set them only when they refuse, so a
//     request that passes them costs nothing more.
//   - Per-address rate limits (ratelimit.go) answer 429 with Retry-After;
//     their maps are bounded and swept during calls, without goroutines.
//   - An EventSource is never refused into giving up for a reason that
//     passes (collab.Retryable): such a refusal of a request accepting
//     text/event-stream is a 200 stream with a spread retry: delay and a
//     reconnect event (sse.go, refuseStream), and so is the end of the
//     streams a drain closes; other clients get the HTTP error, whose
//     Retry-After (errors.go, retryAfter) is that least delay: every 503 that
//     passes with time says when to come back (not /readyz's: see
//     handleReadyz).
//   - The connections held at once (WebSocket sessions, SSE streams,
//     waiting long-polls) are bounded by Options.MaxConns (connlimit.go),
//     a document's streams and long-polls by the hub's
//     MaxSubscribersPerDoc: past either, 503 too_many_connections with
//     Retry-After. A slot is taken only by what holds a connection and is
//     given back on every exit path (the hub's Peer.Done for WebSockets).
//
// Ownership: Server starts no goroutines of its own. Each SSE stream runs one
// pump goroutine owned and waited for by its handler; besides its
// subscription's queue (bounded by the hub's SendQueue and SendQueueBytes)
// a stream holds two batches of events, each of at most 64 events, ending
// with the one that takes their payloads to 256 KiB (sseBatchBytes). Drain flips /readyz to
// 503 and ends every SSE stream and long-poll; WebSocket sessions belong to
// the hub, whose Close ends them with 1001 (http.Server.Shutdown does not wait
// for hijacked connections). The shutdown order lives in cmd/folio.
package web
