package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// A TieredOption configures a Tiered store. A value out of range is an
// error from NewTiered; nil, for a logger, is the default.
type TieredOption func(*Tiered) error

// WithCooldown sets how long the shared tier is skipped after tieredTrips
// failures in a row (default a second); d must be positive.
func WithCooldown(d time.Duration) TieredOption {
	return func(t *Tiered) error {
		if d <= 0 {
			return errors.New("cooldown must be positive")
		}
		t.cooldown = d
		return nil
	}
}

// tieredTrips consecutive shared-store failures open the breaker.
const tieredTrips = 3

// Shared is a store that the web servers of a fleet share, as a Tiered
// store's shared tier: it reads many keys at once, announces each write to
// the other servers, and elects the fleet's follower. The Redis store of
// package redisstore is one.
type Shared interface {
	Store
	MultiGetter
	Notifier
	Leaser
}

// Tiered is a Store with a memory tier in front of a shared (Redis) tier. Reads hit
// memory first; writes go through Redis, whose winner (freshness only
// moves forward, across the fleet) is kept in memory and announced, so
// that every other server checks its memory copy of the key against Redis
// on its next read.
//
// Neither tier ever replaces a version with an older one, so a server
// never shows an older answer after a newer one: a memory copy that must
// be checked again (another server announced a write, or announcements
// were lost) stays in memory until Redis has answered, and is kept if it
// is the newer.
//
// A failing Redis never fails an operation: Tiered falls back to its
// memory tier, counts the failure, and after 3 consecutive failures skips
// Redis for the cooldown, then tries it again (one probe at a time). What
// a server learns while Redis is down is kept in its memory and noted;
// once Redis answers again it is written through Redis (which keeps the
// newer of the two) and announced, so that the fleet learns it too.
type Tiered struct {
	// checkpoint is what runs when the follower announces a verified
	// checkpoint (onCheckpoint); nil: nothing.
	checkpoint atomic.Pointer[func(ctx context.Context)]
	// loadedCheckpoint: the fleet's checkpoint was in Redis at start.
	loadedCheckpoint atomic.Bool
	// verify checks a status read from Redis before memory takes it (see
	// onVerify); nil: nothing is checked.
	verify atomic.Pointer[func(ctx context.Context, key string, e *Entry) error]

	local    *Memory
	shared   Shared
	clock    func() time.Time
	cooldown time.Duration
	log      *slog.Logger
	spill    *spill // nil: nothing kept on disk

	mu        sync.Mutex
	fails     int       // consecutive shared failures
	openUntil time.Time // shared skipped until then, once fails ≥ tieredTrips
	probing   bool      // a probe after the cooldown is in flight
	closed    bool      // Close began: no probe starts

	// wq is what Set queued for the writer (see enqueue).
	wmu     sync.Mutex
	wq      []*pendingWrite
	writing bool
	wdone   *sync.Cond // on wmu: broadcast when writing ends

	dmu sync.Mutex
	// dirty holds what was written to memory only, while Redis failed, by
	// key: the entries themselves, so that the memory tier evicting one
	// cannot lose it before it reaches Redis.
	dirty    map[string]*Entry
	flushing bool
	// spillQ is what was noted since the spill writer last ran, and
	// spillRewrite asks it to rewrite the file with every note instead.
	spillQ       []spillRecord
	spillRewrite bool

	sharedHits, misses, sharedErrors, lost, flushed, overflowed, refused atomic.Int64
	// ann counts announcements handled, so that a copy read from Redis
	// before an announcement is not confirmed after it.
	ann atomic.Uint64

	ctx    context.Context // the subscription's and the flushes'; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

var (
	_ Store        = (*Tiered)(nil)
	_ MultiGetter  = (*Tiered)(nil)
	_ Leaser       = (*Tiered)(nil)
	_ localReader  = (*Tiered)(nil)
	_ errorCounter = (*Tiered)(nil)
)

// TieredStats counts a Tiered store's trips to Redis and its failures.
// Memory-tier hits are not counted here, to keep the hot path free of a
// shared counter: the cache's Stats.Hits counts them.
type TieredStats struct {
	SharedHits   int64 // memory misses that Redis answered
	Misses       int64 // memory misses that Redis did not answer (or was skipped)
	SharedErrors int64 // failed Redis operations
	// SharedDown is whether Redis is considered down: the last
	// tieredTrips attempts failed and none succeeded since.
	SharedDown bool
	// Lost counts the times the subscription came back after it was
	// lost: each time, every memory copy is checked against Redis again.
	Lost int64
	// Flushed counts entries learnt while Redis was down and written to
	// it afterwards; Unflushed is how many wait for that now.
	Flushed   int64
	Unflushed int
	// Overflowed counts the writes that found the queue to Redis full
	// (10,000 waiting: Redis takes writes slower than the registry
	// answers) and were noted for a flush instead, as while Redis is
	// down; they are in Unflushed until then.
	Overflowed int64
	// SpillErrors counts the lines of the spill file (WithSpill) that
	// could not be read, and its writes that failed.
	SpillErrors int64
	// Refused counts the entries read from Redis whose status did not
	// verify against the registry's log (see Cache): none was served or
	// kept in memory, and each was deleted from Redis.
	Refused int64
}

// NewTiered puts local in front of shared and subscribes to shared's
// announcements. When shared cannot be subscribed to at once (Redis is
// down), NewTiered does not fail: it retries in the background every
// cooldown (real time), and until subscribed each memory copy is checked
// against shared whenever shared answers.
//
// The memory tier is a *Memory, not any Store: what the tier knows of each
// copy — confirmed against shared, or to be checked on its next read — is
// kept with the copy, in the memory store's own entries.
//
// Close the Tiered store to stop its subscription; it does not close local
// or shared, which stay the caller's.
func NewTiered(local *Memory, shared Shared, opts ...TieredOption) (*Tiered, error) {
	if local == nil || shared == nil {
		return nil, errors.New("qcsdk/cache: NewTiered needs a memory and a shared store")
	}
	t := &Tiered{
		local:  local,
		shared: shared,
		// One clock per server: the memory tier's (WithMemoryClock)
		// times the cooldown too, so the two tiers never disagree.
		clock:    local.clock,
		cooldown: time.Second,
		dirty:    make(map[string]*Entry),
	}
	t.wdone = sync.NewCond(&t.wmu)
	for _, o := range opts {
		if err := o(t); err != nil {
			return nil, fmt.Errorf("qcsdk/cache: %w", err)
		}
	}
	if t.spill != nil {
		if err := t.loadSpill(); err != nil {
			return nil, err
		}
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	if t.spill != nil {
		t.wg.Add(1)
		go t.spillWriter()
	}
	if err := t.shared.Subscribe(t.ctx, t.announced); err != nil {
		t.wg.Add(1)
		go t.resubscribe()
	} else {
		t.kick() // what the spill file held, if Redis answers at once
		// Before the first page: a server that starts during a fork
		// serves no answer of the forked log, and its cache finds the
		// fleet's verified checkpoint in memory. Redis has just answered;
		// both keys cost one round trip.
		t.loadLog(t.ctx)
	}
	return t, nil
}

// announced applies another server's announcement to the memory tier.
// Counting first makes a read-through in flight leave what it read
// unconfirmed (see Get).
func (t *Tiered) announced(a Announcement) {
	t.ann.Add(1)
	switch {
	case a.Lost:
		t.lost.Add(1)
		t.local.unconfirmAll()
		t.flush()
	case a.Stamp != nil:
		_ = t.local.Stamp(t.ctx, *a.Stamp)
	default:
		t.local.unconfirm(a.Keys...)
		if slices.Contains(a.Keys, LogForkKey) {
			t.readFork()
		}
		if slices.Contains(a.Keys, LogCheckpointKey) {
			t.checkpointed()
		}
	}
	if a.Lost {
		t.readFork()
	}
}

// onVerify registers how a status read from Redis is checked before the
// memory tier takes it (the Cache hands over its client's VerifyCached).
// Redis is shared by every server, and written by whoever can reach it:
// an entry there is trusted no more than a stranger's answer, and is
// checked once, as it enters memory, so that a hit costs nothing more.
func (t *Tiered) onVerify(fn func(ctx context.Context, key string, e *Entry) error) {
	t.verify.Store(&fn)
}

// admit reports whether memory may take r, an entry Redis holds under
// key: one without a status, or whose status verifies. A status that does
// not verify is counted, and deleted from Redis in the background, so
// that a forged value (a higher version, say) does not stand in the way
// of every genuine answer written after it: each server would refuse it,
// and none could replace it. A status that could not be checked (the
// registry's keys could not be fetched in time) is not taken either, but
// is left in Redis.
func (t *Tiered) admit(ctx context.Context, key string, r *Entry) bool {
	fn := t.verify.Load()
	if fn == nil || r == nil || r.Status == nil {
		return true
	}
	err := (*fn)(ctx, key, r)
	if err == nil {
		return true
	}
	if _, ok := errors.AsType[*client.VerifyError](err); ok {
		t.refused.Add(1)
		t.background(func(ctx context.Context) { _ = t.shared.Delete(ctx, key) })
	}
	return false
}

// onCheckpoint registers fn to run, in the background, when the fleet's
// follower announces a checkpoint of the registry's log it verified (see
// Cache, which hands it to its client).
func (t *Tiered) onCheckpoint(fn func(ctx context.Context)) {
	t.checkpoint.Store(&fn)
	if t.loadedCheckpoint.Load() {
		t.checkpointed() // found at start, in memory now
	}
}

// checkpointed runs the function onCheckpoint registered, if any.
func (t *Tiered) checkpointed() {
	fn := t.checkpoint.Load()
	if fn == nil {
		return
	}
	t.background(*fn)
}

// logFork is the memory tier's flag, raised from Redis too: a fork the
// fleet's follower found reaches every server (see readFork).
func (t *Tiered) logFork() *atomic.Bool { return t.local.logFork() }

// readFork reads, in the background, whether Redis holds a fork of the
// registry's log, into the memory tier: at start, when the follower
// announces one, and when the subscription comes back (an announcement
// may have been lost).
func (t *Tiered) readFork() { t.background(t.loadFork) }

// loadLog copies what the follower recorded of the registry's log — a
// fork, the fleet's verified checkpoint — from Redis to the memory tier
// in one round trip.
func (t *Tiered) loadLog(ctx context.Context) {
	es, err := t.shared.GetMany(ctx, []string{LogForkKey, LogCheckpointKey})
	if err != nil {
		return
	}
	if es[0] != nil {
		_, _ = t.local.set(LogForkKey, es[0], true)
	}
	if es[1] != nil {
		if _, err := t.local.set(LogCheckpointKey, es[1], true); err == nil {
			t.loadedCheckpoint.Store(true)
		}
	}
}

// loadFork copies LogForkKey from Redis to the memory tier, or clears it
// there when Redis no longer holds it.
func (t *Tiered) loadFork(ctx context.Context) {
	e, err := t.shared.Get(ctx, LogForkKey)
	switch {
	case err != nil:
	case e == nil:
		if t.local.forked.Load() {
			_ = t.local.Delete(ctx, LogForkKey) // cleared in Redis by an operator
		}
	default:
		_, _ = t.local.set(LogForkKey, e, true)
	}
}

func (t *Tiered) resubscribe() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cooldown)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
			if t.shared.Subscribe(t.ctx, t.announced) == nil {
				// What was announced before is unknown to this server.
				t.announced(Announcement{Lost: true})
				return
			}
		}
	}
}

