package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qualitycommit/qcsdk/cache/internal/intern"
	"github.com/qualitycommit/qcsdk/client"
)

// Defaults of a cache built without options. The API's Cache-Control
// overrides the first three unless the matching option is set.
const (
	DefaultTTL                  = 5 * time.Minute
	DefaultNegativeTTL          = time.Minute
	DefaultStaleWhileRevalidate = time.Minute
	DefaultMaxStale             = 24 * time.Hour
	DefaultFetchTimeout         = 5 * time.Second
	DefaultMaxEntries           = 100_000
)

// Cache answers product status lookups from a store, asking the API only
// when an answer is missing or too old. It is safe for concurrent use;
// build one per process and share it.
//
// The records it returns are shared with every other caller and with the
// store, which is what makes a hit free of allocations: treat them as
// read-only, and Clone one (client.ProductStatus.Clone) to change it.
type Cache struct {
	api      *client.Client
	store    Store
	ownStore bool
	local    localReader // the store, when it reads from this process's memory
	// verifyReads: the store is across the network with no memory of its
	// own (Redis alone), and each status read from it is checked against
	// the registry's log before it is served (see checked).
	verifyReads bool
	// forked is raised while the store holds a fork of the registry's
	// log: no answer is trusted then (see ErrLogFork).
	forked   *atomic.Bool
	clock    func() time.Time
	clockSet bool
	logger   *slog.Logger

	ttl, negTTL, swr, maxStale time.Duration
	ttlSet, negSet, swrSet     bool
	staleSet                   bool
	fetchTimeout               time.Duration
	maxEntries                 int
	maxSet                     bool
	batching                   bool

	flights flights
	records intern.Records // the shared copies of makers and commitments
	batch   *batcher
	bg      context.Context // background refreshes; cancelled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	bgMu    sync.Mutex // orders spawn's wg.Add before Close's wg.Wait
	closed  bool
	closing sync.Once
	stats   counters
}

// An Option configures a Cache.
type Option func(*Cache) error

// WithStore sets the store: a shared one (a Tiered store, or Redis alone)
// for a fleet of web servers, or a memory store the caller also uses. The
// caller owns it: the cache's Close does not close it. By default the
// cache keeps a bounded memory store of its own, and closes it.
func WithStore(s Store) Option {
	return func(c *Cache) error {
		if s == nil {
			return errors.New("store is nil")
		}
		c.store = s
		return nil
	}
}

// WithTTL sets how long a listed product's status is served without asking
// the API again, instead of the API's Cache-Control max-age. With a
// follower keeping the store current, a long TTL is safe.
func WithTTL(d time.Duration) Option {
	return durationOption(d, func(c *Cache) { c.ttl, c.ttlSet = d, true })
}

// WithNegativeTTL sets how long a "not listed" answer is served, instead of
// the API's max-age for it. It is short by default: makers join the list.
func WithNegativeTTL(d time.Duration) Option {
	return durationOption(d, func(c *Cache) { c.negTTL, c.negSet = d, true })
}

// WithStaleWhileRevalidate sets how long past its TTL an answer is still
// served at once while one refresh runs in the background.
func WithStaleWhileRevalidate(d time.Duration) Option {
	return durationOption(d, func(c *Cache) { c.swr, c.swrSet = d, true })
}

// WithMaxStale sets how long past its TTL an answer may be served while the
// API is failing (stale-if-error). Past it, a lookup fails and a badge shows
// "unknown" rather than a guess.
func WithMaxStale(d time.Duration) Option {
	return durationOption(d, func(c *Cache) { c.maxStale, c.staleSet = d, true })
}

// WithFetchTimeout bounds each call to the API the cache makes. A caller
// that stops waiting does not cancel a fetch others wait for.
func WithFetchTimeout(d time.Duration) Option {
	return func(c *Cache) error {
		if d <= 0 {
			return errors.New("fetch timeout must be positive")
		}
		c.fetchTimeout = d
		return nil
	}
}

