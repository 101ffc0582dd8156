package cache_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/redistest"
)

// newRedisClient is a go-redis client of srv, closed at cleanup, with
// context deadlines applied to socket I/O so that Timeout bounds each op.
func newRedisClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{
		Addr:                  srv.Addr(),
		ContextTimeoutEnabled: true,
		DialTimeout:           200 * time.Millisecond,
	})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// newRedisStore is a Redis store with a prefix of its own, closed at cleanup.
func newRedisStore(t *testing.T, rdb redis.UniversalClient, clk cache.Clock) *cache.Redis {
	t.Helper()
	r := cache.NewRedis(rdb, cache.RedisOptions{Prefix: "test:" + t.Name() + ":", Clock: clk})
	t.Cleanup(func() { r.Close() })
	return r
}

func entryAt(v int64, fetched time.Time) *cache.Entry {
	return &cache.Entry{
		Status:     &client.ProductStatus{Listed: true},
		Cursor:     fmt.Sprintf("v%d", v),
		Version:    v,
		ETag:       fmt.Sprintf(`"%d"`, v),
		Fetched:    fetched,
		FreshUntil: fetched.Add(time.Minute),
		Expires:    fetched.Add(time.Hour),
	}
}

func TestRedisRoundTrip(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clk := newFakeClock()
	r := newRedisStore(t, newRedisClient(t, srv), clk)
	ctx := context.Background()

	if e, err := r.Get(ctx, "k"); err != nil || e != nil {
		t.Fatalf("Get of an empty store = %v, %v", e, err)
	}
	want := entryAt(3, clk.Now())
	if held, err := r.Set(ctx, "k", want); err != nil || held != want {
		t.Fatalf("Set = %v, %v; want the entry given", held, err)
	}
	got, err := r.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Get after Set (-want +got):\n%s", d)
	}
	if err := r.Delete(ctx, "k", "absent"); err != nil {
		t.Fatal(err)
	}
	if e, err := r.Get(ctx, "k"); err != nil || e != nil {
		t.Fatalf("Get after Delete = %v, %v", e, err)
	}

	for _, k := range []string{"p1", "p2", "p1"} {
		if err := r.Index(ctx, "ent:1", k); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := r.Members(ctx, "ent:1")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ms)
	if d := cmp.Diff([]string{"p1", "p2"}, ms); d != "" {
		t.Fatalf("Members (-want +got):\n%s", d)
	}
	if ms, err := r.Members(ctx, "none"); err != nil || len(ms) != 0 {
		t.Fatalf("Members of an unknown set = %v, %v", ms, err)
	}
}