// Close writes through Redis what Set queued, then stops the
// subscription and any flush in progress. It does not close the memory or
// the Redis store, which stay the caller's. Close is idempotent.
func (t *Tiered) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	// The writes queued go out first, each within the Redis store's own
	// timeout: a clean stop loses nothing a page learnt.
	t.wmu.Lock()
	for t.writing {
		t.wdone.Wait()
	}
	t.wmu.Unlock()
	t.once.Do(t.cancel)
	t.wg.Wait()
	return nil
}

// allow reports whether to try the shared store now. After failures in a
// row it says no until the cooldown has passed, and then starts a probe
// in the background and still says no: no page view waits to find out
// whether Redis is back. The probe starts only when an operation asks,
// so a server nobody uses does not wake for it.
func (t *Tiered) allow() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fails < tieredTrips {
		return true
	}
	if t.clock().Before(t.openUntil) || t.probing || t.closed {
		return false
	}
	t.probing = true
	t.wg.Go(t.probe)
	return false
}

// probe asks the shared store for one key, and records the outcome.
func (t *Tiered) probe() {
	_, err := t.shared.GetMany(t.ctx, []string{probeKey})
	t.result(err)
}

// probeKey is what a probe reads: a key no entry has.
const probeKey = "\x00probe"

// readResult records the outcome of a read a caller waits for. A read
// cut short by the caller's own deadline (a page's share of its budget)
// says Redis was slower than the page could wait, not that it is down:
// it is counted, but not towards the breaker, which would otherwise skip
// a loaded but healthy Redis, and hold back its writes, for a second at a
// time. The writes, which have the store's own timeout, still find a
// Redis that does not answer at all.
func (t *Tiered) readResult(ctx context.Context, err error) {
	if err != nil && ctx.Err() != nil {
		t.sharedErrors.Add(1)
		return
	}
	t.result(err)
}

