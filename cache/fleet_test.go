package cache_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// A fleet is what a platform runs: several web servers, each with a cached
// client whose store is its own memory tier in front of one shared Redis,
// and one follower writing the change feed into Redis.

type fleet struct {
	srv   *sandbox.Server
	redis *redistest.Server // nil on a cluster
	api   *client.Client
	nodes []*cache.Cache
}

// startFleet starts a sandbox, a redis-server, n web servers and a
// follower, each web server with its own Redis connection pool, as on
// separate machines.
func startFleet(tb testing.TB, n int, opts ...sandbox.Option) *fleet {
	tb.Helper()
	rs := redistest.Start(tb)
	f := startFleetOn(tb, n, func() redis.UniversalClient {
		return redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
	}, opts...)
	f.redis = rs
	return f
}

// startFleetOn is startFleet on the Redis that dial connects to.
func startFleetOn(tb testing.TB, n int, dial func() redis.UniversalClient, opts ...sandbox.Option) *fleet {
	tb.Helper()
	f := &fleet{}
	f.srv = sandbox.NewServer(tb, append([]sandbox.Option{sandbox.WithRateLimit(0, 0)}, opts...)...)
	api, err := client.New(client.WithBaseURL(f.srv.URL), client.WithRetryPolicy(client.RetryPolicy{}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(api.CloseIdleConnections)
	f.api = api
	prefix := "fleet:" + tb.Name() + ":"
	for range n {
		rdb := dial()
		shared := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(testStoreTimeout)))
		mem := must(cache.NewMemory())
		tiered, err := cache.NewTiered(mem, shared)
		if err != nil {
			tb.Fatal(err)
		}
		c, err := cache.New(api, cache.WithStore(tiered), cache.WithLogger(slog.New(slog.NewTextHandler(tbWriter{tb}, nil))))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			c.Close()
			tiered.Close()
			shared.Close()
			mem.Close()
			rdb.Close()
		})
		f.nodes = append(f.nodes, c)
	}

	rdb := dial()
	shared := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(testStoreTimeout)))
	logger := slog.New(slog.NewTextHandler(tbWriter{tb}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	synced := make(chan struct{}, 1)
	go func() {
		done <- cache.Follow(ctx, api, shared, &cache.FollowOptions{
			Logger:        logger,
			FollowOptions: client.FollowOptions{Wait: 5 * time.Second, MinBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond},
			Resynced: func(error) {
				select {
				case synced <- struct{}{}:
				default:
				}
			},
		})
	}()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			tb.Errorf("Follow = %v; want context.Canceled", err)
		}
		shared.Close()
		rdb.Close()
	})
	// A follower with no cursor first marks what is cached as to be
	// revalidated; the fleet's first answers come after that.
	select {
	case <-synced:
	case <-time.After(timescale.Scale(10 * time.Second)):
		tb.Fatal("the follower did not start within 10s")
	}
	return f
}

// tbWriter sends log lines to the test's log, shown when it fails.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// upstream is how many calls the whole fleet made to the API.
func (f *fleet) upstream() int64 {
	var n int64
	for _, c := range f.nodes {
		n += c.Stats().Upstream
	}
	return n
}

// await polls every node until each answers with a status that satisfies
// ok, and returns how long that took. Polling is the measurement here, not
// a synchronisation: a web server learns of a change when a page asks.
func (f *fleet) await(tb testing.TB, gtin client.GTIN, within time.Duration, ok func(*client.ProductStatus) bool) time.Duration {
	tb.Helper()
	start := time.Now()
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	pending := slices.Clone(f.nodes)
	for {
		pending = slices.DeleteFunc(pending, func(c *cache.Cache) bool {
			st, err := statusByGTIN(c, context.Background(), gtin)
			return err == nil && ok(st)
		})
		if len(pending) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > timescale.Scale(within) {
			tb.Fatalf("%d of %d web servers still answer the old status of %s after %v", len(pending), len(f.nodes), gtin, within)
		}
		<-tick.C
	}
}

func demoGTIN(tb testing.TB, srv *sandbox.Server, v client.Verdict) client.GTIN {
	tb.Helper()
	for _, d := range srv.Demo() {
		if d.Verdict == v {
			return d.GTIN
		}
	}
	tb.Fatalf("no demo product with verdict %s", v)
	return ""
}

func hasInspection(id string) func(*client.ProductStatus) bool {
	return func(st *client.ProductStatus) bool {
		return slices.ContainsFunc(st.Inspections, func(in client.Inspection) bool { return in.ID == id })
	}
}

func TestFleetSharesAnswersAndStaysCurrentFromOneFollower(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 3)
	ctx := context.Background()
	g := demoGTIN(t, f.srv, client.VerdictCommitted)

	var st *client.ProductStatus
	for i, c := range f.nodes {
		var err error
		if st, err = statusByGTIN(c, ctx, g); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if st.Commitment == nil || st.Commitment.Status != client.CommitmentActive {
			t.Fatalf("node %d: commitment %+v; want an active one", i, st.Commitment)
		}
	}
	if n := f.upstream(); n != 1 {
		t.Fatalf("three web servers made %d API calls for one product; want 1 (the others read Redis)", n)
	}

	if _, err := f.srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	took := f.await(t, g, 10*time.Second, func(st *client.ProductStatus) bool {
		return st.Commitment != nil && st.Commitment.Status == client.CommitmentRevoked
	})
	t.Logf("a revoke reached all three web servers in %v, with %d API calls in all", took, f.upstream())
	if n := f.upstream(); n > 1+int64(len(f.nodes)) {
		t.Errorf("the fleet made %d API calls; want at most one more per server", n)
	}
	for i, c := range f.nodes {
		st, _ := statusByGTIN(c, ctx, g)
		if v := client.Decide(st, time.Now(), 0).Verdict; v == client.VerdictCommitted {
			t.Errorf("node %d still shows %s after the revoke", i, v)
		}
	}
}

