package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// catalogue is n products of the sandbox's data set.
func catalogue(t *testing.T, srv *sandbox.Server, n int) []client.ProductKey {
	t.Helper()
	var keys []client.ProductKey
	for e := 0; len(keys) < n; e++ {
		if _, ok := srv.Product(e, 0); !ok {
			t.Fatalf("the data set has fewer than %d products", n)
		}
		for j := 0; len(keys) < n; j++ {
			p, ok := srv.Product(e, j)
			if !ok {
				break
			}
			keys = append(keys, client.ProductKey{GTIN: p.GTIN})
		}
	}
	return keys
}

// A fleet's freshly started server warms from Redis, which its peers
// filled: the registry is asked only for what no server has looked up.
func TestWarmReadsTheFleetsRedisBeforeTheRegistry(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	srv, api := newSandbox(t)
	keys := catalogue(t, srv, 250)
	prefix := "test:" + t.Name() + ":"
	first, _, _ := tieredServer(t, api, newRedisClient(t, rs), prefix, 5*time.Second)
	ctx := context.Background()
	n, err := first.Warm(ctx, keys[:200])
	if err != nil || n != 200 {
		t.Fatalf("first server warmed %d of 200: %v", n, err)
	}
	if calls := first.Stats().Upstream; calls != 2 {
		t.Errorf("first server: %d calls for 200 keys, want 2 batches", calls)
	}
	next, _, _ := tieredServer(t, api, newRedisClient(t, rs), prefix, 5*time.Second)
	n, err = next.Warm(ctx, keys)
	if err != nil || n != len(keys) {
		t.Fatalf("next server warmed %d of %d: %v", n, len(keys), err)
	}
	if calls := next.Stats().Upstream; calls != 1 {
		t.Errorf("next server: %d calls, want 1, for the 50 keys Redis lacked", calls)
	}
	for _, k := range keys {
		if _, _, ok := next.Cached(k.GTIN); !ok {
			t.Errorf("%s: not in memory after Warm", k.GTIN)
		}
	}
}

// Warm spends only what the upstream limiter has to spare: a batch the
// limiter refuses waits for its tokens and is tried again, and the
// platform's own page views keep their place ahead of it.
func TestWarmKeepsWithinTheQuota(t *testing.T) {
	t.Parallel()
	// One call every 2 s, in bursts of one: far longer than a batch of
	// 100 takes even on a loaded machine under -race (about 0.65 s seen
	// beside three busy loops), so that a Warm going as fast as the quota
	// lets it always finds the limiter's token not yet there.
	const interval = 2 * time.Second
	srv, api, c := limitedCache(t, client.WithUpstreamLimit(float64(time.Second)/float64(interval), 1))
	keys := catalogue(t, srv, 2*client.MaxBatchKeys)
	start := time.Now()
	n, err := c.Warm(context.Background(), keys)
	took := time.Since(start)
	if err != nil || n != len(keys) {
		t.Fatalf("warmed %d of %d: %v", n, len(keys), err)
	}
	calls := int64(srv.Requests("POST /v1/products/batch") + srv.Requests(productRoute))
	if max := 1 + int64(took/interval); calls > max {
		t.Errorf("%d calls in %v; the limiter allows %d", calls, took, max)
	}
	if calls < 2 {
		t.Errorf("%d calls for %d keys, want at least 2 batches", calls, len(keys))
	}
	if api.Stats().ThrottledLow == 0 {
		t.Error("the limiter refused no batch: Warm did not go as fast as the quota let it")
	}
}