// result records the outcome of a shared attempt that allow let through.
// Redis answering again after failures starts a flush of what was learnt
// meanwhile.
func (t *Tiered) result(err error) {
	t.mu.Lock()
	t.probing = false
	if err == nil {
		recovered := t.fails > 0
		t.fails = 0
		t.mu.Unlock()
		if recovered {
			t.kick()
		}
		return
	}
	defer t.mu.Unlock()
	t.sharedErrors.Add(1)
	t.fails++
	if t.fails >= tieredTrips {
		t.openUntil = t.clock().Add(t.cooldown)
	}
}

// readLocal returns the confirmed memory copy, which is what Get would
// return without asking Redis; anything else only Get can answer.
func (t *Tiered) readLocal(key string) (*Entry, time.Time, bool) {
	e, now, ok := t.local.getNow(key)
	if answers(e, ok) {
		return e, now, true
	}
	return nil, now, false
}

// Get returns the confirmed memory copy, else the newer of the memory copy
// and Redis's entry (kept in memory), else nil. A Redis failure is not an
// error: the memory copy is served, stale if it was to be checked, so that
// the cache revalidates it with the API.
func (t *Tiered) Get(ctx context.Context, key string) (*Entry, error) {
	e, now, ok := t.local.getNow(key)
	if answers(e, ok) {
		return e, nil
	}
	c := t.withNoted(key, memCopy{e, now, ok})
	if ctx.Err() != nil || !t.allow() {
		// A caller whose time is up is answered from memory: asking Redis
		// would fail, and count against Redis a failure of its own.
		return t.miss(c), nil
	}
	ann := t.ann.Load()
	r, err := t.shared.Get(ctx, key)
	t.readResult(ctx, err)
	if err != nil {
		return t.miss(c), nil
	}
	return t.settle(ctx, key, c, r, ann), nil
}

