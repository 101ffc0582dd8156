package cache

import (
	"context"
	"errors"
	"sync"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// MemoryOptions configure a memory store. The zero value is ready to use.
type MemoryOptions struct {
	// MaxEntries bounds the entries held, whatever the keys; 0 means
	// 100,000. Past it the oldest-inserted entries are evicted first.
	MaxEntries int
	// Clock decides expiry; nil is the real clock.
	Clock Clock
	// JanitorInterval is how often expired entries are swept; 0 means a
	// minute, a negative value never.
	JanitorInterval time.Duration
}

// memMaxMembers caps each index set: an enterprise with more cached
// products than this has the oldest forgotten by the index (their entries
// then wait out their TTL instead of being updated by a change).
const memMaxMembers = 10_000

// Memory is a bounded Store in this process's memory, on go-cache. A hit
// is one go-cache lookup and one read of a clock that is a millisecond
// coarse at most (see coarseClock), and allocates nothing.
//
// It keeps the *Entry it is given and hands that same pointer to every
// reader: entries are immutable by contract, and the cache never modifies
// one it has stored.
type Memory struct {
	c     *gocache.Cache
	clock Clock
	hits  Clock        // the clock Get reads: the coarse one instead of the real one
	rough *coarseClock // that coarse clock, nil with a clock of the caller's
	max   int

	stripes [256]sync.Mutex // serialise Set per key, for the version check

	mu    sync.Mutex          // guards order, live and sets
	order []string            // keys in insertion order, oldest first, for eviction
	live  map[string]struct{} // keys inserted and not yet removed
	sets  map[string]*memSet
	in    map[string][]string // key → the sets it is in

	stop    chan struct{}
	done    chan struct{}
	closing sync.Once
}

type memSet struct {
	order []string
	keys  map[string]struct{}
}

// NewMemory builds a memory store. Close it to stop its janitor.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{
		// No go-cache janitor: it can only be stopped by a finalizer.
		c:     gocache.New(gocache.NoExpiration, 0),
		clock: opts.Clock,
		max:   opts.MaxEntries,
		live:  make(map[string]struct{}),
		sets:  make(map[string]*memSet),
		in:    make(map[string][]string),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	m.hits = m.clock
	if _, real := m.clock.(realClock); real || m.clock == nil {
		m.clock = realClock{}
		m.rough = startCoarse()
		m.hits = m.rough
	}
	if m.max <= 0 {
		m.max = DefaultMaxEntries
	}
	m.c.OnEvicted(func(key string, _ any) { m.forget(key) })
	interval := opts.JanitorInterval
	if interval == 0 {
		interval = time.Minute
	}
	if interval > 0 {
		go m.janitor(interval)
	} else {
		close(m.done)
	}
	return m
}

var _ Store = (*Memory)(nil)

func (m *Memory) janitor(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.sweep()
		case <-m.stop:
			return
		}
	}
}

// sweep deletes the entries that have expired by the store's clock.
func (m *Memory) sweep() {
	now := m.clock.Now()
	m.mu.Lock()
	keys := make([]string, 0, len(m.live))
	for k := range m.live {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	for _, k := range keys {
		if v, ok := m.c.Get(k); ok && !now.Before(v.(*Entry).Expires) {
			m.c.Delete(k)
		}
	}
}

// Close stops the janitor. The store keeps working afterwards, without
// sweeping; Close is idempotent.
func (m *Memory) Close() error {
	m.closing.Do(func() {
		close(m.stop)
		if m.rough != nil {
			m.rough.Stop()
		}
	})
	<-m.done
	return nil
}

// Len is how many entries the store holds, expired ones not yet swept
// included.
func (m *Memory) Len() int { return m.c.ItemCount() }

// Get returns the entry under key, or nil when there is none or it has
// expired by the store's clock.
func (m *Memory) Get(_ context.Context, key string) (*Entry, error) {
	e, _ := m.getNow(key)
	return e, nil
}

// getNow is Get that also returns the time it read, so that a cache hit
// reads the clock once — the coarse one, with the real clock: on some
// machines a clock read costs more than the map lookup (see coarseClock).
func (m *Memory) getNow(key string) (*Entry, time.Time) {
	now := m.hits.Now()
	v, ok := m.c.Get(key)
	if !ok {
		return nil, now
	}
	if e := v.(*Entry); now.Before(e.Expires) {
		return e, now
	}
	return nil, now
}

// errNoExpiry refuses an entry that would never expire.
var errNoExpiry = errors.New("qcsdk/cache: an entry needs an Expires time")

// Set stores e unless a newer entry is held, and returns the one held.
func (m *Memory) Set(_ context.Context, key string, e *Entry) (*Entry, error) {
	if e == nil || e.Expires.IsZero() {
		return nil, errNoExpiry
	}
	now := m.clock.Now()
	mu := &m.stripes[memStripe(key)]
	mu.Lock()
	defer mu.Unlock()
	if v, ok := m.c.Get(key); ok {
		if old := v.(*Entry); now.Before(old.Expires) && !newer(e, old) {
			return old, nil
		}
	}
	if !now.Before(e.Expires) {
		m.c.Delete(key)
		return e, nil
	}
	// Entries go into go-cache without an expiry of its own: its Get would
	// read the real clock on every hit. Expiry is judged by the store's
	// clock on Get, and the janitor's sweep reclaims expired entries.
	m.c.Set(key, e, gocache.NoExpiration)
	m.admit(key)
	return e, nil
}

// memStripe hashes a key (FNV-1a) to a stripe without allocating.
func memStripe(key string) uint8 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return uint8(h)
}

