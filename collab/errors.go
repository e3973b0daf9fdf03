package collab

// TEMPORARY: the collab-server owner replaces this with the real error type,
// its code table and the one function mapping codes to HTTP and close codes.

// Code is a stable, machine-readable error code.
type Code string