// WithMaxEntries bounds the cache's own memory store (default 100,000).
// With WithStore, bound the store you pass instead (WithMemoryMaxEntries):
// New refuses the two together.
func WithMaxEntries(n int) Option {
	return func(c *Cache) error {
		if n <= 0 {
			return errors.New("max entries must be positive")
		}
		c.maxEntries, c.maxSet = n, true
		return nil
	}
}

// WithClock sets the clock every freshness decision reads, and that of
// the cache's own memory store; a store passed to WithStore keeps its own
// (WithMemoryClock). Nil, the default, is the real clock.
func WithClock(now func() time.Time) Option {
	return func(c *Cache) error {
		if now == nil {
			c.clock, c.clockSet = time.Now, false
			return nil
		}
		c.clock, c.clockSet = now, true
		return nil
	}
}

// WithLogger logs failed fetches and refreshes at warn level, but for
// those the registry refused the API key for, which the client logs once
// itself (see Stats.KeyRefused). Nil, the default, logs nothing.
func WithLogger(l *slog.Logger) Option { return func(c *Cache) error { c.logger = l; return nil } }

// WithBatching turns the batching of concurrent misses into batch lookups
// on or off (default on). A miss is sent at once when no batch call is in
// flight; misses that arrive while one is go together in the next, so
// batching costs no latency when traffic is light.
func WithBatching(on bool) Option { return func(c *Cache) error { c.batching = on; return nil } }

func durationOption(d time.Duration, set func(*Cache)) Option {
	return func(c *Cache) error {
		if d < 0 {
			return errors.New("duration is negative")
		}
		set(c)
		return nil
	}
}

// New builds a cache in front of api.
func New(api *client.Client, opts ...Option) (*Cache, error) {
	if api == nil {
		return nil, errors.New("qcsdk/cache: client is nil")
	}
	c := &Cache{
		api:          api,
		clock:        time.Now,
		ttl:          DefaultTTL,
		negTTL:       DefaultNegativeTTL,
		swr:          DefaultStaleWhileRevalidate,
		maxStale:     DefaultMaxStale,
		fetchTimeout: DefaultFetchTimeout,
		maxEntries:   DefaultMaxEntries,
		batching:     true,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fmt.Errorf("qcsdk/cache: %w", err)
		}
	}
	switch {
	case c.store == nil:
		opts := []MemoryOption{WithMemoryMaxEntries(c.maxEntries)}
		if c.clockSet {
			opts = append(opts, WithMemoryClock(c.clock))
		}
		m, err := NewMemory(opts...)
		if err != nil {
			return nil, err
		}
		c.store, c.ownStore = m, true
	case c.maxSet:
		return nil, errors.New("qcsdk/cache: WithMaxEntries bounds the cache's own store; bound the store passed to WithStore instead")
	}
	c.local, _ = c.store.(localReader)
	c.forked = new(atomic.Bool)
	if f, ok := c.store.(interface{ logFork() *atomic.Bool }); ok {
		c.forked = f.logFork()
	}
	c.bg, c.cancel = context.WithCancel(context.Background())
	if t, ok := c.store.(interface {
		onCheckpoint(func(ctx context.Context))
	}); ok {
		// Each server judges the registry's answers against the history
		// the fleet's follower verified, from the start and as it grows.
		t.onCheckpoint(c.trustFleet)
	}
	switch s := c.store.(type) {
	case *Memory:
		// This process's own: it holds only what the client verified.
	case interface {
		onVerify(func(context.Context, string, *Entry) error)
	}:
		s.onVerify(c.verifyEntry) // checked once, entering memory
	default:
		// A store across the network (Redis alone): what it hands back
		// is checked on each read, as nothing keeps it once checked.
		c.verifyReads = true
	}
	c.batch = &batcher{c: c, lat: &latencies{}}
	return c, nil
}

// errForked answers every product while the fleet's follower holds a
// fork of the registry's log (see Follow): the log showed two histories,
// and no answer of either is trusted until an operator has looked and
// cleared it (ClearLogFork). Badges are then
// neutral, never committed on a branch of the log.
var errForked = fmt.Errorf("qcsdk/cache: the registry's log forked; no answer is trusted until an operator clears it: %w", client.ErrLogFork)

