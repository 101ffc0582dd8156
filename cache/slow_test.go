package cache_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// gate is a transport that holds the requests it is armed for until
// their context ends or it opens: a registry whose call hangs, one call
// at a time.
type gate struct {
	next  http.RoundTripper
	mu    sync.Mutex
	armed int
	held  chan struct{} // a request is being held
	freed chan error    // a held request's context ended, with this
	open  chan struct{} // closed: held requests go on
}

func newGate() *gate {
	return &gate{next: http.DefaultTransport, held: make(chan struct{}, 16),
		freed: make(chan error, 16), open: make(chan struct{})}
}

// arm holds the next n requests.
func (g *gate) arm(n int) {
	g.mu.Lock()
	g.armed += n
	g.mu.Unlock()
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	g.mu.Lock()
	hold := g.armed > 0
	if hold {
		g.armed--
	}
	g.mu.Unlock()
	if !hold {
		return g.next.RoundTrip(r)
	}
	g.held <- struct{}{}
	select {
	case <-g.open:
		return g.next.RoundTrip(r)
	case <-r.Context().Done():
		g.freed <- r.Context().Err()
		return nil, r.Context().Err()
	}
}

// gated is a cache over a sandbox whose calls the gate can hold, with
// enough calls made that the cache knows how long one takes.
func gated(t *testing.T, opts ...client.Option) (*sandbox.Server, *gate, *cache.Cache, []client.ProductKey) {
	t.Helper()
	srv := sandbox.NewServer(t, sandbox.WithSize(40, 400), sandbox.WithRateLimit(0, 0))
	g := newGate()
	api, err := client.New(append([]client.Option{client.WithBaseURL(srv.URL),
		client.WithRetryPolicy(client.RetryPolicy{}), client.WithLogKeys(srv.LogKeys()...),
		client.WithHTTPClient(&http.Client{Transport: g})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	c, err := cache.New(api, cache.WithFetchTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var keys []client.ProductKey
	for ent := range 40 {
		for j := range 10 {
			if p, ok := srv.Product(ent, j); ok {
				keys = append(keys, client.ProductKey{GTIN: p.GTIN})
			}
		}
	}
	if len(keys) < 300 {
		t.Fatalf("the sandbox has %d products; want 300", len(keys))
	}
	return srv, g, c, keys
}

// warm makes n lone lookups, so that the cache has seen calls answer.
func warm(t *testing.T, c *cache.Cache, keys []client.ProductKey) {
	t.Helper()
	for _, k := range keys {
		if _, err := c.Status(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
}

// A call that hangs holds up only itself: its keys are sent again in a
// call of their own once it is slower than the calls before it, misses
// that come meanwhile do not queue behind it, and it is cancelled once
// every key it asked for has its answer.
func TestASlowCallDelaysOnlyItsOwnKeys(t *testing.T) {
	t.Parallel()
	_, g, c, keys := gated(t)
	warm(t, c, keys[:20])

	g.arm(1)
	// Bounds far above a hedge (a few milliseconds here) and far below
	// the fetch timeout (a minute), so that only a hedge can meet them.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := make(chan []cache.AnswerItem, 1)
	go func() { first <- c.Statuses(ctx, keys[20:60]) }()
	<-g.held // the first page's call hangs
	// A second page, while it hangs.
	for i, it := range c.Statuses(ctx, keys[60:90]) {
		if it.Err != nil || it.Status == nil {
			t.Fatalf("second page, key %d, while another call hangs: %v", i, it.Err)
		}
	}
	for i, it := range <-first {
		if it.Err != nil || it.Status == nil {
			t.Fatalf("the hung page, key %d: %v; want the hedge's answer", i, it.Err)
		}
	}
	if err := <-g.freed; !errors.Is(err, context.Canceled) {
		t.Errorf("the hung call ended with %v; want it cancelled once its keys were answered", err)
	}
	if s := c.Stats(); s.Hedges < 1 {
		t.Errorf("%d hedges; want the hung call hedged", s.Hedges)
	}
}

// A miss whose caller gave up before its call could be sent is never
// sent: an outage leaves no backlog behind it.
func TestLookupsNobodyWaitsForAreNotSent(t *testing.T) {
	t.Parallel()
	srv, g, c, keys := gated(t)

	// One call hangs (no call is hedged yet: the cache has seen none
	// answer)...
	g.arm(1)
	done := make(chan error, 1)
	go func() {
		_, err := c.Status(context.Background(), keys[0])
		done <- err
	}()
	<-g.held
	// ...and a page of 50 misses queues behind it, and gives up (its
	// budget spent) before the hung call ends.
	spent, cancel := context.WithCancel(context.Background())
	cancel()
	for i, it := range c.Statuses(spent, keys[1:51]) {
		if !errors.Is(it.Err, context.Canceled) {
			t.Errorf("key %d of the page that gave up: %v; want its own cancellation", i, it.Err)
		}
	}
	// Then the hung call answers, and the batcher looks at its queue.
	close(g.open)
	if err := <-done; err != nil {
		t.Errorf("the hung call's own lookup: %v", err)
	}
	// A lookup queued after them is answered after the batcher has
	// dealt with them.
	if _, err := c.Status(context.Background(), keys[60]); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(""); n != 2 {
		t.Errorf("%d calls reached the registry; want 2 (the hung one, the last one), none for the lookups nobody waited for", n)
	}
	if s := c.Stats(); s.Abandoned != 50 {
		t.Errorf("Abandoned = %d; want 50", s.Abandoned)
	}
}

// The public badge endpoint's cold lookups run at low priority, even
// though the cache sends them in batches of its own: they do not spend
// the share of the quota kept for the platform's own pages.
func TestLowPriorityLookupsLeaveTheQuotaToThePlatformsPages(t *testing.T) {
	t.Parallel()
	// A burst of 4 and no refill to speak of: low priority may take a
	// token only while 1 + half the burst are left, so 2 of them.
	_, _, c, keys := gated(t, client.WithUpstreamLimit(0.001, 4))
	low := client.WithPriority(context.Background(), client.PriorityLow)
	answered := 0
	for _, k := range keys[:10] {
		_, err := c.Status(low, k)
		var rl *client.RateLimitError
		switch {
		case err == nil:
			answered++
		case errors.As(err, &rl) && rl.Priority == client.PriorityLow:
		default:
			t.Fatalf("a low-priority lookup failed with %v; want a low-priority RateLimitError", err)
		}
	}
	if answered != 2 {
		t.Errorf("%d of 10 low-priority cold lookups were sent; want 2 (the burst less its reserve)", answered)
	}
	for _, k := range keys[10:12] {
		if _, err := c.Status(context.Background(), k); err != nil {
			t.Errorf("the platform's own lookup after the public's: %v; want the reserve kept for it", err)
		}
	}
}
