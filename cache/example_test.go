package cache_test

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// startSandbox serves a sandbox over HTTP, as the examples' stand-in for
// the regulator's API, and returns a client of it.
func startSandbox() (*sandbox.Sandbox, *client.Client, func()) {
	sb, err := sandbox.New(sandbox.WithReferenceTime(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	return sb, api, func() { api.CloseIdleConnections(); srv.Close(); sb.Close() }
}

// A product page asks the cache, not the API: the first view of a product
// makes one call, the next ones are answered from memory.
func Example() {
	sb, api, stop := startSandbox()
	defer stop()

	qc, err := cache.New(api)
	if err != nil {
		log.Fatal(err)
	}
	defer qc.Close()

	ctx := context.Background()
	gtin := string(sb.Demo()[0].GTIN)
	for range 3 {
		a, err := qc.Status(ctx, client.ProductKey{GTIN: client.GTIN(gtin)})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(a.Status.Enterprise.Name.EN, "—", a.Status.Commitment.Status)
	}
	s := qc.Stats()
	fmt.Printf("hits %d, misses %d, API calls %d\n", s.Hits, s.Misses, s.Upstream)
	// Output:
	// Hangzhou Qingyuan Electric Appliance Co., Ltd. — active
	// Hangzhou Qingyuan Electric Appliance Co., Ltd. — active
	// Hangzhou Qingyuan Electric Appliance Co., Ltd. — active
	// hits 2, misses 1, API calls 1
}

// A listing page looks its products up together: the misses go to the API
// in one batch call, and each item carries its own error.
func ExampleCache_Statuses() {
	sb, api, stop := startSandbox()
	defer stop()
	qc, err := cache.New(api)
	if err != nil {
		log.Fatal(err)
	}
	defer qc.Close()

	var keys []client.ProductKey
	for _, d := range sb.Demo()[:4] {
		keys = append(keys, client.ProductKey{GTIN: d.GTIN})
	}
	keys = append(keys, client.ProductKey{GTIN: sb.NotListedGTIN()})
	now := sb.ReferenceTime().Add(12 * time.Hour)
	for _, it := range qc.Statuses(context.Background(), keys) {
		if it.Err != nil {
			fmt.Println(it.Key.GTIN, it.Err)
			continue
		}
		fmt.Println(it.Key.GTIN, client.Decide(it.Status, now, client.DefaultLookback).Verdict)
	}
	fmt.Println("API calls:", qc.Stats().Upstream)
	// Output:
	// 06910000100003 committed
	// 06910001100002 committed
	// 06910002100001 inspection_failed
	// 06910003100000 withdrawn
	// 06900000000014 not_listed
	// API calls: 1
}

// Follow keeps a store current from the change feed: a revocation shows on
// the next page view, without a call to the API.
func ExampleFollow() {
	sb, api, stop := startSandbox()
	defer stop()
	qc, err := cache.New(api)
	if err != nil {
		log.Fatal(err)
	}
	defer qc.Close()

	ctx, cancel := context.WithCancel(context.Background())
	applied := make(chan client.Event, 1)
	done := make(chan error, 1)
	go func() {
		done <- cache.Follow(ctx, api, qc.Store(), &cache.FollowOptions{
			Applied: func(ev client.Event) { applied <- ev },
		})
	}()
	defer func() { cancel(); <-done }()

	gtin := string(sb.Demo()[0].GTIN)
	key := client.ProductKey{GTIN: client.GTIN(gtin)}
	a, err := qc.Status(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("before:", a.Status.Commitment.Status)

	if _, err := sb.Revoke(a.Status.Commitment.ID); err != nil {
		log.Fatal(err)
	}
	ev := <-applied // the example waits for it; a product page would not
	fmt.Println("event:", ev.Type)

	a, err = qc.Status(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after:", a.Status.Commitment.Status)
	fmt.Println("API calls:", qc.Stats().Upstream)
	// Output:
	// before: active
	// event: commitment.revoked
	// after: revoked
	// API calls: 2
}

// On a fleet of web servers, each server puts its own memory tier in front
// of the platform's Redis, and one follower writes the change feed into
// Redis; the memory tiers learn of each change over Redis pub/sub.
func ExampleNewTiered() {
	api, err := client.New(client.WithAPIKey("your-api-key"))
	if err != nil {
		log.Fatal(err)
	}
	// ContextTimeoutEnabled lets the store's short timeouts bound a slow
	// Redis; without it go-redis waits up to its own 3 s read timeout.
	rdb := redis.NewClient(&redis.Options{Addr: "redis.internal:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	shared, err := redisstore.New(rdb, redisstore.WithPrefix("qcsdk:"))
	if err != nil {
		log.Fatal(err)
	}
	defer shared.Close()
	mem, err := cache.NewMemory(cache.WithMemoryMaxEntries(200_000))
	if err != nil {
		log.Fatal(err)
	}
	defer mem.Close()
	tiered, err := cache.NewTiered(mem, shared)
	if err != nil {
		log.Fatal(err)
	}
	defer tiered.Close()

	qc, err := cache.New(api, cache.WithStore(tiered))
	if err != nil {
		log.Fatal(err)
	}
	defer qc.Close()

	// One process of the fleet (or each: applying is idempotent) follows
	// the feed into Redis itself, not into its Tiered store.
	go func() { _ = cache.Follow(context.Background(), api, shared, nil) }()

	// The counters, at /debug/vars.
	expvar.Publish("qcsdk", expvar.Func(func() any { return qc.Stats() }))
}

// The enquiry pages read makers, their commitments and inspections through
// the cache too; each call returns a copy of its own.
func ExampleCache_Enterprise() {
	sb, api, stop := startSandbox()
	defer stop()
	qc, err := cache.New(api)
	if err != nil {
		log.Fatal(err)
	}
	defer qc.Close()
	ctx := context.Background()

	a, err := qc.Status(ctx, client.ProductKey{GTIN: sb.Demo()[0].GTIN})
	if err != nil {
		log.Fatal(err)
	}
	ent, err := qc.Enterprise(ctx, a.Status.Enterprise.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ent.Name.ZH, ent.USCC)
	page, err := qc.EnterpriseCommitments(ctx, ent.ID, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range page.Data {
		fmt.Println(c.ID, c.Status, len(c.Items), "items")
	}
	_, err = qc.Enterprise(ctx, "ent_9999999")
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// 杭州清源电器有限公司 91330100MAAAWN1T5U
	// cmt_0000001_1 active 4 items
	// true
}

// A server warms its hot catalogue before it serves, so that its first
// page views are hits: one batch call per hundred products, at low
// priority, within the upstream limit.
func ExampleCache_Warm() {
	sb, api, stop := startSandbox()
	defer stop()

	qc, err := cache.New(api)
	if err != nil {
		log.Fatal(err)
	}
	defer qc.Close()

	var hot []client.ProductKey // in a shop: its best sellers, from its own catalogue
	for _, d := range sb.Demo() {
		hot = append(hot, client.ProductKey{GTIN: d.GTIN})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := qc.Warm(ctx, hot)
	if err != nil {
		log.Println("warm start cut short:", err) // serve anyway: pages look up what is missing
	}
	_, _, cached := qc.Cached(hot[0].GTIN)
	fmt.Printf("warmed %d of %d in %d call; the first is cached: %v\n", n, len(hot), qc.Stats().Upstream, cached)
	// Output:
	// warmed 11 of 11 in 1 call; the first is cached: true
}

// A store's options are judged where it is built: a value out of range is
// an error then, never a default that the caller did not ask for. A nil
// clock is the real clock.
func ExampleNewMemory() {
	if _, err := cache.NewMemory(cache.WithMemoryMaxEntries(0)); err != nil {
		fmt.Println(err)
	}
	mem, err := cache.NewMemory(cache.WithMemoryMaxEntries(50_000), cache.WithMemoryClock(nil))
	if err != nil {
		log.Fatal(err)
	}
	defer mem.Close()
	fmt.Println("entries:", mem.Len())
	// Output:
	// qcsdk/cache: max entries must be positive
	// entries: 0
}
