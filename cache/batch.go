package cache

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// batcher groups concurrent misses into batch lookups. It holds no timer
// while idle: a miss is sent at once when no call is in flight, and the
// misses that arrive while one is are sent together when it returns —
// group commit, so that batching adds no latency to a lone miss and saves
// calls under load.
//
// Three rules keep a slow or dead registry from holding up what it need
// not:
//
//   - A miss nobody waits for any more (its page's budget ran out, the
//     shopper left) is dropped before it is sent, so an outage leaves no
//     backlog of calls behind it.
//   - A call still out after the hedge delay (the 95th percentile of
//     recent calls, as in Dean and Barroso's "The Tail at Scale") is
//     hedged: the keys someone still waits for are sent again in a call
//     of their own, and the first answer wins. Once every key of the slow
//     call has its answer, the slow call is cancelled.
//   - A queued miss waits only behind a call that is not yet slow; when
//     every call in flight is, another starts, up to maxBatchCalls.
//
// A call is sent at the client's high priority when one of its keys is
// awaited by a high-priority caller (the platform's own pages), and at
// low priority otherwise (the public badge endpoint's cold lookups), so
// that the upstream limiter serves the platform first.
type batcher struct {
	c       *Cache
	mu      sync.Mutex
	running int // calls in flight, each a run loop
	slow    int // of those, calls out longer than the hedge delay
	queue   []*batchReq
	lat     *latencies
}

// maxBatchCalls bounds the calls in flight, which is what a registry that
// accepts connections and never answers costs: each holds a connection
// until the fetch timeout.
const maxBatchCalls = 8

// A batchReq is one key's place in a batch call. Its answer lands the
// key's flight.
type batchReq struct {
	skey    string
	key     client.ProductKey
	fl      *flight
	hedgeOf *batchCall // for a hedge, the slow call it races
	e       *Entry
	err     error
}

// A batchCall is one call in flight.
type batchCall struct {
	reqs   []*batchReq
	cancel context.CancelFunc
	slow   atomic.Bool // hedged; set under batcher.mu
	done   bool        // under batcher.mu: answered
}

// errAbandoned ends a flight that was dropped before it was sent. Nobody
// receives it: a flight is dropped only when nobody waits for it.
var errAbandoned = errors.New("qcsdk/cache: lookup abandoned: nobody waits for it")

// enqueue queues reqs together, and starts a call unless one that is not
// yet slow is in flight to take them when it returns.
func (b *batcher) enqueue(reqs ...*batchReq) {
	if len(reqs) == 0 {
		return
	}
	b.mu.Lock()
	b.queue = append(b.queue, reqs...)
	start := b.startable()
	b.mu.Unlock()
	if start && !b.c.spawn(b.run) {
		b.fail(ErrClosed)
	}
}

// startable reports whether the queue needs a call of its own, and counts
// it as running if so. b.mu is held.
func (b *batcher) startable() bool {
	if len(b.queue) == 0 || b.running >= maxBatchCalls {
		return false
	}
	if b.running > b.slow && len(b.queue) < client.MaxBatchKeys {
		return false // a call will be back soon to take them
	}
	b.running++
	return true
}

// fail answers every queued miss with err.
func (b *batcher) fail(err error) {
	b.mu.Lock()
	reqs := b.queue
	b.queue = nil
	b.running--
	b.mu.Unlock()
	for _, r := range reqs {
		r.err = err
		b.answer(r)
	}
}

func (b *batcher) run() {
	for {
		reqs := b.next()
		if reqs == nil {
			return
		}
		b.call(reqs)
	}
}

