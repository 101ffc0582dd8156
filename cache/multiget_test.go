package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// pageSize is the products of one listing page.
const pageSize = 60

// counted counts rdb's round trips (redistest.Counter), and warms rdb's
// connections first, so that the reads counted find them open.
func counted(tb testing.TB, rdb redis.UniversalClient) *redistest.Counter {
	tb.Helper()
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Fatal(err)
	}
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Ping(ctx); return nil }); err != nil {
		tb.Fatal(err)
	}
	return redistest.Count(rdb)
}

// pageEntry is the i-th product of a page: one of six makers, each with
// its enterprise and commitment records, which Redis keeps apart from the
// entry and a cold reader fetches.
func pageEntry(i int, now time.Time) *cache.Entry {
	maker := fmt.Sprintf("ent_%07d", i%6)
	ent := &client.Enterprise{
		ID: maker, Name: client.Text{ZH: "有限公司", EN: maker + " Co., Ltd."}, Version: 3,
		VerifyURL: "https://verify.qualitycommit.example/enterprises/" + maker,
	}
	cmt := &client.Commitment{
		ID: "cmt_" + maker, EnterpriseID: maker, Status: client.CommitmentActive, Version: 2,
		VerifyURL: "https://verify.qualitycommit.example/commitments/cmt_" + maker,
	}
	gtin, err := client.CompleteGTIN(fmt.Sprintf("069%010d", i))
	if err != nil {
		panic(err)
	}
	return &cache.Entry{
		Status: &client.ProductStatus{
			Key: client.ProductKey{GTIN: gtin}, Listed: true, Enterprise: ent, Commitment: cmt,
			Version: int64(1 + i%3), VerifyURL: cmt.VerifyURL,
		},
		Maker:      maker,
		AsOf:       5,
		Version:    int64(1 + i%3),
		ETag:       fmt.Sprintf(`"%d"`, i),
		Fetched:    now,
		FreshUntil: now.Add(time.Minute),
		Expires:    now.Add(time.Hour),
	}
}

// fillPage writes a page of entries through store and returns the page's
// keys, with absent keys among them, and the entries, nil for the absent.
func fillPage(tb testing.TB, store cache.Store, now time.Time) ([]string, []*cache.Entry) {
	tb.Helper()
	ctx := context.Background()
	var keys []string
	var want []*cache.Entry
	for i := range pageSize {
		e := pageEntry(i, now)
		k := string(e.Status.Key.GTIN)
		if _, err := store.Set(ctx, k, e); err != nil {
			tb.Fatal(err)
		}
		keys, want = append(keys, k), append(want, e)
		if i%12 == 5 {
			keys, want = append(keys, fmt.Sprintf("absent-%d", i)), append(want, nil)
		}
	}
	return keys, want
}

// getEach is what GetMany must equal: Get of each key, one by one.
func getEach(t *testing.T, s cache.Store, keys []string) []*cache.Entry {
	t.Helper()
	out := make([]*cache.Entry, len(keys))
	for i, k := range keys {
		e, err := s.Get(context.Background(), k)
		if err != nil {
			t.Fatalf("Get(%q): %v", k, err)
		}
		out[i] = e
	}
	return out
}

