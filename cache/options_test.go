package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
)

// A value out of range is refused where the store is built, never
// replaced by the default behind the caller's back.
func TestStoreOptionsOutOfRange(t *testing.T) {
	for name, opt := range map[string]cache.MemoryOption{
		"max entries -1": cache.WithMemoryMaxEntries(-1),
		"max entries 0":  cache.WithMemoryMaxEntries(0),
	} {
		if m, err := cache.NewMemory(opt); err == nil {
			m.Close()
			t.Errorf("NewMemory(%s) = nil error; want one", name)
		}
	}

	// No I/O happens before the options are judged: an unreachable Redis
	// is enough.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	shared, err := redisstore.New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	for name, opt := range map[string]cache.TieredOption{
		"cooldown 0":  cache.WithCooldown(0),
		"cooldown -1": cache.WithCooldown(-time.Second),
		"spill \"\"":  cache.WithSpill(""),
	} {
		mem, err := cache.NewMemory()
		if err != nil {
			t.Fatal(err)
		}
		if tr, err := cache.NewTiered(mem, shared, opt); err == nil {
			tr.Close()
			t.Errorf("NewTiered(%s) = nil error; want one", name)
		}
		mem.Close()
	}
}

// A nil clock is the real clock and a nil logger logs nothing, in every
// constructor of the package; neither is an error.
func TestNilIsTheDefault(t *testing.T) {
	api, err := client.New(client.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	qc, err := cache.New(api, cache.WithClock(nil), cache.WithLogger(nil))
	if err != nil {
		t.Fatalf("New(WithClock(nil), WithLogger(nil)) = %v; want the defaults", err)
	}
	qc.Close()

	m, err := cache.NewMemory(cache.WithMemoryClock(nil))
	if err != nil {
		t.Fatalf("NewMemory(WithMemoryClock(nil)) = %v; want the real clock", err)
	}
	defer m.Close()
	// An entry that expired a minute ago by the real clock is gone; on a
	// clock stopped at any other time it would not be.
	ctx := context.Background()
	past := time.Now().Add(-time.Minute)
	if _, err := m.Set(ctx, "k", &cache.Entry{Status: &client.ProductStatus{}, Version: 1, FreshUntil: past, Expires: past}); err != nil {
		t.Fatal(err)
	}
	if e, _ := m.Get(ctx, "k"); e != nil {
		t.Errorf("Get of an entry expired a minute ago = %+v; want nil on the real clock", e)
	}

	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	shared, err := redisstore.New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	mem, err := cache.NewMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	tr, err := cache.NewTiered(mem, shared, cache.WithTieredLogger(nil))
	if err != nil {
		t.Fatalf("NewTiered(WithTieredLogger(nil)) = %v; want the default", err)
	}
	tr.Close()
}

// must is the store a test builds with options it knows to be valid.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// statusByGTIN is the product's status by its GTIN, as a product page
// asks for it.
func statusByGTIN(qc *cache.Cache, ctx context.Context, g client.GTIN) (*client.ProductStatus, error) {
	a, err := qc.Status(ctx, client.ProductKey{GTIN: g})
	return a.Status, err
}