// next takes the next call's keys off the queue, the high-priority ones
// first, leaving out the ones nobody waits for; nil when the queue is
// empty, and then the run loop ends.
func (b *batcher) next() []*batchReq {
	f := &b.c.flights
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running--
			b.mu.Unlock()
			return nil
		}
		if len(b.queue) > client.MaxBatchKeys {
			slices.SortStableFunc(b.queue, func(x, y *batchReq) int {
				return boolOrder(y.fl.high.Load()) - boolOrder(x.fl.high.Load())
			})
		}
		n := min(len(b.queue), client.MaxBatchKeys)
		reqs := slices.Clone(b.queue[:n])
		b.queue = append(b.queue[:0], b.queue[n:]...)
		b.mu.Unlock()

		kept := reqs[:0]
		for _, r := range reqs {
			switch {
			case r.hedgeOf == nil && f.drop(r.skey, r.fl, errAbandoned):
				b.c.stats.abandoned.Add(1)
			case r.hedgeOf != nil && !f.wanted(r.fl), f.isLanded(r.fl):
				// answered meanwhile, by the call it hedged or the other way round
			default:
				kept = append(kept, r)
			}
		}
		if len(kept) > 0 {
			return kept
		}
	}
}

func boolOrder(v bool) int {
	if v {
		return 1
	}
	return 0
}

// call answers one group of misses with one call: a GET for a lone key
// (its answer carries Cache-Control and an ETag), a batch lookup otherwise.
func (b *batcher) call(reqs []*batchReq) {
	c := b.c
	start := time.Now()
	life := b.life(reqs, start)
	ctx, cancel := context.WithTimeout(c.bg, life)
	defer cancel()
	if !slices.ContainsFunc(reqs, func(r *batchReq) bool { return r.fl.high.Load() }) {
		ctx = client.WithPriority(ctx, client.PriorityLow)
	}
	bc := &batchCall{reqs: reqs, cancel: cancel}
	for _, r := range reqs {
		c.flights.carry(r.fl, bc)
	}
	if d := b.lat.hedgeDelay(life < c.fetchTimeout); d > 0 {
		hedge := time.AfterFunc(d, func() { b.hedge(bc) })
		defer hedge.Stop()
	}
	err := b.send(ctx, reqs)
	if err == nil {
		b.lat.add(time.Since(start))
	}
	b.mu.Lock()
	bc.done = true
	if bc.slow.Load() {
		b.slow--
	}
	b.mu.Unlock()
	// A call cut short at the deadline of the waiters it started with
	// goes on for those who came since and wait longer: their keys are
	// sent again, in a call that lives as long as they wait (unless the
	// call's hedge carries them already), rather than answered with an
	// error they need not have.
	var again []*batchReq
	cut := ctx.Err() != nil && life < c.fetchTimeout
	for _, r := range reqs {
		if r.err != nil && cut && b.outlives(r) {
			if !bc.slow.Load() {
				again = append(again, &batchReq{skey: r.skey, key: r.key, fl: r.fl, hedgeOf: r.hedgeOf})
			}
			continue
		}
		b.answer(r)
	}
	b.enqueue(again...)
}

// outlives reports whether someone still waits for r's key, with no
// deadline or one still ahead.
func (b *batcher) outlives(r *batchReq) bool {
	f := &b.c.flights
	dl, bounded := f.until(r.fl)
	return f.wanted(r.fl) && (!bounded || time.Until(dl) > 0)
}

// life is how long a call of reqs may take, from now: until the last
// deadline of those waiting for its keys, so that the client judges its
// limiter, retries and backoff against the pages' time, not the fetch
// timeout — a page whose call fails fast then has time to try once more.
// A call is not cut shorter than twice the hedge delay, what a call that
// is not slow takes, so that an answer a page just missed still lands
// for the next one. A key that a background refresh, or a caller with no
// deadline, waits for gives the call the whole fetch timeout.
func (b *batcher) life(reqs []*batchReq, now time.Time) time.Duration {
	var last time.Time
	for _, r := range reqs {
		dl, ok := b.c.flights.until(r.fl)
		if !ok {
			return b.c.fetchTimeout
		}
		if dl.After(last) {
			last = dl
		}
	}
	return min(max(last.Sub(now), 2*b.lat.hedgeDelay(true)), b.c.fetchTimeout)
}

