package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// A MemoryOption configures a memory store. A value out of range is an
// error from NewMemory; nil, for a clock, is the default.
type MemoryOption func(*Memory) error

// WithMemoryMaxEntries bounds the entries held, whatever the keys
// (default 100,000); n must be positive. Past it the oldest-inserted
// entries are evicted first.
func WithMemoryMaxEntries(n int) MemoryOption {
	return func(m *Memory) error {
		if n <= 0 {
			return errors.New("max entries must be positive")
		}
		m.max = n
		return nil
	}
}

// WithMemoryClock sets the clock that decides expiry, for a Tiered store
// in front of it too. Nil, the default, is the real clock, read for hits
// through a coarse one (see Memory).
func WithMemoryClock(now func() time.Time) MemoryOption {
	return func(m *Memory) error {
		m.clock = now
		return nil
	}
}

// withSweepInterval sets how often, at most, expired entries are swept
// (default a minute); a negative interval never sweeps. A sweep is started
// by a write, never by a timer: a store nobody writes to does not wake.
// The tests set it; a platform has no need to.
func withSweepInterval(d time.Duration) MemoryOption {
	return func(m *Memory) error {
		if d == 0 {
			return errors.New("sweep interval is zero")
		}
		m.every = d
		return nil
	}
}

// memMaxStamps bounds the makers' stamps a memory store remembers. A stamp
// reaches the entries the store holds when it is recorded; it is kept
// after that only for the answers still in flight, so one beyond the
// bound is forgotten once the store holds no entry of its maker.
const memMaxStamps = 10_000

// Memory is a bounded Store in this process's memory, on go-cache. A hit
// is one read of a read-mostly table in front of go-cache, without a lock
// (see memItem), and one read of a clock that is a millisecond coarse at
// most (see lazyClock); it allocates nothing.
// An idle store costs nothing: it has no goroutine of its own, and sweeps
// expired entries in one started by a write, at most once per
// sweep interval.
//
// It keeps the *Entry it is given and hands that same pointer to every
// reader: entries are immutable by contract, and the cache never modifies
// one it has stored.
//
// Each entry is indexed under its maker in this process, in the same call
// that stores it, so that a Stamp reaches every entry of the maker at
// once. A resynchronisation (an empty-Maker Stamp) is one time the store
// keeps: every entry answered before it reads as stale from then on,
// without a scan. Each entry is also marked with the store's generation,
// which a Tiered store moves on when every entry must be checked against
// Redis again.
type Memory struct {
	c     *gocache.Cache
	clock func() time.Time
	hits  func() time.Time // the clock Get reads: a lazy coarse one on the real clock
	lazy  *lazyClock       // that clock, nil with a clock of the caller's
	max   int

	every     time.Duration // between sweeps; ≤ 0 never
	lastSweep atomic.Int64  // unix ns of the last sweep started
	sweeping  atomic.Bool
	sweepMu   sync.Mutex // orders a sweep's start before Close's wait
	closed    bool
	sweeps    sync.WaitGroup

	stripes [256]sync.Mutex // serialise Set per key, for the version check

	// front is the table a hit reads first, a slot per hash of a key,
	// holding the item last read under a key of that hash (see memItem).
	front []atomic.Pointer[memItem]
	shift uint8  // 64 less the bits of a slot's index
	seed  uint64 // of the slots' hash

	// gen is the current generation; an item of another generation (0:
	// marked by unconfirm) is unconfirmed.
	gen    atomic.Uint64
	resync atomic.Pointer[Stamp] // the newest empty-Maker stamp

	// forked is set while the store holds a fork of the registry's log
	// (LogForkKey): the cache then trusts no answer (see Cache).
	forked atomic.Bool

	mu     sync.Mutex          // guards order, live, makers, makerOf and stamps
	order  []string            // keys in insertion order, oldest first, for eviction
	live   map[string]struct{} // keys inserted and not yet removed
	makers map[string]map[string]struct{}
	// makerOf is the maker each indexed key is indexed under.
	makerOf map[string]string
	stamps  map[string]Stamp
}

// memItem is what the store keeps under a key: the entry, and the
// generation it was confirmed in. Items are never modified but for gone,
// which is set before an item stops being the one go-cache holds under
// its key — before the item replacing it is stored, or as it is deleted —
// so that the front table, which go-cache's lock does not guard, serves
// an item only while go-cache holds it: a hit reads one atomic pointer
// and one flag where go-cache takes its read lock, whose shared count
// every core's hits would otherwise fight over.
type memItem struct {
	e    *Entry
	gen  uint64
	key  string
	gone atomic.Bool
}