// GetMany returns what Get would for each key. The keys that memory
// answers alone are not sent to Redis; the others go in one GetMany, so
// that a page whose keys memory lacks costs two round trips, not two per
// key. A Redis failure counts once against the breaker, whatever the
// number of keys, and each key is then served as Get serves it.
func (t *Tiered) GetMany(ctx context.Context, keys []string) ([]*Entry, error) {
	out := make([]*Entry, len(keys))
	var ask []string
	var copies []memCopy
	var at []int // out's index of each key asked
	for i, k := range keys {
		e, now, ok := t.local.getNow(k)
		if answers(e, ok) {
			out[i] = e
			continue
		}
		ask, copies, at = append(ask, k), append(copies, t.withNoted(k, memCopy{e, now, ok})), append(at, i)
	}
	if len(ask) == 0 {
		return out, nil
	}
	var rs []*Entry
	answered := ctx.Err() == nil && t.allow()
	ann := t.ann.Load()
	if answered {
		var err error
		rs, err = t.shared.GetMany(ctx, ask)
		t.readResult(ctx, err)
		answered = err == nil
	}
	for j, k := range ask {
		if answered {
			out[at[j]] = t.settle(ctx, k, copies[j], rs[j], ann)
		} else {
			out[at[j]] = t.miss(copies[j])
		}
	}
	return out, nil
}

