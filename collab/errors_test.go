package collab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/foliodocs/folio/storage"
)

func TestAsError(t *testing.T) {
	custom := errorf(CodeRateLimited, "slow down")
	cases := []struct {
		err   error
		code  Code
		http  int
		close websocket.StatusCode
	}{
		{custom, CodeRateLimited, http.StatusTooManyRequests, CloseProtocol},
		{fmt.Errorf("submit: %w", custom), CodeRateLimited, http.StatusTooManyRequests, CloseProtocol},
		{fmt.Errorf("load x: %w", storage.ErrNotFound), CodeNotFound, http.StatusNotFound, CloseNotFound},
		{storage.ErrExists, CodeExists, http.StatusConflict, CloseProtocol},
		{storage.ErrInvalidID, CodeInvalidID, http.StatusBadRequest, CloseInvalidID},
		{storage.ErrVersionConflict, CodeConflict, http.StatusConflict, CloseProtocol},
		{storage.ErrLocked, CodeUnavailable, http.StatusServiceUnavailable, websocket.StatusGoingAway},
		{storage.ErrClosed, CodeUnavailable, http.StatusServiceUnavailable, websocket.StatusGoingAway},
		{fmt.Errorf("text at 9: %w", storage.ErrVersionAhead), CodeVersionAhead, http.StatusBadRequest, CloseProtocol},
		{fmt.Errorf("ops 3..9: %w", storage.ErrVersionGone), CodeVersionTooOld, http.StatusConflict, CloseProtocol},
		{storage.ErrCorrupt, CodeInternal, http.StatusInternalServerError, websocket.StatusInternalError},
		{fmt.Errorf("storage: commit: %w", &os.PathError{Op: "write", Path: "/data/folio.db", Err: syscall.ENOSPC}),
			CodeUnavailable, http.StatusServiceUnavailable, websocket.StatusGoingAway},
		{fmt.Errorf("storage: commit: %w", fmt.Errorf("%w: %w", storage.ErrFailed, syscall.ENOSPC)),
			CodeUnavailable, http.StatusServiceUnavailable, websocket.StatusGoingAway},
		{context.DeadlineExceeded, CodeUnavailable, http.StatusServiceUnavailable, websocket.StatusGoingAway},
		{errors.New("disk on fire at /secret/path"), CodeInternal, http.StatusInternalServerError, websocket.StatusInternalError},
		{errSlowConsumer, CodeSlowConsumer, http.StatusServiceUnavailable, CloseSlowConsumer},
		{errDeleted, CodeDeleted, http.StatusGone, CloseDeleted},
	}
	for _, c := range cases {
		e := AsError(c.err)
		if e.Code != c.code || HTTPStatus(c.err) != c.http || CloseStatus(c.err) != c.close {
			t.Errorf("%v: got %s %d %d", c.err, e.Code, HTTPStatus(c.err), CloseStatus(c.err))
		}
		if e.Code == CodeInternal && e.Message != "internal error" {
			t.Errorf("%v: internal detail leaks: %q", c.err, e.Message)
		}
	}
	failed := fmt.Errorf("%w: %w", storage.ErrFailed, syscall.ENOSPC)
	if m := AsError(failed).Message; m != "storage failed; the server must be restarted" {
		t.Errorf("a failed store that was full: %q, not that it failed", m)
	}
	if AsError(nil) != nil || HTTPStatus(nil) != 200 || CloseStatus(nil) != websocket.StatusNormalClosure {
		t.Error("nil error mapped")
	}
}

// TestRetryable: the refusals that pass with time are exactly those a
// client may repeat unchanged; a refusal about the request or its access,
// and an internal error, are not.
func TestRetryable(t *testing.T) {
	retry := []error{ErrShuttingDown, errBehind, errRateLimited, errSlowConsumer, errConflict,
		errorf(CodeTooManyConnections, "full"), storage.ErrLocked, context.Canceled,
		fmt.Errorf("subscribe: %w", ErrShuttingDown)}
	for _, err := range retry {
		if !Retryable(err) {
			t.Errorf("%v: not retryable", err)
		}
	}
	never := []error{nil, errNotFound, errInvalidID, errDeleted, errInternal, errTokenExpired, errKeyReused,
		errorf(CodeForbidden, "no"), errorf(CodeInvalidMessage, "bad"), errorf(CodeVersionTooOld, "old"),
		errors.New("disk on fire"), storage.ErrCorrupt}
	for _, err := range never {
		if Retryable(err) {
			t.Errorf("%v: retryable", err)
		}
	}
}

