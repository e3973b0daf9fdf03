package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/foliodocs/folio/collab/client"
)

// loadRun is a set of connected editors (and viewers) over a set of
// documents. Phases of it are measured one after another: one for a plain
// run, one per step for --find-max.
type loadRun struct {
	cfg     Config
	tgt     *target
	docs    []*docRun
	editors []*editor
	viewers *viewerSet
	win     window
	rate    atomicFloat
	codes   codeCounts
	windows int // Measured windows so far.

	cancelTyping context.CancelFunc
	typing       sync.WaitGroup
}

// dialRun creates the run's documents and opens every editor's connection.
func dialRun(ctx context.Context, cfg Config, tgt *target) (*loadRun, error) {
	r := newLoadRun(cfg, tgt)
	for _, d := range r.docs {
		if err := tgt.create(ctx, d.id); err != nil {
			return nil, err
		}
	}
	if err := r.dialEditors(ctx); err != nil {
		r.close()
		return nil, err
	}
	if cfg.ViewersPerDoc > 0 {
		r.viewers = startViewers(tgt, r.docs, cfg.ViewersPerDoc, &r.win)
	}
	return r, nil
}

// newLoadRun lays out documents and editors; nothing is connected yet.
func newLoadRun(cfg Config, tgt *target) *loadRun {
	r := &loadRun{cfg: cfg, tgt: tgt}
	r.rate.store(cfg.Rate)
	prefix := runPrefix()
	for d := 0; d < cfg.Docs; d++ {
		doc := &docRun{id: fmt.Sprintf("%s-%d", prefix, d), flights: map[opKey]*flight{}}
		r.docs = append(r.docs, doc)
		for i := 0; i < cfg.EditorsPerDoc; i++ {
			seed := cfg.Seed*1_000_003 + uint64(len(r.editors))
			e := &editor{doc: doc, typist: newTypist(seed, cfg.MaxDocLen), rng: rand.New(rand.NewPCG(seed, 7)),
				win: &r.win, codes: &r.codes, deleteText: cfg.DeleteText}
			doc.editors = append(doc.editors, e)
			r.editors = append(r.editors, e)
		}
	}
	return r
}

// dialEditors connects the editors, DialParallel at a time, and stops
// dialling at the first failure.
func (r *loadRun) dialEditors(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, r.cfg.DialParallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i, e := range r.editors {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := client.Dial(ctx, r.tgt.wsURL(e.doc.id), e.options(fmt.Sprintf("bench %d", i), r.tgt))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("dial editor %d of %s: %w", i, e.doc.id, err)
					cancel()
				}
				return
			}
			e.c, e.session = c, c.Session()
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// runPrefix names this run's documents so runs against one server never share one.
func runPrefix() string {
	b := make([]byte, 4)
	crand.Read(b)
	return "bench-" + hex.EncodeToString(b)
}

func (t *target) wsURL(doc string) string { return t.baseURL + "/api/v1/docs/" + doc + "/ws" }

// startTyping starts every editor's typing loop.
func (r *loadRun) startTyping() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancelTyping = cancel
	for _, e := range r.editors {
		r.typing.Add(1)
		go func() {
			defer r.typing.Done()
			e.typeLoop(ctx, &r.rate, r.cfg.Presence)
		}()
	}
}

// stopTyping stops the typing loops and waits for them.
func (r *loadRun) stopTyping() {
	if r.cancelTyping != nil {
		r.cancelTyping()
		r.typing.Wait()
		r.cancelTyping = nil
	}
}

// close stops everything and closes every connection.
func (r *loadRun) close() {
	r.stopTyping()
	if r.viewers != nil {
		r.viewers.close()
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, e := range r.editors {
		if e.c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			e.c.Close()
		}()
	}
	wg.Wait()
}

func (r *loadRun) reconnects() int64 {
	var n int64
	for _, e := range r.editors {
		n += int64(e.c.Reconnects())
	}
	return n
}

func (r *loadRun) errorCount() int64 {
	var n int64
	for _, e := range r.editors {
		n += e.errors.Load()
	}
	return n
}

