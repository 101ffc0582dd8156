package redisstore_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/cache/storetest"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// The store keeps the cache's ordering rules, on one Redis and on a
// Cluster: the write script and the stamps hold them, and this is the
// test that fails when either stops.
func TestStoreRules(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	storetest.Run(t, prefixed(rdb))
}

func TestStoreRulesOnACluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3, 0)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	storetest.Run(t, prefixed(rdb))
}

// prefixed builds each store on rdb under a prefix of its own.
func prefixed(rdb redis.UniversalClient) func(t *testing.T) cache.Store {
	var n atomic.Int64
	return func(t *testing.T) cache.Store {
		p := "rules:" + strings.ReplaceAll(t.Name(), "/", ":") + ":" + string(rune('a'+n.Add(1))) + ":"
		return must(redisstore.New(rdb, redisstore.WithPrefix(p), redisstore.WithTimeout(timescale.Scale(5*time.Second))))
	}
}

// must is the store a test builds with options it knows to be valid.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
