package widget_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	gocache "github.com/patrickmn/go-cache"

	"github.com/qualitycommit/qcsdk/widget"
)

// BenchmarkWarmBadge compares a warm badge with the floor: a go-cache Get
// of the badge's bytes and writing them out.
//
//	go test -run '^$' -bench 'Badge' -benchmem -count 10 ./widget/
func BenchmarkWarmBadge(b *testing.B) {
	e := setup(b, nil)
	ctx := context.Background()
	g := string(e.srv.Demo()[0].GTIN)
	look := widget.Look{}
	var buf bytes.Buffer
	if err := e.w.WriteBadge(ctx, &buf, g, look); err != nil {
		b.Fatal(err)
	}
	html := buf.String()
	if len(html) == 0 {
		b.Fatal("empty badge")
	}
	floor := gocache.New(gocache.NoExpiration, 0)
	floor.Set(g, html, time.Hour)

	b.Run("impl=gocache/mode=seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			v, _ := floor.Get(g)
			buf.WriteString(v.(string))
		}
	})
	b.Run("impl=widget/mode=seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			_ = e.w.WriteBadge(ctx, &buf, g, look)
		}
	})
	b.Run("impl=gocache/mode=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var out bytes.Buffer
			for pb.Next() {
				out.Reset()
				v, _ := floor.Get(g)
				out.WriteString(v.(string))
			}
		})
	})
	b.Run("impl=widget/mode=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var out bytes.Buffer
			for pb.Next() {
				out.Reset()
				_ = e.w.WriteBadge(ctx, &out, g, look)
			}
		})
	})
	if buf.String() != html {
		b.Fatal("the warm badge changed")
	}
}