// send makes the call and sets each request's answer; the error is the
// call's own, for the latency record.
func (b *batcher) send(ctx context.Context, reqs []*batchReq) error {
	c := b.c
	if slices.ContainsFunc(reqs, func(r *batchReq) bool { return r.hedgeOf != nil }) {
		c.stats.hedges.Add(1)
	}
	if len(reqs) == 1 {
		reqs[0].e, reqs[0].err = c.fetchOne(ctx, reqs[0].key, nil)
		return reqs[0].err
	}
	keys := make([]client.ProductKey, len(reqs))
	for i, r := range reqs {
		keys[i] = r.key
	}
	c.stats.upstream.Add(1)
	c.stats.batches.Add(1)
	now := c.clock() // the request's time: see Entry.Fetched
	items, _, err := c.api.Products.Batch(ctx, keys)
	for i, r := range reqs {
		switch {
		case i < len(items) && items[i].Err == nil && items[i].Status != nil:
			r.e = c.entry(items[i].Status, items[i].AsOf, "", client.CacheControl{}, now)
		case i < len(items) && items[i].Err != nil:
			r.err = items[i].Err
		default:
			r.err = err
		}
	}
	return err
}

// answer lands r's flight with its answer. Storing it runs in a goroutine
// of its own, so that a batch of 100 into a store across the network does
// not wait for 100 round trips one after another.
func (b *batcher) answer(r *batchReq) {
	c := b.c
	if c.flights.isLanded(r.fl) {
		return // the hedge, or the call it raced, answered first
	}
	land := func() {
		c.land(r.skey, r.key, r.fl, r.e, r.err)
		if r.hedgeOf != nil && r.hedgeOf.settled(&c.flights) {
			r.hedgeOf.cancel() // nothing left to learn from the slow call
		}
	}
	if !c.spawn(land) {
		land()
	}
}

// hedge sends again, in a call of their own, the keys of a slow call that
// someone still waits for, and lets queued misses start a call rather
// than wait behind it.
func (b *batcher) hedge(bc *batchCall) {
	f := &b.c.flights
	b.mu.Lock()
	if bc.done {
		b.mu.Unlock()
		return // it answered as the timer fired
	}
	var again []*batchReq
	for _, r := range bc.reqs {
		// A hedge is not hedged again: two slow calls in a row say the
		// registry is slow, and a third would only add to its load.
		if r.hedgeOf == nil && f.wanted(r.fl) {
			again = append(again, &batchReq{skey: r.skey, key: r.key, fl: r.fl, hedgeOf: bc})
		}
	}
	bc.slow.Store(true)
	b.slow++
	b.queue = append(again, b.queue...)
	start := b.startable()
	b.mu.Unlock()
	if start && !b.c.spawn(b.run) {
		b.fail(ErrClosed)
	}
}

// abandon cancels bc, once its last waiter has left, if it is slow and
// none of its keys is wanted any more: nobody will read its answer, and
// it would hold a connection (one of maxBatchCalls) until its deadline.
func (bc *batchCall) abandon(f *flights) {
	if bc.slow.Load() && bc.settled(f) {
		bc.cancel()
	}
}

// settled reports whether every key of the call has its answer or is no
// longer awaited.
func (bc *batchCall) settled(f *flights) bool {
	for _, r := range bc.reqs {
		if f.wanted(r.fl) {
			return false
		}
	}
	return true
}

// latencies keeps the durations of the last calls that answered, for
// the hedge delay.
type latencies struct {
	mu    sync.Mutex
	ring  [64]time.Duration
	n     int
	delay atomic.Int64 // the hedge delay, in nanoseconds; 0 until known
}

// No call is hedged sooner than minHedge, below which the noise of a busy
// machine would hedge calls that are not slow at all. Until hedgeSamples
// calls have said what slow is, a call that pages wait for with a
// deadline is hedged after priorHedge, so that a freshly started
// server's first pages are hedged, when a call is slow, within their
// budget; a call nobody waits for with a deadline is not hedged then.
const (
	minHedge     = 5 * time.Millisecond
	priorHedge   = 20 * time.Millisecond
	hedgeSamples = 16
)

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.n%len(l.ring)] = d
	l.n++
	if l.n < hedgeSamples {
		return
	}
	s := slices.Clone(l.ring[:min(l.n, len(l.ring))])
	slices.Sort(s)
	l.delay.Store(int64(max(minHedge, s[len(s)*95/100])))
}