// memCopy is what the memory tier holds under a key, as a read of it
// found it.
type memCopy struct {
	e   *Entry
	now time.Time // when memory was read
	ok  bool      // e is confirmed: no announcement asked to check it
}

// answers reports whether a memory copy is the answer, with no need to
// ask Redis: confirmed, and not a tombstone. It is the hot path of every
// hit, kept small enough to inline.
func answers(e *Entry, ok bool) bool { return e != nil && ok && !e.Tombstone() }

// withNoted is c, the memory copy of key, or what was noted under key
// while Redis was down if that is newer: the memory tier evicted it
// before it reached Redis.
func (t *Tiered) withNoted(key string, c memCopy) memCopy {
	if d := t.dirtyEntry(key); d != nil && c.now.Before(d.Expires) && (c.e == nil || newer(d, c.e)) {
		c.e, c.ok = d, true
	}
	return c
}

// miss is the answer when Redis was not asked or failed.
func (t *Tiered) miss(c memCopy) *Entry {
	t.misses.Add(1)
	return unconfirmed(c.e, c.ok, c.now)
}

// settle is the answer once Redis answered r (nil for none) for key, given
// the memory copy c read before; ann is the announcement count from
// before Redis was asked.
func (t *Tiered) settle(ctx context.Context, key string, c memCopy, r *Entry, ann uint64) *Entry {
	e := c.e
	if !t.admit(ctx, key, r) {
		r = nil // as if Redis held nothing: the registry is asked
	}
	if r == nil {
		t.misses.Add(1)
		if e != nil && !e.Tombstone() && t.dirtyEntry(key) != nil {
			return t.writeBack(ctx, key, e)
		}
		return unconfirmed(e, c.ok, c.now)
	}
	t.sharedHits.Add(1)
	t.clean(key, r) // a note older than what Redis holds is no knowledge
	best, _ := t.local.set(key, r, t.ann.Load() == ann)
	t.supersede(key, best)
	if e != nil && !e.Tombstone() && (best == nil || newer(e, best)) {
		best = e // noted while Redis was down, and since evicted from memory
	}
	if best != nil && best != r && !best.Tombstone() && ahead(best, r) {
		// This server knows better than Redis: it learnt a later answer
		// while Redis was down, or Redis lost its copy. Tell the fleet.
		// A copy only as far along as Redis's is not written, however
		// its times differ: servers holding one answer never write it
		// over each other.
		best = t.writeBack(ctx, key, best)
	}
	return t.local.view(best, c.now)
}

// unconfirmed is the memory copy to serve when Redis cannot be asked: as
// it is when it was confirmed, stale otherwise.
func unconfirmed(e *Entry, ok bool, now time.Time) *Entry {
	if e == nil || ok || e.Tombstone() {
		return e
	}
	return staled(e, now)
}

// writeBack writes a memory copy through Redis and announces it, and
// returns the winner.
func (t *Tiered) writeBack(ctx context.Context, key string, e *Entry) *Entry {
	if !t.allow() {
		return e
	}
	held, err := t.through(ctx, key, e, t.ann.Load())
	t.result(err)
	if err != nil {
		t.markDirty(key, e)
		return e
	}
	return held
}

// through writes e through Redis, keeps Redis's winner in memory (or
// what memory holds, if newer), announces e if it won, and returns what
// memory holds afterwards. ann is the announcement count from before e
// was learnt: Redis's winner is confirmed only if none came since. The
// caller records the outcome (result).
func (t *Tiered) through(ctx context.Context, key string, e *Entry, ann uint64) (*Entry, error) {
	w, err := t.shared.Set(ctx, key, e)
	if err != nil {
		return nil, err
	}
	won := w == e
	if !won && !t.admit(ctx, key, w) {
		w = e // Redis kept a value that is no answer: keep this one
	}
	t.clean(key, w)
	held, _ := t.local.set(key, w, t.ann.Load() == ann)
	if won {
		_ = t.shared.Publish(ctx, key)
	}
	return held, nil
}

