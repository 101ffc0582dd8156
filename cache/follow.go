package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/backoff"
)

// cursorKey is where Follow keeps the change-feed position it has applied
// up to, in a store that elects no leader (a memory store). A Leaser keeps
// it under its lease instead.
const cursorKey = "follow\x1fcursor"

// defaultLeaseTTL is how long a follower's lease lasts without renewal:
// when the follower holding it dies, another takes over within this time.
const defaultLeaseTTL = 10 * time.Second

// FollowOptions tune Follow. The zero value is ready to use. The feed's
// long poll is tuned as the client's Follow is, by the embedded
// client.FollowOptions (Wait, MinBackoff, MaxBackoff).
type FollowOptions struct {
	client.FollowOptions

	// Clock times the cursor entry's TTL and CaughtUp; nil is the real
	// clock. Changes are stamped with the registry's positions, never a
	// clock's time.
	Clock func() time.Time
	// Logger reports feed and store failures at warn level, and a
	// resynchronisation at error level; nil is silent.
	Logger *slog.Logger
	// Handle, if set, is the platform's own work on each event (the
	// change-driven audit, say), done under the lease with the store's:
	// it is called after the event is applied to the store and before
	// its cursor is saved, and an error is retried as a store failure is,
	// so that no event the feed delivered is lost to it. It may be called
	// again for an event after a failure or a change of lease holder:
	// make it idempotent.
	Handle func(ctx context.Context, ev client.Event) error
	// Applied, if set, is called after each event is applied and its
	// cursor saved — for metrics, and for tests that wait on propagation.
	Applied func(client.Event)
	// Resynced, if set, is called after each resynchronisation, with the
	// error that rejected the cursor, or nil when there was no cursor.
	Resynced func(cause error)
	// Leading, if set, is called with true when this follower takes the
	// lease of a Leaser store and starts applying the feed, and with false
	// when it stops holding it.
	Leading func(bool)
	// LeaseTTL is the lease's time to live with a Leaser store (default
	// 10 s); the holder renews it every third of it.
	LeaseTTL time.Duration
	// Stats, if set, counts what the follower does; read it from any
	// goroutine.
	Stats *FollowStats

	// LogKeys pins the registry's keys for its log's checkpoints; nil
	// reads them from the registry (/v1/keys), which trusts TLS for them.
	LogKeys []client.LogKey
	// LogEvery is how often, at most, the follower audits the registry's
	// log while the feed brings changes (default 5 s): each change is
	// audited within LogEvery of the audit before it. A negative one
	// turns the audit off.
	LogEvery time.Duration
	// Witnesses are other parties' views of the log, compared with the
	// registry's at each audit.
	Witnesses []Witness
	// Cosigner, if set, adds the platform's signature to each checkpoint
	// the follower verified before it publishes it to the fleet, so that
	// others may use this platform as a witness.
	Cosigner note.Signer
	// LogAlarm, if set, is called once when the audit finds a fork: the
	// log showed two histories. Without one, the follower logs the fork
	// at error level (Logger); with one, the alarm is the caller's to
	// raise.
	LogAlarm func(error)
}

// FollowStats counts what a follower did.
type FollowStats struct {
	Applied    atomic.Int64 // events applied
	FeedErrors atomic.Int64 // failed polls of the feed (each retried)
	Resyncs    atomic.Int64 // starts with no cursor, and cursors rejected and recovered from
	Leases     atomic.Int64 // times this follower took the lease
	// CaughtUp is when the follower's last poll reached the feed's head,
	// in Unix nanoseconds (0: not yet): it knew every change published
	// before then. With a Leaser store, only the lease holder polls.
	CaughtUp atomic.Int64

	LogAudits atomic.Int64 // audits of the registry's log that passed
	LogErrors atomic.Int64 // audits that could not finish (the registry or a witness did not answer)
	LogForks  atomic.Int64 // forks found: the log showed two histories
	LogSize   atomic.Int64 // the size of the latest checkpoint verified
}