func TestFleetRidesOutADeadRedis(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2)
	ctx := context.Background()
	warm := demoGTIN(t, f.srv, client.VerdictCommitted)
	for _, c := range f.nodes {
		if _, err := statusByGTIN(c, ctx, warm); err != nil {
			t.Fatal(err)
		}
	}

	// Page views keep arriving on every node while Redis dies and comes
	// back; none of them may fail.
	stop := make(chan struct{})
	var views sync.WaitGroup
	var failed atomic.Int64
	var viewed atomic.Int64
	for _, c := range f.nodes {
		views.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d := f.srv.Demo()[i%len(f.srv.Demo())]
				if _, err := statusByGTIN(c, ctx, d.GTIN); err != nil {
					failed.Add(1)
					t.Errorf("%s during the Redis outage: %v", d.GTIN, err)
				}
				viewed.Add(1)
			}
		})
	}

	f.redis.Kill()
	// Every product page still gets its answer: warm ones from memory,
	// the rest from the API; and once a node has an answer, it keeps it
	// in memory: a second round makes no call.
	round := func() {
		for i, c := range f.nodes {
			for _, d := range f.srv.Demo() {
				if _, err := statusByGTIN(c, ctx, d.GTIN); err != nil {
					t.Fatalf("node %d, %s with Redis dead: %v", i, d.GTIN, err)
				}
			}
		}
	}
	round()
	calls := f.upstream()
	round()
	if n := f.upstream(); n != calls {
		t.Errorf("with Redis dead, a second round of lookups made %d API calls; want 0", n-calls)
	}
	for i, c := range f.nodes {
		if st := c.Stats(); st.Errors != 0 {
			t.Errorf("node %d: %d failed lookups with Redis dead", i, st.Errors)
		}
	}

	// Redis comes back, empty: the next change still reaches every node.
	f.redis.Restart()
	in, err := f.srv.PublishInspection(warm, client.InspectionFail)
	if err != nil {
		t.Fatal(err)
	}
	took := f.await(t, warm, 60*time.Second, hasInspection(in.ID))
	close(stop)
	views.Wait()
	t.Logf("after a Redis restart, a change reached both web servers in %v; %d page views meanwhile, %d failed",
		took, viewed.Load(), failed.Load())
	if viewed.Load() == 0 {
		t.Error("no page view ran during the outage")
	}
}

// BenchmarkPropagation measures how long a change published by the
// regulator takes to reach the memory tier of every web server of a
// fleet of three: sandbox publish → change feed (long poll) → follower →
// Redis → pub/sub → each server checks its copy → the next lookup reads
// the new status from Redis. Each iteration publishes a failed inspection
// of one of 20 warm products and waits until all three servers show it;
// "revoke" revokes the commitment of one instead, which each server's next
// lookup asks the API about once. On one redis-server, and on a Redis
// Cluster of 3 masters and 3 replicas.
//
//	QCSDK_HEAVY=1 go test -run '^$' -bench BenchmarkPropagation -benchtime 200x ./cache/
func BenchmarkPropagation(b *testing.B) {
	b.Run("redis/inspection", func(b *testing.B) { propagation(b, startFleet(b, 3), false) })
	b.Run("redis/revoke", func(b *testing.B) { propagation(b, startFleet(b, 3), true) })
	cluster := func(b *testing.B) *fleet {
		cl := redistest.StartCluster(b, 3, 1)
		return startFleetOn(b, 3, func() redis.UniversalClient {
			return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ContextTimeoutEnabled: true,
				ClusterStateReloadInterval: time.Second})
		})
	}
	b.Run("cluster/inspection", func(b *testing.B) { propagation(b, cluster(b), false) })
	b.Run("cluster/revoke", func(b *testing.B) { propagation(b, cluster(b), true) })
}

func propagation(b *testing.B, f *fleet, revoke bool) {
	ctx := context.Background()
	var gtins []client.GTIN
	var cmts []string
	for e := 11; len(gtins) < 20; e++ {
		p, ok := f.srv.Product(e, 0)
		if !ok {
			b.Fatalf("the sandbox has no product of enterprise %d", e)
		}
		var st *client.ProductStatus
		for _, c := range f.nodes {
			var err error
			if st, err = statusByGTIN(c, ctx, p.GTIN); err != nil {
				b.Fatal(err)
			}
		}
		if st.Commitment == nil {
			continue
		}
		gtins = append(gtins, p.GTIN)
		cmts = append(cmts, st.Commitment.ID)
	}
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		k := i % len(gtins)
		g := gtins[k]
		start := time.Now()
		if revoke {
			// Revoke and reinstate in turn: each is a change to show.
			status := client.CommitmentRevoked
			if i/len(gtins)%2 == 1 {
				status = client.CommitmentActive
			}
			c, err := f.srv.SetCommitmentStatus(cmts[k], status, nil)
			if err != nil {
				b.Fatal(err)
			}
			f.await(b, g, 10*time.Second, func(st *client.ProductStatus) bool {
				return st.Commitment != nil && st.Commitment.Version >= c.Version
			})
		} else {
			in, err := f.srv.PublishInspection(g, client.InspectionFail)
			if err != nil {
				b.Fatal(err)
			}
			f.await(b, g, 10*time.Second, hasInspection(in.ID))
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}
