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
type batcher struct {
	c        *Cache
	mu       sync.Mutex
	inflight bool
	queue    []*batchReq
}

type batchReq struct {
	key  client.ProductKey
	done chan struct{}
	e    *Entry
	err  error
}

func (b *batcher) fetch(ctx context.Context, key client.ProductKey) (*Entry, error) {
	req := &batchReq{key: key, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, req)
	start := !b.inflight
	b.inflight = true
	b.mu.Unlock()
	if start && !b.c.spawn(b.run) {
		b.fail(ErrClosed)
	}
	select {
	case <-req.done:
		return req.e, req.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fail answers every queued miss with err.
func (b *batcher) fail(err error) {
	b.mu.Lock()
	reqs := b.queue
	b.queue, b.inflight = nil, false
	b.mu.Unlock()
	for _, r := range reqs {
		r.err = err
		close(r.done)
	}
}

func (b *batcher) run() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.inflight = false
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
			close(r.done)
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
// answers in input order. Hits are answered from the store; the misses are
// fetched concurrently, which the batcher turns into batch lookups of up to
// 100 keys. A key's error says why it has no status.
func (c *Cache) Statuses(ctx context.Context, keys []client.ProductKey) []client.BatchItem {
	out := make([]client.BatchItem, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		out[i].Key = k
		ck, err := canonical(k)
		if err != nil {
			out[i].Err = err
			continue
		}
		skey := storeKey(ck)
		// Fresh hits are answered here, without a goroutine each.
		if e, now := c.peek(ctx, skey); e != nil && e.Status != nil && now.Before(e.FreshUntil) {
			c.stats.hits.Add(1)
			out[i].Status = e.Status
			continue
		}
		wg.Go(func() {
			e, err := c.lookup(ctx, skey, ck)
			if err != nil {
				out[i].Err = err
				return
			}
			out[i].Status = e.Status
		})
	}
	wg.Wait()
	return out
}
