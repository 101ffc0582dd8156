package watch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/backoff"
)

// An Option configures a Watcher. An option whose value is out of range
// returns an error, and New returns the first such error.
type Option func(*config) error

type config struct {
	onFinding func(audit.Finding)
	handled   func(client.Event) // for tests: after an event's cursor is saved
	clock     func() time.Time
	lookback  time.Duration
	logger    *slog.Logger
}

// WithOnFinding sets where the findings go: f is called with the new
// finding of every listing an event touches, whatever its verdict —
// committed ones included, so that a platform can clear a flag the audit
// had raised. Calls are made from the goroutine that called Handle,
// Recheck or Run, one at a time, listings of one key in id order. Nil, the
// default, drops them: a watcher that only learns.
func WithOnFinding(f func(audit.Finding)) Option {
	return func(c *config) error {
		if f == nil {
			f = func(audit.Finding) {}
		}
		c.onFinding = f
		return nil
	}
}

// WithClock sets the time verdicts are decided at; nil, the default, is
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			now = time.Now
		}
		c.clock = now
		return nil
	}
}

// WithLookback sets the inspection look-back window given to
// client.Decide; zero, the default, is client.DefaultLookback, and a
// negative window is an error.
func WithLookback(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("lookback %v is negative", d)
		}
		c.lookback = d
		return nil
	}
}

// WithLogger reports Run's feed and lookup failures, each retried, at
// warn level; nil, the default, is silent.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { c.logger = l; return nil }
}

// Watcher re-decides the listings of an Index that the registry's changes
// touch. See the package doc for which listings an event touches.
type Watcher struct {
	api *client.Client
	idx *Index
	o   config
}

// New returns a watcher of idx's listings that asks api. A nil api or idx
// is an error, as is an option out of range.
func New(api *client.Client, idx *Index, opts ...Option) (*Watcher, error) {
	if api == nil {
		return nil, errors.New("watch: New needs a client")
	}
	if idx == nil {
		return nil, errors.New("watch: New needs an index")
	}
	w := &Watcher{api: api, idx: idx, o: config{onFinding: func(audit.Finding) {}, clock: time.Now}}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&w.o); err != nil {
			return nil, fmt.Errorf("watch: %w", err)
		}
	}
	return w, nil
}

// Handle re-decides every listing ev touches and gives each its finding
// through the function given to WithOnFinding. It looks the touched keys up in batches of
// at most client.MaxBatchKeys at client.PriorityLow, and records what the
// answers say of each key's maker for later events.
//
// Handling an event again is harmless: it gives the same listings their
// findings again. An error — the index, or a lookup that failed after the
// client's retries — means some touched listings may not have had their
// finding: handle the event again. A key the registry refused alone gets
// verdict unknown with the reason, as in the audit.
func (w *Watcher) Handle(ctx context.Context, ev client.Event) error {
	return w.handle(ctx, ev, nil)
}

