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
// bare go-cache Get of the same value, with the same kind of expiry.
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

	b.Run("impl=gocache/mode=seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, _ := floor.Get(g)
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