// A server whose memory tier is cold reads a listing page from Redis in
// two round trips — the entries, then their records and stamps — however
// many products the page shows. Read key by key, the same page costs two
// round trips per product, one after another.
func TestMultiGetColdTierReadsAPageInTwoRoundTrips(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clk := newFakeClock()
	prefix := "test:" + t.Name() + ":"
	writer := newNode(t, newRedisClient(t, srv), prefix, clk, time.Second)
	keys, written := fillPage(t, writer.t, clk.Now())
	if len(keys) != pageSize+5 {
		t.Fatalf("%d keys; want %d", len(keys), pageSize+5)
	}
	ctx := context.Background()

	eachRdb := newRedisClient(t, srv)
	eachTrips := counted(t, eachRdb)
	each := newNode(t, eachRdb, prefix, clk, time.Second)
	eachTrips.Reset()
	want := getEach(t, each.t, keys)
	perKey := eachTrips.Trips()

	manyRdb := newRedisClient(t, srv)
	manyTrips := counted(t, manyRdb)
	many := newNode(t, manyRdb, prefix, clk, time.Second)
	manyTrips.Reset()
	got, err := many.t.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	trips := manyTrips.Trips()
	t.Logf("a cold page of %d keys (%d present): Get key by key %d round trips, GetMany %d", len(keys), pageSize, perKey, trips)

	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("GetMany differs from Get key by key (-Get +GetMany):\n%s", d)
	}
	if d := cmp.Diff(written, got); d != "" {
		t.Fatalf("GetMany differs from what was written (-written +GetMany):\n%s", d)
	}
	if trips > 2 {
		t.Errorf("GetMany of a cold page took %d round trips; want 2 at most", trips)
	}
	if perKey < pageSize {
		t.Errorf("Get key by key took %d round trips; the comparison assumes one at least per key", perKey)
	}
	if d := cmp.Diff(each.t.Stats(), many.t.Stats()); d != "" {
		t.Errorf("Stats after GetMany differ from Get key by key's (-Get +GetMany):\n%s", d)
	}

	// What Redis answered is now in memory, confirmed: a page of it
	// costs no round trip at all.
	present := make([]string, 0, pageSize)
	for i, k := range keys {
		if written[i] != nil {
			present = append(present, k)
		}
	}
	manyTrips.Reset()
	warm, err := many.t.GetMany(ctx, present)
	if err != nil {
		t.Fatal(err)
	}
	if n := manyTrips.Trips(); n != 0 {
		t.Errorf("GetMany of a warm page took %d round trips; want none", n)
	}
	for i, e := range warm {
		if e != got[indexOf(keys, present[i])] {
			t.Fatalf("warm GetMany(%q) = %+v; want the entry read before, from memory", present[i], e)
		}
	}
}

func indexOf(keys []string, k string) int {
	for i, x := range keys {
		if x == k {
			return i
		}
	}
	return -1
}

// GetMany reads stamps as Get does: an entry of a maker stamped since
// comes back a tombstone, and after a resynchronisation every other entry
// comes back stale — from Redis, and through a cold Tiered store.
func TestMultiGetStamps(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newRedisClient(t, srv)
	clk := newFakeClock()
	prefix := "test:" + t.Name() + ":"
	r := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithClock(clk.Now), redisstore.WithTimeout(testStoreTimeout)))
	t.Cleanup(func() { r.Close() })
	keys, written := fillPage(t, r, clk.Now())
	ctx := context.Background()
	clk.Advance(time.Second)

	stamped := "ent_0000001"
	if err := r.Stamp(ctx, cache.Stamp{Maker: stamped, Seq: 10}); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, resynced bool) {
		t.Helper()
		want := getEach(t, r, keys)
		// Each read from its own cold store, so that no memory tier or
		// record of a previous read answers instead of Redis.
		cold := newNode(t, newRedisClient(t, srv), prefix, clk, time.Second)
		coldRedis := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithClock(clk.Now), redisstore.WithTimeout(testStoreTimeout)))
		t.Cleanup(func() { coldRedis.Close() })
		for name, s := range map[string]cache.MultiGetter{"Redis": coldRedis, "Tiered": cold.t} {
			got, err := s.GetMany(ctx, keys)
			if err != nil {
				t.Fatalf("%s.GetMany: %v", name, err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("%s.GetMany differs from Get key by key (-Get +GetMany):\n%s", name, d)
			}
			for i, e := range got {
				w := written[i]
				switch {
				case w == nil:
					if e != nil {
						t.Errorf("%s.GetMany(%q) = %+v; want nil", name, keys[i], e)
					}
				case w.Maker == stamped:
					if e == nil || !e.Tombstone() || e.Version != 10 {
						t.Errorf("%s.GetMany(%q) of the stamped maker = %+v; want a tombstone of version 10", name, keys[i], e)
					}
				case resynced:
					if e == nil || e.Tombstone() || e.FreshUntil.After(clk.Now()) {
						t.Errorf("%s.GetMany(%q) after a resynchronisation = %+v; want it stale", name, keys[i], e)
					}
				default:
					if !cmp.Equal(w, e) {
						t.Errorf("%s.GetMany(%q) of another maker = %+v; want it as written", name, keys[i], e)
					}
				}
			}
		}
	}
	t.Run("maker", func(t *testing.T) { check(t, false) })
	if err := r.Stamp(ctx, cache.Stamp{Seq: 6}); err != nil {
		t.Fatal(err)
	}
	t.Run("resync", func(t *testing.T) { check(t, true) })
}