func TestRedisSetMonotonic(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clk := newFakeClock()
	r := newRedisStore(t, newRedisClient(t, srv), clk)
	ctx := context.Background()
	now := clk.Now()

	v2 := entryAt(2, now)
	if _, err := r.Set(ctx, "k", v2); err != nil {
		t.Fatal(err)
	}
	held, err := r.Set(ctx, "k", entryAt(1, now.Add(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(v2, held); d != "" {
		t.Fatalf("Set of an older version returned (-want +got):\n%s", d)
	}
	// Same version fetched earlier loses; fetched later wins.
	if held, _ := r.Set(ctx, "k", entryAt(2, now.Add(-time.Second))); held.Fetched.Equal(now.Add(-time.Second)) {
		t.Fatal("same version fetched earlier replaced the held entry")
	}
	later := entryAt(2, now.Add(time.Second))
	if held, _ := r.Set(ctx, "k", later); held != later {
		t.Fatalf("same version fetched later lost to %+v", held)
	}
	// A tombstone gives way to an answer fetched after it, whatever its version.
	tomb := &cache.Entry{Version: 9, Fetched: now.Add(2 * time.Second), Expires: now.Add(time.Hour)}
	if held, _ := r.Set(ctx, "k", tomb); held != tomb {
		t.Fatalf("tombstone of a higher version lost to %+v", held)
	}
	answer := entryAt(8, now.Add(3*time.Second))
	if held, _ := r.Set(ctx, "k", answer); held != answer {
		t.Fatalf("answer fetched after the tombstone lost to %+v", held)
	}

	// 20 writers race versions 1..20 of one key: 20 wins everywhere.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for v := int64(1); v <= 20; v++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held, err := r.Set(ctx, "race", entryAt(v, now))
			if err != nil {
				errs <- err
				return
			}
			if held.Version < v {
				errs <- fmt.Errorf("Set of version %d returned older version %d", v, held.Version)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := r.Get(ctx, "race")
	if err != nil || got == nil || got.Version != 20 {
		t.Fatalf("after the race Get = %+v, %v; want version 20", got, err)
	}
}

func TestRedisExpiry(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newRedisClient(t, srv)
	ctx := context.Background()

	// Real clock: Redis drops the key at Expires.
	real := cache.NewRedis(rdb, cache.RedisOptions{Prefix: "test:" + t.Name() + ":real:"})
	t.Cleanup(func() { real.Close() })
	e := entryAt(1, time.Now())
	e.Expires = time.Now().Add(time.Minute)
	if _, err := real.Set(ctx, "k", e); err != nil {
		t.Fatal(err)
	}
	ttl, err := rdb.PTTL(ctx, "test:"+t.Name()+":real:k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > time.Minute {
		t.Fatalf("PTTL = %v; want within (0, 1m]", ttl)
	}

	// Virtual clock: Get judges Expires by the store's clock.
	clk := newFakeClock()
	r := newRedisStore(t, rdb, clk)
	e = entryAt(1, clk.Now())
	e.Expires = clk.Now().Add(time.Minute)
	if _, err := r.Set(ctx, "k", e); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Get(ctx, "k"); got == nil {
		t.Fatal("entry missing before its expiry")
	}
	clk.Advance(2 * time.Minute)
	if got, err := r.Get(ctx, "k"); err != nil || got != nil {
		t.Fatalf("Get after expiry = %v, %v; want a miss", got, err)
	}
	// An expired held entry gives way to any new one, even an older version.
	old := entryAt(0, clk.Now())
	if held, err := r.Set(ctx, "k", old); err != nil || held != old {
		t.Fatalf("Set over an expired entry = %+v, %v", held, err)
	}
	// An entry already expired is not stored.
	gone := entryAt(5, clk.Now().Add(-2*time.Hour))
	if _, err := r.Set(ctx, "k", gone); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Get(ctx, "k"); got != nil {
		t.Fatalf("an expired entry was stored: %+v", got)
	}
}

func recv(t *testing.T, ch <-chan []string) []string {
	t.Helper()
	select {
	case keys := <-ch:
		return keys
	case <-time.After(10 * time.Second):
		t.Fatal("no announcement within 10s")
		return nil
	}
}

func TestRedisPublishSubscribe(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newRedisClient(t, srv)
	opts := cache.RedisOptions{Prefix: "test:" + t.Name() + ":"}
	a, b := cache.NewRedis(rdb, opts), cache.NewRedis(rdb, opts)
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	gotA, gotB := make(chan []string, 10), make(chan []string, 10)
	if err := a.Subscribe(ctx, func(k []string) { gotA <- k }); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, func(k []string) { gotB <- k }); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, "k1", "k2"); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"k1", "k2"}, recv(t, gotB)); d != "" {
		t.Fatalf("b got (-want +got):\n%s", d)
	}
	// Announcements on a channel arrive in order: if a received its own,
	// it would come before b's.
	if err := b.Publish(ctx, "k3"); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"k3"}, recv(t, gotA)); d != "" {
		t.Fatalf("a got (-want +got):\n%s", d)
	}
	select {
	case k := <-gotB:
		t.Fatalf("b received its own announcement %v", k)
	default:
	}
}

