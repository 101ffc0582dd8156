package cache_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// newClusterClient is a go-redis client of a cluster, closed at cleanup.
func newClusterClient(t testing.TB, c *redistest.Cluster) *redis.ClusterClient {
	t.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 c.Addrs(),
		ContextTimeoutEnabled: true,
		DialTimeout:           100 * time.Millisecond,
		// See redisstore.New: a short reload finds a promoted replica in a second.
		ClusterStateReloadInterval: time.Second,
	})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// clusterServers starts n web servers, each a cache on a memory tier in
// front of the cluster, and a follower; all stop at cleanup.
func clusterServers(t testing.TB, cl *redistest.Cluster, api *client.Client, n int, prefix string) []*cache.Cache {
	t.Helper()
	var nodes []*cache.Cache
	for range n {
		shared := must(redisstore.New(newClusterClient(t, cl), redisstore.WithPrefix(prefix)))
		mem := must(cache.NewMemory())
		tiered, err := cache.NewTiered(mem, shared, cache.WithCooldown(100*time.Millisecond))
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
	follower := must(redisstore.New(newClusterClient(t, cl), redisstore.WithPrefix(prefix)))
	t.Cleanup(func() { follower.Close() })
	startFollower(t, api, follower).started(t)
	return nodes
}

// watch views the products on every server, over and over, until the
// returned stop is called: no lookup may fail, and no server may show a
// product at a lower version than it showed before.
func watch(t *testing.T, nodes []*cache.Cache, gtins []client.GTIN) (stop func()) {
	done := make(chan struct{})
	var views sync.WaitGroup
	for i, c := range nodes {
		views.Go(func() {
			seen := map[client.GTIN]int64{}
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				g := gtins[n%len(gtins)]
				st, err := statusByGTIN(c, context.Background(), g)
				if err != nil {
					t.Errorf("server %d, %s: %v", i, g, err)
					continue
				}
				if st.Version < seen[g] {
					t.Errorf("server %d showed %s at version %d after %d", i, g, st.Version, seen[g])
				}
				seen[g] = st.Version
			}
		})
	}
	return func() { close(done); views.Wait() }
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
	nodes := clusterServers(t, cl, api, 2, prefix)

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
			if _, err := statusByGTIN(c, ctx, g); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Page views on every server, all through the failover.
	stop := watch(t, nodes, gtins)
	victim := cl.MasterOf(prefix + string(gtins[0]))
	cl.Kill(victim)
	cl.WaitHealthy(t)
	t.Logf("master %s killed; a replica took over", victim)

	st, err := statusByGTIN(nodes[0], ctx, gtins[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range nodes {
		awaitVerdict(t, c, gtins[0], client.VerdictWithdrawn, 15*time.Second)
	}
	stop()
}

// A cluster whose master dies with no replica to take over refuses every
// command (CLUSTERDOWN): pages are answered from memory and the API, as
// with a dead Redis, and never fail.
func TestFleetOnAClusterWithAMasterDownAndNoReplica(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3, 0)
	srv, api := newSandbox(t)
	c := clusterServers(t, cl, api, 1, "test:down:")[0]
	ctx := context.Background()
	demo := srv.Demo()
	warm := demo[0].GTIN
	if _, err := statusByGTIN(c, ctx, warm); err != nil {
		t.Fatal(err)
	}
	cl.Kill(cl.Masters()[0])
	before := c.Stats()
	for round := range 2 {
		for _, d := range demo {
			st, err := statusByGTIN(c, ctx, d.GTIN)
			if err != nil {
				t.Fatalf("round %d, %s with a master down: %v", round, d.GTIN, err)
			}
			if got := client.Decide(st, time.Now(), 0).Verdict; got != d.Verdict {
				t.Errorf("%s shows %s; want %s", d.GTIN, got, d.Verdict)
			}
		}
	}
	// The warm product was answered from memory; the others from the API
	// once, and from memory after that. On a loaded machine a slow call
	// may be hedged (a second call for the same keys, by design), and if
	// the server sees its subscription to the fleet's announcements
	// broken by the kill, it revalidates what memory holds (a conditional
	// call each): neither is a product fetched anew.
	after := c.Stats()
	hedged := after.Hedges - before.Hedges
	revalidated := after.Revalidated - before.Revalidated
	fetched := (after.Upstream - before.Upstream) - hedged - revalidated
	lost := c.Store().(*cache.Tiered).Stats().Lost
	t.Logf("%d fetched, %d hedged, %d revalidated, %d subscriptions lost", fetched, hedged, revalidated, lost)
	if fetched > int64(len(demo)-1) || (lost == 0 && revalidated != 0) {
		t.Errorf("%d API calls for %d products, %d of them cold: %d fetched, %d hedged, %d revalidated, %d subscriptions lost",
			after.Upstream-before.Upstream, len(demo), len(demo)-1, fetched, hedged, revalidated, lost)
	}
}

// moveSlot migrates the slot of key to the master at dst, as a resharding
// does: the slot is marked migrating and importing, half its keys move
// (at least one),
// midway runs (clients then get ASK redirects for the moved keys), the
// rest move, and every master is told the slot's new owner (clients then
// get MOVED).
func moveSlot(t *testing.T, cl *redistest.Cluster, key, dst string, midway func()) {
	t.Helper()
	ctx := context.Background()
	src := cl.MasterOf(key)
	if src == dst {
		t.Fatalf("the slot of %q is served by %s already", key, dst)
	}
	conn := func(addr string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		return c
	}
	s, d := conn(src), conn(dst)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	slot, err := s.ClusterKeySlot(ctx, key).Result()
	must(err)
	srcID, err := s.Do(ctx, "CLUSTER", "MYID").Text()
	must(err)
	dstID, err := d.Do(ctx, "CLUSTER", "MYID").Text()
	must(err)
	must(d.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	must(s.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	keys, err := s.ClusterGetKeysInSlot(ctx, int(slot), 1000).Result()
	must(err)
	host, port, _ := strings.Cut(dst, ":")
	migrate := func(keys []string) {
		for _, k := range keys {
			must(s.Migrate(ctx, host, port, k, 0, 5*time.Second).Err())
		}
	}
	migrate(keys[:(len(keys)+1)/2])
	midway()
	migrate(keys[(len(keys)+1)/2:])
	for _, m := range cl.Masters() {
		must(conn(m).Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	}
}

// Resharding moves a product's slot, the stamps' slot and the
// announcements' slot to another master while pages are viewed: go-redis follows the ASK and MOVED
// redirects, no lookup fails, no server goes back, and a change after the
// move reaches every server.
func TestFleetOnAClusterWhileItReshards(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3, 0)
	srv, api := newSandbox(t)
	prefix := "test:reshard:"
	nodes := clusterServers(t, cl, api, 2, prefix)

	ctx := context.Background()
	var gtins []client.GTIN
	for e := 11; len(gtins) < 12; e++ {
		p, _ := srv.Product(e, 0)
		gtins = append(gtins, p.GTIN)
	}
	view := func() {
		for i, c := range nodes {
			for _, g := range gtins {
				if _, err := statusByGTIN(c, ctx, g); err != nil {
					t.Errorf("server %d, %s while resharding: %v", i, g, err)
				}
			}
		}
	}
	view()
	// A stamp, so that the stamps hash has a key to move.
	st, err := statusByGTIN(nodes[0], ctx, gtins[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range nodes {
		awaitVerdict(t, c, gtins[1], client.VerdictWithdrawn, 10*time.Second)
	}

	stop := watch(t, nodes, gtins)
	// A product's entry, the stamps, and the announcements' channel.
	for _, key := range []string{prefix + string(gtins[0]), prefix + "stamps", prefix + "changes"} {
		var dst string
		for _, m := range cl.Masters() {
			if m != cl.MasterOf(key) {
				dst = m
				break
			}
		}
		moveSlot(t, cl, key, dst, view)
		if got := cl.MasterOf(key); got != dst {
			t.Fatalf("the slot of %s is served by %s after the move; want %s", key, got, dst)
		}
	}

	st, err = statusByGTIN(nodes[0], ctx, gtins[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range nodes {
		awaitVerdict(t, c, gtins[0], client.VerdictWithdrawn, 10*time.Second)
	}
	stop()
}

// A revocation used to wait for a failed shard whatever maker it
// concerned: every maker's stamp lived in one hash, and every
// announcement went on one channel, so killing either shard's master held
// back every revocation, fleet-wide, until a replica was promoted. Now a
// stamp lives under its maker's key, announcements go on two channels on
// different shards, and a stamp the follower cannot record is announced
// all the same and recorded again later, while the feed goes on.
func TestRevocationsSurviveAShardFailover(t *testing.T) {
	t.Parallel()
	d := revokeThroughFailover(t)
	t.Logf("revocation visible on every server %v after it was published for a maker on the failed shard, %v for one on another", d.failed, d.other)
}

// failoverDelays is how long a revocation took to show on every server
// while a master was failing over.
type failoverDelays struct{ failed, other time.Duration }

// revokeThroughFailover kills the master that holds one maker's stamp (and
// not the follower's lease: see the README for that case), revokes a
// product of that maker and one of a maker on another shard at once, and
// measures when every server shows each.
// pageBudget is a page view's time, the widget's default render timeout.
const pageBudget = 50 * time.Millisecond

func revokeThroughFailover(tb testing.TB) failoverDelays {
	cl := redistest.StartCluster(tb, 3, 1)
	srv, api := newSandbox(tb)
	prefix := "test:failover:"
	nodes := clusterServers(tb, cl, api, 2, prefix)
	ctx := context.Background()

	lease := cl.MasterOf(prefix + "{follow}:lease")
	type pick struct {
		g      client.GTIN
		cmt    string
		master string
	}
	var onVictim, elsewhere *pick
	for e := 0; onVictim == nil || elsewhere == nil; e++ {
		p, ok := srv.Product(e, 0)
		if !ok {
			tb.Fatalf("no product of enterprise %d with the shards wanted", e)
		}
		st, err := statusByGTIN(nodes[0], ctx, p.GTIN)
		if err != nil || st.Commitment == nil || st.Commitment.Status != client.CommitmentActive {
			continue
		}
		pk := &pick{g: p.GTIN, cmt: st.Commitment.ID, master: cl.MasterOf(prefix + "stamp:" + st.Enterprise.ID)}
		switch {
		case onVictim == nil && pk.master != lease:
			onVictim = pk
		case onVictim != nil && elsewhere == nil && pk.master != onVictim.master:
			elsewhere = pk
		}
	}
	gtins := []client.GTIN{onVictim.g, elsewhere.g}
	for _, c := range nodes {
		for _, g := range gtins {
			if _, err := statusByGTIN(c, ctx, g); err != nil {
				tb.Fatal(err)
			}
		}
	}

	cl.Kill(onVictim.master)
	start := time.Now()
	for _, p := range []*pick{onVictim, elsewhere} {
		if _, err := srv.Revoke(p.cmt); err != nil {
			tb.Fatal(err)
		}
	}
	// Each server and product polled on its own, so that a view that
	// waits for the dead shard does not delay noticing another; each
	// view with a page's budget, the widget's 50 ms, as a shopper's is.
	var d failoverDelays
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, w := range []struct {
		g   client.GTIN
		out *time.Duration
	}{{onVictim.g, &d.failed}, {elsewhere.g, &d.other}} {
		for i, c := range nodes {
			wg.Go(func() {
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for {
					vctx, cancel := context.WithTimeout(ctx, pageBudget)
					st, err := statusByGTIN(c, vctx, w.g)
					cancel()
					if err == nil && st.Commitment != nil && st.Commitment.Status == client.CommitmentRevoked {
						mu.Lock()
						*w.out = max(*w.out, time.Since(start))
						mu.Unlock()
						return
					}
					if time.Since(start) > timescale.Scale(30*time.Second) {
						tb.Errorf("server %d still shows %s unrevoked after 30s", i, w.g)
						return
					}
					<-tick.C
				}
			})
		}
	}
	wg.Wait()
	cl.WaitHealthy(tb)
	return d
}
