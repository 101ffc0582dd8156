package watch_test

import (
	"context"
	"fmt"
	"iter"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/audit/watch"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// Size of the benchmark's catalogue: every product of a 2,000-maker,
// 500,000-product sandbox, listed once by GTIN and once by USCC, brand
// and model.
const (
	benchMakers   = 2000
	benchProducts = 500_000
)

// BenchmarkIndexLookup measures, over an index of 1,000,000 listings, the
// time from an event to the findings of every listing it touches: finding
// the keys in the index, looking them up in the sandbox (over loopback
// HTTP) and reading each key's listings. touched-* time the index's part
// alone. listings/op is how many findings an event gives; p99-ms the 99th
// percentile of an event's handling.
//
//	go test -run '^$' -bench IndexLookup -benchtime 100x ./audit/watch/
func BenchmarkIndexLookup(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, sandbox.WithSize(benchMakers, benchProducts), sandbox.WithRateLimit(1e9, 1e9))
	usccs := benchUSCCs(b, e)

	idx, err := watch.OpenIndex(filepath.Join(b.TempDir(), "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	start := time.Now()
	sum, err := idx.Load(ctx, benchListings(e, usccs))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d listings in %s", sum.Listings, time.Since(start).Round(time.Millisecond))

	// A maker whose commitment names GTIN prefixes: its GTIN listings are
	// found by prefix, its USCC ones by USCC and brand, nothing learnt.
	var cmt *client.Commitment
	var maker int
	for en := 11; en < benchMakers && cmt == nil; en++ {
		p, _ := e.srv.Product(en, 0)
		if c := status(b, e, client.ProductKey{GTIN: p.GTIN}).Commitment; c != nil && len(c.Scope.GTINPrefixes) > 0 && len(c.Scope.Models) == 0 {
			cmt, maker = c, en
		}
	}
	if cmt == nil {
		b.Fatal("no maker with GTIN prefixes")
	}
	head, err := e.api.Changes.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.srv.Revoke(cmt.ID); err != nil {
		b.Fatal(err)
	}
	revoked := nextEvent(b, e, head)
	p, _ := e.srv.Product(maker+1, 7)
	if _, err := e.srv.PublishInspection(p.GTIN, client.InspectionFail); err != nil {
		b.Fatal(err)
	}
	inspected := nextEvent(b, e, revoked.Cursor)

	for _, ev := range []client.Event{revoked, inspected} {
		var n int
		w := newWatcher(b, e, idx, watch.WithOnFinding(func(audit.Finding) { n++ }))
		b.Run("touched-"+string(ev.Type), func(b *testing.B) {
			var keys []client.ProductKey
			for b.Loop() {
				if keys, err = watch.Touched(ctx, w, ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(keys)), "keys/op")
		})
		b.Run("handle-"+string(ev.Type), func(b *testing.B) {
			n = 0
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				if err := w.Handle(ctx, ev); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			b.ReportMetric(float64(n)/float64(b.N), "listings/op")
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// benchUSCCs asks the registry for every maker's USCC, 100 to a call.
func benchUSCCs(b *testing.B, e *env) []client.USCC {
	usccs := make([]client.USCC, benchMakers)
	for from := 0; from < benchMakers; from += client.MaxBatchKeys {
		var keys []client.ProductKey
		for en := from; en < min(from+client.MaxBatchKeys, benchMakers); en++ {
			p, _ := e.srv.Product(en, 0)
			keys = append(keys, client.ProductKey{GTIN: p.GTIN})
		}
		items, _, err := e.api.Products.Batch(context.Background(), keys)
		if err != nil {
			b.Fatal(err)
		}
		for i, it := range items {
			if it.Err != nil || it.Status.Enterprise == nil {
				b.Fatalf("maker %d: %v", from+i, it.Err)
			}
			usccs[from+i] = it.Status.Enterprise.USCC
		}
	}
	return usccs
}

// benchListings yields the benchmark's catalogue without holding it.
func benchListings(e *env, usccs []client.USCC) iter.Seq2[audit.Listing, error] {
	return func(yield func(audit.Listing, error) bool) {
		for en := range benchMakers {
			for j := 0; ; j++ {
				p, ok := e.srv.Product(en, j)
				if !ok {
					break
				}
				id := fmt.Sprintf("%04d-%05d", en, j)
				if !yield(audit.Listing{ID: "G-" + id, Seller: "shop", Title: p.Name.ZH, Key: client.ProductKey{GTIN: p.GTIN}}, nil) ||
					!yield(audit.Listing{ID: "U-" + id, Seller: "shop", Title: p.Name.ZH, Key: client.ProductKey{USCC: usccs[en], Brand: p.Brand, Model: p.Model}}, nil) {
					return
				}
			}
		}
	}
}

// BenchmarkWatchStart times the watcher's first start on the catalogue of
// BenchmarkIndexLookup (1,000,000 listings): Sync into a new index, then
// Learn every key's maker over loopback HTTP; and then the next night's
// start on an export with 1 % of its rows changed — 0.5 % with a new
// title, 0.25 % gone, 0.25 % new listings of products not yet listed —
// Sync, then Learn (the new keys alone). The first start is what a full
// reload costs, the baseline of the second.
//
//	go test -run '^$' -bench WatchStart -benchtime 1x ./audit/watch/
func BenchmarkWatchStart(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, sandbox.WithSize(benchMakers, benchProducts), sandbox.WithRateLimit(1e9, 1e9))
	usccs := benchUSCCs(b, e)
	// Tonight's export: of each 400 rows, 2 retitled, one dropped, and
	// one held back from the first night to come new tonight.
	night := func(second bool) iter.Seq2[audit.Listing, error] {
		return func(yield func(audit.Listing, error) bool) {
			i := 0
			for l, err := range benchListings(e, usccs) {
				i++
				switch r := i % 400; {
				case r == 1 && second, r == 2 && !second: // dropped tonight; new tonight
					continue
				case r < 5 && second && r > 2:
					l.Title += " (new title)"
				}
				if !yield(l, err) {
					return
				}
			}
		}
	}
	for range b.N {
		idx, err := watch.OpenIndex(filepath.Join(b.TempDir(), "index.db"))
		if err != nil {
			b.Fatal(err)
		}
		w := newWatcher(b, e, idx)
		for _, second := range []bool{false, true} {
			start := time.Now()
			sum, err := idx.Sync(ctx, night(second))
			if err != nil {
				b.Fatal(err)
			}
			synced := time.Since(start)
			learnt, err := w.Learn(ctx)
			if err != nil {
				b.Fatal(err)
			}
			name := "first"
			if second {
				name = "changed-1pct"
			}
			b.ReportMetric(synced.Seconds(), name+"-sync-s")
			b.ReportMetric(time.Since(start).Seconds(), name+"-total-s")
			b.ReportMetric(float64(learnt.Calls), name+"-lookups")
			b.Logf("%s: %+v in %s, then learnt %+v", name, sum, synced.Round(time.Millisecond), learnt)
		}
		idx.Close()
	}
}
