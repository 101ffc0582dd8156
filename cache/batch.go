package cache

import (
	"context"
	"sync"

	"github.com/qualitycommit/qcsdk/client"
)

// batcher groups concurrent misses into batch lookups. It holds no timer:
// a miss is sent at once when no call is in flight, and the misses that
// arrive while one is are sent together when it returns — group commit, so
// that batching adds no latency to a lone miss and saves calls under load.
// When a full batch is waiting behind a slow call (an API that answers
// 503 with a Retry-After, say), another call starts, up to maxBatchCalls
// in flight, so that one slow call does not hold up every miss.
type batcher struct {
	c       *Cache
	mu      sync.Mutex
	running int // calls in flight, each a run loop
	queue   []*batchReq
}

const maxBatchCalls = 4

// A batchReq is one key's place in a batch call. Its answer is delivered
// by closing done, or, for a request with then, by calling then.
type batchReq struct {
	key  client.ProductKey
	done chan struct{}
	then func(*Entry, error)
	e    *Entry
	err  error
}

// answer delivers r's answer. A then that stores into a remote store runs
// in a goroutine of its own, so that a batch of 100 does not wait for 100
// round trips one after another.
func (r *batchReq) answer(c *Cache) {
	if r.then == nil {
		close(r.done)
		return
	}
	if c.mem != nil || !c.spawn(func() { r.then(r.e, r.err) }) {
		r.then(r.e, r.err)
	}
}

func (b *batcher) fetch(ctx context.Context, key client.ProductKey) (*Entry, error) {
	req := &batchReq{key: key, done: make(chan struct{})}
	b.enqueue(req)
	select {
	case <-req.done:
		return req.e, req.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// enqueue queues reqs together, and starts a call unless one is in flight.
func (b *batcher) enqueue(reqs ...*batchReq) {
	if len(reqs) == 0 {
		return
	}
	b.mu.Lock()
	b.queue = append(b.queue, reqs...)
	start := b.running == 0 || b.running < maxBatchCalls && len(b.queue) >= client.MaxBatchKeys
	if start {
		b.running++
	}
	b.mu.Unlock()
	if start && !b.c.spawn(b.run) {
		b.fail(ErrClosed)
	}
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
		r.answer(b.c)
	}
}

func (b *batcher) run() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		n := min(len(b.queue), client.MaxBatchKeys)
		reqs := append([]*batchReq(nil), b.queue[:n]...)
		b.queue = append(b.queue[:0], b.queue[n:]...)
		b.mu.Unlock()
		b.call(reqs)
	}
}

// call answers one group of misses with one call: a GET for a lone key
// (its answer carries Cache-Control and an ETag), a batch lookup otherwise.
func (b *batcher) call(reqs []*batchReq) {
	c := b.c
	ctx, cancel := context.WithTimeout(c.bg, c.fetchTimeout)
	defer cancel()
	defer func() {
		for _, r := range reqs {
			r.answer(c)
		}
	}()
	if len(reqs) == 1 {
		reqs[0].e, reqs[0].err = c.fetchOne(ctx, reqs[0].key, nil)
		return
	}
	keys := make([]client.ProductKey, len(reqs))
	for i, r := range reqs {
		keys[i] = r.key
	}
	c.stats.upstream.Add(1)
	c.stats.batches.Add(1)
	now := c.clock.Now() // the request's time: see Entry.Fetched
	items, err := c.api.Products.Batch(ctx, keys)
	for i, r := range reqs {
		switch {
		case i < len(items) && items[i].Err == nil && items[i].Status != nil:
			r.e = c.entry(items[i].Status, "", client.CacheControl{}, now)
		case i < len(items) && items[i].Err != nil:
			r.err = items[i].Err
		default:
			r.err = err
		}
	}
}

// Statuses looks up many products at once, as a listing page does, and
// answers in input order. Hits are answered from the store; the misses
// are queued together, so that a page of up to 100 unknown products costs
// one batch call. A key's error says why it has no status.
func (c *Cache) Statuses(ctx context.Context, keys []client.ProductKey) []client.BatchItem {
	out := make([]client.BatchItem, len(keys))
	waits := make([]*flight, len(keys))
	skeys := make([]string, len(keys))
	var queue []*batchReq
	for i, k := range keys {
		out[i].Key = k
		ck, err := canonical(k)
		if err != nil {
			out[i].Err = err
			continue
		}
		skeys[i] = storeKey(ck)
		e, now := c.peek(ctx, skeys[i])
		e, fl := c.begin(skeys[i], ck, e, now, &queue)
		if e != nil {
			out[i].Status = e.Status
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
		out[i].Status = e.Status
	}
	return out
}