// measure runs one phase: warm-up (not counted), the measured window, and a
// grace period in which acks and deliveries of ops sent inside the window
// still count. The typing loops must be running.
func (r *loadRun) measure(ctx context.Context, name string) (Report, error) {
	if err := sleepCtx(ctx, r.cfg.Warmup); err != nil {
		return Report{}, err
	}
	rep := r.newReport(name)
	errs0, rec0 := r.errorCount(), r.reconnects()
	r.codes.take()
	m0 := r.tgt.metrics(ctx)
	self0, _ := readProc(0)
	r.windows++
	prof, err := startProfile(r.cfg.CPUProfile, r.windows, r.cfg.FindMax)
	if err != nil {
		return Report{}, err
	}
	sampler := startSampler(r.tgt)
	var watch *metricsWatch
	if r.tgt.remote {
		watch = r.tgt.watchMetrics(ctx, m0, time.Second)
	}
	start := time.Now()
	r.win.end.Store(0)
	r.win.start.Store(start.UnixNano())
	err = sleepCtx(ctx, r.cfg.Duration)
	end := time.Now()
	r.win.end.Store(end.UnixNano())
	res := sampler.stop()
	var watched serverMetrics
	if watch != nil {
		watched = watch.stop()
	}
	err = errors.Join(err, prof.stop())
	if err != nil {
		return Report{}, err
	}
	secs := end.Sub(start).Seconds()
	if watch != nil {
		watched.fill(&rep, serverMetrics{ok: true})
	} else {
		r.tgt.metrics(ctx).fill(&rep, m0)
	}
	if self1, err := readProc(0); err == nil && r.tgt.pid != 0 {
		rep.GeneratorCPUPercent = 100 * (self1.CPU - self0.CPU).Seconds() / secs
	}
	// Ops sent just before the end may still be acked: give them a moment.
	sleepCtx(ctx, min(time.Second, r.cfg.Threshold*4+200*time.Millisecond))
	acks := r.collectStats(&rep, secs)
	r.win.start.Store(0)
	rep.Errors = r.errorCount() - errs0
	rep.ErrorCodes = r.codes.take()
	rep.Reconnects = r.reconnects() - rec0
	rep.LoadAvgEnd = loadAvg()
	res.fill(&rep, acks)
	return rep, nil
}

// collectStats takes every editor's window stats into rep and returns the
// number of acks (committed ops) in the window.
func (r *loadRun) collectStats(rep *Report, secs float64) int64 {
	var st editorStats
	for _, e := range r.editors {
		s := e.takeStats()
		st.merge(&s)
	}
	rep.DurationS = secs
	rep.EditsPerS = float64(st.edits) / secs
	rep.CommittedPerS = float64(st.acks) / secs
	rep.DeliveriesPerS = float64(st.deliveries) / secs
	rep.Ack, rep.Broadcast = st.ack.summary(), st.bcast.summary()
	if r.viewers != nil {
		rep.ViewerEvents = float64(r.viewers.take()) / secs
	}
	if st.mismatches > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d acks did not match the seq the generator expected (their samples were skipped)", st.mismatches))
	}
	return st.acks
}

func (r *loadRun) newReport(name string) Report {
	return Report{
		Scenario: name, Date: time.Now().UTC(), Server: r.tgt.desc,
		Docs: len(r.docs), EditorsPerDoc: r.cfg.EditorsPerDoc, Rate: r.rate.load(),
		Presence: r.cfg.Presence, ViewersPerDoc: r.cfg.ViewersPerDoc,
		Connections: len(r.editors) + len(r.docs)*r.cfg.ViewersPerDoc,
		WarmupS:     r.cfg.Warmup.Seconds(), LoadAvgStart: loadAvg(),
		Deletes: deleteKind(r.cfg.DeleteText),
	}
}

// converge waits until every editor has no pending op and every editor's
// text equals the server's committed text at the same version. It returns
// "" when all documents converged, else what differed.
func (r *loadRun) converge(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Settle)
	defer cancel()
	for i, e := range r.editors {
		if err := e.c.WaitSynced(ctx); err != nil {
			return fmt.Sprintf("editor %d of %s never synced: %v", i, e.doc.id, err)
		}
	}
	for _, d := range r.docs {
		if msg := r.convergeDoc(ctx, d); msg != "" {
			return msg
		}
	}
	return ""
}

// convergeDoc polls the server's text of d until every editor of d matches it.
func (r *loadRun) convergeDoc(ctx context.Context, d *docRun) string {
	var last string
	for {
		text, version, err := r.tgt.text(ctx, d.id)
		if err != nil {
			last = err.Error()
		} else if last = docDiffers(d, text, version); last == "" {
			return ""
		}
		if sleepCtx(ctx, 50*time.Millisecond) != nil {
			return fmt.Sprintf("%s: %s", d.id, last)
		}
	}
}

func docDiffers(d *docRun, text string, version uint64) string {
	for i, e := range d.editors {
		if v := e.c.Version(); v != version {
			return fmt.Sprintf("editor %d at version %d, server at %d", i, v, version)
		}
		if t := e.c.Text(); t != text {
			return fmt.Sprintf("editor %d text (%d bytes) differs from the server's (%d bytes) at version %d",
				i, len(t), len(text), version)
		}
	}
	return ""
}

// create makes an empty document with the given id (POST /api/v1/docs), so
// that the editors join an existing document rather than racing to create it.
func (t *target) create(ctx context.Context, doc string) error {
	body := strings.NewReader(`{"id":"` + doc + `"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.baseURL+"/api/v1/docs", body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.do(req)
	if err != nil {
		return fmt.Errorf("create %s: %w", doc, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create %s: %s: %.200s", doc, resp.Status, b)
	}
	return nil
}

// text fetches a document's committed text and its version.
func (t *target) text(ctx context.Context, doc string) (string, uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.baseURL+"/api/v1/docs/"+doc+"/text", nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := t.do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("GET text of %s: %s: %.200s", doc, resp.Status, b)
	}
	v, err := strconv.ParseUint(resp.Header.Get("X-Folio-Version"), 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("GET text of %s: bad X-Folio-Version: %w", doc, err)
	}
	return string(b), v, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
