package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// node is one web server of a fleet: its memory tier in front of a Redis
// store of its own over the shared client.
type node struct {
	mem    *cache.Memory
	shared *redisstore.Store
	t      *cache.Tiered
}

// testStoreTimeout bounds a Redis operation in the tests of what the tiers
// and the fleet read and write: they are not about speed, and under -race on a loaded
// machine a page's pipeline can take longer than the 100 ms default, which
// would turn into a store error and a missing entry. The tests of a slow
// or dead Redis set their own.
var testStoreTimeout = timescale.Scale(5 * time.Second)

func newNode(t *testing.T, rdb redis.UniversalClient, prefix string, clk *fakeClock, cooldown time.Duration) *node {
	t.Helper()
	mem := must(cache.NewMemory(cache.WithMemoryClock(clk.Now), cache.WithSweepInterval(-1)))
	shared := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithClock(clk.Now), redisstore.WithTimeout(testStoreTimeout)))
	tiered, err := cache.NewTiered(mem, shared, cache.WithCooldown(cooldown))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tiered.Close()
		shared.Close()
		mem.Close()
	})
	return &node{mem: mem, shared: shared, t: tiered}
}

func TestTieredReadThrough(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newRedisClient(t, srv)
	clk := newFakeClock()
	n := newNode(t, rdb, "test:"+t.Name()+":", clk, time.Second)
	ctx := context.Background()

	// An entry only in Redis is read through and kept in memory.
	e := entryAt(4, clk.Now())
	if _, err := n.shared.Set(ctx, "k", e); err != nil {
		t.Fatal(err)
	}
	got, err := n.t.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(e, got); d != "" {
		t.Fatalf("Get (-want +got):\n%s", d)
	}
	if _, err := n.t.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got, _ := n.t.Get(ctx, "absent"); got != nil {
		t.Fatalf("Get of an absent key = %+v", got)
	}
	want := cache.TieredStats{SharedHits: 1, Misses: 1}
	if d := cmp.Diff(want, n.t.Stats()); d != "" {
		t.Fatalf("Stats (-want +got):\n%s", d)
	}
	if err := n.t.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got, _ := n.t.Get(ctx, "k"); got != nil {
		t.Fatalf("Get after Delete = %+v", got)
	}
}

func TestTieredRedisKilled(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newRedisClient(t, srv)
	clk := newFakeClock()
	n := newNode(t, rdb, "test:"+t.Name()+":", clk, time.Second)
	ctx := context.Background()

	kept := entryAt(1, clk.Now())
	if _, err := n.t.Set(ctx, "kept", kept); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	start := time.Now()

	// Memory entries are still served, without touching Redis.
	if got, err := n.t.Get(ctx, "kept"); err != nil || got != kept {
		t.Fatalf("Get of a memory entry with Redis dead = %+v, %v", got, err)
	}
	// Writes are accepted locally.
	local := entryAt(2, clk.Now())
	if held, err := n.t.Set(ctx, "local", local); err != nil || held != local {
		t.Fatalf("Set with Redis dead = %+v, %v", held, err)
	}
	if got, _ := n.mem.Get(ctx, "local"); got != local {
		t.Fatalf("the local write is not in memory: %+v", got)
	}
	// Misses open the breaker.
	for i := 0; !n.t.Stats().SharedDown; i++ {
		if i == 10 {
			t.Fatalf("Redis not considered down after 10 failures: %+v", n.t.Stats())
		}
		if got, err := n.t.Get(ctx, "missing"); err != nil || got != nil {
			t.Fatalf("Get with Redis dead = %+v, %v; want a miss", got, err)
		}
	}
	tripped := time.Since(start)
	errs := n.t.Stats().SharedErrors
	if errs != 3 {
		t.Fatalf("SharedErrors when down = %d; want 3", errs)
	}
	// During the cooldown Redis is not tried at all.
	coolStart := time.Now()
	for range 1000 {
		if got, err := n.t.Get(ctx, "missing"); err != nil || got != nil {
			t.Fatalf("Get during the cooldown = %+v, %v; want a miss", got, err)
		}
	}
	cool := time.Since(coolStart)
	if st := n.t.Stats(); st.SharedErrors != errs || !st.SharedDown {
		t.Fatalf("during the cooldown: %+v; want no more shared attempts", st)
	}
	t.Logf("Redis killed: breaker open after %v (3 failures); 1000 Gets during cooldown took %v", tripped, cool)

	// Back up: after the cooldown an operation starts a probe, in the
	// background (no operation waits for it), and once it succeeds Tiered
	// reads and writes Redis again. Polling is the observation here.
	srv.Restart()
	back := entryAt(3, clk.Now())
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for n.t.Stats().SharedDown {
		if time.Now().After(deadline) {
			t.Fatalf("Tiered did not go back to Redis within 10s: %+v", n.t.Stats())
		}
		clk.Advance(1100 * time.Millisecond)
		if _, err := n.t.Set(ctx, "back", back); err != nil {
			t.Fatal(err)
		}
		<-tick.C
	}
	if _, err := n.t.Set(ctx, "back", back); err != nil {
		t.Fatal(err)
	}
	got, err := n.shared.Get(ctx, "back")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(back, got); d != "" {
		t.Fatalf("Redis after recovery (-want +got):\n%s", d)
	}
	other := entryAt(5, clk.Now())
	if _, err := n.shared.Set(ctx, "other", other); err != nil {
		t.Fatal(err)
	}
	if got, err := n.t.Get(ctx, "other"); err != nil || !cmp.Equal(other, got) {
		t.Fatalf("Get read through after recovery = %+v, %v", got, err)
	}
}

func TestTieredStartsWithRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newRedisClient(t, srv)
	srv.Kill()
	clk := newFakeClock()
	n := newNode(t, rdb, "test:"+t.Name()+":", clk, 50*time.Millisecond)
	ctx := context.Background()
	e := entryAt(1, clk.Now())
	if held, err := n.t.Set(ctx, "k", e); err != nil || held != e {
		t.Fatalf("Set with Redis down = %+v, %v", held, err)
	}
	if got, err := n.t.Get(ctx, "k"); err != nil || got != e {
		t.Fatalf("Get with Redis down = %+v, %v", got, err)
	}
	if _, err := n.shared.Get(ctx, "k"); !errors.Is(err, redisstore.ErrStoreUnavailable) {
		t.Fatalf("Redis Get = %v; want ErrStoreUnavailable", err)
	}
}

// After Redis comes back, a server cannot know what it missed: it checks
// every memory copy against Redis again — keeping it, so that a version it
// served is never replaced by an older one, but serving it stale, so that
// the cache revalidates it, while Redis has nothing newer.
func TestTieredChecksItsCopiesWhenItMayHaveMissedAnnouncements(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clk := newFakeClock()
	n := newNode(t, newRedisClient(t, srv), "test:"+t.Name()+":", clk, time.Second)
	ctx := context.Background()
	if _, err := n.t.Set(ctx, "k", entryAt(1, clk.Now())); err != nil {
		t.Fatal(err)
	}
	if got, _ := n.mem.Get(ctx, "k"); got == nil || !got.FreshUntil.After(clk.Now()) {
		t.Fatalf("the write is kept in memory as %+v; want it fresh", got)
	}
	srv.Kill()
	srv.Restart()
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for n.t.Stats().Lost == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the subscription did not come back within 10s of Redis")
		}
		<-tick.C
	}
	// Redis restarted empty: the copy is served stale, to be revalidated.
	got, err := n.t.Get(ctx, "k")
	if err != nil || got == nil || got.Version != 1 || got.FreshUntil.After(clk.Now()) {
		t.Fatalf("Get = %+v, %v; want version 1, stale", got, err)
	}
}

func TestTieredFleet(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newRedisClient(t, srv)
	clk := newFakeClock()
	prefix := "test:" + t.Name() + ":"
	a := newNode(t, rdb, prefix, clk, time.Second)
	b := newNode(t, rdb, prefix, clk, time.Second)
	ctx := context.Background()
	now := clk.Now()

	// Version 1 is put in Redis without an announcement, so that no
	// announcement in flight makes B drop its read.
	v1 := entryAt(1, now)
	if _, err := a.shared.Set(ctx, "k", v1); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.t.Get(ctx, "k"); got == nil || got.Version != 1 {
		t.Fatalf("B.Get = %+v; want version 1 from Redis", got)
	}
	if got, _ := b.mem.Get(ctx, "k"); got == nil {
		t.Fatal("B did not keep its read in memory")
	}

	// A writes version 2: B's announcement handler marks its memory copy
	// to be checked against Redis.
	v2 := entryAt(2, now.Add(time.Second))
	if _, err := a.t.Set(ctx, "k", v2); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if got, _ := b.mem.Get(ctx, "k"); got == nil || !got.FreshUntil.After(clk.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B's memory copy of version 1 was not marked within 10s")
		}
		<-tick.C
	}
	if got, _ := b.t.Get(ctx, "k"); got == nil || got.Version != 2 {
		t.Fatalf("B.Get after A's write = %+v; want version 2", got)
	}

	// An older version written through B never replaces A's, anywhere.
	old := entryAt(1, now.Add(2*time.Second))
	held, err := b.t.Set(ctx, "k", old)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(v2, held); d != "" {
		t.Fatalf("B.Set of an older version returned (-want +got):\n%s", d)
	}
	for name, n := range map[string]*node{"A": a, "B": b} {
		if got, _ := n.t.Get(ctx, "k"); !cmp.Equal(v2, got) {
			t.Errorf("%s.Get = %+v; want version 2", name, got)
		}
		if got, _ := n.mem.Get(ctx, "k"); got != nil && got.Version != 2 {
			t.Errorf("%s memory holds version %d", name, got.Version)
		}
	}
	if got, _ := a.shared.Get(ctx, "k"); !cmp.Equal(v2, got) {
		t.Errorf("Redis holds %+v; want version 2", got)
	}
}