// TestProtocolDocTable checks that docs/protocol.md's table lists every code
// with the HTTP status and close code the implementation uses.
func TestProtocolDocTable(t *testing.T) {
	b, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| [^|]+ \\| (\\d{3}) \\| ([^|]+) \\|$")
	seen := map[Code]bool{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		code := Code(m[1])
		want, ok := mapping[code]
		if !ok {
			t.Errorf("doc lists unknown code %s", code)
			continue
		}
		seen[code] = true
		if st, _ := strconv.Atoi(m[2]); st != want.http {
			t.Errorf("%s: doc says HTTP %d, code uses %d", code, st, want.http)
		}
		if closeCol := m[3]; strings.Contains(closeCol, "**") {
			if !strings.Contains(closeCol, "**"+strconv.Itoa(int(want.close))+"**") {
				t.Errorf("%s: doc says close %q, code uses %d", code, closeCol, want.close)
			}
		}
	}
	for code := range mapping {
		if !seen[code] {
			t.Errorf("code %s missing from docs/protocol.md", code)
		}
	}
}

// TestAPIDocErrorTable checks that docs/api.md's table of error codes (two
// code/status pairs a row) is the whole of HTTPStatus, with its statuses: an
// integrator switches on what that table lists.
func TestAPIDocErrorTable(t *testing.T) {
	b, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "| code | HTTP | code | HTTP |")
	if start < 0 {
		t.Fatal(`docs/api.md has no "| code | HTTP | code | HTTP |" table`)
	}
	table, _, _ := strings.Cut(doc[start:], "\n\n")
	pair := regexp.MustCompile("`([a-z_]+)` \\| (\\d{3})")
	seen := map[Code]bool{}
	for _, m := range pair.FindAllStringSubmatch(table, -1) {
		code := Code(m[1])
		want, ok := mapping[code]
		switch {
		case !ok:
			t.Errorf("docs/api.md lists unknown code %s", code)
		case seen[code]:
			t.Errorf("docs/api.md lists %s twice", code)
		case m[2] != strconv.Itoa(want.http):
			t.Errorf("%s: docs/api.md says HTTP %s, HTTPStatus gives %d", code, m[2], want.http)
		}
		seen[code] = true
	}
	for code := range mapping {
		if !seen[code] {
			t.Errorf("code %s missing from docs/api.md's error table", code)
		}
	}
}

// TestFailKeepsCause: the *Error of a storage failure that is not internal
// carries the failure for the log (Error, Unwrap), while its Message, all a
// client sees, stays the code's; fail logs it at warn, once per
// unavailLogEvery (every commit of every room fails alike while the disk is
// full), and never a cancelled request; an internal one is logged by fail
// itself, every time, and says nothing more.
func TestFailKeepsCause(t *testing.T) {
	var logs strings.Builder
	h := &Hub{log: zerolog.New(&logs), unavailLog: rate.Sometimes{Interval: unavailLogEvery}}
	full := fmt.Errorf("append: %w", &os.PathError{Op: "write", Path: "/data/folio.db", Err: syscall.ENOSPC})
	e := h.fail("commit", "d", full)
	if e.Code != CodeUnavailable || e.Message != "storage is full; retry later" || !errors.Is(e, syscall.ENOSPC) ||
		!strings.Contains(e.Error(), "commit d: append: write /data/folio.db: no space left on device") {
		t.Errorf("storage full: %+v, %q", e, e.Error())
	}
	if n := strings.Count(logs.String(), `"level":"warn"`); n != 1 || !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("a storage refusal is logged once, with its cause: %s", logs.String())
	}
	logs.Reset()
	h.fail("commit", "e", full)
	h.fail("read ops", "d", context.Canceled)
	if logs.Len() != 0 {
		t.Errorf("logged again within %v, or a cancelled request: %s", unavailLogEvery, logs.String())
	}
	if e := h.fail("commit", "d", errConflict); e != errConflict {
		t.Errorf("an *Error already: %+v", e)
	}
	if e := h.fail("commit", "d", errors.New("disk on fire")); e != errInternal || !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("internal: %+v, log %s", e, logs.String())
	}
}
