package client

import (
	"errors"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/foliodocs/folio/collab"
)

// decisions is what the client does about each code of collab's table; a
// code added there without a line here fails TestRefusalActions.
var decisions = map[collab.Code]action{
	collab.CodeInvalidMessage:      giveUp,
	collab.CodeInvalidOp:           giveUp,
	collab.CodeVersionAhead:        resync,
	collab.CodeVersionTooOld:       resync,
	collab.CodeNotFound:            giveUp,
	collab.CodeExists:              giveUp,
	collab.CodeInvalidID:           giveUp,
	collab.CodeForbidden:           giveUp,
	collab.CodeRateLimited:         retryLater,
	collab.CodeTooLarge:            giveUp,
	collab.CodeDocTooLarge:         giveUp,
	collab.CodeConflict:            retryLater,
	collab.CodePreconditionFailed:  giveUp,
	collab.CodeSeqNotIncreasing:    giveUp,
	collab.CodeHelloRequired:       giveUp,
	collab.CodeTooManyConnections:  retryLater,
	collab.CodeUnavailable:         retryLater,
	collab.CodeInternal:            retryFew,
	collab.CodeHelloTimeout:        giveUp,
	collab.CodeSlowConsumer:        retryLater,
	collab.CodeSessionReplaced:     giveUp,
	collab.CodeDeleted:             giveUp,
	collab.CodeTooManyErrors:       giveUp,
	collab.CodePingTimeout:         giveUp,
	collab.CodeTokenExpired:        giveUp,
	collab.CodeIdempotencyMismatch: giveUp,
	collab.CodeHostNotAllowed:      giveUp,
	collab.CodeURITooLong:          giveUp,
}

// tableCodes is every code of collab's table, read from docs/protocol.md,
// whose table collab's TestProtocolDocTable keeps equal to it.
func tableCodes(t *testing.T) []collab.Code {
	t.Helper()
	b, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| [^|]+ \\| (\\d{3}) \\| ([^|]+) \\|$")
	var codes []collab.Code
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		codes = append(codes, collab.Code(m[1]))
	}
	if len(codes) < 20 {
		t.Fatalf("read %d codes from docs/protocol.md's table: its format changed?", len(codes))
	}
	return codes
}

// TestRefusalActions: every code of collab's table has a decision, the one
// the client takes; every code collab calls retryable is retried, and the
// other retried ones are the documented exceptions.
func TestRefusalActions(t *testing.T) {
	seen := map[collab.Code]bool{}
	for _, code := range tableCodes(t) {
		seen[code] = true
		want, ok := decisions[code]
		if !ok {
			t.Errorf("%s: no decision; add it to decisions and to doc.go's Refusals", code)
			continue
		}
		if got := actionFor(code); got != want {
			t.Errorf("%s: action %d, want %d", code, got, want)
		}
		if retryable := collab.Retryable(&collab.Error{Code: code}); retryable != (want == retryLater) {
			t.Errorf("%s: collab.Retryable %v, the client's decision %d", code, retryable, want)
		}
	}
	for code := range decisions {
		if !seen[code] {
			t.Errorf("%s: decided but not in collab's table", code)
		}
	}
	if actionFor("a_code_from_a_newer_server") != giveUp {
		t.Error("an unknown code is not given up on")
	}
}