// hedgeDelay is how long a call may be out before it is hedged (0: never),
// for a call that pages wait for with a deadline (bounded) or not.
func (l *latencies) hedgeDelay(bounded bool) time.Duration {
	if d := time.Duration(l.delay.Load()); d > 0 || !bounded {
		return d
	}
	return priorHedge
}

// Statuses looks up many products at once, as a listing page does, and
// answers in input order, each with when the registry last confirmed it.
// Hits are answered from the store; the misses are queued together, so
// that a page of up to 100 unknown products costs one batch call. A key's
// error says why it has no status.
func (c *Cache) Statuses(ctx context.Context, keys []client.ProductKey) []AnswerItem {
	out := make([]AnswerItem, len(keys))
	if c.forked.Load() {
		for i, k := range keys {
			out[i] = AnswerItem{Key: k, Err: errForked}
		}
		return out
	}
	waits := make([]*flight, len(keys))
	skeys := make([]string, len(keys))
	cks := make([]client.ProductKey, len(keys))
	for i, k := range keys {
		out[i].Key = k
		ck, err := canonical(k)
		if err != nil {
			out[i].Err = err
			continue
		}
		cks[i], skeys[i] = ck, storeKey(ck)
	}
	entries, nows := c.peekMany(ctx, skeys)
	var queue []*batchReq
	for i := range keys {
		if skeys[i] == "" {
			continue
		}
		e, fl := c.begin(ctx, skeys[i], query{key: cks[i]}, entries[i], nows[i], &queue)
		if e != nil {
			out[i].Answer = answerOf(e, nows[i])
		}
		waits[i] = fl
	}
	c.batch.enqueue(queue...)
	for i, fl := range waits {
		if fl == nil {
			continue
		}
		e, err := c.await(ctx, skeys[i], fl)
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Answer = answerOf(e, c.clock())
	}
	return out
}

// storeShare divides what is left of a page's time when its keys are read
// from the store: a fifth for the store (10 ms of the widget's default 50),
// the rest for the registry.
const storeShare = 5

// storeContext is ctx with the store's share of what is left of its
// time, if it has a deadline: a slow, dead or blackholed Redis costs a
// view that much, and the view still asks the registry for what the
// store did not answer.
func storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, time.Now().Add(time.Until(d)/storeShare))
}

// peekMany is peek for a page's keys ("" for none): a shared store that
// reads many keys at once (MultiGetter) is asked once for all the keys
// its memory tier cannot answer, rather than once per product, one after
// another.
func (c *Cache) peekMany(ctx context.Context, skeys []string) ([]*Entry, []time.Time) {
	entries := make([]*Entry, len(skeys))
	nows := make([]time.Time, len(skeys))
	var ask []string // made when the first key needs the store's Get
	var at []int
	for i, k := range skeys {
		if k == "" {
			continue
		}
		if c.local != nil {
			if e, now, ok := c.local.readLocal(k); ok {
				entries[i], nows[i] = e, now
				continue
			}
		}
		if ask == nil {
			ask, at = make([]string, 0, len(skeys)-i), make([]int, 0, len(skeys)-i)
		}
		ask, at = append(ask, k), append(at, i)
	}
	if len(ask) == 0 {
		return entries, nows
	}
	mg, ok := c.store.(MultiGetter)
	if !ok {
		for j, i := range at {
			entries[i], nows[i] = c.peekStore(ctx, ask[j])
		}
		return entries, nows
	}
	ctx, cancel := storeContext(ctx)
	defer cancel()
	got, err := mg.GetMany(ctx, ask)
	now := c.clock() // after the read, as in peek
	if err != nil {
		c.stats.storeErrors.Add(1)
	}
	for j, i := range at {
		nows[i] = now
		if err == nil {
			entries[i] = c.checked(ctx, ask[j], got[j])
		}
	}
	return entries, nows
}
