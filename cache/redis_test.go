package cache_test

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
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
func newRedisStore(t *testing.T, rdb redis.UniversalClient, clk *fakeClock) *redisstore.Store {
	t.Helper()
	r := must(redisstore.New(rdb, redisstore.WithPrefix("test:"+t.Name()+":"), redisstore.WithClock(clk.Now)))
	t.Cleanup(func() { r.Close() })
	return r
}

func entryAt(v int64, fetched time.Time) *cache.Entry {
	return &cache.Entry{
		Status:     &client.ProductStatus{Listed: true},
		Cursor:     fmt.Sprintf("v%d", v),
		AsOf:       v,
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

	// A maker's stamp turns its entries that predate it into tombstones;
	// a resynchronisation makes every entry stale.
	old := entryAt(3, clk.Now())
	old.Maker = "ent_1"
	other := entryAt(3, clk.Now())
	other.Maker = "ent_2"
	r.Set(ctx, "p1", old)
	r.Set(ctx, "p2", other)
	clk.Advance(time.Second)
	if err := r.Stamp(ctx, cache.Stamp{Maker: "ent_1", Seq: 4}); err != nil {
		t.Fatal(err)
	}
	if e, err := r.Get(ctx, "p1"); err != nil || e == nil || !e.Tombstone() || e.Version != 4 {
		t.Fatalf("an entry of the stamped maker = %+v, %v; want a tombstone of version 4", e, err)
	}
	if e, err := r.Get(ctx, "p2"); err != nil || e == nil || e.Tombstone() || !e.FreshUntil.After(clk.Now()) {
		t.Fatalf("another maker's entry = %+v, %v; want it untouched", e, err)
	}
	if err := r.Stamp(ctx, cache.Stamp{Seq: 4}); err != nil {
		t.Fatal(err)
	}
	if e, err := r.Get(ctx, "p2"); err != nil || e == nil || e.FreshUntil.After(clk.Now()) {
		t.Fatalf("after a resynchronisation: %+v, %v; want it stale", e, err)
	}
}

// keysTo sends the keys of each announcement to ch, and nil for a lost
// subscription; it drops stamps.
func keysTo(ch chan<- []string) func(cache.Announcement) {
	return func(a cache.Announcement) {
		switch {
		case a.Lost:
			ch <- nil
		case a.Stamp == nil:
			ch <- a.Keys
		}
	}
}

func recv(t *testing.T, ch <-chan []string) []string {
	t.Helper()
	select {
	case keys := <-ch:
		return keys
	case <-time.After(timescale.Scale(10 * time.Second)):
		t.Fatal("no announcement within 10s")
		return nil
	}
}

func TestRedisPublishSubscribe(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newRedisClient(t, srv)
	opts := redisstore.WithPrefix("test:" + t.Name() + ":")
	a, b := must(redisstore.New(rdb, opts)), must(redisstore.New(rdb, opts))
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	gotA, gotB := make(chan []string, 10), make(chan []string, 10)
	if err := a.Subscribe(ctx, keysTo(gotA)); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, keysTo(gotB)); err != nil {
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
// back, an announcement says that anything may have changed.
func TestRedisResubscribeSaysAnythingMayHaveChanged(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	opts := redisstore.WithPrefix("test:" + t.Name() + ":")
	a := must(redisstore.New(newRedisClient(t, srv), opts))
	b := must(redisstore.New(newRedisClient(t, srv), opts))
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []string, 100)
	if err := a.Subscribe(ctx, keysTo(got)); err != nil {
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
	// A page's operations are bounded by the store's timeout (100 ms), the
	// follower's by ten times that, at least a second (see redisstore.WithTimeout).
	for _, op := range []struct {
		name  string
		do    func() error
		bound time.Duration
	}{
		{"Get", func() error { _, err := r.Get(ctx, "k"); return err }, 100 * time.Millisecond},
		{"Set", func() error { _, err := r.Set(ctx, "k", entryAt(2, time.Now())); return err }, 100 * time.Millisecond},
		{"Stamp", func() error { return r.Stamp(ctx, cache.Stamp{Maker: "m", Seq: 1}) }, time.Second},
		{"Lease", func() error { _, err := r.Lease(ctx, 0, time.Second); return err }, time.Second},
		{"Publish", func() error { return r.Publish(ctx, "k") }, 100 * time.Millisecond},
	} {
		start := time.Now()
		err := op.do()
		took := time.Since(start)
		t.Logf("%s after Kill: %v in %v", op.name, err, took)
		if !errors.Is(err, redisstore.ErrStoreUnavailable) {
			t.Errorf("%s after Kill = %v; want ErrStoreUnavailable", op.name, err)
		}
		// Within its bound, with room for a loaded machine's scheduling:
		// not go-redis's own 3 s read timeout.
		if took > op.bound+time.Second {
			t.Errorf("%s after Kill took %v; want about %v at most", op.name, took, op.bound)
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
	if !errors.Is(err, redisstore.ErrStoreUnavailable) {
		t.Fatalf("Get with a wrong password = %v; want ErrStoreUnavailable", err)
	}
	var se *redisstore.StoreError
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
	r := must(redisstore.New(rdb, redisstore.WithPrefix("test:"+t.Name()+":"), redisstore.WithTimeout(50*time.Millisecond), redisstore.WithClock(clk.Now)))
	t.Cleanup(func() { r.Close() })
	ctx := context.Background()

	start := time.Now()
	_, err = r.Get(ctx, "k")
	took := time.Since(start)
	t.Logf("Get of a silent Redis: %v in %v", err, took)
	if !errors.Is(err, redisstore.ErrStoreUnavailable) {
		t.Fatalf("Get = %v; want ErrStoreUnavailable", err)
	}
	// The bound is the store's 50ms Timeout, not go-redis's 3s.
	if took > 2*time.Second {
		t.Fatalf("Get took %v; want about the 50ms timeout", took)
	}

	mem := must(cache.NewMemory(cache.WithMemoryClock(clk.Now), cache.WithSweepInterval(-1)))
	t.Cleanup(func() { mem.Close() })
	tiered, err := cache.NewTiered(mem, r)
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

// A value under the store's prefix that is not one of its entries —
// another type, truncated JSON, JSON of something else — is a miss,
// counted, never an error that would trip the breaker, and the next write
// replaces it.
func TestRedisValueNotOursIsACountedMiss(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newRedisClient(t, srv)
	clk := newFakeClock()
	r := newRedisStore(t, rdb, clk)
	ctx := context.Background()
	prefix := "test:" + t.Name() + ":"
	full := entryAt(1, clk.Now())
	if _, err := r.Set(ctx, "truncated", full); err != nil {
		t.Fatal(err)
	}
	val, _ := rdb.Get(ctx, prefix+"truncated").Result()
	rdb.Set(ctx, prefix+"truncated", val[:len(val)-10], 0)
	rdb.Set(ctx, prefix+"string", "not an entry", 0)
	// A header that claims the highest version and a far expiry, and then
	// something else.
	rdb.Set(ctx, prefix+"other", strings.Repeat("9", 20)+strings.Repeat("1", 20)+"0"+strings.Repeat("9", 20)+`{"hello":"world"}`, 0)
	rdb.RPush(ctx, prefix+"list", "x")
	rdb.HSet(ctx, prefix+"hash", "d", "x")
	// A compressed value that would inflate to 4 MiB, past the bound.
	var bomb bytes.Buffer
	zw, _ := flate.NewWriter(&bomb, flate.BestCompression)
	zw.Write(make([]byte, 4<<20))
	zw.Close()
	rdb.Set(ctx, prefix+"bomb", val[:61]+"z"+bomb.String(), 0)

	keys := []string{"truncated", "string", "other", "list", "hash", "bomb"}
	for _, k := range keys {
		if e, err := r.Get(ctx, k); e != nil || err != nil {
			t.Errorf("Get(%q) = %+v, %v; want a miss", k, e, err)
		}
	}
	if n := r.Stats().Corrupt; n != int64(len(keys)) {
		t.Errorf("Corrupt = %d; want %d", n, len(keys))
	}
	for _, k := range keys {
		e := entryAt(2, clk.Now())
		if held, err := r.Set(ctx, k, e); err != nil || held != e {
			t.Errorf("Set(%q) over a value not ours = %+v, %v; want it stored", k, held, err)
		}
		if got, err := r.Get(ctx, k); err != nil || got == nil || got.Version != 2 {
			t.Errorf("Get(%q) after Set = %+v, %v", k, got, err)
		}
	}
}

// BenchmarkRedisMemoryPerStatus fills a Redis store with n product
// statuses from the sandbox and reports what Redis holds per status: its
// used_memory growth divided by n (the dictionary's overhead included),
// and MEMORY USAGE of one entry's key. Run it with -benchtime 1x.
//
//	go test -run '^$' -bench BenchmarkRedisMemoryPerStatus -benchtime 1x ./cache/
func BenchmarkRedisMemoryPerStatus(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		srv := redistest.Start(b)
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
		store := must(redisstore.New(rdb, redisstore.WithPrefix("qcsdk:"), redisstore.WithTimeout(time.Second)))
		sb, err := sandbox.New(sandbox.WithSize(n/20, n), sandbox.WithRateLimit(0, 0))
		if err != nil {
			b.Fatal(err)
		}
		api, _ := client.New(client.WithBaseURL("http://sandbox.invalid"),
			client.WithHTTPClient(&http.Client{Transport: inProcess{sb}}))
		c, _ := cache.New(api, cache.WithStore(store), cache.WithTTL(time.Hour))
		ctx := context.Background()
		before := usedMemory(b, rdb)
		keys := make([]client.ProductKey, 0, 100)
		for i := range n {
			p, _ := sb.Product(i%(n/20), i/(n/20))
			keys = append(keys, client.ProductKey{GTIN: p.GTIN})
			if len(keys) == cap(keys) {
				for _, it := range c.Statuses(ctx, keys) {
					if it.Err != nil {
						b.Fatal(it.Err)
					}
				}
				keys = keys[:0]
			}
		}
		if got := rdb.DBSize(ctx).Val(); got < n {
			b.Fatalf("Redis holds %d keys; want %d", got, n)
		}
		after := usedMemory(b, rdb)
		p, _ := sb.Product(0, 0)
		one, err := rdb.MemoryUsage(ctx, "qcsdk:"+string(p.GTIN)).Result()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(after-before)/n, "B/status")
		b.ReportMetric(float64(one), "key-B")
		c.Close()
		store.Close()
		rdb.Close()
		sb.Close()
	}
}

func usedMemory(tb testing.TB, rdb *redis.Client) int64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	tb.Fatal("no used_memory in INFO memory")
	return 0
}