// A Leaser is a Store shared by several processes that elects one of them
// to follow the change feed, and keeps the feed's cursor under that lease.
// The Redis store is one (and so is a Tiered store, through its Redis).
//
// The lease is fenced: each taking of it gets a token higher than any
// before, and a cursor is saved only by the token that holds the lease, so
// that a holder that was paused past its lease (a long GC, a frozen VM)
// cannot move the cursor after another has taken over. Its other writes
// are harmless: stamps only ever grow, and entries only move forward.
type Leaser interface {
	// Lease takes the lease for ttl when token is 0 and nobody holds it,
	// or renews it when token holds it, and returns the token holding it.
	// It fails with ErrLeaseHeld when another holds it, and ErrLeaseLost
	// when token no longer does.
	Lease(ctx context.Context, token int64, ttl time.Duration) (int64, error)
	// Release gives the lease up if token holds it.
	Release(ctx context.Context, token int64) error
	// Cursor is the cursor saved last, "" for none.
	Cursor(ctx context.Context) (string, error)
	// SaveCursor saves cursor if token holds the lease, and fails with
	// ErrLeaseLost otherwise.
	SaveCursor(ctx context.Context, token int64, cursor string) error
}

// Errors of a Leaser.
var (
	ErrLeaseHeld = errors.New("qcsdk/cache: another follower holds the lease")
	ErrLeaseLost = errors.New("qcsdk/cache: the follower's lease was lost")
)

// Follow keeps a store current from the registry's change feed until ctx
// ends, and returns ctx's error. It resumes from the cursor saved in the
// store, applies each event (see Apply), then saves the event's cursor, so
// that a restart neither loses an event nor applies one twice to any
// effect: applying is idempotent, guarded by the registry's positions. API
// failures are retried by the feed. A change the store cannot record (a
// Redis shard failing over) is announced to every server all the same and
// recorded again in the background while the feed goes on, the cursor
// held at the change before it, so nothing is skipped while Redis is down
// and no revocation waits for another maker's shard.
//
// With a Leaser store (Redis), every web server may run Follow: one takes
// the lease and applies the feed, the others wait, and when the holder
// dies another takes over within the lease's time (FollowOptions.LeaseTTL)
// and resumes from the saved cursor.
//
// With no saved cursor (a first start, or a cursor lost with the store),
// Follow records an empty-Maker Stamp at the feed head's position (see
// below) and applies the feed from its oldest event: the answers cached
// before may predate changes the feed no longer holds.
//
// When the registry rejects the cursor (one it did not issue, or one
// older than the feed's retention), Follow resynchronises by itself: it
// reads the feed's head, records an empty-Maker Stamp at its position, so
// that every answer from before it is revalidated with the registry
// before it is served fresh again, on every server and tier, and follows
// on from the head. It logs that once at
// error level, counts it, and calls FollowOptions.Resynced. Recovery takes
// one call for the head and one write; the cache catches up as pages ask,
// each cached answer served stale once while it is refreshed.
func Follow(ctx context.Context, api *client.Client, store Store, opts *FollowOptions) error {
	f := &follower{api: api, store: store}
	if opts != nil {
		f.opts = *opts
	}
	if f.opts.Clock == nil {
		f.opts.Clock = time.Now
	}
	if f.opts.Stats == nil {
		f.opts.Stats = new(FollowStats)
	}
	if f.opts.LeaseTTL <= 0 {
		f.opts.LeaseTTL = defaultLeaseTTL
	}
	caughtUp, stats, clock := f.opts.CaughtUp, f.opts.Stats, f.opts.Clock
	f.opts.CaughtUp = func() {
		stats.CaughtUp.Store(clock().UnixNano())
		if caughtUp != nil {
			caughtUp()
		}
	}
	if f.opts.LogEvery == 0 {
		f.opts.LogEvery = defaultLogEvery
	}
	f.log = newLogAuditor(api, store, &f.opts)
	if l, ok := store.(Leaser); ok {
		return f.leased(ctx, l)
	}
	return f.run(ctx, entryCursor{store: store, clock: f.opts.Clock})
}

type follower struct {
	api   *client.Client
	store Store
	opts  FollowOptions
	log   *logAuditor

	// the audits of the current run, and their context
	audits *sync.WaitGroup
	actx   context.Context
}

// cursors is where a follower keeps its position.
type cursors interface {
	load(ctx context.Context) (string, error)
	save(ctx context.Context, ev client.Event, cursor string) error
	// reset saves a cursor that need not follow the one saved.
	reset(ctx context.Context, cursor string) error
}

// entryCursor keeps the cursor as an entry under cursorKey.
type entryCursor struct {
	store Store
	clock func() time.Time
}

func (c entryCursor) load(ctx context.Context) (string, error) {
	e, err := c.store.Get(ctx, cursorKey)
	if e == nil || err != nil {
		return "", err
	}
	return e.Cursor, nil
}

