package cache_test

import (
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/cache/storetest"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
)

// The memory store and the tiered one keep the ordering rules that every
// tier of the fleet relies on (see package storetest); the Redis store
// runs the same suite in its own package.
func TestMemoryKeepsTheStoreRules(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) cache.Store {
		return must(cache.NewMemory(cache.WithSweepInterval(-1)))
	})
}

func TestTieredKeepsTheStoreRules(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newRedisClient(t, srv)
	storetest.Run(t, func(t *testing.T) cache.Store {
		mem := must(cache.NewMemory(cache.WithSweepInterval(-1)))
		shared := must(redisstore.New(rdb, redisstore.WithPrefix("rules:"+strings.ReplaceAll(t.Name(), "/", ":")+":"),
			redisstore.WithTimeout(testStoreTimeout)))
		tiered, err := cache.NewTiered(mem, shared, cache.WithCooldown(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			shared.Close()
			mem.Close()
		})
		return tiered
	})
}