// memFrontMax bounds the front table's slots: enough for the products
// viewed most, which is all a hit needs; a key whose slot another holds
// is read from go-cache.
const memFrontMax = 1 << 14

// NewMemory builds a memory store, or returns the first option's error.
// Close it when done with it.
func NewMemory(opts ...MemoryOption) (*Memory, error) {
	m := &Memory{
		// No go-cache janitor: it can only be stopped by a finalizer.
		c:       gocache.New(gocache.NoExpiration, 0),
		max:     DefaultMaxEntries,
		every:   time.Minute,
		live:    make(map[string]struct{}),
		makers:  make(map[string]map[string]struct{}),
		makerOf: make(map[string]string),
		stamps:  make(map[string]Stamp),
	}
	for _, o := range opts {
		if err := o(m); err != nil {
			return nil, fmt.Errorf("qcsdk/cache: %w", err)
		}
	}
	m.gen.Store(1)
	m.seed = maphash.Comparable(maphash.MakeSeed(), 0) | 1
	bits := 1 // a shift by 64 would not clear the hash
	for 1<<bits < m.max && 1<<bits < memFrontMax {
		bits++
	}
	m.front, m.shift = make([]atomic.Pointer[memItem], 1<<bits), uint8(64-bits)
	m.hits = m.clock
	if m.clock == nil {
		m.clock = time.Now
		m.lazy = newLazyClock()
		m.hits = m.lazy.Now
	}
	m.lastSweep.Store(m.clock().UnixNano())
	m.c.OnEvicted(func(key string, v any) {
		v.(*memItem).gone.Store(true)
		m.forget(key)
	})
	return m, nil
}

var (
	_ Store       = (*Memory)(nil)
	_ MultiGetter = (*Memory)(nil)
	_ localReader = (*Memory)(nil)
)

// maybeSweep starts a sweep in the background when one is due and none
// runs.
func (m *Memory) maybeSweep(now time.Time) {
	if m.every <= 0 || now.UnixNano()-m.lastSweep.Load() < int64(m.every) {
		return
	}
	if !m.sweeping.CompareAndSwap(false, true) {
		return
	}
	m.sweepMu.Lock()
	defer m.sweepMu.Unlock()
	if m.closed {
		m.sweeping.Store(false)
		return
	}
	m.lastSweep.Store(now.UnixNano())
	m.sweeps.Add(1)
	go func() {
		defer m.sweeps.Done()
		defer m.sweeping.Store(false)
		m.sweep()
	}()
}

