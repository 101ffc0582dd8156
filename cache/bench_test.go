package cache_test

import (
	"context"
	"testing"
	"time"

	gocache "github.com/patrickmn/go-cache"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

var sinkStatus *client.ProductStatus

// BenchmarkWarmHit compares a warm product-status hit with the floor: a
// bare go-cache Get of the same value, with an expiry (go-cache then reads
// the clock, as any cache that judges expiry must). "gocache-noexpiry" is
// the map lookup alone, an entry without expiry: no cache can serve less.
func BenchmarkWarmHit(b *testing.B) {
	srv := sandbox.NewServer(b)
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(api.CloseIdleConnections)
	c, err := cache.New(api, cache.WithTTL(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	ctx := context.Background()
	g := string(srv.Demo()[0].GTIN)
	st, err := statusByGTIN(c, ctx, client.GTIN(g))
	if err != nil {
		b.Fatal(err)
	}
	floor := gocache.New(gocache.NoExpiration, 0)
	floor.Set(g, st, time.Hour)
	bare := gocache.New(gocache.NoExpiration, 0)
	bare.Set(g, st, gocache.NoExpiration)
	benchHits(b, []hitImpl{
		{"gocache", func() *client.ProductStatus { v, _ := floor.Get(g); return v.(*client.ProductStatus) }},
		{"gocache-noexpiry", func() *client.ProductStatus { v, _ := bare.Get(g); return v.(*client.ProductStatus) }},
		{"qcsdk", func() *client.ProductStatus {
			a, _ := c.Status(ctx, client.ProductKey{GTIN: client.GTIN(g)})
			return a.Status
		}},
	})
}

type hitImpl struct {
	name string
	get  func() *client.ProductStatus
}

// benchHits runs each implementation sequentially, then each in parallel,
// so that a baseline and the cache run side by side in either mode.
func benchHits(b *testing.B, impls []hitImpl) {
	for _, parallel := range []bool{false, true} {
		mode := "seq"
		if parallel {
			mode = "parallel"
		}
		for _, im := range impls {
			b.Run("impl="+im.name+"/mode="+mode, func(b *testing.B) {
				b.ReportAllocs()
				if !parallel {
					for b.Loop() {
						sinkStatus = im.get()
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					var s *client.ProductStatus
					for pb.Next() {
						s = im.get()
					}
					_ = s
				})
			})
		}
	}
}

// BenchmarkWarmHitTiered is BenchmarkWarmHit for a web server of a fleet:
// the cache's store is a memory tier in front of a real Redis, and a warm
// hit must cost what it does on a memory store alone.
func BenchmarkWarmHitTiered(b *testing.B) {
	f := startFleet(b, 1)
	c := f.nodes[0]
	ctx := context.Background()
	g := string(f.srv.Demo()[0].GTIN)
	st, err := statusByGTIN(c, ctx, client.GTIN(g))
	if err != nil {
		b.Fatal(err)
	}
	floor := gocache.New(gocache.NoExpiration, 0)
	floor.Set(g, st, time.Hour)
	benchHits(b, []hitImpl{
		{"gocache", func() *client.ProductStatus { v, _ := floor.Get(g); return v.(*client.ProductStatus) }},
		{"qcsdk-tiered", func() *client.ProductStatus {
			a, _ := c.Status(ctx, client.ProductKey{GTIN: client.GTIN(g)})
			return a.Status
		}},
	})
	if n := c.Stats().Upstream; n != 1 {
		b.Fatalf("%d API calls; want the one that warmed the cache", n)
	}
}
