package web

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

type opRequest struct {
	Version *uint64 `json:"version"`
	Op      *ot.Op  `json:"op"`
}

type opsResponse struct {
	Version uint64       `json:"version"`
	Ops     []ExportedOp `json:"ops"`
}

// MaxIdempotencyKey is the longest accepted Idempotency-Key header.
const MaxIdempotencyKey = 255

// restSubmission builds the hub submission of a REST op. With an
// Idempotency-Key the session is derived from the key (a valid session id:
// "idem-" and 32 hex digits) and the seq from the request (requestPrint), so
// a retried request is the same (session, seq) and the hub answers it with
// its original version instead of applying it twice, and the key with
// another request is refused (collab.Submission.Single). Without a key there
// is no session: no exactly-once record is kept.
func restSubmission(key string, base uint64, op ot.Op, author string) collab.Submission {
	sub := collab.Submission{Base: base, Op: op, Author: author}
	if key != "" {
		sum := sha256.Sum256([]byte(key))
		sub.Session, sub.Seq, sub.Single = "idem-"+hex.EncodeToString(sum[:16]), requestPrint(base, op), true
	}
	return sub
}

// requestPrint fingerprints an op request as the seq of its key's session,
// so that a retry matches the first request and a reuse of the key for a
// different one does not. In [2^52, 2^53): exact as a JSON number anywhere.
func requestPrint(base uint64, op ot.Op) uint64 {
	b, _ := json.Marshal(op) // An ot.Op always encodes.
	sum := sha256.Sum256(binary.BigEndian.AppendUint64(b, base))
	return binary.BigEndian.Uint64(sum[:8])&(1<<52-1) | 1<<52
}

func validIdempotencyKey(key string) bool {
	if len(key) > MaxIdempotencyKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

func (s *Server) handlePostOps(w http.ResponseWriter, r *http.Request) {
	id, g, err := s.docRequest(r, needEdit)
	if err != nil {
		if e := collab.AsError(err); e.Code == codeForbidden {
			s.refuseOp(w, r, e) // As a view session's op frame is.
			return
		}
		s.writeError(w, r, err)
		return
	}
	key, keys := r.Header.Get("Idempotency-Key"), r.Header.Values("Idempotency-Key")
	// An empty key is refused, not taken as none: its sender expects retries to be safe.
	if len(keys) > 1 || len(keys) == 1 && key == "" || !validIdempotencyKey(key) {
		s.refuseOp(w, r, apiError(codeInvalidMessage, "Idempotency-Key must be given once, as 1 to %d printable ASCII characters", MaxIdempotencyKey))
		return
	}
	body, err := s.readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil { // Not malformed, but missing: invalid_message or too_large, as elsewhere.
		s.refuseOp(w, r, collab.AsError(tooLarge(err)))
		return
	}
	var req opRequest
	if err := decodeBody(body, &req); err != nil {
		s.refuseOp(w, r, apiError(codeInvalidOp, "%s", collab.AsError(err).Message))
		return
	}
	if req.Version == nil || req.Op == nil {
		s.refuseOp(w, r, apiError(codeInvalidOp, `the body must be {"version": N, "op": [...]}`))
		return
	}
	v, err := s.hub.Submit(r.Context(), id, restSubmission(key, *req.Version, *req.Op, author(g)))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, versionResponse{Version: v})
}

// refuseOp answers an op that web refuses before the hub sees it (a bad
// Idempotency-Key, a body too large or that does not decode, a token that
// may not edit), counted with the ops
// the hub refuses (folio_ops_rejected_total), as a WebSocket op frame is.
// The hub counts what it refuses itself: Submit's errors are not counted
// here.
func (s *Server) refuseOp(w http.ResponseWriter, r *http.Request, e *collab.Error) {
	s.hub.RefuseOp(e.Code)
	s.writeError(w, r, e)
}

// limitedOps is limited(s.limits.writes, h) for POST ops: an op refused
// for its address's rate counts as rate_limited, as an op frame over its
// session's rate does.
func (s *Server) limitedOps(h http.HandlerFunc) http.HandlerFunc {
	l := s.limits.writes
	if l == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if !l.admit(w, r) {
			s.hub.RefuseOp(errRateLimited.Code)
			return
		}
		h(w, r)
	}
}

// pollParams are the validated query of GET ops.
type pollParams struct {
	since    uint64
	sinceSet bool // False: from the document's first version (pollOnce sets since).
	limit    uint64
	wait     time.Duration
}