// trustFleet hands the client the checkpoint the fleet's follower
// verified last (see client.TrustCheckpoint). One that is not consistent
// with what the client verified is a fork the follower will find too; it
// is logged here, and the client keeps its own.
func (c *Cache) trustFleet(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	signed, err := fleetNote(ctx, c.store)
	if err != nil || signed == nil {
		return // a store that cannot answer now: the next announcement
	}
	err = c.api.TrustCheckpoint(ctx, signed)
	if err != nil && ctx.Err() == nil && c.logger != nil && !keyRefused(err) {
		level := slog.LevelWarn
		if errors.Is(err, client.ErrLogFork) {
			level = slog.LevelError
		}
		c.logger.Log(ctx, level, "qcsdk/cache: the fleet's verified checkpoint was not taken", "error", err)
	}
}

// ErrClosed is the error of a lookup that needed the API after Close.
var ErrClosed = errors.New("qcsdk/cache: closed")

// Close stops background refreshes and batch calls, waits for them, and
// closes the store if the cache made it. After Close, lookups are answered
// from the store alone.
func (c *Cache) Close() error {
	var err error
	c.closing.Do(func() {
		c.bgMu.Lock()
		c.closed = true
		c.bgMu.Unlock()
		c.cancel()
		c.wg.Wait()
		if c.ownStore {
			err = c.store.Close()
		}
	})
	return err
}

// API is the client the cache reads through, for the calls it does not
// cache: a widget files shoppers' reports with it.
func (c *Cache) API() *client.Client { return c.api }

// Store is the store the cache reads and writes.
func (c *Cache) Store() Store { return c.store }

// ErrStale is returned when the API answered with a version older than one
// the cache has already seen (a lagging replica, say): the cache will not
// serve it, and has nothing newer to serve.
var ErrStale = errors.New("qcsdk/cache: the API's answer is older than what the cache has seen")

// An Answer is a product's status as the cache holds it, with when the
// registry last confirmed it. Past FreshUntil it is stale: served while a
// refresh runs (stale-while-revalidate), or while the registry cannot be
// reached (up to the max-stale), and a page should say since when.
//
// It is small on purpose: Cached returns it with the time it was judged
// by in registers, on the path of every page view.
type Answer struct {
	Status *client.ProductStatus
	// Fetched is when the registry last confirmed the status (when the
	// request that got it was sent).
	Fetched time.Time
	// Stale says the answer was past its freshness when the cache
	// answered, by the cache's clock.
	Stale bool
}

// An AnswerItem is one key's answer in Statuses, or the error that says
// why it has none.
type AnswerItem struct {
	Key client.ProductKey
	Answer
	Err error
}

func answerOf(e *Entry, now time.Time) Answer {
	return Answer{Status: e.Status, Fetched: e.Fetched, Stale: !now.Before(e.FreshUntil)}
}

// Cached answers for the product with that GTIN when the cache can at
// once, from this process's memory — fresh, or stale within the
// stale-while-revalidate window, which starts a background refresh — and
// never waits for the API or for a store across the network: it has no
// context to bound such a wait by. A renderer with a deadline asks it
// first, so that a warm render costs no timer; on false, it asks with its
// deadline (Status, or Statuses for a page's products together, which
// reads what memory lacks from the store in one round trip). now is the
// time the answer was judged by (the cache's clock; zero when the store
// holds nothing in this process's memory), so that the caller need not
// read the clock again.
func (c *Cache) Cached(gtin client.GTIN) (a Answer, now time.Time, ok bool) {
	g, err := client.ParseGTIN(string(gtin))
	if err != nil || c.local == nil {
		return Answer{}, time.Time{}, false
	}
	skey := string(g)
	e, now, ok := c.local.readLocal(skey)
	if !ok || e == nil || e.Status == nil || c.forked.Load() {
		return Answer{}, now, false
	}
	if now.Before(e.FreshUntil) {
		c.stats.hits.Add(1)
		return Answer{Status: e.Status, Fetched: e.Fetched}, now, true
	}
	if now.Before(e.FreshUntil.Add(c.swr)) && now.Before(e.Expires) {
		c.stats.staleServed.Add(1)
		c.refresh(skey, query{key: client.ProductKey{GTIN: g}}, e)
		return Answer{Status: e.Status, Fetched: e.Fetched, Stale: true}, now, true
	}
	return Answer{}, now, false
}