// admit records a new key and evicts the oldest ones past the bound.
func (m *Memory) admit(key string) {
	m.mu.Lock()
	if _, ok := m.live[key]; ok {
		m.mu.Unlock()
		return
	}
	m.live[key] = struct{}{}
	m.order = append(m.order, key)
	var evict []string
	for len(m.live) > m.max && len(m.order) > 0 {
		old := m.order[0]
		m.order = m.order[1:]
		if _, ok := m.live[old]; ok {
			delete(m.live, old)
			evict = append(evict, old)
		}
	}
	// Keys removed by Delete or expiry leave holes in order; compact it
	// so that it stays within twice the bound.
	if len(m.order) > 2*m.max {
		kept := make([]string, 0, len(m.live))
		for _, k := range m.order {
			if _, ok := m.live[k]; ok {
				kept = append(kept, k)
			}
		}
		m.order = kept
	}
	m.mu.Unlock()
	for _, k := range evict {
		m.c.Delete(k) // OnEvicted forgets its set memberships
	}
}

// forget drops a removed key from the bookkeeping.
func (m *Memory) forget(key string) {
	m.mu.Lock()
	delete(m.live, key)
	for _, name := range m.in[key] {
		if s := m.sets[name]; s != nil {
			delete(s.keys, key)
			if len(s.keys) == 0 {
				delete(m.sets, name)
			}
		}
	}
	delete(m.in, key)
	m.mu.Unlock()
}

// Delete removes the entries under keys.
func (m *Memory) Delete(_ context.Context, keys ...string) error {
	for _, k := range keys {
		m.c.Delete(k)
	}
	return nil
}

// deleteAll removes every entry.
func (m *Memory) deleteAll() {
	m.mu.Lock()
	keys := make([]string, 0, len(m.live))
	for k := range m.live {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	for _, k := range keys {
		m.c.Delete(k) // OnEvicted forgets its set memberships
	}
}

// Index adds key to a set.
func (m *Memory) Index(_ context.Context, set, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sets[set]
	if s == nil {
		s = &memSet{keys: make(map[string]struct{})}
		m.sets[set] = s
	}
	if _, ok := s.keys[key]; ok {
		return nil
	}
	s.keys[key] = struct{}{}
	s.order = append(s.order, key)
	m.in[key] = append(m.in[key], set)
	for len(s.keys) > memMaxMembers {
		delete(s.keys, s.order[0])
		s.order = s.order[1:]
	}
	if len(s.order) > 2*memMaxMembers || len(s.order) > 2*len(s.keys)+16 {
		kept := s.order[:0:0]
		for _, k := range s.order {
			if _, ok := s.keys[k]; ok {
				kept = append(kept, k)
			}
		}
		s.order = kept
	}
	return nil
}

// Members lists a set's keys.
func (m *Memory) Members(_ context.Context, set string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sets[set]
	if s == nil {
		return nil, nil
	}
	out := make([]string, 0, len(s.keys))
	for _, k := range s.order {
		if _, ok := s.keys[k]; ok {
			out = append(out, k)
		}
	}
	return out, nil
}