// A value under the store's prefix that is not one of its entries, or an
// entry whose record is gone, is a counted miss for its key alone: the
// page's other keys are answered, and no error trips a breaker.
func TestMultiGetValueNotOursIsACountedMiss(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newRedisClient(t, srv)
	clk := newFakeClock()
	prefix := "test:" + t.Name() + ":"
	w := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithClock(clk.Now), redisstore.WithTimeout(testStoreTimeout)))
	t.Cleanup(func() { w.Close() })
	ctx := context.Background()
	a, b, lost := pageEntry(1, clk.Now()), pageEntry(2, clk.Now()), pageEntry(3, clk.Now())
	for k, e := range map[string]*cache.Entry{"a": a, "b": b, "lost": lost} {
		if _, err := w.Set(ctx, k, e); err != nil {
			t.Fatal(err)
		}
	}
	rdb.RPush(ctx, prefix+"list", "x")
	rdb.Set(ctx, prefix+"string", "not an entry", 0)
	rdb.Del(ctx, prefix+"rec:e:"+lost.Maker+":3")

	r := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithClock(clk.Now), redisstore.WithTimeout(testStoreTimeout))) // holds no record yet
	t.Cleanup(func() { r.Close() })
	got, err := r.GetMany(ctx, []string{"a", "list", "string", "lost", "b", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]*cache.Entry{a, nil, nil, nil, b, nil}, got); d != "" {
		t.Fatalf("GetMany (-want +got):\n%s", d)
	}
	if n := r.Stats().Corrupt; n != 3 {
		t.Errorf("Corrupt = %d; want 3 (a list, a string, an entry without its record)", n)
	}
}

// With Redis dead, a Tiered store answers a page from memory as Get
// would — a confirmed copy as it is, one to be checked stale — with no
// error, and counts one failure for the page, not one per key. The Redis
// store itself fails with a StoreError that does not show the password.
func TestMultiGetRedisDead(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newRedisClient(t, srv)
	clk := newFakeClock()
	prefix := "test:" + t.Name() + ":"
	a := newNode(t, rdb, prefix, clk, time.Second)
	b := newNode(t, rdb, prefix, clk, time.Second)
	ctx := context.Background()

	kept, v1 := entryAt(1, clk.Now()), entryAt(1, clk.Now())
	for k, e := range map[string]*cache.Entry{"kept": kept, "announced": v1} {
		if _, err := a.t.Set(ctx, k, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.t.Set(ctx, "announced", entryAt(2, clk.Now())); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if got, _ := a.mem.Get(ctx, "announced"); got != nil && !got.FreshUntil.After(clk.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("A's copy was not marked to be checked within 10s of B's write")
		}
		<-tick.C
	}
	srv.Kill()

	keys := []string{"kept", "announced", "absent"}
	before := a.t.Stats()
	got, err := a.t.GetMany(ctx, keys)
	if err != nil {
		t.Fatalf("Tiered.GetMany with Redis dead: %v; want no error", err)
	}
	after := a.t.Stats()
	if got[0] != kept {
		t.Errorf("the confirmed copy = %+v; want it as it is", got[0])
	}
	if e := got[1]; e == nil || e.Version != 1 || e.FreshUntil.After(clk.Now()) {
		t.Errorf("the copy to be checked = %+v; want version 1, stale", e)
	}
	if got[2] != nil {
		t.Errorf("an absent key = %+v; want nil", got[2])
	}
	if n := after.SharedErrors - before.SharedErrors; n != 1 {
		t.Errorf("GetMany counted %d Redis failures; want 1 for the page", n)
	}
	if n := after.Misses - before.Misses; n != 2 {
		t.Errorf("GetMany counted %d misses; want 2", n)
	}
	if d := cmp.Diff(getEach(t, a.t, keys), got); d != "" {
		t.Errorf("GetMany differs from Get key by key (-Get +GetMany):\n%s", d)
	}

	withPassword := redis.NewClient(&redis.Options{
		Addr: srv.Addr(), Password: "s3cret-pw", ContextTimeoutEnabled: true, DialTimeout: 200 * time.Millisecond,
	})
	t.Cleanup(func() { withPassword.Close() })
	for name, r := range map[string]*redisstore.Store{
		"shared":        a.shared,
		"with password": must(redisstore.New(withPassword, redisstore.WithPrefix(prefix))),
	} {
		es, err := r.GetMany(ctx, keys)
		var se *redisstore.StoreError
		if !errors.Is(err, redisstore.ErrStoreUnavailable) || !errors.As(err, &se) || se.Op != "get" || es != nil {
			t.Fatalf("%s: Redis.GetMany with Redis dead = %v, %v; want no entries and a StoreError of get", name, es, err)
		}
		if se.Key != strings.Join(keys, ",") {
			t.Errorf("%s: the error names %q; want the keys that failed", name, se.Key)
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("%s: the error shows the password: %s", name, err)
		}
	}
}

// On a Redis Cluster the page's keys live on every master: GetMany's
// pipelines are split by node and still answer each key.
func TestMultiGetOnACluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3, 0)
	clk := newFakeClock()
	prefix := "test:" + t.Name() + ":"
	w := must(redisstore.New(newClusterClient(t, cl), redisstore.WithPrefix(prefix), redisstore.WithClock(clk.Now), redisstore.WithTimeout(testStoreTimeout)))
	t.Cleanup(func() { w.Close() })
	keys, written := fillPage(t, w, clk.Now())
	masters := make(map[string]bool)
	for _, k := range keys {
		masters[cl.MasterOf(prefix+k)] = true
	}
	if len(masters) < 2 {
		t.Fatalf("the page's keys live on %d master; want them spread", len(masters))
	}

	each := newNode(t, newClusterClient(t, cl), prefix, clk, time.Second)
	want := getEach(t, each.t, keys)
	rdb := newClusterClient(t, cl)
	trips := counted(t, rdb)
	many := newNode(t, rdb, prefix, clk, time.Second)
	trips.Reset()
	got, err := many.t.GetMany(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a cold page over %d masters: %d pipelines", len(masters), trips.Trips())
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("GetMany differs from Get key by key (-Get +GetMany):\n%s", d)
	}
	if d := cmp.Diff(written, got); d != "" {
		t.Fatalf("GetMany differs from what was written (-written +GetMany):\n%s", d)
	}
	if n := trips.Trips(); n > 2 {
		t.Errorf("GetMany on a cluster sent %d pipelines; want 2 at most", n)
	}
}

