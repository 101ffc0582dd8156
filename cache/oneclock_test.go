package cache_test

// Regression tests of the fleet's one clock: freshness judged by the
// registry's change sequence, never by two machines' clocks or by ties.
// Each failed before the cache ordered entries by position.

import (
	"context"
	"errors"
	"fmt"
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

// awaitUnconfirmed polls until t must check its memory copy of key with
// Redis (an announcement reached it). Polling is the observation: the
// announcement travels through Redis on a goroutine of the store's.
func awaitUnconfirmed(t *testing.T, s *cache.Tiered, key string) {
	t.Helper()
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if _, _, ok := cache.ReadLocal(s, key); !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no announcement of %q reached the server within 10s", key)
		}
		<-tick.C
	}
}

// awaitCount polls until count reaches want. Polling is the observation:
// the commands it counts go out on the store's own goroutines.
func awaitCount(t *testing.T, what string, count func() int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d within 10s; want %d", what, count(), want)
		}
		<-tick.C
	}
}

// Two servers holding one unchanged answer used to write it over each
// other through Redis for ever, each write announced, each announcement
// making the other read and write it back: 61 % of page views cost a
// Redis write. Equal is not newer: a tie writes nothing and announces
// nothing.
func TestATieWritesNothingAcrossTheFleet(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	clk := newFakeClock()
	prefix := "test:" + t.Name() + ":"
	rdbA, rdbB := newRedisClient(t, rs), newRedisClient(t, rs)
	pubsA, pubsB := redistest.Count(rdbA), redistest.Count(rdbB)
	pubs := func() int64 { return pubsA.Publishes() + pubsB.Publishes() }
	writes := func() int64 { return pubsA.Scripts() + pubsB.Scripts() }
	reset := func() { pubsA.Reset(); pubsB.Reset() }
	a := newNode(t, rdbA, prefix, clk, time.Second)
	b := newNode(t, rdbB, prefix, clk, time.Second)
	ctx := context.Background()

	e := entryAt(5, clk.Now())
	if _, err := a.t.Set(ctx, "k", e); err != nil {
		t.Fatal(err)
	}
	if got, err := b.t.Get(ctx, "k"); err != nil || got == nil || got.Version != 5 {
		t.Fatalf("B.Get = %+v, %v; want the answer A wrote", got, err)
	}
	// A's Set returns once Redis took the write, and announces it after:
	// wait for that announcement, so that it is not counted as B's.
	awaitCount(t, "A's announcement of its write", pubsA.Publishes, 1)
	reset()

	// B fetched the same answer itself: nothing to write.
	same := *e
	if held, err := b.t.Set(ctx, "k", &same); err != nil || held == &same {
		t.Errorf("B.Set of an equal answer = %p, %v; want the held one kept", held, err)
	}
	if n := pubs(); n != 0 {
		t.Errorf("an equal answer made %d announcements; want none", n)
	}

	// Something makes A check its copy against Redis (another server's
	// announcement); A finds its equal there, and writes nothing back.
	announcer := must(redisstore.New(newRedisClient(t, rs), redisstore.WithPrefix(prefix)))
	t.Cleanup(func() { announcer.Close() })
	if err := announcer.Publish(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	awaitUnconfirmed(t, a.t, "k")
	awaitUnconfirmed(t, b.t, "k")
	reset()
	for range 50 {
		for _, n := range []*node{a, b} {
			if got, err := n.t.Get(ctx, "k"); err != nil || got == nil || got.Version != 5 {
				t.Fatalf("Get = %+v, %v; want the answer", got, err)
			}
		}
	}
	if n, w := pubs(), writes(); n != 0 || w != 0 {
		t.Errorf("100 views of an unchanged answer tried %d writes through Redis and announced %d; want none", w, n)
	}
	// Checked once against Redis's equal copy, each server's copy is
	// confirmed: later views are memory hits, without a round trip.
	for i, n := range []*node{a, b} {
		if _, _, ok := cache.ReadLocal(n.t, "k"); !ok {
			t.Errorf("server %d: after its copy was checked against Redis's equal one, it is still to be checked", i)
		}
	}
}

// A cache on a clock that leads the follower's by two seconds used to
// keep its answer after a revocation: the stamp compared the follower's
// time with the server's, and the answer looked newer than the change.
// Stamps compare the registry's positions; clocks say nothing.
func TestALeadingClockDoesNotHideARevocation(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{2 * time.Second, -2 * time.Second} {
		srv, api := newSandbox(t)
		c, err := cache.New(api, cache.WithClock(func() time.Time { return time.Now().Add(skew) }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		f := startFollower(t, api, c.Store()) // on the real clock
		f.started(t)
		g := demoGTIN(t, srv, client.VerdictCommitted)
		ctx := context.Background()
		st, err := statusByGTIN(c, ctx, g)
		if err != nil || st.Commitment == nil {
			t.Fatalf("Status = %+v, %v", st, err)
		}
		if _, err := srv.Revoke(st.Commitment.ID); err != nil {
			t.Fatal(err)
		}
		f.next(t)
		st, err = statusByGTIN(c, ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		if v := client.Decide(st, time.Now(), client.DefaultLookback).Verdict; v != client.VerdictWithdrawn {
			t.Errorf("clock skewed by %v: after the revocation was applied the cache shows %s; want %s",
				skew, v, client.VerdictWithdrawn)
		}
	}
}

// A change the feed lost (the follower's cursor expired) used to stay
// hidden on a fleet: the resynchronisation made Redis's copy stale, but
// each server's memory copy won the tie with it, was served as fresh and
// written back as fresh, and no server asked the registry until the TTL
// ran out. A resynchronisation revalidates every answer from before it,
// on every server: each serves it stale at most while one refresh runs,
// then shows the registry's word.
func TestAResyncRevalidatesEveryServer(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	srv := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0), sandbox.WithFeedRetention(1))
	api, err := client.New(client.WithBaseURL(srv.URL), client.WithRetryPolicy(client.RetryPolicy{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	prefix := "test:" + t.Name() + ":"
	var nodes []*cache.Cache
	var tiers []*cache.Tiered
	for range 2 {
		c, tiered, _ := tieredServer(t, api, newRedisClient(t, rs), prefix, testStoreTimeout)
		nodes, tiers = append(nodes, c), append(tiers, tiered)
	}
	followerStore := must(redisstore.New(newRedisClient(t, rs), redisstore.WithPrefix(prefix), redisstore.WithTimeout(testStoreTimeout)))
	t.Cleanup(func() { followerStore.Close() })
	first := startFollower(t, api, followerStore)
	first.started(t)

	ctx := context.Background()
	var cmts []string
	var gtins []client.GTIN
	for _, d := range srv.Demo() {
		st, err := statusByGTIN(nodes[0], ctx, d.GTIN)
		if err == nil && st.Commitment != nil && st.Commitment.Status == client.CommitmentActive {
			cmts, gtins = append(cmts, st.Commitment.ID), append(gtins, d.GTIN)
		}
	}
	if len(cmts) < 2 {
		t.Fatalf("%d demo products with an active commitment; want 2", len(cmts))
	}
	g := gtins[0]
	for _, c := range nodes {
		if a, err := c.Status(ctx, client.ProductKey{GTIN: g}); err != nil || a.Stale || a.Status.Commitment.Status != client.CommitmentActive {
			t.Fatalf("before: %+v, %v; want a fresh committed answer", a, err)
		}
	}

	// The follower stops; two revocations, and the feed keeps only the
	// second: the first, of the product the servers show, is lost.
	first.stop()
	for _, id := range cmts[:2] {
		if _, err := srv.Revoke(id); err != nil {
			t.Fatal(err)
		}
	}
	second := startFollower(t, api, followerStore)
	second.started(t) // resynchronised: the cursor expired

	for i, c := range nodes {
		// From when the resynchronisation's announcement reaches the
		// server; until then it cannot know.
		awaitUnconfirmed(t, tiers[i], string(g))
		deadline := time.Now().Add(timescale.Scale(5 * time.Second))
		for views := 1; ; views++ {
			a, err := c.Status(ctx, client.ProductKey{GTIN: g})
			if err != nil {
				t.Fatalf("server %d: %v", i, err)
			}
			if a.Status.Commitment.Status == client.CommitmentRevoked {
				break
			}
			if !a.Stale {
				t.Fatalf("server %d, view %d after the resynchronisation: the answer from before it is served as fresh", i, views)
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %d still shows the lost change's old answer after %d views in 5s", i, views)
			}
		}
	}
}

// An entry in Redis at a version far beyond the registry's (another
// environment on the same prefix, a registry restored from a backup)
// used to pin a revoked product as committed for as long as the entry
// lived, 24 hours, on every server, with nothing counted or logged.
func TestAnEntryBeyondTheRegistryDoesNotPinABadge(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	srv, api := newSandbox(t)
	prefix := "test:" + t.Name() + ":"
	ctx := context.Background()
	g := demoGTIN(t, srv, client.VerdictCommitted)
	st, resp, err := api.Products.ByGTIN(ctx, g, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Another environment's writer puts its own answer under the key, at
	// a version this registry will not reach for a long time.
	forged := *st
	forged.Version += 100_000
	now := time.Now()
	other := must(redisstore.New(newRedisClient(t, rs), redisstore.WithPrefix(prefix)))
	t.Cleanup(func() { other.Close() })
	if _, err := other.Set(ctx, string(g), &cache.Entry{
		Status: &forged, Maker: st.Enterprise.ID, Version: forged.Version, ETag: resp.ETag,
		Fetched: now, FreshUntil: now.Add(24 * time.Hour), Expires: now.Add(24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}

	c, _, shared := tieredServer(t, api, newRedisClient(t, rs), prefix, testStoreTimeout)
	f := startFollower(t, api, shared)
	f.started(t)

	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	f.next(t)
	for range 3 {
		got, err := statusByGTIN(c, ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		if v := client.Decide(got, time.Now(), client.DefaultLookback).Verdict; v != client.VerdictWithdrawn {
			t.Fatalf("after the revocation the cache shows %s (version %d); want %s", v, got.Version, client.VerdictWithdrawn)
		}
	}
}

// Redis errors of a tiered store are the cache's store errors: an
// operator reading cache.Stats during an outage sees them.
func TestStoreErrorsOfEveryTierAreCounted(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	srv, api := newSandbox(t)
	c, tiered, _ := tieredServer(t, api, newRedisClient(t, rs), "test:"+t.Name()+":", 100*time.Millisecond)
	rs.Kill()
	ctx := context.Background()
	for _, d := range srv.Demo()[:3] {
		if _, err := statusByGTIN(c, ctx, d.GTIN); err != nil && !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("with Redis dead: %v; want the registry's answer", err)
		}
	}
	ts, cs := tiered.Stats(), c.Stats()
	if ts.SharedErrors == 0 {
		t.Fatal("the tiered store counted no Redis error with Redis dead")
	}
	if cs.StoreErrors < ts.SharedErrors {
		t.Errorf("cache.Stats().StoreErrors = %d, the tiered store counted %d Redis errors; want them counted", cs.StoreErrors, ts.SharedErrors)
	}
}

// tieredServer is one web server of a fleet: a cache on its memory tier in
// front of Redis under prefix, each operation bounded by timeout; all
// closed at cleanup.
func tieredServer(t *testing.T, api *client.Client, rdb redis.UniversalClient, prefix string, timeout time.Duration) (*cache.Cache, *cache.Tiered, *redisstore.Store) {
	t.Helper()
	shared := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(timeout)))
	mem := must(cache.NewMemory())
	tiered, err := cache.NewTiered(mem, shared)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(api, cache.WithStore(tiered))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); tiered.Close(); shared.Close(); mem.Close() })
	return c, tiered, shared
}

// BenchmarkSteadyStateRedisWrites views 60 unchanged products on two
// servers of a fleet, alternately, while another server's announcements
// of those keys keep arriving (one every 20 views), and reports the
// writes through Redis per page view. The goal is none: servers that hold
// one answer never write it over each other.
//
//	go test -run '^$' -bench BenchmarkSteadyStateRedisWrites -benchtime 20000x ./cache/
func BenchmarkSteadyStateRedisWrites(b *testing.B) {
	rs := redistest.Start(b)
	prefix := "bench:steady:"
	var counters []*redistest.Counter
	dial := func() *redis.Client {
		rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
		b.Cleanup(func() { rdb.Close() })
		return rdb
	}
	var tiers []*cache.Tiered
	for range 2 {
		rdb := dial()
		counters = append(counters, redistest.Count(rdb))
		mem := must(cache.NewMemory())
		shared := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(testStoreTimeout)))
		tiered, err := cache.NewTiered(mem, shared)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { tiered.Close(); shared.Close(); mem.Close() })
		tiers = append(tiers, tiered)
	}
	announcer := must(redisstore.New(dial(), redisstore.WithPrefix(prefix)))
	b.Cleanup(func() { announcer.Close() })
	ctx := context.Background()
	now := time.Now()
	keys := make([]string, 60)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
		e := entryAt(int64(i+1), now)
		e.FreshUntil, e.Expires = now.Add(time.Hour), now.Add(2*time.Hour)
		if _, err := tiers[0].Set(ctx, keys[i], e); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range counters {
		c.Reset()
	}
	b.ResetTimer()
	views := 0
	for i := range b.N {
		if i%20 == 0 {
			_ = announcer.Publish(ctx, keys[(i/20)%len(keys)])
		}
		if e, err := tiers[i%2].Get(ctx, keys[i%len(keys)]); err != nil || e == nil {
			b.Fatalf("Get = %+v, %v", e, err)
		}
		views++
	}
	b.StopTimer()
	var writes int64
	for _, c := range counters {
		writes += c.Publishes()
	}
	b.ReportMetric(float64(writes)/float64(views), "writes/view")
}

// BenchmarkRevocationThroughFailover kills a Redis Cluster master (3
// masters, a replica each, cluster-node-timeout 1 s) that holds one
// maker's stamp, revokes a product of that maker and one of another at
// once, and reports when every server of the fleet showed each.
//
//	QCSDK_HEAVY=1 go test -run '^$' -bench BenchmarkRevocationThroughFailover -benchtime 1x -count 5 ./cache/
func BenchmarkRevocationThroughFailover(b *testing.B) {
	var failed, other time.Duration
	n := 0
	for b.Loop() {
		d := revokeThroughFailover(b)
		failed, other, n = failed+d.failed, other+d.other, n+1
	}
	b.ReportMetric(float64(failed.Milliseconds())/float64(n), "failed-shard-ms")
	b.ReportMetric(float64(other.Milliseconds())/float64(n), "other-shard-ms")
}