// handle is Handle, with more to write in the transaction that records
// what ev says of its maker: the feed position, for Run. That transaction
// is the last, after every finding was given, so that a kill at any point
// leaves the position before ev, and ev is handled again.
func (w *Watcher) handle(ctx context.Context, ev client.Event, also func(learner) error) error {
	keys, fs, err := w.touched(ctx, ev)
	if err != nil {
		return err
	}
	if err := w.decide(ctx, keys, findingEvent(ev)); err != nil {
		return err
	}
	err = w.idx.learn(ctx, func(l learner) error {
		if err := fs.write(ctx, l); err != nil {
			return err
		}
		if also != nil {
			return also(l)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("watch: recording event %s: %w", ev.ID, err)
	}
	return nil
}

// facts is what an event says of its maker: its USCC, its GTIN prefixes.
type facts struct {
	makerID  string
	uscc     client.USCC
	prefixes []string
}

func (f facts) write(ctx context.Context, l learner) error {
	if err := l.maker(ctx, f.makerID, f.uscc); err != nil {
		return err
	}
	return l.prefixes(ctx, f.makerID, f.prefixes)
}

// touched returns the distinct product keys of the index that ev
// touches, sorted, and what ev says of its maker, not yet recorded. See
// the package doc for the rules.
func (w *Watcher) touched(ctx context.Context, ev client.Event) ([]client.ProductKey, facts, error) {
	var fs facts
	ts := touchSet{idx: w.idx, keys: make(map[client.ProductKey]struct{})}
	var err error
	switch {
	case ev.Commitment != nil:
		c := ev.Commitment
		fs.makerID, fs.prefixes = c.EnterpriseID, c.Scope.GTINPrefixes
		err = w.commitmentTouches(ctx, &ts, c)
	case ev.Enterprise != nil:
		e := ev.Enterprise
		fs.makerID, fs.uscc = e.ID, e.USCC
		err = w.enterpriseTouches(ctx, &ts, e)
	case ev.Inspection != nil:
		err = w.inspectionTouches(ctx, &ts, ev.Inspection)
	}
	if err != nil {
		return nil, fs, fmt.Errorf("watch: finding the listings event %s touches: %w", ev.ID, err)
	}
	return ts.sorted(), fs, nil
}

// commitmentTouches adds the keys a commitment's scope covers: by its
// maker's brands, by its GTIN prefixes, and those a lookup learnt under
// the commitment or its maker.
func (w *Watcher) commitmentTouches(ctx context.Context, ts *touchSet, c *client.Commitment) error {
	u, err := w.makerUSCC(ctx, c.EnterpriseID)
	if err != nil {
		return err
	}
	if u != "" {
		covered := func(k client.ProductKey) bool { return c.Scope.Covers("", k.Brand, k.Model) }
		for _, b := range c.Scope.Brands {
			if err := ts.query(ctx, covered, `uscc = ? AND brand = ?`, string(u), b); err != nil {
				return err
			}
		}
	}
	if err := ts.byPrefixes(ctx, c.Scope.GTINPrefixes); err != nil {
		return err
	}
	return ts.learnt(ctx, func(r keyRow) bool { return r.commitmentID == c.ID || c.Scope.Covers(r.key.GTIN, r.brand, r.model) },
		`commitment_id = ? OR enterprise_id = ?`, c.ID, c.EnterpriseID)
}

// enterpriseTouches adds every key of a maker: by its USCC, by the GTIN
// prefixes its commitments named, and those a lookup learnt under it.
func (w *Watcher) enterpriseTouches(ctx context.Context, ts *touchSet, e *client.Enterprise) error {
	if e.USCC != "" {
		if err := ts.query(ctx, nil, `uscc = ?`, string(e.USCC)); err != nil {
			return err
		}
	}
	ps, err := w.idx.makerPrefixes(ctx, e.ID)
	if err != nil {
		return err
	}
	if err := ts.byPrefixes(ctx, ps); err != nil {
		return err
	}
	return ts.learnt(ctx, nil, `enterprise_id = ?`, e.ID)
}

// inspectionTouches adds the keys of the product an inspection sampled:
// its GTIN, its maker's brand and model (or the brand alone), and those a
// lookup learnt under the same maker, brand and model.
func (w *Watcher) inspectionTouches(ctx context.Context, ts *touchSet, in *client.Inspection) error {
	p := in.Product
	if p.GTIN != "" {
		if g, err := client.ParseGTIN(string(p.GTIN)); err == nil {
			if err := ts.query(ctx, nil, `gtin = ?`, string(g)); err != nil {
				return err
			}
		}
	}
	if p.Brand == "" {
		return nil
	}
	u, err := w.makerUSCC(ctx, in.EnterpriseID)
	if err != nil {
		return err
	}
	if u != "" {
		// A key without a model names the brand's products at large:
		// an inspection of one model may decide it too.
		if err := ts.query(ctx, nil, `uscc = ? AND brand = ? AND model IN (?, '')`, string(u), p.Brand, p.Model); err != nil {
			return err
		}
	}
	return ts.learnt(ctx, nil, `enterprise_id = ? AND p_brand = ? AND p_model = ?`, in.EnterpriseID, p.Brand, p.Model)
}

// touchSet gathers the distinct keys of the index an event touches.
type touchSet struct {
	idx  *Index
	keys map[client.ProductKey]struct{}
}

// query adds the listings' keys that match where and keep (nil: all).
func (ts *touchSet) query(ctx context.Context, keep func(client.ProductKey) bool, where string, args ...any) error {
	ks, err := ts.idx.queryKeys(ctx, `SELECT DISTINCT gtin, uscc, brand, model FROM listings WHERE `+where, args...)
	for _, k := range ks {
		if keep == nil || keep(k) {
			ts.keys[k] = struct{}{}
		}
	}
	return err
}

// byPrefixes adds the GTIN-keyed listings under each GTIN prefix.
func (ts *touchSet) byPrefixes(ctx context.Context, prefixes []string) error {
	for _, p := range prefixes {
		if p == "" || len(p) > 13 {
			continue
		}
		// The 13-digit form of a GTIN with indicator digit 0: the stored
		// 14-digit GTIN starts with 0 and the prefix; ':' follows '9'.
		if err := ts.query(ctx, nil, `gtin >= ? AND gtin < ?`, "0"+p, "0"+p+":"); err != nil {
			return err
		}
	}
	return nil
}

// learnt adds the keys whose recorded lookups match where and keep
// (nil: all).
func (ts *touchSet) learnt(ctx context.Context, keep func(keyRow) bool, where string, args ...any) error {
	rows, err := ts.idx.learnt(ctx, where, args...)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if keep == nil || keep(r) {
			ts.keys[r.key] = struct{}{}
		}
	}
	return nil
}

// sorted is the keys gathered, in order: empty, not nil, when none.
func (ts *touchSet) sorted() []client.ProductKey {
	keys := slices.AppendSeq(make([]client.ProductKey, 0, len(ts.keys)), maps.Keys(ts.keys))
	slices.SortFunc(keys, compareKeys)
	return keys
}

func compareKeys(a, b client.ProductKey) int {
	return cmp.Or(cmp.Compare(a.GTIN, b.GTIN), cmp.Compare(a.USCC, b.USCC), cmp.Compare(a.Brand, b.Brand), cmp.Compare(a.Model, b.Model))
}

// makerUSCC is an enterprise's USCC: learnt before, or asked of the
// registry (at low priority) and learnt. A maker the registry does not
// know has none.
func (w *Watcher) makerUSCC(ctx context.Context, enterpriseID string) (client.USCC, error) {
	if enterpriseID == "" {
		return "", nil
	}
	u, err := w.idx.makerUSCC(ctx, enterpriseID)
	if err != nil || u != "" {
		return u, err
	}
	e, _, err := w.api.Enterprises.Get(client.WithPriority(ctx, client.PriorityLow), enterpriseID, nil)
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && apiErr.Code == client.CodeNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if err := w.idx.learn(ctx, func(l learner) error { return l.maker(ctx, e.ID, e.USCC) }); err != nil {
		return "", err
	}
	return e.USCC, nil
}

// Recheck re-decides every listing of the index, as a full audit with
// audit.Options.All would, and learns every key's maker, so that later
// events find GTIN-keyed listings whose maker's commitment names brands
// rather than GTIN prefixes. Run it once after Load, and after the feed
// rejected the cursor. It reads the keys 100 at a time: memory does not
// grow with the catalogue.
func (w *Watcher) Recheck(ctx context.Context) error {
	var last *client.ProductKey
	for {
		q := `SELECT DISTINCT gtin, uscc, brand, model FROM listings ORDER BY gtin, uscc, brand, model LIMIT ?`
		args := []any{client.MaxBatchKeys}
		if last != nil {
			q = `SELECT DISTINCT gtin, uscc, brand, model FROM listings WHERE (gtin, uscc, brand, model) > (?, ?, ?, ?)
ORDER BY gtin, uscc, brand, model LIMIT ?`
			args = []any{string(last.GTIN), string(last.USCC), last.Brand, last.Model, client.MaxBatchKeys}
		}
		keys, err := w.idx.queryKeys(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("watch: reading the index's keys: %w", err)
		}
		if len(keys) == 0 {
			return nil
		}
		if err := w.decide(ctx, keys, nil); err != nil {
			return err
		}
		last = &keys[len(keys)-1]
	}
}

// decide looks keys up, MaxBatchKeys to a call, learns from the answers
// and gives each listing of each key its finding, naming the event that
// caused it (nil: none).
func (w *Watcher) decide(ctx context.Context, keys []client.ProductKey, cause *audit.Cause) error {
	ctx = client.WithPriority(ctx, client.PriorityLow)
	for chunk := range slices.Chunk(keys, client.MaxBatchKeys) {
		items, err := w.batch(ctx, chunk)
		if err != nil {
			return fmt.Errorf("watch: looking up %d keys: %w", len(chunk), err)
		}
		now := w.o.clock()
		answers := make([]audit.Answer, len(chunk))
		err = w.idx.learn(ctx, func(l learner) error {
			for i, k := range chunk {
				it := items[i]
				if it.Err != nil || it.Status == nil {
					why := it.Err
					if why == nil {
						why = errors.New("no answer")
					}
					answers[i] = audit.NoAnswer(k, why)
					continue
				}
				answers[i] = audit.Decide(k, it.Status, now, w.o.lookback)
				if err := l.status(ctx, k, it.Status); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("watch: recording answers: %w", err)
		}
		for _, a := range answers {
			ls, err := w.idx.listings(ctx, a.Key)
			if err != nil {
				return fmt.Errorf("watch: reading listings: %w", err)
			}
			for _, l := range ls {
				w.o.onFinding(audit.Finding{Listing: l, Verdict: a.Verdict, Code: a.Code, Reason: a.Reason, CommitmentID: a.CommitmentID,
					InspectionID: a.InspectionID, EnterpriseID: a.EnterpriseID, VerifyURL: a.VerifyURL,
					Cause: cause, DecidedAt: now})
			}
		}
	}
	return nil
}

// findingEvent is what a finding says of the event that caused it.
func findingEvent(ev client.Event) *audit.Cause {
	return &audit.Cause{EventID: ev.ID, Seq: ev.Seq, Type: string(ev.Type), OccurredAt: ev.OccurredAt}
}

// LearnSummary counts what Learn did.
type LearnSummary struct {
	Keys   int // keys whose maker was learnt
	Failed int // keys the registry gave no answer for: learnt at the next Learn
	Calls  int // lookups made
}

// Learn looks up every key of the index that no lookup has been recorded
// for — all of them after Load into a new index, the new ones after Sync
// — and records what the registry says of its maker, 100 keys to a call
// at client.PriorityLow and to a transaction. It gives no finding: that
// is the full audit's work. Run calls it before following the feed, so
// that an event handled after it finds GTIN-keyed listings through their
// makers; a Learn stopped part way loses what its last transaction had
// not committed, and the next one carries on.
func (w *Watcher) Learn(ctx context.Context) (LearnSummary, error) {
	var sum LearnSummary
	lctx := client.WithPriority(ctx, client.PriorityLow)
	var last *client.ProductKey
	for {
		keys, err := w.idx.unlearnt(ctx, last, client.MaxBatchKeys)
		if err != nil {
			return sum, fmt.Errorf("watch: reading the keys to learn: %w", err)
		}
		if len(keys) == 0 {
			return sum, nil
		}
		items, err := w.batch(lctx, keys)
		if err != nil {
			return sum, fmt.Errorf("watch: learning the makers of %d keys: %w", len(keys), err)
		}
		sum.Calls++
		err = w.idx.learn(ctx, func(l learner) error {
			for i, k := range keys {
				if it := items[i]; it.Err == nil && it.Status != nil {
					if err := l.status(ctx, k, it.Status); err != nil {
						return err
					}
					sum.Keys++
				} else {
					sum.Failed++
				}
			}
			return nil
		})
		if err != nil {
			return sum, fmt.Errorf("watch: recording answers: %w", err)
		}
		last = &keys[len(keys)-1]
	}
}

// batch makes one lookup, waiting while the client's limiter refuses
// low-priority calls (it does not queue them).
func (w *Watcher) batch(ctx context.Context, keys []client.ProductKey) ([]client.BatchItem, error) {
	for {
		items, _, err := w.api.Products.Batch(ctx, keys)
		var rl *client.RateLimitError
		if err == nil || !errors.As(err, &rl) || !rl.Throttled {
			return items, err
		}
		if !backoff.Sleep(ctx, max(rl.RetryAfter, time.Millisecond)) {
			return nil, ctx.Err()
		}
	}
}

// Run follows the registry's change feed from the cursor saved in the
// index, handles each event and saves its cursor, until ctx ends; it then
// returns ctx's error. A restart resumes after the last event handled:
// none is lost, and none is handled twice unless Run was stopped between
// its findings and its cursor being saved.
//
// An event Handle fails on is handled again, after a backoff, until it
// succeeds: the cursor does not move past it. When the registry rejects
// the cursor (the watcher was away longer than the feed's retention),
// Run reads the feed's head, re-decides every listing (Recheck) and
// follows on from the head.
//
// follow tunes the long poll of the feed, as in client's Changes.Follow;
// nil means the client's defaults.
//
// Run is for a single process. In a fleet, let the replica holding the
// cache's lease handle events: see the package doc.
func (w *Watcher) Run(ctx context.Context, follow *client.FollowOptions) error {
	if pending, err := w.idx.SyncPending(ctx); err != nil {
		return fmt.Errorf("watch: reading the index: %w", err)
	} else if pending {
		return ErrSyncUnfinished
	}
	// The change feed's own backoff: most of Run's failures are the
	// feed's or the registry's.
	wait := backoff.Exponential{Base: client.DefaultFollowMinBackoff, Max: client.DefaultFollowMaxBackoff}
	failures := 0
	learnt := false
	for {
		cursor, err := w.idx.Cursor(ctx)
		if err != nil {
			return fmt.Errorf("watch: reading the cursor: %w", err)
		}
		if !learnt {
			var sum LearnSummary
			if sum, err = w.Learn(ctx); err == nil {
				learnt = true
				if sum.Failed > 0 {
					w.warn("learning makers", fmt.Errorf("no answer for %d keys: they are asked again at the next start", sum.Failed))
				}
			}
		}
		if err == nil {
			err = w.follow(ctx, cursor, follow)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if client.IsCursorRejected(err) {
			w.warn("the change feed rejected the cursor; re-deciding every listing", err)
			err = w.resync(ctx)
		}
		if err == nil {
			failures = 0
			continue
		}
		w.warn("handling the change feed", err)
		if !backoff.Sleep(ctx, wait.Wait(failures)) {
			return ctx.Err()
		}
		failures++
	}
}

// follow handles events from cursor until an event fails, the cursor is
// rejected or ctx ends.
func (w *Watcher) follow(ctx context.Context, cursor string, opts *client.FollowOptions) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ev, err := range w.api.Changes.Follow(fctx, cursor, opts) {
		if err != nil {
			if ctx.Err() != nil || client.IsCursorRejected(err) {
				return err
			}
			w.warn("polling the change feed", err) // Follow retries by itself
			continue
		}
		// What ev says of its maker and its feed position are
		// committed in one transaction, after its findings.
		save := func(l learner) error {
			if ev.Cursor == "" {
				return nil
			}
			return l.cursor(ctx, ev.Cursor)
		}
		if err := w.handle(ctx, ev, save); err != nil {
			return err
		}
		if w.o.handled != nil {
			w.o.handled(ev)
		}
	}
	return ctx.Err()
}

func (w *Watcher) resync(ctx context.Context) error {
	head, err := w.api.Changes.Head(ctx)
	if err != nil {
		return err
	}
	if err := w.Recheck(ctx); err != nil {
		return err
	}
	return w.idx.SaveCursor(ctx, head)
}

func (w *Watcher) warn(msg string, err error) {
	if w.o.logger != nil {
		w.o.logger.Warn("watch: "+msg, "err", err)
	}
}