func (s *Server) parsePoll(r *http.Request) (pollParams, error) {
	p := pollParams{limit: MaxPageLimit}
	if v, err := queryUint(r, "since"); err != nil {
		return p, err
	} else if v != nil {
		p.since, p.sinceSet = *v, true
	}
	if v, err := queryUint(r, "limit"); err != nil {
		return p, err
	} else if v != nil {
		if *v < 1 || *v > MaxPageLimit {
			return p, apiError(codeInvalidMessage, "limit must be between 1 and %d", MaxPageLimit)
		}
		p.limit = *v
	}
	if v, err := queryUint(r, "wait"); err != nil {
		return p, err
	} else if v != nil {
		// A longer wait is shortened, not refused: a long-poll may end
		// early anyway, and clients written for one server's maximum keep
		// working on one whose operator lowered it (--max-wait).
		p.wait = time.Duration(min(*v, uint64(s.opts.MaxWait/time.Second))) * time.Second
	}
	return p, nil
}

func (s *Server) handleGetOps(w http.ResponseWriter, r *http.Request) {
	id, grant, err := s.docRequest(r, needRead)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.parsePoll(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !grant.Expires.IsZero() { // A long-poll ends with its token's access.
		p.wait = max(min(p.wait, time.Until(grant.Expires)), 0)
	}
	if r.Method == http.MethodHead { // Its answer has no body to wait for.
		p.wait = 0
	}
	resp, err := s.pollOnce(r.Context(), id, &p)
	if err == nil && len(resp.Ops) == 0 && p.wait > 0 {
		if err = s.waitForOp(r, id, p); err == nil {
			if !grant.Expires.IsZero() && !time.Now().Before(grant.Expires) {
				err = errTokenExpired
			} else {
				resp, err = s.pollOnce(r.Context(), id, &p)
			}
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// pollOnce answers with the ops after p.since that exist now, up to
// p.limit of them and PageBytes (at least one). Without a
// since it reads from the document's first version, its base: 0, or, for a
// document created again under a deleted one's id, one past that one's
// last (0 would be a version of the deleted document: version_too_old), and
// sets p.since to it for the wait.
func (s *Server) pollOnce(ctx context.Context, id string, p *pollParams) (opsResponse, error) {
	meta, err := s.store.Meta(ctx, id)
	if err != nil {
		return opsResponse{}, err
	}
	if !p.sinceSet {
		p.since, p.sinceSet = meta.Base, true
	}
	if p.since > meta.Version {
		return opsResponse{}, errVersionAhead(p.since, meta.Version)
	}
	to := min(meta.Version, p.since+p.limit)
	resp := opsResponse{Version: meta.Version, Ops: []ExportedOp{}}
	if to > p.since {
		recs, size, err := s.store.OpsWithin(ctx, id, p.since, to, s.opts.PageBytes)
		if err != nil {
			return opsResponse{}, err
		}
		if size > s.opts.PageBytes && len(recs) > 1 {
			recs = recs[:len(recs)-1] // It passed the bound: the next page starts with it.
		}
		resp.Ops = exportedOps(recs)
	}
	return resp, nil
}

// waitForOp holds a long-poll until an op after p.since is committed, the wait
// ends, the client goes away or the server drains. Only a failure to
// subscribe is an error: every other end answers with whatever exists then.
func (s *Server) waitForOp(r *http.Request, id string, p pollParams) error {
	if s.Draining() {
		return nil
	}
	if err := s.conns.acquire(); err != nil {
		return err
	}
	defer s.conns.release()
	ctx, cancel := s.streamContext(r)
	defer cancel()
	ctx, cancelWait := context.WithTimeout(ctx, p.wait)
	defer cancelWait()
	s.metrics.pollers.Inc()
	defer s.metrics.pollers.Dec()

	since := p.since
	sub, err := s.subscribe(ctx, id, &since)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer sub.Close()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return nil
		}
		if ev.Kind == collab.EventOp || ev.Kind == collab.EventSnapshot && ev.Version > p.since {
			return nil
		}
	}
}

// subscribe is hub.Subscribe for long-polls and SSE streams. A document
// whose deletion is under way refuses subscriptions with deleted (410), a
// code for requests that were under way when it went; a read that arrives
// then is not_found, as it is a moment later (docs/api.md). A document with
// all the subscribers it takes (collab.Options.MaxSubscribersPerDoc) says
// when to retry, as the server-wide limit does.
func (s *Server) subscribe(ctx context.Context, id string, since *uint64) (*collab.Subscription, error) {
	sub, err := s.hub.Subscribe(ctx, id, since)
	switch e := collab.AsError(err); {
	case e == nil:
	case e.Code == collab.CodeDeleted:
		return nil, apiError(codeNotFound, "document not found")
	case e.Code == collab.CodeTooManyConnections:
		return nil, retryLater(e, busyRetry)
	}
	return sub, err
}
