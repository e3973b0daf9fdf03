// Package livetest is the live server that collab's and collab/client's tests
// share: a collab.Hub on a real bbolt file in t.TempDir() behind an HTTP
// server on 127.0.0.1 that serves the WebSocket route
// (/api/v1/docs/{id}/ws). It is imported only by tests.
//
// A Server can be stopped and started again on the same data file and the
// same address, so clients reconnect to it as to a restarted production
// server. Stop shuts down in the production order: stop accepting HTTP, close
// the hub (it waits for the hijacked WebSocket sessions, which
// http.Server.Shutdown does not), close the store. New registers Stop with
// t.Cleanup, so nothing outlives the test.
//
// The Server owns one goroutine while it runs, the HTTP server's Serve loop;
// Stop waits for it. Start, Stop and the accessors are called from the test's
// goroutine; the hub and the store are the Server's, and are replaced on
// every Start.
//
// With Options.MaxDelay every write on the server's connections, and on the
// connections of the clients that use HTTPClient, waits up to MaxDelay:
// network jitter that keeps each direction's byte order.
package livetest