// Status returns the status of a product, named by its GTIN or by its
// maker's USCC with a brand and model, with when the registry last
// confirmed it. A hit costs a map lookup and allocates nothing.
//
// The key is parsed at the edge, by client.ParseGTIN (a page's template
// function, a handler), and passed on as it returns it. The cache checks
// it again — for a GTIN in the 14-digit form, a scan of its digits that
// allocates nothing — so that a key built by conversion, malformed, is
// refused with an error matching client.ErrInvalidInput before any
// lookup; other forms (a GTIN-13) are put in the 14-digit one.
//
// Status, Statuses (a page's products together) and Cached (this
// process's memory only, no waiting) are the cache's one way to read
// products.
func (c *Cache) Status(ctx context.Context, key client.ProductKey) (Answer, error) {
	k, err := canonical(key)
	if err != nil {
		return Answer{}, err
	}
	e, now, err := c.lookup(ctx, storeKey(k), k)
	if err != nil {
		return Answer{}, err
	}
	return answerOf(e, now), nil
}

// canonical validates a key and puts it in the form the API answers with.
func canonical(k client.ProductKey) (client.ProductKey, error) {
	if k.GTIN != "" {
		if k.USCC != "" || k.Brand != "" || k.Model != "" {
			return k, fmt.Errorf("qcsdk/cache: a key is a GTIN or a USCC with a brand, not both: %w", client.ErrInvalidInput)
		}
		g, err := client.ParseGTIN(string(k.GTIN))
		return client.ProductKey{GTIN: g}, err
	}
	u, err := client.ParseUSCC(string(k.USCC))
	if err != nil {
		return k, err
	}
	if k.Brand == "" {
		return k, fmt.Errorf("qcsdk/cache: a USCC key needs a brand: %w", client.ErrInvalidInput)
	}
	return client.ProductKey{USCC: u, Brand: k.Brand, Model: k.Model}, nil
}

// storeKey is where a product's status lives in the store: the bare GTIN
// (so a hit builds no string), or the maker's USCC with brand and model,
// separated by a byte no key contains.
func storeKey(k client.ProductKey) string {
	if k.GTIN != "" {
		return string(k.GTIN)
	}
	return "k\x1f" + string(k.USCC) + "\x1f" + k.Brand + "\x1f" + k.Model
}

// servable reports whether e holds an answer that may still be served.
func servable(e *Entry, now time.Time) bool {
	return e != nil && !e.Tombstone() && now.Before(e.Expires)
}

// lookup is the read path: fresh hit, stale hit with a background refresh,
// or a coalesced fetch with stale-if-error as the fallback. It returns the
// time it judged the entry by, so that a hit reads the clock once.
func (c *Cache) lookup(ctx context.Context, skey string, key client.ProductKey) (*Entry, time.Time, error) {
	if c.forked.Load() {
		return nil, time.Time{}, errForked
	}
	e, now := c.peek(ctx, skey)
	// The fresh hit, first and inline: it is nearly every page view.
	// (An entry with a status is never a tombstone.)
	if e != nil && e.Status != nil && now.Before(e.FreshUntil) {
		c.stats.hits.Add(1)
		return e, now, nil
	}
	e, fl := c.begin(ctx, skey, query{key: key}, e, now, nil)
	if e != nil {
		return e, now, nil
	}
	e, err := c.await(ctx, skey, fl)
	if err != nil {
		return nil, time.Time{}, err
	}
	return e, c.clock(), nil
}

// A query is what a lookup asks the registry for: a product's status by
// its key, or one of the enquiry reads (raw set; see reads.go). Both take
// the one read path below; only how a fetch is sent differs.
type query struct {
	key client.ProductKey
	raw fetchRaw
}