// sweep deletes the entries that have expired by the store's clock.
func (m *Memory) sweep() {
	now := m.clock()
	m.mu.Lock()
	keys := make([]string, 0, len(m.live))
	for k := range m.live {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	for _, k := range keys {
		mu := &m.stripes[memStripe(k)]
		mu.Lock()
		if v, ok := m.c.Get(k); ok && !now.Before(v.(*memItem).e.Expires) {
			m.drop(k)
		}
		mu.Unlock()
	}
}

// Close waits for a sweep in progress and stops further ones. The store
// keeps working afterwards, without sweeping; Close is idempotent.
func (m *Memory) Close() error {
	m.sweepMu.Lock()
	m.closed = true
	m.sweepMu.Unlock()
	m.sweeps.Wait()
	if m.lazy != nil {
		m.lazy.Stop()
	}
	return nil
}

// Len is how many entries the store holds, expired ones not yet swept
// included.
func (m *Memory) Len() int { return m.c.ItemCount() }

// Get returns the entry under key, or nil when there is none or it has
// expired by the store's clock. An entry stored before a resynchronisation
// comes back stale.
func (m *Memory) Get(_ context.Context, key string) (*Entry, error) {
	e, _, _ := m.readLocal(key)
	return e, nil
}

// readLocal is Get without a context or an error, reading the clock
// once. The store holds every entry in this process, so its answer is
// always final (ok).
func (m *Memory) readLocal(key string) (e *Entry, now time.Time, ok bool) {
	e, now, confirmed := m.getNow(key)
	if e != nil && !confirmed {
		e = staled(e, now) // stored before a resynchronisation
	}
	return e, now, true
}

// view is e as a reader must see it at now: stale when the store's
// resynchronisation predates it.
func (m *Memory) view(e *Entry, now time.Time) *Entry {
	if e == nil {
		return nil
	}
	if r := m.resync.Load(); r != nil && r.predates(e) {
		return staled(e, now)
	}
	return e
}

// GetMany is Get of each key: memory has no round trip to save, and
// implements MultiGetter only so that a caller need not tell it apart.
func (m *Memory) GetMany(ctx context.Context, keys []string) ([]*Entry, error) {
	out := make([]*Entry, len(keys))
	for i, k := range keys {
		out[i], _ = m.Get(ctx, k)
	}
	return out, nil
}

// getNow is Get that also returns the time it read and whether the entry
// is confirmed, so that a cache hit reads the clock once — the lazy coarse
// one, on the real clock (see lazyClock).
func (m *Memory) getNow(key string) (e *Entry, now time.Time, confirmed bool) {
	now = m.hits()
	it := m.item(key)
	if it == nil || !now.Before(it.e.Expires) {
		return nil, now, false
	}
	ok := it.gen == m.gen.Load()
	if r := m.resync.Load(); ok && r != nil && r.predates(it.e) {
		ok = false
	}
	return it.e, now, ok
}

// item is the item go-cache holds under key, or nil: from the front table
// when its slot holds it, else from go-cache, then kept in the slot.
func (m *Memory) item(key string) *memItem {
	slot := &m.front[m.slot(key)]
	if it := slot.Load(); it != nil && it.key == key && !it.gone.Load() {
		return it
	}
	v, ok := m.c.Get(key)
	if !ok {
		return nil
	}
	it := v.(*memItem)
	if !it.gone.Load() {
		// Replaced since, it would be refused by the next read anyway.
		slot.Store(it)
	}
	return it
}

// slot is the front table's slot of key: a multiply hash of its first and
// last eight bytes (all of a GTIN's fourteen) with the store's seed, its
// high bits. A general hash cost a tenth of a warm badge; keys that share
// a slot only cost each other a go-cache read.
func (m *Memory) slot(key string) uint64 {
	h := short64(key)
	if n := len(key); n >= 8 {
		h = le64(key[:8])*0x9e3779b97f4a7c15 ^ le64(key[n-8:])*0xc2b2ae3d27d4eb4f ^ uint64(n)
	}
	return ((h ^ m.seed) * 0xff51afd7ed558ccd) >> (m.shift & 63)
}

// le64 reads 8 bytes of s, little-endian, as one load.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// short64 is the bytes of a key shorter than 8, as a number; 0 for a
// longer one.
func short64(s string) (h uint64) {
	if len(s) >= 8 {
		return 0
	}
	for i := 0; i < len(s); i++ {
		h = h<<8 | uint64(s[i])
	}
	return h
}

// put stores it under key in place of old, the item held (nil for none),
// marking old gone first (see memItem). The caller holds key's stripe.
func (m *Memory) put(key string, old, it *memItem) {
	it.key = key
	if old != nil {
		old.gone.Store(true)
	}
	m.c.Set(key, it, gocache.NoExpiration)
}

// drop deletes the item under key, marking it gone first (see memItem).
// The caller holds key's stripe: a store of the key cannot come between.
func (m *Memory) drop(key string) {
	if v, ok := m.c.Get(key); ok {
		v.(*memItem).gone.Store(true)
	}
	m.c.Delete(key) // OnEvicted forgets the key
}

// remove is drop under key's stripe.
func (m *Memory) remove(key string) {
	mu := &m.stripes[memStripe(key)]
	mu.Lock()
	m.drop(key)
	mu.Unlock()
}

// errNoExpiry refuses an entry that would never expire.
var errNoExpiry = errors.New("qcsdk/cache: an entry needs an Expires time")

// Set stores e unless a newer entry is held, and returns the one held. An
// answer that a recorded stamp says predates its maker's change is kept as
// a tombstone instead.
func (m *Memory) Set(_ context.Context, key string, e *Entry) (*Entry, error) {
	return m.set(key, e, true)
}

// logFork is the flag the store raises while it holds a fork of the
// registry's log.
func (m *Memory) logFork() *atomic.Bool { return &m.forked }

// set is Set that stores the entry confirmed or not (see Tiered).
func (m *Memory) set(key string, e *Entry, confirmed bool) (*Entry, error) {
	if e == nil || e.Expires.IsZero() {
		return nil, errNoExpiry
	}
	now := m.clock()
	if key == LogForkKey && e.Raw != nil && now.Before(e.Expires) {
		m.forked.Store(true)
	}
	if e.Maker != "" && !e.Tombstone() {
		m.mu.Lock()
		s, ok := m.stamps[e.Maker]
		m.mu.Unlock()
		if ok && s.predates(e) {
			e = s.tombstoneFor(e)
		}
	}
	gen := m.gen.Load()
	if !confirmed {
		gen = 0
	}
	// The keys evicted to make room are removed once key's stripe is
	// released: each under its own.
	var evict []string
	defer func() {
		for _, k := range evict {
			m.remove(k)
		}
	}()
	mu := &m.stripes[memStripe(key)]
	mu.Lock()
	defer mu.Unlock()
	var held *memItem
	if v, ok := m.c.Get(key); ok {
		held = v.(*memItem)
		if it := held; now.Before(it.e.Expires) && !newer(e, it.e) {
			if confirmed && it.gen != gen {
				// Checked against the shared tier, which holds nothing
				// newer: the copy held here is confirmed as it is.
				m.put(key, it, &memItem{e: it.e, gen: gen})
			}
			return it.e, nil
		}
	}
	if !now.Before(e.Expires) {
		m.drop(key)
		return e, nil
	}
	// Entries go into go-cache without an expiry of its own: its Get would
	// read the real clock on every hit. Expiry is judged by the store's
	// clock on Get, and a sweep reclaims expired entries.
	m.put(key, held, &memItem{e: e, gen: gen})
	evict = m.admit(key, e.Maker)
	m.maybeSweep(now)
	return e, nil
}

// unconfirm marks the entries under keys as to be checked again (see
// Tiered); unconfirmAll marks every entry, by moving the generation on.
func (m *Memory) unconfirm(keys ...string) {
	for _, k := range keys {
		mu := &m.stripes[memStripe(k)]
		mu.Lock()
		if v, ok := m.c.Get(k); ok && v.(*memItem).gen != 0 {
			m.put(k, v.(*memItem), &memItem{e: v.(*memItem).e})
		}
		mu.Unlock()
	}
}

func (m *Memory) unconfirmAll() { m.gen.Add(1) }

// Stamp records a change: a maker's entries that predate it become
// tombstones now, and answers still in flight that predate it will be
// stored as tombstones; with no Maker, every entry becomes stale.
func (m *Memory) Stamp(_ context.Context, s Stamp) error {
	if s.Maker == "" {
		for {
			old := m.resync.Load()
			if old != nil && s.Seq <= old.Seq || m.resync.CompareAndSwap(old, &s) {
				break
			}
		}
		return nil
	}
	m.mu.Lock()
	if old, ok := m.stamps[s.Maker]; ok {
		s = old.join(s)
	}
	m.stamps[s.Maker] = s
	if len(m.stamps) > memMaxStamps {
		for mk := range m.stamps {
			if len(m.makers[mk]) == 0 && mk != s.Maker {
				delete(m.stamps, mk)
			}
		}
	}
	keys := make([]string, 0, len(m.makers[s.Maker]))
	for k := range m.makers[s.Maker] {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	now := m.clock()
	for _, k := range keys {
		mu := &m.stripes[memStripe(k)]
		mu.Lock()
		if v, ok := m.c.Get(k); ok {
			if it := v.(*memItem); now.Before(it.e.Expires) && !it.e.Tombstone() && s.predates(it.e) {
				m.put(k, it, &memItem{e: s.tombstoneFor(it.e), gen: it.gen})
			}
		}
		mu.Unlock()
	}
	return nil
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

// admit records a key and its maker, and returns the oldest keys past the
// bound, for the caller to remove.
func (m *Memory) admit(key, maker string) (evict []string) {
	m.mu.Lock()
	if old, ok := m.makerOf[key]; ok && old != maker {
		m.unindex(key, old)
	}
	if maker != "" {
		ks := m.makers[maker]
		if ks == nil {
			ks = make(map[string]struct{})
			m.makers[maker] = ks
		}
		ks[key] = struct{}{}
		m.makerOf[key] = maker
	}
	if _, ok := m.live[key]; ok {
		m.mu.Unlock()
		return nil
	}
	m.live[key] = struct{}{}
	m.order = append(m.order, key)
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
	return evict
}

// forget drops a removed key from the bookkeeping.
func (m *Memory) forget(key string) {
	m.mu.Lock()
	delete(m.live, key)
	if mk, ok := m.makerOf[key]; ok {
		m.unindex(key, mk)
	}
	m.mu.Unlock()
}

// unindex drops key from its maker's index; the caller holds m.mu.
func (m *Memory) unindex(key, maker string) {
	delete(m.makerOf, key)
	if ks := m.makers[maker]; ks != nil {
		delete(ks, key)
		if len(ks) == 0 {
			delete(m.makers, maker)
		}
	}
}

// Delete removes the entries under keys.
func (m *Memory) Delete(_ context.Context, keys ...string) error {
	for _, k := range keys {
		m.remove(k)
		if k == LogForkKey {
			m.forked.Store(false) // an operator cleared it
		}
	}
	return nil
}