// BenchmarkColdTierPage reads a listing page of 60 products through a
// Tiered store whose memory tier is cold (emptied before each read, off
// the clock), from a real Redis on loopback: key by key with Get, as a
// Store without MultiGetter is read, and with GetMany.
//
//	go test -run '^$' -bench BenchmarkColdTierPage ./cache/
func BenchmarkColdTierPage(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	b.Cleanup(func() { rdb.Close() })
	trips := counted(b, rdb)
	opts := []redisstore.Option{redisstore.WithPrefix("bench:"), redisstore.WithTimeout(time.Second)}
	w := must(redisstore.New(rdb, opts...))
	b.Cleanup(func() { w.Close() })
	var keys []string
	now := time.Now()
	for i := range pageSize {
		e := pageEntry(i, now)
		k := string(e.Status.Key.GTIN)
		if _, err := w.Set(context.Background(), k, e); err != nil {
			b.Fatal(err)
		}
		keys = append(keys, k)
	}
	mem := must(cache.NewMemory(cache.WithSweepInterval(-1)))
	shared := must(redisstore.New(rdb, opts...))
	tiered, err := cache.NewTiered(mem, shared)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tiered.Close(); shared.Close(); mem.Close() })
	ctx := context.Background()

	for _, im := range []struct {
		name string
		read func() []*cache.Entry
	}{
		{"getEach", func() []*cache.Entry {
			out := make([]*cache.Entry, len(keys))
			for i, k := range keys {
				out[i], _ = tiered.Get(ctx, k)
			}
			return out
		}},
		{"getMany", func() []*cache.Entry { out, _ := tiered.GetMany(ctx, keys); return out }},
	} {
		b.Run("impl="+im.name, func(b *testing.B) {
			b.ReportAllocs()
			var n, reads int64
			for b.Loop() {
				b.StopTimer()
				_ = mem.Delete(ctx, keys...)
				before := trips.Trips()
				b.StartTimer()
				for i, e := range im.read() {
					if e == nil || e.Tombstone() {
						b.Fatalf("%s: key %q = %+v", im.name, keys[i], e)
					}
				}
				n += trips.Trips() - before
				reads++
			}
			b.ReportMetric(float64(n)/float64(reads), "round-trips/op")
		})
	}
}