// answeredBy reports whether e holds an answer of the query's kind.
func (q query) answeredBy(e *Entry) bool {
	if q.raw != nil {
		return e.Raw != nil
	}
	return e.Status != nil
}

// begin answers from what peek found when it may, and otherwise joins the
// fetch of the key in flight or starts one, as a caller who waits for it
// (and must then await it). With a queue (Statuses), a fetch it would
// start through the batcher is queued instead, for the caller to hand the
// batcher all at once.
func (c *Cache) begin(ctx context.Context, skey string, q query, e *Entry, now time.Time, queue *[]*batchReq) (*Entry, *flight) {
	if e != nil && !e.Tombstone() && q.answeredBy(e) {
		if now.Before(e.FreshUntil) {
			c.stats.hits.Add(1)
			return e, nil
		}
		if now.Before(e.FreshUntil.Add(c.swr)) && now.Before(e.Expires) {
			c.stats.staleServed.Add(1)
			c.refresh(skey, q, e)
			return e, nil
		}
	}
	c.stats.misses.Add(1)
	dl, _ := ctx.Deadline()
	fl, leader := c.flights.join(skey, true, dl)
	if client.PriorityOf(ctx) == client.PriorityHigh {
		fl.high.Store(true)
	}
	if !leader {
		c.stats.coalesced.Add(1)
		return nil, fl
	}
	c.start(skey, q, e, fl, queue)
	return nil, fl
}

// start sends the fetch a flight stands for: through the batcher (queued
// for the caller when it has a queue) for an unknown product, or on its
// own, with the ETag, for a known one or an enquiry read.
func (c *Cache) start(skey string, q query, old *Entry, fl *flight, queue *[]*batchReq) {
	if q.raw != nil {
		if !c.spawn(func() {
			e, err := c.fetchRaw(skey, old, q.raw)
			c.flights.land(skey, fl, e, err)
		}) {
			c.flights.land(skey, fl, nil, ErrClosed)
		}
		return
	}
	key := q.key
	if c.batched(old) {
		r := &batchReq{skey: skey, key: key, fl: fl}
		if queue != nil {
			*queue = append(*queue, r)
		} else {
			c.batch.enqueue(r)
		}
		return
	}
	if !c.spawn(func() {
		ctx, cancel := context.WithTimeout(c.bg, c.fetchTimeout)
		defer cancel()
		e, err := c.fetchOne(ctx, key, old)
		c.land(skey, key, fl, e, err)
	}) {
		c.flights.land(skey, fl, nil, ErrClosed)
	}
}

// await waits for a flight, or for ctx; either way a failure falls back to
// what the store holds. A flight nobody awaits any more is not sent.
func (c *Cache) await(ctx context.Context, skey string, fl *flight) (*Entry, error) {
	defer c.flights.leave(fl)
	select {
	case <-fl.done:
		if fl.err == nil {
			return fl.e, nil
		}
		return c.fallback(ctx, skey, fl.err)
	case <-ctx.Done():
		return c.fallback(ctx, skey, ctx.Err())
	}
}

// peek reads the store and the clock. A store that reads from this
// process's memory (localReader) answers most lookups without a context
// or an error, reading the clock once; on some machines a clock read
// costs more than the map lookup. What it cannot answer goes the long way.
func (c *Cache) peek(ctx context.Context, skey string) (*Entry, time.Time) {
	if c.local != nil {
		if e, now, ok := c.local.readLocal(skey); ok {
			return e, now
		}
	}
	return c.peekStore(ctx, skey)
}

// peekStore is peek by the store's Get, with the store's share of the
// caller's time.
func (c *Cache) peekStore(ctx context.Context, skey string) (*Entry, time.Time) {
	sctx, cancel := storeContext(ctx)
	defer cancel()
	e, err := c.store.Get(sctx, skey)
	// The time after the read: a store that hands back a copy made stale
	// as of its own reading of the clock (see staled) must find it stale.
	now := c.clock()
	if err != nil {
		c.stats.storeErrors.Add(1)
		return nil, now
	}
	return c.checked(ctx, skey, e), now
}