// TestOpRefusalsByCode: an op refused with each code of collab's table is
// resent (retryLater, for as long as it takes), resent at most maxInternal
// times (internal), kept while the client resyncs (resync), or dropped.
func TestOpRefusalsByCode(t *testing.T) {
	for _, code := range tableCodes(t) {
		t.Run(string(code), func(t *testing.T) {
			f := newFakeServer(t, "abc")
			a := newState()
			connect(t, f, a, false)
			mustSubmit(t, a, ins(1, "X"))
			takeOut(a)
			var refusals int
			for refusals < 10 {
				refusals++
				retry, err := a.fail(collab.ErrorMsg{Code: code, Seq: 1, Message: "no"})
				if err != nil {
					if !errors.Is(err, errResync) {
						t.Fatalf("refusal %d: %v", refusals, err)
					}
					if a.pendingSeq() != 1 {
						t.Fatal("the op was not kept for the resync")
					}
					break
				}
				if !retry {
					if a.pendingSeq() != 0 {
						t.Fatal("an op given up on is still pending")
					}
					wantText(t, a, "abc")
					break
				}
				if a.pendingSeq() != 1 {
					t.Fatalf("refusal %d: retried, but the op is gone", refusals)
				}
			}
			var got action
			switch {
			case !a.hasVersion: // Cleared for the resync from the full text.
				got = resync
			case refusals == 10:
				got = retryLater
			case refusals == maxInternal+1:
				got = retryFew
			case refusals == 1:
				got = giveUp
			default:
				t.Fatalf("given up after %d refusals", refusals)
			}
			if got != decisions[code] {
				t.Fatalf("after %d refusals: behaved as %d, want %d", refusals, got, decisions[code])
			}
		})
	}
}

// TestHelloRefusalsByCode: a reconnect whose hello is refused with each code
// of collab's table is retried (retryLater, for as long as it takes), retried
// at most maxInternal times in a row (internal), or stops the client with
// that refusal, which Submit then returns.
func TestHelloRefusalsByCode(t *testing.T) {
	for _, code := range tableCodes(t) {
		t.Run(string(code), func(t *testing.T) {
			s := newWSFake(t, "", 0)
			o := testOptions(t)
			closed := onClosed(&o)
			c := dial(t, s.url(), o)
			s.mu.Lock()
			s.refuse = code
			s.mu.Unlock()
			c.DropConnection()
			refused := func() int {
				s.mu.Lock()
				defer s.mu.Unlock()
				return s.refused
			}
			if decisions[code] == retryLater {
				eventually(t, "retried refusals", func() bool { return refused() >= maxInternal+3 })
				select {
				case err := <-closed:
					t.Fatalf("stopped after %d refusals: %v", refused(), err)
				default:
				}
				return
			}
			var re *RefusedError
			select {
			case err := <-closed:
				if !errors.As(err, &re) || re.Code != code {
					t.Fatalf("closed with %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("still retrying after %d refusals", refused())
			}
			want := 1
			if decisions[code] == retryFew {
				want = maxInternal + 1
			}
			if n := refused(); n != want {
				t.Fatalf("stopped after %d refusals, want %d", n, want)
			}
			if err := c.Insert(0, "x"); !errors.As(err, &re) {
				t.Fatalf("submit after giving up: %v", err)
			}
		})
	}
}

// TestUpgradeRefusalHint: an upgrade refused over HTTP with Retry-After is
// tried again no sooner than it says; one refused as internal is tried
// maxInternal times more, then stops the client.
func TestUpgradeRefusalHint(t *testing.T) {
	s := newWSFake(t, "", 0)
	o := testOptions(t)
	closed := onClosed(&o)
	c := dial(t, s.url(), o)
	s.mu.Lock()
	s.httpCode, s.after = 429, "1"
	s.mu.Unlock()
	c.DropConnection()
	eventually(t, "two refusals", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.refused >= 2
	})
	s.mu.Lock()
	if d := s.refusals[1].Sub(s.refusals[0]); d < time.Second {
		t.Errorf("retried %v after a refusal with Retry-After: 1", d)
	}
	s.httpCode, s.after, s.refused = 500, "", 0
	s.mu.Unlock()
	var re *RefusedError
	select {
	case err := <-closed:
		if !errors.As(err, &re) || re.Code != collab.CodeInternal {
			t.Fatalf("closed with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client kept retrying internal")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused != maxInternal+1 {
		t.Fatalf("stopped after %d internal refusals, want %d", s.refused, maxInternal+1)
	}
}