// Set keeps e in memory, writes it through Redis, keeps Redis's winner in
// memory and announces the change, and returns what memory holds then.
// It waits for Redis only while ctx lasts: a caller whose time is up gets
// what memory holds at once, and the write goes on in the background,
// bounded by the Redis store's own timeout. When Redis fails, e stays in
// memory only, and the key is noted, so that e reaches Redis once Redis
// answers again.
//
// Memory takes e first so that an answer fetched for a page reaches the
// page whatever Redis does: a slow or blackholed Redis costs the page
// nothing on the way back from the registry.
func (t *Tiered) Set(ctx context.Context, key string, e *Entry) (*Entry, error) {
	if e == nil || e.Expires.IsZero() {
		return nil, errNoExpiry
	}
	ann := t.ann.Load()
	held, err := t.local.set(key, e, true)
	if err != nil {
		return nil, err
	}
	if t.ann.Load() != ann {
		t.local.unconfirm(key) // an announcement may have raced the write
	}
	t.supersede(key, held)
	if !t.allow() {
		if held == e {
			t.markDirty(key, e)
		}
		return held, nil
	}
	pw := &pendingWrite{key: key, e: e, ann: ann, done: make(chan *Entry, 1)}
	t.enqueue(ctx, pw)
	select {
	case w := <-pw.done:
		if w != nil {
			return w, nil
		}
	case <-ctx.Done():
	}
	if m, now, _ := t.local.getNow(key); m != nil {
		return t.local.view(m, now), nil
	}
	return held, nil
}

// A pendingWrite is an entry Set keeps in memory and writes through Redis.
type pendingWrite struct {
	key  string
	e    *Entry
	ann  uint64      // the announcement count from before Set
	done chan *Entry // what memory holds once Redis took it; nil if Redis failed
}

// maxWriteBatch bounds the writes sent to Redis together, and maxQueued
// the writes waiting for the writer: past it, a write is noted as while
// Redis is down (maxDirty bounds those), so that a Redis slower than the
// registry's answers costs bounded memory.
const (
	maxWriteBatch = 100
	maxQueued     = 10_000
)

// enqueue queues pw for the writer, starting it unless it runs; once
// Close began, it writes what is queued itself, under ctx.
//
// Writes go out by group commit, as the cache's lookups do: a write is
// sent at once when none is in flight, and those that come meanwhile go
// together in the next, so that the sixty answers of a listing's batch
// call cost Redis one pipeline, not sixty writes and sixty announcements.
func (t *Tiered) enqueue(ctx context.Context, pw *pendingWrite) {
	t.wmu.Lock()
	if len(t.wq) >= maxQueued {
		// Redis takes writes slower than answers come: note this one,
		// as while Redis is down, for a flush to write.
		t.wmu.Unlock()
		t.overflowed.Add(1)
		t.markDirty(pw.key, pw.e)
		t.kick()
		pw.done <- nil
		return
	}
	t.wq = append(t.wq, pw)
	start := !t.writing
	t.writing = true
	t.wmu.Unlock()
	if !start || t.background(t.writer) {
		return
	}
	t.writer(ctx)
}

// writer writes what is queued, in batches, until the queue is empty.
func (t *Tiered) writer(ctx context.Context) {
	for {
		t.wmu.Lock()
		n := min(len(t.wq), maxWriteBatch)
		if n == 0 {
			t.writing = false
			t.wdone.Broadcast()
			t.wmu.Unlock()
			return
		}
		batch := slices.Clone(t.wq[:n])
		t.wq = append(t.wq[:0], t.wq[n:]...)
		t.wmu.Unlock()
		t.writeMany(ctx, batch)
	}
}