func (c entryCursor) save(ctx context.Context, ev client.Event, cursor string) error {
	now := c.clock()
	_, err := c.store.Set(ctx, cursorKey, &Entry{
		Cursor:     cursor,
		AsOf:       eventSeq(ev),
		Version:    eventVersion(ev),
		Fetched:    now,
		FreshUntil: now,
		Expires:    now.Add(90 * 24 * time.Hour),
	})
	return err
}

func (c entryCursor) reset(ctx context.Context, cursor string) error {
	if err := c.store.Delete(ctx, cursorKey); err != nil {
		return err
	}
	return c.save(ctx, client.Event{}, cursor)
}

// leaseCursor keeps the cursor under a lease.
type leaseCursor struct {
	l     Leaser
	token int64
}

func (c leaseCursor) load(ctx context.Context) (string, error) { return c.l.Cursor(ctx) }

func (c leaseCursor) save(ctx context.Context, _ client.Event, cursor string) error {
	return c.l.SaveCursor(ctx, c.token, cursor)
}

func (c leaseCursor) reset(ctx context.Context, cursor string) error {
	return c.l.SaveCursor(ctx, c.token, cursor)
}

// errRejected ends a run of the feed whose cursor the registry rejected.
type errRejected struct{ cause error }

func (e errRejected) Error() string { return e.cause.Error() }

// run follows the feed from the saved cursor, resynchronising whenever the
// registry rejects it, until ctx ends or the cursor cannot be saved
// because the lease was lost.
func (f *follower) run(ctx context.Context, cur cursors) error {
	// The log's audit runs beside the feed, and ends with it.
	actx, cancel := context.WithCancel(ctx)
	var audits sync.WaitGroup
	defer audits.Wait()
	defer cancel()
	f.audits, f.actx = &audits, actx
	f.log.due(actx, &audits)
	var after string
	if err := f.retry(ctx, "read the follow cursor", func() error {
		var err error
		after, err = cur.load(ctx)
		return err
	}); err != nil {
		return err
	}
	if after == "" {
		// No cursor: a first start, or one lost (Redis restarted empty).
		// The feed's oldest event may come after changes the store's
		// answers predate: mark them all to be revalidated, then apply
		// what the feed still holds.
		var head int64
		if err := f.retry(ctx, "read the change feed's head", func() error {
			var err error
			_, head, err = f.head(ctx)
			return err
		}); err != nil {
			return err
		}
		if err := f.retry(ctx, "record the resynchronisation", func() error {
			return f.store.Stamp(ctx, Stamp{Seq: head})
		}); err != nil {
			return err
		}
		f.opts.Stats.Resyncs.Add(1)
		if f.opts.Resynced != nil {
			f.opts.Resynced(nil)
		}
	}
	for {
		err := f.feed(ctx, cur, after)
		var rej errRejected
		if !errors.As(err, &rej) {
			return err
		}
		if after, err = f.resync(ctx, cur, rej.cause); err != nil {
			return err
		}
	}
}

// feed applies the feed from after until ctx ends, the lease is lost, or
// the registry rejects the cursor (errRejected).
//
// A change whose stamp cannot be recorded — the Redis shard that holds
// its maker's stamp is failing over — does not hold up the changes after
// it: the store announced it to every server already, and it waits in a
// backlog that is recorded again in the background until it succeeds,
// while the feed goes on. The cursor is saved only up to the change before
// the oldest one waiting, so that a follower that stops meanwhile applies
// it again. Applying a change again, or out of order, changes nothing a
// reader sees (see Apply).
func (f *follower) feed(ctx context.Context, cur cursors, after string) error {
	b := &backlog{f: f, cur: cur}
	defer b.stop()
	for ev, err := range f.api.Changes.Follow(ctx, after, &f.opts.FollowOptions) {
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if client.IsCursorRejected(err) {
				return errRejected{err}
			}
			f.opts.Stats.FeedErrors.Add(1)
			if f.opts.Logger != nil && !keyRefused(err) {
				f.opts.Logger.Warn("qcsdk/cache: change feed failed; resuming", "error", err)
			}
			continue
		}
		recorded := true
		actx, cancel := context.WithTimeout(ctx, firstTry)
		err := Apply(actx, f.store, ev)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !b.add(ctx, ev, err) {
				// The backlog is full: wait for this one, as for every
				// change before the backlog existed.
				if err := f.retry(ctx, "apply a change", func() error {
					return Apply(ctx, f.store, ev)
				}); err != nil {
					return err
				}
			} else {
				recorded = false
			}
		}
		if f.opts.Handle != nil {
			if err := f.retry(ctx, "handle a change", func() error {
				return f.opts.Handle(ctx, ev)
			}); err != nil {
				return err
			}
		}
		if err := b.advance(ctx, ev); err != nil {
			return err
		}
		if recorded {
			f.applied(ev)
		}
		f.log.due(f.actx, f.audits)
	}
	return ctx.Err()
}

