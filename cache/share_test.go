package cache_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/faultproxy"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// slowShared is a store whose reads of many keys hang until the caller's
// context ends, as a blackholed Redis does; it keeps writes in memory.
type slowShared struct{ *cache.Memory }

func (s slowShared) GetMany(ctx context.Context, keys []string) ([]*cache.Entry, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (s slowShared) Get(ctx context.Context, key string) (*cache.Entry, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A page's read of the store has a share of its time, not all of it: a
// store that does not answer used to keep a page's products from the
// registry until the page's deadline, and every one came back unanswered.
func TestAPagesStoreReadHasItsShareOfTheBudget(t *testing.T) {
	t.Parallel()
	srv, api := newSandbox(t)
	mem := must(cache.NewMemory())
	t.Cleanup(func() { mem.Close() })
	c, err := cache.New(api, cache.WithStore(struct {
		cache.Store
		cache.MultiGetter
	}{slowShared{mem}, slowShared{mem}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var keys []client.ProductKey
	for _, d := range srv.Demo() {
		keys = append(keys, client.ProductKey{GTIN: d.GTIN})
	}
	ctx, cancel := context.WithTimeout(context.Background(), timescale.Scale(2*time.Second))
	defer cancel()
	for _, it := range c.Statuses(ctx, keys) {
		if it.Err != nil {
			t.Errorf("%s: %v; want the registry's answer, the store having had its share", it.Key.GTIN, it.Err)
		}
	}
}

// A product page's read of the store (one key) had all of the page's
// time: a Redis shard failing over held every view of its products until
// the deadline, and the page never asked the registry. It has the same
// share as a listing's now.
func TestAProductPagesStoreReadHasItsShareOfTheBudget(t *testing.T) {
	t.Parallel()
	srv, api := newSandbox(t)
	mem := must(cache.NewMemory())
	t.Cleanup(func() { mem.Close() })
	// Through Store alone: the memory's warm read would answer first.
	c, err := cache.New(api, cache.WithStore(struct{ cache.Store }{slowShared{mem}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), timescale.Scale(2*time.Second))
	defer cancel()
	g := srv.Demo()[0].GTIN
	if _, err := statusByGTIN(c, ctx, g); err != nil {
		t.Errorf("%s: %v; want the registry's answer, the store having had its share", g, err)
	}
}

// blackholedTiered is a cache over a Tiered store whose Redis, reached
// through a proxy, stops answering once the proxy is blackholed; the
// store's own timeout (redisTimeout) is far longer than a page's.
func blackholedTiered(t *testing.T, api *client.Client, redisTimeout time.Duration) (*cache.Cache, *faultproxy.Proxy) {
	t.Helper()
	rs := redistest.Start(t)
	proxy, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	c, _, _ := tieredServer(t, api, rdb, "test:"+t.Name()+":", redisTimeout)
	return c, proxy
}

// A fetched answer used to reach its page only once Redis had taken it:
// the landing wrote through Redis first, under the cache's fetch timeout,
// so that a blackholed Redis held every answer until the page's deadline
// had passed, and the page got none although the registry had answered.
// Now memory takes the answer and the page has it at once; Redis gets it
// when it can.
func TestAnAnswerDoesNotWaitForABlackholedRedis(t *testing.T) {
	t.Parallel()
	srv, api := newSandbox(t)
	c, proxy := blackholedTiered(t, api, 5*time.Second)
	var keys []client.ProductKey
	for _, d := range srv.Demo() {
		keys = append(keys, client.ProductKey{GTIN: d.GTIN})
	}
	proxy.Blackhole()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, it := range c.Statuses(ctx, keys) {
		if it.Err != nil {
			t.Errorf("%s: %v; want the registry's answer, Redis being blackholed", it.Key.GTIN, it.Err)
		}
	}
	// What the page learnt is this server's now, Redis or not.
	for _, k := range keys {
		if _, _, ok := c.Cached(k.GTIN); !ok {
			t.Errorf("%s: not cached after the page looked it up", k.GTIN)
		}
	}
}

// limitedCache is a cache over a sandbox of its own, through a client
// built with opts besides the sandbox's URL.
func limitedCache(t *testing.T, opts ...client.Option) (*sandbox.Server, *client.Client, *cache.Cache) {
	t.Helper()
	srv := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0))
	api, err := client.New(append([]client.Option{client.WithBaseURL(srv.URL), client.WithLogKeys(srv.LogKeys()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	c, err := cache.New(api)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, api, c
}

// A batch call used to run under the cache's fetch timeout, whoever
// waited for it, so the client judged its waits against that: the
// upstream limiter, its retries' backoff. A page with 50 ms left waited
// seconds for a token, and its deadline passed with no answer and no
// time left to ask again. Now a call lives as long as its waiters do: a
// wait that would outlast them fails the call at once.
func TestACallWaitsNoLongerThanItsWaiters(t *testing.T) {
	t.Parallel()
	srv, _, c := limitedCache(t, client.WithUpstreamLimit(0.2, 1))
	demo := srv.Demo()
	if _, err := statusByGTIN(c, context.Background(), demo[0].GTIN); err != nil {
		t.Fatal(err) // the limiter's one token
	}
	var keys []client.ProductKey
	for _, d := range demo[1:] {
		keys = append(keys, client.ProductKey{GTIN: d.GTIN})
	}
	// The next token comes in five seconds; the page has one.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, it := range c.Statuses(ctx, keys) {
		var rl *client.RateLimitError
		if !errors.As(it.Err, &rl) || !rl.Throttled {
			t.Errorf("%s: %v; want the limiter's refusal, at once", it.Key.GTIN, it.Err)
		}
	}
}

// hangsFirst is a transport whose first request hangs until its context
// ends, as a call to a registry that is slow now and then does; the
// others go through.
type hangsFirst struct {
	hung atomic.Bool
	next http.RoundTripper
}

func (h *hangsFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.hung.CompareAndSwap(false, true) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	return h.next.RoundTrip(r)
}

// No call was hedged until sixteen had said what slow is, so a freshly
// started server's first slow call held its pages until their deadline:
// under 5 % slow calls, 41 % of its first cold pages were entirely
// unknown. Now a call that pages wait for is hedged from the first.
func TestAFreshServersFirstSlowCallIsHedged(t *testing.T) {
	t.Parallel()
	srv, _, c := limitedCache(t, client.WithRetryPolicy(client.RetryPolicy{}),
		client.WithHTTPClient(&http.Client{Transport: &hangsFirst{next: http.DefaultTransport}}))
	var keys []client.ProductKey
	for _, d := range srv.Demo() {
		keys = append(keys, client.ProductKey{GTIN: d.GTIN})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, it := range c.Statuses(ctx, keys) {
		if it.Err != nil {
			t.Errorf("%s: %v; want the hedge's answer", it.Key.GTIN, it.Err)
		}
	}
	if h := c.Stats().Hedges; h != 1 {
		t.Errorf("%d hedges, want 1", h)
	}
}

// A listing's answers used to reach Redis one key at a time: sixty
// writes, each its own round trips and its own announcement, which on a
// fleet's Redis cost more than the page's reads and held its connections
// from the pages. They go together now: one pipeline of writes and one
// announcement for each group that lands while the previous is out.
func TestAListingsAnswersReachRedisTogether(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	srv, api := newSandbox(t)
	rdb := newRedisClient(t, rs)
	c, _, _ := tieredServer(t, api, rdb, "test:"+t.Name()+":", 5*time.Second)
	keys := catalogue(t, srv, 60)
	count := redistest.Count(rdb)
	for _, it := range c.Statuses(context.Background(), keys) {
		if it.Err != nil {
			t.Fatalf("%s: %v", it.Key.GTIN, it.Err)
		}
	}
	if p := count.Publishes(); p > 4 {
		t.Errorf("%d announcements for a listing's 60 answers; want them grouped (at most 4)", p)
	}
	if s := count.Scripts(); s < 60 {
		t.Errorf("%d write scripts for 60 answers; want each written", s)
	}
}

// A Set whose caller has no time left returns at once, with what memory
// holds, and its write goes on to Redis in the background; a clean Close
// writes what is still queued before it stops.
func TestCloseWritesWhatSetQueued(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	rdb := newRedisClient(t, rs)
	prefix := "test:" + t.Name() + ":"
	shared := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(timescale.Scale(5*time.Second))))
	t.Cleanup(func() { shared.Close() })
	mem := must(cache.NewMemory())
	t.Cleanup(func() { mem.Close() })
	tiered, err := cache.NewTiered(mem, shared)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 50 {
		e := &cache.Entry{Status: &client.ProductStatus{Listed: true, Version: 7}, Maker: "ent_1", AsOf: 7, Version: 7,
			Fetched: now, FreshUntil: now.Add(time.Hour), Expires: now.Add(2 * time.Hour)}
		if held, err := tiered.Set(ctx, fmt.Sprint("k", i), e); err != nil || held != e {
			t.Fatalf("Set with no time left: %v, %v; want the entry, from memory", held, err)
		}
	}
	tiered.Close()
	for i := range 50 {
		if e, err := shared.Get(context.Background(), fmt.Sprint("k", i)); err != nil || e == nil || e.Version != 7 {
			t.Errorf("k%d in Redis after Close: %v, %v", i, e, err)
		}
	}
}

// A page's read of Redis that its share of the budget cut short used to
// count as Redis failing: three in a row opened the breaker, and a
// loaded but healthy Redis was skipped, its writes held back, a second
// at a time. It counts as an error now, not as Redis down.
func TestAReadCutShortByItsPageDoesNotOpenTheBreaker(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	proxy, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	shared := must(redisstore.New(rdb, redisstore.WithPrefix("test:"+t.Name()+":"), redisstore.WithTimeout(timescale.Scale(5*time.Second))))
	t.Cleanup(func() { shared.Close() })
	mem := must(cache.NewMemory())
	t.Cleanup(func() { mem.Close() })
	tiered, err := cache.NewTiered(mem, shared)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tiered.Close() })
	proxy.SetDelay(50 * time.Millisecond)
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		if _, err := tiered.GetMany(ctx, []string{fmt.Sprint("k", i)}); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	if s := tiered.Stats(); s.SharedDown || s.SharedErrors < 5 {
		t.Errorf("after five reads cut short by their pages: %+v; want five errors, and Redis not down", s)
	}
}

// Writes that come faster than Redis takes them are noted for a later
// flush once the queue holds 10,000 — memory stays bounded — and the
// store says how many went that way: before, they showed only as
// Unflushed, with nothing to tell a slow Redis from a dead one.
func TestWritesPastAFullQueueAreCounted(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	proxy, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	// A Redis that takes nothing for the store's 10 s: the writer's
	// first pipeline waits, and every write after it queues.
	shared := must(redisstore.New(rdb, redisstore.WithPrefix("test:"+t.Name()+":"), redisstore.WithTimeout(10*time.Second)))
	t.Cleanup(func() { shared.Close() })
	mem := must(cache.NewMemory())
	t.Cleanup(func() { mem.Close() })
	tiered, err := cache.NewTiered(mem, shared)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Heal(); tiered.Close() })
	proxy.Blackhole()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a page with no time left: Set queues the write and returns
	now := time.Now()
	const writes, queued, inFlight = 10_250, 10_000, 100
	for i := range writes {
		e := &cache.Entry{Status: &client.ProductStatus{Listed: true, Version: 7}, Maker: "ent_1", AsOf: 7, Version: 7,
			Fetched: now, FreshUntil: now.Add(time.Hour), Expires: now.Add(2 * time.Hour)}
		if _, err := tiered.Set(ctx, fmt.Sprint("k", i), e); err != nil {
			t.Fatal(err)
		}
	}
	st := tiered.Stats()
	if min := int64(writes - queued - inFlight); st.Overflowed < min || st.Overflowed > writes-queued {
		t.Errorf("Overflowed = %d after %d writes into a queue of %d with at most %d in flight; want %d to %d",
			st.Overflowed, writes, queued, inFlight, min, writes-queued)
	}
	if int64(st.Unflushed) < st.Overflowed {
		t.Errorf("Unflushed = %d, fewer than the %d writes noted for a flush", st.Unflushed, st.Overflowed)
	}
}