// checked is e as the store handed it back, or nil when the store's reads
// are checked (verifyReads) and e's status does not verify against the
// registry's log, or could not be checked: a store anyone on the network
// can write to is trusted no more than a stranger's answer. The client
// counts and logs what it refuses.
func (c *Cache) checked(ctx context.Context, key string, e *Entry) *Entry {
	if !c.verifyReads || e == nil || e.Status == nil {
		return e
	}
	if err := c.verifyEntry(ctx, key, e); err != nil {
		if _, ok := errors.AsType[*client.VerifyError](err); ok {
			// As a Tiered store does (see admit): a forgery left in place
			// would stand in the way of every genuine answer after it.
			c.spawn(func() { _ = c.store.Delete(c.bg, key) })
		}
		return nil
	}
	return e
}

// verifyEntry checks an entry with a status, read back from a shared
// store under key, before it is served: the status must be the product's
// the key names, its version the entry's, and it must verify against the
// registry's log (client.VerifyCached). A genuine status under another
// product's key verifies on its own, and would put that product's badge
// on this one; a genuine status under a raised version would win over
// every later answer.
func (c *Cache) verifyEntry(ctx context.Context, key string, e *Entry) error {
	st := e.Status
	var err error
	switch {
	case storeKey(st.Key) != key:
		err = fmt.Errorf("%w: the status of another product, kept under this one's key", client.ErrLogProof)
	case e.Version != st.Version:
		err = fmt.Errorf("%w: an entry of version %d holding a status of version %d", client.ErrLogProof, e.Version, st.Version)
	}
	if err != nil {
		c.stats.refused.Add(1)
		return &client.VerifyError{Key: st.Key, Err: err}
	}
	err = c.api.VerifyCached(ctx, st)
	if _, ok := errors.AsType[*client.VerifyError](err); ok {
		c.stats.refused.Add(1)
	}
	return err
}

// fallback serves what the store holds now — not what it held before the
// fetch, which a change pushed meanwhile may have replaced — if it may
// still be served; otherwise it returns the error. It reads the store
// under the caller's context, ended or not: a store that keeps entries
// in this process's memory (Memory, Tiered) answers from there without
// one, and one across the network is not asked past the caller's time.
func (c *Cache) fallback(ctx context.Context, skey string, cause error) (*Entry, error) {
	c.stats.errors.Add(1)
	if keyRefused(cause) {
		c.stats.keyRefused.Add(1)
	}
	e, err := c.store.Get(ctx, skey)
	e = c.checked(ctx, skey, e)
	if err == nil && servable(e, c.clock()) && (e.Status != nil || e.Raw != nil) {
		c.stats.staleIfError.Add(1)
		return e, nil
	}
	return nil, cause
}

// refresh revalidates an entry in the background, once per key however
// many lookups see it stale: a lookup that finds a fetch of the key in
// flight leaves it to that one.
func (c *Cache) refresh(skey string, q query, old *Entry) {
	fl, leader := c.flights.join(skey, false, time.Time{})
	if !leader {
		return
	}
	c.stats.refreshes.Add(1)
	c.start(skey, q, old, fl, nil)
}