// writeMany writes ws through Redis, keeps Redis's winners in memory,
// announces the keys whose entry won in one announcement, and tells each
// waiter; when Redis fails, the entries memory still holds are noted for
// the next time it answers.
func (t *Tiered) writeMany(ctx context.Context, ws []*pendingWrite) {
	keys := make([]string, len(ws))
	es := make([]*Entry, len(ws))
	for i, w := range ws {
		keys[i], es[i] = w.key, w.e
	}
	var won []*Entry
	err := ErrSharedDown
	if t.allow() {
		if ms, ok := t.shared.(MultiSetter); ok {
			won, err = ms.SetMany(ctx, keys, es)
		} else {
			won = make([]*Entry, len(ws))
			for i, w := range ws {
				if won[i], err = t.shared.Set(ctx, w.key, w.e); err != nil {
					break
				}
			}
		}
		t.result(err)
	}
	if err != nil {
		for _, w := range ws {
			if m, _, _ := t.local.getNow(w.key); m == w.e {
				t.markDirty(w.key, w.e)
			}
			w.done <- nil
		}
		return
	}
	var announce []string
	for i, w := range ws {
		if won[i] == w.e {
			announce = append(announce, w.key)
		} else if !t.admit(ctx, w.key, won[i]) {
			won[i] = w.e // Redis kept a value that is no answer: keep this one
		}
		t.clean(w.key, won[i])
		held, _ := t.local.set(w.key, won[i], t.ann.Load() == w.ann)
		w.done <- held
	}
	if len(announce) > 0 {
		_ = t.shared.Publish(ctx, announce...)
	}
}

// background runs f in a goroutine that Close waits for, with a context
// that Close cancels, and reports whether it did: not once Close began.
func (t *Tiered) background(f func(context.Context)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f(t.ctx)
	}()
	return true
}

// Delete removes the entries from both tiers and announces it.
func (t *Tiered) Delete(ctx context.Context, keys ...string) error {
	_ = t.local.Delete(ctx, keys...)
	if t.allow() {
		err := t.shared.Delete(ctx, keys...)
		t.result(err)
		if err == nil {
			_ = t.shared.Publish(ctx, keys...)
		}
	}
	return nil
}

// Stamp records s in Redis, which announces it to every server, and in
// this server's memory tier at once. Unlike a write, a stamp that cannot
// reach Redis is an error: the fleet would not see it, so the follower
// must try again.
func (t *Tiered) Stamp(ctx context.Context, s Stamp) error {
	_ = t.local.Stamp(ctx, s)
	if !t.allow() {
		return fmt.Errorf("qcsdk/cache: stamp of %q: %w", s.Maker, ErrSharedDown)
	}
	err := t.shared.Stamp(ctx, s)
	t.result(err)
	return err
}

// maxDirty bounds the entries noted while Redis is down. Past it, an entry
// is not noted; its memory copy, while the memory tier keeps it, still
// reaches Redis when a read finds Redis older or empty.
const maxDirty = 100_000

// ErrSharedDown is the error of a Tiered store's Stamp while it skips its
// shared tier after failures in a row.
var ErrSharedDown = errors.New("the shared store is down")

// markDirty notes e, written under key to memory only.
func (t *Tiered) markDirty(key string, e *Entry) {
	t.dmu.Lock()
	if old, ok := t.dirty[key]; ok && !newer(e, old) {
		e = old
	}
	if old, ok := t.dirty[key]; ok || len(t.dirty) < maxDirty {
		t.dirty[key] = e
		if t.spill != nil && e != old {
			t.spillNote(key, e)
		}
	}
	t.dmu.Unlock()
}

// clean forgets what was noted under key, unless it is newer than w,
// which Redis now holds.
func (t *Tiered) clean(key string, w *Entry) {
	t.dmu.Lock()
	if d, ok := t.dirty[key]; ok && (w == nil || !ahead(d, w) || d == w) {
		delete(t.dirty, key)
		if t.spill != nil && len(t.dirty) == 0 {
			t.spillWake() // to remove the file
		}
	}
	t.dmu.Unlock()
}