// Announcements made while the subscription is down are lost: once it is
// back, fn(nil) says that anything may have changed.
func TestRedisResubscribeSaysAnythingMayHaveChanged(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	opts := cache.RedisOptions{Prefix: "test:" + t.Name() + ":"}
	a := cache.NewRedis(newRedisClient(t, srv), opts)
	b := cache.NewRedis(newRedisClient(t, srv), opts)
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []string, 100)
	if err := a.Subscribe(ctx, func(k []string) { got <- k }); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	srv.Restart()
	if k := recv(t, got); k != nil {
		t.Fatalf("first call after a restart = %v; want nil (anything may have changed)", k)
	}
	if err := b.Publish(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"k"}, recv(t, got)); d != "" {
		t.Fatalf("after resubscribing (-want +got):\n%s", d)
	}
}

func TestRedisKilled(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := newRedisStore(t, newRedisClient(t, srv), nil)
	ctx := context.Background()
	if _, err := r.Set(ctx, "k", entryAt(1, time.Now())); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, err := r.Get(ctx, "k"); return err }},
		{"Set", func() error { _, err := r.Set(ctx, "k", entryAt(2, time.Now())); return err }},
		{"Members", func() error { _, err := r.Members(ctx, "s"); return err }},
		{"Publish", func() error { return r.Publish(ctx, "k") }},
	} {
		start := time.Now()
		err := op.do()
		took := time.Since(start)
		t.Logf("%s after Kill: %v in %v", op.name, err, took)
		if !errors.Is(err, cache.ErrStoreUnavailable) {
			t.Errorf("%s after Kill = %v; want ErrStoreUnavailable", op.name, err)
		}
		// Far below go-redis's own 3s read timeout: a refused connection
		// fails at once rather than waiting.
		if took > 2*time.Second {
			t.Errorf("%s after Kill took %v; want well under go-redis's 3s timeout", op.name, took)
		}
	}
}

func TestRedisErrorHidesPassword(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := newRedisClient(t, srv)
	if err := admin.ConfigSet(context.Background(), "requirepass", "the-right-one").Err(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: "s3cret-pw", ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	r := newRedisStore(t, rdb, nil)
	_, err := r.Get(context.Background(), "k")
	if !errors.Is(err, cache.ErrStoreUnavailable) {
		t.Fatalf("Get with a wrong password = %v; want ErrStoreUnavailable", err)
	}
	var se *cache.StoreError
	if !errors.As(err, &se) || se.Op != "get" || se.Key != "k" {
		t.Fatalf("error %v is not a StoreError of get k", err)
	}
	if msg := err.Error(); strings.Contains(msg, "s3cret-pw") {
		t.Fatalf("error message leaks the password: %s", msg)
	}
}

// A Redis that accepts connections and never answers costs each operation
// its Timeout, and a Tiered store in front of it stops asking after three.
func TestRedisSlow(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	clk := newFakeClock()
	r := cache.NewRedis(rdb, cache.RedisOptions{Prefix: "test:" + t.Name() + ":", Timeout: 50 * time.Millisecond, Clock: clk})
	t.Cleanup(func() { r.Close() })
	ctx := context.Background()

	start := time.Now()
	_, err = r.Get(ctx, "k")
	took := time.Since(start)
	t.Logf("Get of a silent Redis: %v in %v", err, took)
	if !errors.Is(err, cache.ErrStoreUnavailable) {
		t.Fatalf("Get = %v; want ErrStoreUnavailable", err)
	}
	// The bound is the store's 50ms Timeout, not go-redis's 3s.
	if took > 2*time.Second {
		t.Fatalf("Get took %v; want about the 50ms timeout", took)
	}

	mem := cache.NewMemory(cache.MemoryOptions{Clock: clk, JanitorInterval: -1})
	t.Cleanup(func() { mem.Close() })
	tiered, err := cache.NewTiered(mem, r, cache.TieredOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tiered.Close() })
	start = time.Now()
	for range 100 {
		if got, err := tiered.Get(ctx, "k"); got != nil || err != nil {
			t.Fatalf("Tiered.Get = %v, %v; want a miss", got, err)
		}
	}
	took = time.Since(start)
	st := tiered.Stats()
	t.Logf("100 Tiered Gets of a silent Redis took %v: %+v", took, st)
	if st.SharedErrors != 3 || !st.SharedDown || st.Misses != 100 {
		t.Fatalf("Stats = %+v; want 3 shared errors, down, 100 misses", st)
	}
}