// spawn runs f in a goroutine that Close waits for, unless the cache is
// closed, and reports whether it did.
func (c *Cache) spawn(f func()) bool {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// keyRefused reports whether err is the registry refusing the API key.
// The client logs that itself, once, as an error, and holds its calls
// back for a cool-down (see client.KeyRefusedError); the cache does not
// log it again for each fetch, which would be a line for every view.
func keyRefused(err error) bool { return errors.Is(err, client.ErrUnauthorized) }

func logKey(k client.ProductKey) string {
	if k.GTIN != "" {
		return string(k.GTIN)
	}
	return string(k.USCC) + "/" + k.Brand + "/" + k.Model
}

// batched reports whether a fetch goes through the batcher: an unknown
// key does; a known entry is revalidated with its ETag, on its own.
func (c *Cache) batched(old *Entry) bool {
	return c.batching && (old == nil || old.Tombstone() || old.ETag == "")
}

// land stores a fetched answer and ends the key's flight with what the
// store holds afterwards.
func (c *Cache) land(skey string, key client.ProductKey, fl *flight, e *Entry, err error) {
	if c.flights.isLanded(fl) {
		return // a hedge answered first
	}
	if err == nil {
		ctx, cancel := c.keepContext(fl)
		e, err = c.keep(ctx, skey, e)
		cancel()
	} else if c.logger != nil && !keyRefused(err) {
		c.logger.Warn("qcsdk/cache: fetch failed", "key", logKey(key), "error", err)
	}
	c.flights.land(skey, fl, e, err)
}

// keepContext bounds how long a landing waits for the store to keep its
// answer. A Memory store takes it at once, and a Tiered store takes it in
// memory and writes it on to Redis in the background once the context
// ends; so with those an answer that pages wait for with a deadline does
// not wait for Redis at all — each millisecond would come out of the
// page's budget, after the registry had answered — and one nobody waits
// for so (a background refresh) waits for Redis's winner. Any other store
// has the fetch timeout: ending its context would end the write itself.
func (c *Cache) keepContext(fl *flight) (context.Context, context.CancelFunc) {
	d := c.fetchTimeout
	switch c.store.(type) {
	case *Tiered, *Memory:
		if _, ok := c.flights.until(fl); ok {
			d = 0
		}
	}
	return context.WithTimeout(c.bg, d)
}

// keep stores a fetched entry and returns what the store holds afterwards,
// refusing to serve an answer older than one already seen.
func (c *Cache) keep(ctx context.Context, skey string, e *Entry) (*Entry, error) {
	if !e.FreshUntil.After(e.Fetched) && !e.Expires.After(e.Fetched) {
		return e, nil // no-store: served once, kept nowhere
	}
	won, err := c.store.Set(ctx, skey, e)
	if err != nil {
		c.stats.storeErrors.Add(1)
		return e, nil // the answer is good; only keeping it failed
	}
	if won != e && won != nil && c.checked(ctx, skey, won) == nil {
		// The store kept a value over this answer that is no answer of
		// the registry's (a forged one, a higher version): serve this.
		return e, nil
	}
	if won == nil || won.Tombstone() || won.Status == nil {
		return nil, ErrStale
	}
	return won, nil
}

func (c *Cache) fetchOne(ctx context.Context, key client.ProductKey, old *Entry) (*Entry, error) {
	var opts *client.GetOptions
	if old != nil && !old.Tombstone() && old.ETag != "" {
		opts = &client.GetOptions{ETag: old.ETag}
	}
	c.stats.upstream.Add(1)
	now := c.clock() // the request's time, not the answer's: see Entry.Fetched
	st, resp, err := c.api.Products.ByKey(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	if resp.NotModified {
		c.stats.revalidated.Add(1)
		renewed := *old
		renewed.AsOf = max(old.AsOf, resp.AsOf) // unchanged up to the answer's position
		c.times(&renewed, resp.CacheControl, old.Status.Listed, now)
		return &renewed, nil
	}
	return c.entry(st, resp.AsOf, resp.ETag, resp.CacheControl, now), nil
}

// entry wraps a fetched status with the position it reflects and its
// times.
func (c *Cache) entry(st *client.ProductStatus, asOf int64, etag string, cc client.CacheControl, now time.Time) *Entry {
	c.records.Status(st)
	// An answer that shows a change reflects the registry after it,
	// whatever position the registry said it began to answer at.
	e := &Entry{Status: st, AsOf: max(asOf, st.Version), Version: st.Version, ETag: etag}
	if st.Enterprise != nil {
		e.Maker = st.Enterprise.ID
	}
	c.times(e, cc, st.Listed, now)
	return e
}

// times sets an entry's freshness from the options and the API's
// Cache-Control, options first.
func (c *Cache) times(e *Entry, cc client.CacheControl, listed bool, now time.Time) {
	ttl, swr, stale := c.ttl, c.swr, c.maxStale
	if !listed {
		ttl = c.negTTL
	}
	if cc.Present {
		if cc.NoStore {
			ttl, swr, stale = 0, 0, 0
		} else if listed && !c.ttlSet || !listed && !c.negSet {
			ttl = cc.MaxAge
		}
		if !c.swrSet && cc.StaleWhileRevalidate > 0 {
			swr = cc.StaleWhileRevalidate
		}
		if !c.staleSet && cc.StaleIfError > 0 {
			stale = min(cc.StaleIfError, DefaultMaxStale)
		}
	}
	e.Fetched = now
	e.FreshUntil = now.Add(ttl)
	e.Expires = e.FreshUntil.Add(max(swr, stale))
}

// Stats is a snapshot of the cache's counters since it was built.
type Stats struct {
	Hits         int64 // answered fresh from the store
	Misses       int64 // had to wait for the API (or a fetch in flight)
	StaleServed  int64 // answered stale at once while a refresh ran
	StaleIfError int64 // answered stale because the API failed
	Refreshes    int64 // background refreshes started
	Coalesced    int64 // lookups that shared another's fetch
	Upstream     int64 // calls made to the API
	Revalidated  int64 // of those, answered 304: renewed without a body
	Batches      int64 // of those, batch lookups
	Errors       int64 // lookups whose fetch failed
	// KeyRefused counts, of Errors, the lookups that failed because the
	// registry refuses the API key (401 or 403): refused, or held back
	// unsent by the client's cool-down after a refusal. Any at all means
	// every badge the cache cannot answer is unknown until the key is
	// fixed.
	KeyRefused  int64
	StoreErrors int64 // store operations that failed (a dead Redis), those a Tiered store handled itself included
	Hedges      int64 // of Upstream, calls that raced a slow one for its keys
	Abandoned   int64 // lookups dropped unsent: nobody waited for them any more
	// LogForked says that the store holds a fork of the registry's log,
	// found by the fleet's follower: no answer is trusted, every badge is
	// neutral, until an operator clears it (ClearLogFork).
	LogForked bool
	// Refused counts the statuses read back from a shared store (Redis)
	// that were not served: not the registry's answer for their key, as
	// its log proves (a forged value, another product's status, a record
	// rewritten; see client.VerifyCached). Each is counted by cause in
	// the client's Stats too, and logged once per cause.
	Refused int64
}

type counters struct {
	hits                                                    striped // every page view of a warm product: the hot one
	misses, staleServed, staleIfError, refreshes, coalesced atomic.Int64
	upstream, revalidated, batches, errors, storeErrors     atomic.Int64
	hedges, abandoned, keyRefused, refused                  atomic.Int64
}

// striped is a counter spread over cache lines, each add landing on a
// random one, so that cores counting hits at once do not fight over one
// line: with a single atomic, the count cost more than the hit.
type striped [16]struct {
	n atomic.Int64
	_ [56]byte
}

func (s *striped) Add(d int64) { s[rand.Uint32()%uint32(len(s))].n.Add(d) }

func (s *striped) Load() int64 {
	var t int64
	for i := range s {
		t += s[i].n.Load()
	}
	return t
}

// Stats reads the counters. It is cheap enough to call per request, and
// easy to publish: expvar.Publish("qcsdk", expvar.Func(func() any { return c.Stats() })).
func (c *Cache) Stats() Stats {
	s := &c.stats
	return Stats{
		Hits: s.hits.Load(), Misses: s.misses.Load(), StaleServed: s.staleServed.Load(),
		StaleIfError: s.staleIfError.Load(), Refreshes: s.refreshes.Load(), Coalesced: s.coalesced.Load(),
		Upstream: s.upstream.Load(), Revalidated: s.revalidated.Load(), Batches: s.batches.Load(),
		Errors: s.errors.Load(), KeyRefused: s.keyRefused.Load(), StoreErrors: s.storeErrors.Load() + storeErrors(c.store),
		Hedges: s.hedges.Load(), Abandoned: s.abandoned.Load(), LogForked: c.forked.Load(),
		Refused: s.refused.Load(),
	}
}