// supersede forgets what was noted under key if e, which memory took
// since, is as far along: the note is no knowledge Redis lacks that e is
// not, and kept, it would come back as the answer — older than e, which
// this server may have shown — once memory no longer holds e (a newer
// entry already expired by this server's clock removes it).
func (t *Tiered) supersede(key string, e *Entry) {
	if e == nil {
		return
	}
	t.dmu.Lock()
	if d, ok := t.dirty[key]; ok && d != e && !ahead(d, e) {
		delete(t.dirty, key)
		if t.spill != nil && len(t.dirty) == 0 {
			t.spillWake()
		}
	}
	t.dmu.Unlock()
}

func (t *Tiered) dirtyEntry(key string) *Entry {
	t.dmu.Lock()
	defer t.dmu.Unlock()
	return t.dirty[key]
}

// kick starts a flush in the background unless one runs or nothing waits.
func (t *Tiered) kick() {
	t.dmu.Lock()
	if t.flushing || len(t.dirty) == 0 || t.ctx.Err() != nil {
		t.dmu.Unlock()
		return
	}
	t.flushing = true
	t.wg.Add(1)
	t.dmu.Unlock()
	go func() {
		defer t.wg.Done()
		t.flush()
	}()
}

// flush writes what was learnt while Redis was down through Redis, and
// announces it, a hundred keys to a pipeline (see writeMany). It stops at
// the first failure; the keys left wait for the next time Redis answers.
func (t *Tiered) flush() {
	t.dmu.Lock()
	t.flushing = true
	pending := make(map[string]*Entry, len(t.dirty))
	maps.Copy(pending, t.dirty)
	t.dmu.Unlock()
	defer func() {
		t.dmu.Lock()
		t.flushing = false
		t.dmu.Unlock()
	}()
	batch := make([]*pendingWrite, 0, maxWriteBatch)
	send := func() bool {
		if len(batch) == 0 {
			return true
		}
		t.writeMany(t.ctx, batch)
		ok := true
		for _, w := range batch {
			if <-w.done == nil {
				ok = false
				continue
			}
			t.flushed.Add(1)
		}
		batch = batch[:0]
		return ok
	}
	for k, e := range pending {
		if t.ctx.Err() != nil {
			return
		}
		if m, _, _ := t.local.getNow(k); m != nil && newer(m, e) && !m.Tombstone() {
			e = m // learnt since, and kept in memory
		}
		if !t.clock().Before(e.Expires) {
			t.clean(k, nil)
			continue
		}
		batch = append(batch, &pendingWrite{key: k, e: e, ann: t.ann.Load(), done: make(chan *Entry, 1)})
		if len(batch) == maxWriteBatch && !send() {
			return
		}
	}
	send()
}

// Stats is a snapshot of the counters.
func (t *Tiered) Stats() TieredStats {
	t.mu.Lock()
	down := t.fails >= tieredTrips
	t.mu.Unlock()
	t.dmu.Lock()
	unflushed := len(t.dirty)
	t.dmu.Unlock()
	return TieredStats{
		SharedHits:   t.sharedHits.Load(),
		Misses:       t.misses.Load(),
		SharedErrors: t.sharedErrors.Load(),
		SharedDown:   down,
		Lost:         t.lost.Load(),
		Flushed:      t.flushed.Load(),
		Unflushed:    unflushed,
		Overflowed:   t.overflowed.Load(),
		SpillErrors:  t.spillErrors(),
		Refused:      t.refused.Load(),
	}
}

// handledErrors is how many Redis operations failed, and how many lines of
// the spill file could not be read or writes to it failed (see
// errorCounter): the errors of every tier.
func (t *Tiered) handledErrors() int64 { return t.sharedErrors.Load() + t.spillErrors() }

// Lease, Release, Cursor and SaveCursor are the Redis store's (see
// Leaser): a follower may be given the Tiered store its server's cache
// uses.
func (t *Tiered) Lease(ctx context.Context, token int64, ttl time.Duration) (int64, error) {
	return t.shared.Lease(ctx, token, ttl)
}

func (t *Tiered) Release(ctx context.Context, token int64) error {
	return t.shared.Release(ctx, token)
}

func (t *Tiered) Cursor(ctx context.Context) (string, error) { return t.shared.Cursor(ctx) }

func (t *Tiered) SaveCursor(ctx context.Context, token int64, cursor string) error {
	return t.shared.SaveCursor(ctx, token, cursor)
}
