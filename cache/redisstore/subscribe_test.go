package redisstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/internal/testkit/faultproxy"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
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
	s := must(redisstore.New(rdb, redisstore.WithTimeout(100*time.Millisecond)))
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

// failGets fails the GETs of one key while n is above zero, as a Redis
// that the link reaches again but a read still misses would.
type failGets struct {
	key string
	n   *atomic.Int64
}

func (failGets) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h failGets) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); cmd.Name() == "get" && len(args) == 2 && args[1] == h.key && h.n.Add(-1) >= 0 {
			err := errors.New("i/o timeout (injected)")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}
func (failGets) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A subscription that comes back tells its subscriber that announcements
// may have been lost, and then the resynchronisation Redis holds, which
// the subscriber's memory tier needs to revalidate what predates it. That
// read used to be tried once: when it failed — a link just healed, a
// loaded machine — the resynchronisation never arrived, and the server
// served its copies from before it as fresh until their TTL. It is now
// read again until Redis answers.
func TestAReturningSubscriptionDeliversTheResyncEvenIfItsFirstReadFails(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	prefix := "test:" + t.Name() + ":"
	writer := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { writer.Close() })
	w := must(redisstore.New(writer, redisstore.WithPrefix(prefix)))
	t.Cleanup(func() { w.Close() })
	ctx := context.Background()
	if err := w.Stamp(ctx, cache.Stamp{Seq: 42}); err != nil {
		t.Fatal(err)
	}

	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	fails := new(atomic.Int64)
	rdb.AddHook(failGets{key: prefix + "stamp:*", n: fails})
	s := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(100*time.Millisecond)))
	t.Cleanup(func() { s.Close() })
	got := make(chan cache.Announcement, 16)
	if err := s.Subscribe(ctx, func(a cache.Announcement) { got <- a }); err != nil {
		t.Fatal(err)
	}

	// The subscription's connection is dropped: go-redis subscribes
	// again, and the first two reads of the resynchronisation fail.
	fails.Store(2)
	if err := writer.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(timescale.Scale(10 * time.Second))
	lost := false
	for {
		select {
		case a := <-got:
			switch {
			case a.Lost:
				lost = true
			case a.Stamp != nil && a.Stamp.Maker == "" && lost:
				if a.Stamp.Seq != 42 {
					t.Errorf("the resynchronisation delivered at position %d; want 42", a.Stamp.Seq)
				}
				return
			}
		case <-deadline:
			t.Fatalf("no resynchronisation delivered within 10s of the subscription coming back (lost announced: %v)", lost)
		}
	}
}