// applied counts a change recorded in the store.
func (f *follower) applied(ev client.Event) {
	f.opts.Stats.Applied.Add(1)
	if f.opts.Applied != nil {
		f.opts.Applied(ev)
	}
}

// firstTry bounds the first attempt to record a change, so that a store
// that cannot answer (a shard failing over) holds the feed up for no
// longer than this; the backlog tries again with the store's own bounds.
const firstTry = 50 * time.Millisecond

// maxBacklog bounds the changes waiting to be recorded; past it the
// follower waits for each, as it would with no backlog.
const maxBacklog = 10_000

// A backlog holds the changes a follower applied but could not record
// (see feed), and records them again in a goroutine of its own that runs
// only while it holds any.
type backlog struct {
	f   *follower
	cur cursors

	mu      sync.Mutex
	waiting []client.Event
	last    *client.Event // the newest change handled, whose cursor is saved once nothing waits
	running bool
	cancel  context.CancelFunc
	// saveFailing is set while cursor saves fail, so that it is said once.
	saveFailing bool
	wg          sync.WaitGroup
}

// add puts ev in the backlog, unless it is full.
func (b *backlog) add(ctx context.Context, ev client.Event, cause error) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waiting) >= maxBacklog {
		return false
	}
	if len(b.waiting) == 0 && b.f.opts.Logger != nil {
		b.f.opts.Logger.Warn("qcsdk/cache: a change could not be recorded in the store; every server was told of it, "+
			"and it is recorded again until it succeeds, while the feed goes on; the cursor waits for it",
			"event", ev.ID, "seq", ev.Seq, "error", cause)
	}
	b.waiting = append(b.waiting, ev)
	if !b.running {
		b.running = true
		rctx, cancel := context.WithCancel(ctx)
		b.cancel = cancel
		b.wg.Go(func() { b.retry(rctx) })
	}
	return true
}

// advance records that ev was handled, and saves its cursor unless a
// change before it still waits. A save that fails does not hold up the
// feed either — the shard that keeps the cursor may be failing over —
// the next change's save covers it; only a lost lease ends the feed (the
// lease fences the cursor, and it is renewed apart from the saves).
func (b *backlog) advance(ctx context.Context, ev client.Event) error {
	b.mu.Lock()
	b.last = &ev
	b.mu.Unlock()
	err := b.save(ctx)
	switch {
	case err == nil:
		b.saveFailing = false
	case errors.Is(err, ErrLeaseLost) || ctx.Err() != nil:
		return err
	default:
		if !b.saveFailing && b.f.opts.Logger != nil {
			b.f.opts.Logger.Warn("qcsdk/cache: failed to save the follow cursor; going on, and saving with the next change",
				"error", err)
		}
		b.saveFailing = true
	}
	return nil
}

// save saves the newest handled change's cursor if nothing waits. The
// lock orders it with the background's save, so that a cursor never goes
// back.
func (b *backlog) save(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waiting) > 0 || b.last == nil {
		return nil
	}
	return b.cur.save(ctx, *b.last, b.last.Cursor)
}

// retry records the waiting changes until none is left, then saves the
// cursor the feed went on to.
func (b *backlog) retry(ctx context.Context) {
	waits := backoff.Exponential{Base: 50 * time.Millisecond, Max: time.Second}
	for n := 0; ; n++ {
		if !backoff.Sleep(ctx, waits.Wait(n)) {
			return
		}
		b.mu.Lock()
		todo := slices.Clone(b.waiting)
		b.mu.Unlock()
		var done []client.Event
		for _, ev := range todo {
			if Apply(ctx, b.f.store, ev) == nil {
				done = append(done, ev)
			}
		}
		b.mu.Lock()
		b.waiting = slices.DeleteFunc(b.waiting, func(ev client.Event) bool {
			return slices.ContainsFunc(done, func(d client.Event) bool { return d.ID == ev.ID })
		})
		empty := len(b.waiting) == 0
		if empty {
			b.running = false
		}
		b.mu.Unlock()
		for _, ev := range done {
			b.f.applied(ev)
		}
		if empty {
			// Saved by the feed's next change otherwise; an error here
			// (the lease lost) ends the feed's next save too.
			_ = b.save(ctx)
			return
		}
	}
}