// A listing page on a web server whose memory tier is cold (just
// started, or the products are new to it) reads Redis for the whole page
// at once: two round trips, not two per product one after another.
func TestAListingPageOnAColdServerReadsRedisOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clk := newFakeClock()
	prefix := "test:" + t.Name() + ":"
	registry := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0))
	serve := func(store cache.Store) *cache.Cache {
		t.Helper()
		api, err := client.New(client.WithBaseURL(registry.URL), client.WithLogKeys(registry.LogKeys()...))
		if err != nil {
			t.Fatal(err)
		}
		c, err := cache.New(api, cache.WithStore(store), cache.WithClock(clk.Now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Another server has shown the page: Redis holds it, as the registry
	// gave it.
	var page []client.ProductKey
	for i := range pageSize {
		p, _ := registry.Product(20+i/12, i%12)
		page = append(page, client.ProductKey{GTIN: p.GTIN})
	}
	writer := serve(newNode(t, newRedisClient(t, srv), prefix, clk, time.Second).t)
	for i, it := range writer.Statuses(context.Background(), page) {
		if it.Err != nil {
			t.Fatalf("product %d of the page, on the first server: %v", i, it.Err)
		}
	}

	rdb := newRedisClient(t, srv)
	trips := counted(t, rdb)
	cold := serve(newNode(t, rdb, prefix, clk, time.Second).t)
	asked := registry.Requests("")
	trips.Reset()
	for i, it := range cold.Statuses(context.Background(), page) {
		if it.Err != nil || it.Status == nil || it.Status.Key != page[i] {
			t.Fatalf("product %d of the page: %+v", i, it)
		}
	}
	if n := trips.Trips(); n > 2 {
		t.Errorf("a page of %d products on a cold server took %d Redis round trips; want 2 at most", len(page), n)
	}
	if n := registry.Requests("") - asked; n != 0 {
		t.Errorf("%d calls to the registry for a page Redis holds fresh; want none", n)
	}
	if s := cold.Stats(); s.Refused != 0 {
		t.Errorf("%d statuses from Redis refused; want none: the page is the registry's", s.Refused)
	}
}

// BenchmarkColdTierPageVerified is a listing page a cold server reads
// from Redis through its cache, as pages do (Cache.Statuses): the
// registry's own statuses, with their log proofs, each checked against
// the registry's log as it enters the server's memory. Redis holds the
// page, written by another server; the registry is not asked.
//
//	go test -run '^$' -bench BenchmarkColdTierPage -count 6 ./cache/
func BenchmarkColdTierPageVerified(b *testing.B) {
	srv := redistest.Start(b)
	registry := sandbox.NewServer(b, sandbox.WithRateLimit(0, 0), sandbox.WithSize(10_000, 200_000))
	prefix := "bench:verified:"
	serve := func(mem *cache.Memory) *cache.Cache {
		b.Helper()
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
		shared := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(time.Second)))
		tiered, err := cache.NewTiered(mem, shared)
		if err != nil {
			b.Fatal(err)
		}
		api, err := client.New(client.WithBaseURL(registry.URL), client.WithLogKeys(registry.LogKeys()...))
		if err != nil {
			b.Fatal(err)
		}
		c, err := cache.New(api, cache.WithStore(tiered))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close(); tiered.Close(); shared.Close(); rdb.Close(); mem.Close() })
		return c
	}
	// A page of 60 products of 60 makers, as a listing drawn from a large
	// catalogue is.
	var page []client.ProductKey
	for i := range pageSize {
		p, _ := registry.Product(100+i*37, i%20)
		page = append(page, client.ProductKey{GTIN: p.GTIN})
	}
	writer := serve(must(cache.NewMemory()))
	for _, it := range writer.Statuses(context.Background(), page) {
		if it.Err != nil {
			b.Fatal(it.Err)
		}
	}
	mem := must(cache.NewMemory(cache.WithSweepInterval(-1)))
	cold := serve(mem)
	keys := make([]string, len(page))
	for i, k := range page {
		keys[i] = string(k.GTIN)
	}
	asked := registry.Requests("")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		_ = mem.Delete(ctx, keys...)
		b.StartTimer()
		for _, it := range cold.Statuses(ctx, page) {
			if it.Err != nil {
				b.Fatal(it.Err)
			}
		}
	}
	if n := registry.Requests("") - asked; n != 0 {
		b.Fatalf("the registry was asked %d times for a page Redis holds", n)
	}
	if s := cold.Stats(); s.Refused != 0 {
		b.Fatalf("%d statuses refused", s.Refused)
	}
}
