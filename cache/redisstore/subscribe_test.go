package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/internal/faultproxy"
	"github.com/qualitycommit/qcsdk/internal/redistest"
)

// Subscribing to a Redis that accepts connections and never answers used
// to take go-redis's dial timeout, five seconds, whatever the store's
// timeout: a server started (NewTiered) with Redis blackholed waited that
// long before serving, and as long again to close. Now it takes the
// store's timeout.
func TestSubscribingToABlackholedRedisTakesTheStoresTimeout(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	proxy, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	s := redisstore.New(rdb, redisstore.WithTimeout(100*time.Millisecond))
	t.Cleanup(func() { s.Close() })
	proxy.Blackhole()
	start := time.Now()
	err = s.Subscribe(context.Background(), func(cache.Announcement) {})
	took := time.Since(start)
	if err == nil {
		t.Fatal("subscribed to a blackholed Redis")
	}
	// Far above the timeout, far below the dial timeout: a bound the old
	// code missed by seconds, not a measurement.
	if took > 2*time.Second {
		t.Errorf("Subscribe took %v with a 100ms timeout", took)
	}
}