// stop ends the background retries and waits for them.
func (b *backlog) stop() {
	b.mu.Lock()
	cancel := b.cancel
	b.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	b.wg.Wait()
}

// resync recovers from a rejected cursor: the head first, then a stamp at
// its position, so that every change up to the head is covered by the
// stamp (every answer from before it is revalidated) and every one after
// it by the feed.
func (f *follower) resync(ctx context.Context, cur cursors, cause error) (string, error) {
	f.opts.Stats.Resyncs.Add(1)
	if f.opts.Logger != nil {
		f.opts.Logger.Error("qcsdk/cache: the change feed rejected the follower's cursor; "+
			"resynchronising from the feed's head: every cached answer will be revalidated", "error", cause)
	}
	var head string
	var seq int64
	if err := f.retry(ctx, "read the change feed's head", func() error {
		var err error
		head, seq, err = f.head(ctx)
		return err
	}); err != nil {
		return "", err
	}
	if err := f.retry(ctx, "record the resynchronisation", func() error {
		return f.store.Stamp(ctx, Stamp{Seq: seq})
	}); err != nil {
		return "", err
	}
	if err := f.retry(ctx, "save the follow cursor", func() error {
		return cur.reset(ctx, head)
	}); err != nil {
		return "", err
	}
	if f.opts.Resynced != nil {
		f.opts.Resynced(cause)
	}
	return head, nil
}

// head reads the change feed's head: its cursor, and its position in the
// registry's change sequence, which a resynchronisation stamps.
func (f *follower) head(ctx context.Context) (string, int64, error) {
	page, resp, err := f.api.Changes.List(ctx, &client.ChangesOptions{FromHead: true})
	if err != nil {
		return "", 0, err
	}
	// Events, or no cursor or position, mean the answer is not the head.
	if len(page.Data) != 0 || page.NextCursor == "" || resp.AsOf <= 0 {
		return "", 0, fmt.Errorf("qcsdk/cache: asked for the change feed's head, the answer has %d event(s), "+
			"next_cursor %.64q and position %d: %w", len(page.Data), page.NextCursor, resp.AsOf, client.ErrUnavailable)
	}
	return page.NextCursor, resp.AsOf, nil
}

// leased runs the feed while this follower holds l's lease, and waits for
// it otherwise, until ctx ends.
func (f *follower) leased(ctx context.Context, l Leaser) error {
	ttl := f.opts.LeaseTTL
	var token int64
	for {
		var err error
		if token, err = f.acquire(ctx, l, token, ttl); err != nil {
			return err
		}
		f.opts.Stats.Leases.Add(1)
		if f.opts.Leading != nil {
			f.opts.Leading(true)
		}
		lctx, cancel := context.WithCancel(ctx)
		renewed := make(chan struct{})
		go func() {
			defer close(renewed)
			f.renew(lctx, cancel, l, token, ttl)
		}()
		err = f.run(lctx, leaseCursor{l: l, token: token})
		cancel()
		<-renewed
		if f.opts.Leading != nil {
			f.opts.Leading(false)
		}
		if ctx.Err() != nil {
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = l.Release(rctx, token)
			rcancel()
			return ctx.Err()
		}
		if f.opts.Logger != nil {
			f.opts.Logger.Warn("qcsdk/cache: the follower lost its lease; waiting to take it again", "error", err)
		}
	}
}

