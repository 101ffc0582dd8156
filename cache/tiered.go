package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// TieredOptions configure a Tiered store. The zero value is ready to use.
type TieredOptions struct {
	// Cooldown is how long Redis is skipped after tieredTrips consecutive
	// failures; 0 means a second.
	Cooldown time.Duration
	// Clock times the cooldown; nil is the real clock.
	Clock Clock
}

// tieredTrips consecutive shared-store failures open the breaker.
const tieredTrips = 3

// Tiered is a Store with a memory tier in front of a Redis tier. Reads hit
// memory first; writes go to Redis, whose winner (freshness only moves
// forward, across the fleet) is then kept in memory and announced, so that
// every other server drops its memory copy of the key.
//
// A failing Redis never fails an operation: Tiered falls back to its
// memory tier, counts the failure, and after 3 consecutive failures skips
// Redis for the cooldown, then tries it again (one probe at a time). While
// Redis is down, writes reach only this server's memory and other servers
// are not told of them; each server's memory copies then live until their
// entries expire or a later write through Redis announces them.
type Tiered struct {
	local    *Memory
	shared   *Redis
	clock    Clock
	cooldown time.Duration

	mu        sync.Mutex
	fails     int       // consecutive shared failures
	openUntil time.Time // shared skipped until then, once fails ≥ tieredTrips
	probing   bool      // a probe after the cooldown is in flight

	sharedHits, misses, sharedErrors atomic.Int64
	// gen counts announcements handled, so that a copy read from Redis
	// before an announcement is not kept in memory after it.
	gen atomic.Uint64

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

var _ Store = (*Tiered)(nil)

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
}

// NewTiered puts local in front of shared and subscribes to shared's
// announcements, so that a write through another server drops this
// server's memory copy. When the subscription is lost and re-established
// (Redis restarted, or the network failed), announcements made meanwhile
// are lost, so the memory tier is emptied: its next reads go to Redis. When Redis cannot be subscribed to at once (it is
// down), NewTiered does not fail: it retries in the background every
// cooldown (real time); until subscribed, memory copies may outlive other
// servers' writes, up to their expiry.
//
// Close the Tiered store to stop its subscription; it does not close local
// or shared, which stay the caller's.
func NewTiered(local *Memory, shared *Redis, opts TieredOptions) (*Tiered, error) {
	if local == nil || shared == nil {
		return nil, errors.New("qcsdk/cache: NewTiered needs a memory and a Redis store")
	}
	t := &Tiered{
		local:    local,
		shared:   shared,
		clock:    opts.Clock,
		cooldown: opts.Cooldown,
		done:     make(chan struct{}),
	}
	if t.clock == nil {
		t.clock = realClock{}
	}
	if t.cooldown <= 0 {
		t.cooldown = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	err := t.subscribe(ctx)
	if err == nil {
		close(t.done)
		return t, nil
	}
	go t.resubscribe(ctx)
	return t, nil
}

// subscribe drops memory copies of the keys other servers announce, and
// every copy when announcements may have been lost.
func (t *Tiered) subscribe(ctx context.Context) error {
	return t.shared.Subscribe(ctx, t.invalidate)
}

// invalidate drops the memory copies of keys, or all of them when keys is
// nil. Counting first makes a read-through in flight drop what it read
// (see keep).
func (t *Tiered) invalidate(keys []string) {
	t.gen.Add(1)
	if keys == nil {
		t.local.deleteAll()
		return
	}
	_ = t.local.Delete(context.Background(), keys...)
}

func (t *Tiered) resubscribe(ctx context.Context) {
	defer close(t.done)
	tick := time.NewTicker(t.cooldown)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if t.subscribe(ctx) == nil {
				// Writes made while Redis was away were announced to
				// nobody; what this server holds may be stale too.
				t.invalidate(nil)
				return
			}
		}
	}
}

// Close stops the subscription. It does not close the memory or the Redis
// store, which stay the caller's. Close is idempotent.
func (t *Tiered) Close() error {
	t.once.Do(t.cancel)
	<-t.done
	return nil
}

// allow reports whether to try the shared store now.
func (t *Tiered) allow() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fails < tieredTrips {
		return true
	}
	if t.clock.Now().Before(t.openUntil) || t.probing {
		return false
	}
	t.probing = true
	return true
}

// result records the outcome of a shared attempt that allow let through.
func (t *Tiered) result(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.probing = false
	if err == nil {
		t.fails = 0
		return
	}
	t.sharedErrors.Add(1)
	t.fails++
	if t.fails >= tieredTrips {
		t.openUntil = t.clock.Now().Add(t.cooldown)
	}
}

// Get returns the memory copy, else Redis's entry (kept in memory), else
// nil. A Redis failure is a miss, not an error.
func (t *Tiered) Get(ctx context.Context, key string) (*Entry, error) {
	if e, _ := t.local.Get(ctx, key); e != nil {
		return e, nil
	}
	if !t.allow() {
		t.misses.Add(1)
		return nil, nil
	}
	gen := t.gen.Load()
	e, err := t.shared.Get(ctx, key)
	t.result(err)
	if err != nil || e == nil {
		t.misses.Add(1)
		return nil, nil
	}
	t.sharedHits.Add(1)
	t.keep(ctx, key, e, gen)
	return e, nil
}

// keep stores e, read from Redis when the announcement count was gen, in
// memory — unless an announcement arrived meanwhile: e may then be older
// than what Redis holds, and the copy is dropped rather than kept until it
// expires. (Checking after the store closes the race with the handler,
// which counts before it deletes.)
func (t *Tiered) keep(ctx context.Context, key string, e *Entry, gen uint64) {
	_ = t.local.Delete(ctx, key) // Redis is the fleet's word, whatever the version
	_, _ = t.local.Set(ctx, key, e)
	if t.gen.Load() != gen {
		_ = t.local.Delete(ctx, key)
	}
}

// Set writes e through Redis, keeps the winner in memory and announces
// the change. When Redis fails it stores e in memory only.
func (t *Tiered) Set(ctx context.Context, key string, e *Entry) (*Entry, error) {
	if e == nil || e.Expires.IsZero() {
		return nil, errStoreNoExpiry
	}
	if t.allow() {
		gen := t.gen.Load()
		w, err := t.shared.Set(ctx, key, e)
		t.result(err)
		if err == nil {
			t.keep(ctx, key, w, gen)
			_ = t.shared.Publish(ctx, key)
			return w, nil
		}
	}
	return t.local.Set(ctx, key, e)
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

// Index adds key to a set in Redis, or in memory when Redis fails.
func (t *Tiered) Index(ctx context.Context, set, key string) error {
	if t.allow() {
		err := t.shared.Index(ctx, set, key)
		t.result(err)
		if err == nil {
			return nil
		}
	}
	return t.local.Index(ctx, set, key)
}

// Members lists a set's keys from Redis, or from memory when Redis fails.
func (t *Tiered) Members(ctx context.Context, set string) ([]string, error) {
	if t.allow() {
		ms, err := t.shared.Members(ctx, set)
		t.result(err)
		if err == nil {
			return ms, nil
		}
	}
	return t.local.Members(ctx, set)
}

// Stats is a snapshot of the counters.
func (t *Tiered) Stats() TieredStats {
	t.mu.Lock()
	down := t.fails >= tieredTrips
	t.mu.Unlock()
	return TieredStats{
		SharedHits:   t.sharedHits.Load(),
		Misses:       t.misses.Load(),
		SharedErrors: t.sharedErrors.Load(),
		SharedDown:   down,
	}
}
