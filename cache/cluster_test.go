package cache_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/redistest"
)

// newClusterClient is a go-redis client of a cluster, closed at cleanup.
func newClusterClient(t *testing.T, c *redistest.Cluster) *redis.ClusterClient {
	t.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 c.Addrs(),
		ContextTimeoutEnabled: true,
		DialTimeout:           100 * time.Millisecond,
		// See NewRedis: a short reload finds a promoted replica in a second.
		ClusterStateReloadInterval: time.Second,
	})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// A fleet on a Redis Cluster (3 masters, 3 replicas) keeps serving while
// a master dies and its replica takes over: no lookup fails, no server
// shows an older version of a product after a newer one, and a change
// published after the failover reaches every server.
func TestFleetOnARedisClusterRidesOutAFailover(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3, 1)
	srv, api := newSandbox(t)
	prefix := "test:cluster:"

	var nodes []*cache.Cache
	for range 2 {
		shared := cache.NewRedis(newClusterClient(t, cl), cache.RedisOptions{Prefix: prefix})
		mem := cache.NewMemory(cache.MemoryOptions{})
		tiered, err := cache.NewTiered(mem, shared, cache.TieredOptions{Cooldown: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c, err := cache.New(api, cache.WithStore(tiered))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); tiered.Close(); shared.Close(); mem.Close() })
		nodes = append(nodes, c)
	}
	follower := cache.NewRedis(newClusterClient(t, cl), cache.RedisOptions{Prefix: prefix})
	t.Cleanup(func() { follower.Close() })
	startFollower(t, api, follower)

	var gtins []client.GTIN
	for e := 11; len(gtins) < 12; e++ {
		p, ok := srv.Product(e, 0)
		if !ok {
			t.Fatalf("no product of enterprise %d", e)
		}
		gtins = append(gtins, p.GTIN)
	}
	ctx := context.Background()
	for _, c := range nodes {
		for _, g := range gtins {
			if _, err := c.StatusByGTIN(ctx, string(g)); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Page views on every server, all through the failover; each server's
	// versions per product must never go down.
	stop := make(chan struct{})
	var views sync.WaitGroup
	for i, c := range nodes {
		views.Go(func() {
			seen := map[client.GTIN]int64{}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				g := gtins[n%len(gtins)]
				st, err := c.StatusByGTIN(ctx, string(g))
				if err != nil {
					t.Errorf("server %d, %s during the failover: %v", i, g, err)
					continue
				}
				if st.Version < seen[g] {
					t.Errorf("server %d showed %s at version %d after %d", i, g, st.Version, seen[g])
				}
				seen[g] = st.Version
			}
		})
	}

	victim := cl.MasterOf(prefix + string(gtins[0]))
	cl.Kill(victim)
	cl.WaitHealthy(t)
	t.Logf("master %s killed; a replica took over", victim)

	st, err := nodes[0].StatusByGTIN(ctx, string(gtins[0]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range nodes {
		awaitVerdict(t, c, gtins[0], client.VerdictWithdrawn, 15*time.Second)
	}
	close(stop)
	views.Wait()
}