// acquire waits until this follower takes the lease, trying every third
// of its time to live. A follower that stopped because it could not renew
// (Redis failing over, say) first tries its old token: the lease may still
// be its own, and no other follower can take it before it expires.
func (f *follower) acquire(ctx context.Context, l Leaser, old int64, ttl time.Duration) (int64, error) {
	wait := ttl / 3
	for {
		if old != 0 {
			if token, err := l.Lease(ctx, old, ttl); err == nil {
				return token, nil
			} else if errors.Is(err, ErrLeaseLost) {
				old = 0
			}
		}
		token, err := l.Lease(ctx, 0, ttl)
		if err == nil {
			return token, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		pause := wait
		if !errors.Is(err, ErrLeaseHeld) {
			// Redis failed, not another follower: try again soon.
			pause = min(wait, backoff.Exponential{Base: time.Second, Max: time.Second}.Wait(0))
			if f.opts.Logger != nil {
				f.opts.Logger.Warn("qcsdk/cache: failed to take the follower's lease; retrying", "error", err)
			}
		}
		if !backoff.Sleep(ctx, pause) {
			return 0, ctx.Err()
		}
	}
}

// renew renews the lease every third of its time to live, and cancels the
// run when it is lost — or when no renewal succeeded for as long as the
// lease lives, after which another follower may hold it.
func (f *follower) renew(ctx context.Context, cancel context.CancelFunc, l Leaser, token int64, ttl time.Duration) {
	last := time.Now()
	for backoff.Sleep(ctx, ttl/3) {
		_, err := l.Lease(ctx, token, ttl)
		switch {
		case err == nil:
			last = time.Now()
		case errors.Is(err, ErrLeaseLost) || time.Since(last) >= ttl-ttl/6:
			cancel()
			return
		}
	}
}

// retry runs op until it succeeds or ctx ends, waiting with full jitter
// between 100 ms and 2 s: a store that comes back (a Redis failover takes
// seconds) is used again within 2 s. A lost lease is not retried.
func (f *follower) retry(ctx context.Context, what string, op func() error) error {
	waits := backoff.Exponential{Base: 100 * time.Millisecond, Max: 2 * time.Second}
	for n := 0; ; n++ {
		err := op()
		if err == nil || errors.Is(err, ErrLeaseLost) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		next := waits.Wait(n)
		var kr *client.KeyRefusedError
		if errors.As(err, &kr) {
			// The client sends nothing before its cool-down ends.
			next = max(next, kr.RetryAfter)
		} else if f.opts.Logger != nil {
			f.opts.Logger.Warn("qcsdk/cache: failed to "+what+"; retrying", "error", err)
		}
		if !backoff.Sleep(ctx, next) {
			return ctx.Err()
		}
	}
}

// eventVersion is the version of the record an event carries: the
// registry's version after the change.
// eventSeq is an event's position in the registry's change sequence:
// its seq, or, from a registry that does not send one, its record's
// version, which is the same number.
func eventSeq(ev client.Event) int64 {
	if ev.Seq > 0 {
		return ev.Seq
	}
	return eventVersion(ev)
}

func eventVersion(ev client.Event) int64 {
	switch {
	case ev.Commitment != nil:
		return ev.Commitment.Version
	case ev.Inspection != nil:
		return ev.Inspection.Version
	case ev.Enterprise != nil:
		return ev.Enterprise.Version
	case ev.Case != nil:
		return ev.Case.Version
	case ev.Category != nil:
		return ev.Category.Version
	}
	return 0
}

// Apply brings what a store holds up to date with one change. A change of
// a maker — a commitment's new state, a renamed or delisted maker, a new
// inspection of one of its products — is recorded as a Stamp of the
// maker: every cached answer of that maker that predates the change, on
// every server, is then read as a tombstone, so that the next lookup asks
// the registry and no older answer can come back.
//
// A new inspection is not written into the product's cached status: the
// status the registry gives carries the proof of each of its records
// against its log (see client.VerifyStatus), and one with a record added
// here would carry a proof that no longer verifies, and a badge no one
// could check. The inspected product's next view asks the registry, once.
//
// Apply is idempotent: applying an event twice, or an older one after a
// newer, changes nothing a reader sees. Webhook pushes and the change feed
// both end here; a receiver of pushes is client.WebhookHandler with Apply:
//
//	mux.Handle("POST /webhook", client.WebhookHandler(verifier,
//		func(ctx context.Context, ev client.Event) error { return cache.Apply(ctx, qc.Store(), ev) }))
func Apply(ctx context.Context, store Store, ev client.Event) error {
	var maker string
	switch {
	case ev.Commitment != nil:
		maker = ev.Commitment.EnterpriseID
	case ev.Inspection != nil:
		maker = ev.Inspection.EnterpriseID
	case ev.Enterprise != nil:
		maker = ev.Enterprise.ID
	}
	if maker == "" {
		return nil // cases and categories change no product's status
	}
	return store.Stamp(ctx, Stamp{Maker: maker, Seq: eventSeq(ev)})
}
