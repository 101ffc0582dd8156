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
	st, err := c.StatusByGTIN(ctx, g)
	if err != nil {
		b.Fatal(err)
	}
	floor := gocache.New(gocache.NoExpiration, 0)
	floor.Set(g, st, time.Hour)
	bare := gocache.New(gocache.NoExpiration, 0)
	bare.Set(g, st, gocache.NoExpiration)

	b.Run("impl=gocache/mode=seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, _ := floor.Get(g)
			sinkStatus = v.(*client.ProductStatus)
		}
	})
	b.Run("impl=gocache-noexpiry/mode=seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, _ := bare.Get(g)
			sinkStatus = v.(*client.ProductStatus)
		}
	})
	b.Run("impl=qcsdk/mode=seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkStatus, _ = c.StatusByGTIN(ctx, g)
		}
	})
	b.Run("impl=gocache/mode=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var s *client.ProductStatus
			for pb.Next() {
				v, _ := floor.Get(g)
				s = v.(*client.ProductStatus)
			}
			_ = s
		})
	})
	b.Run("impl=gocache-noexpiry/mode=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var s *client.ProductStatus
			for pb.Next() {
				v, _ := bare.Get(g)
				s = v.(*client.ProductStatus)
			}
			_ = s
		})
	})
	b.Run("impl=qcsdk/mode=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var s *client.ProductStatus
			for pb.Next() {
				s, _ = c.StatusByGTIN(ctx, g)
			}
			_ = s
		})
	})
}

// BenchmarkWarmHitTiered is BenchmarkWarmHit for a web server of a fleet:
// the cache's store is a memory tier in front of a real Redis, and a warm
// hit must cost what it does on a memory store alone.
func BenchmarkWarmHitTiered(b *testing.B) {
	f := startFleet(b, 1)
	c := f.nodes[0]
	ctx := context.Background()
	g := string(f.srv.Demo()[0].GTIN)
	st, err := c.StatusByGTIN(ctx, g)
	if err != nil {
		b.Fatal(err)
	}
	floor := gocache.New(gocache.NoExpiration, 0)
	floor.Set(g, st, time.Hour)

	b.Run("impl=gocache/mode=seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, _ := floor.Get(g)
			sinkStatus = v.(*client.ProductStatus)
		}
	})
	b.Run("impl=qcsdk-tiered/mode=seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkStatus, _ = c.StatusByGTIN(ctx, g)
		}
	})
	b.Run("impl=gocache/mode=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var s *client.ProductStatus
			for pb.Next() {
				v, _ := floor.Get(g)
				s = v.(*client.ProductStatus)
			}
			_ = s
		})
	})
	b.Run("impl=qcsdk-tiered/mode=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var s *client.ProductStatus
			for pb.Next() {
				s, _ = c.StatusByGTIN(ctx, g)
			}
			_ = s
		})
	})
	if n := c.Stats().Upstream; n != 1 {
		b.Fatalf("%d API calls; want the one that warmed the cache", n)
	}
}
