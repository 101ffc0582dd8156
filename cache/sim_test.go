package cache_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/zipf"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// The page-view simulation: a virtual hour of views over a catalogue whose
// popularity follows Zipf's law, run on a virtual clock (no sleeps), with
// the API in process. It counts the calls the cache makes against the model
// minimum — each product fetched once per TTL window in which it is viewed,
// computed here independently of the cache.

// inProcess is a transport that hands requests straight to a handler, so
// that a simulation of a million views is not a million loopback trips.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

type simResult struct {
	views, upstream, model int64
	// refetches are lookups of products already fetched once: in follow
	// mode, with a TTL longer than the run, only changes can cause them.
	refetches int64
	// touched bounds them in follow mode: at each change, the products
	// of the changed maker that had been fetched, each of which may be
	// asked about once more.
	touched int64
}

// simulate runs views page views over an hour of virtual time against a
// fresh cache with the given TTL, and counts calls. With events > 0 it
// publishes that many changes spread over the hour and applies them as a
// follower would (follow mode).
func simulate(tb testing.TB, products, views int, s float64, ttl time.Duration, events int) simResult {
	tb.Helper()
	ents := max(1, products/20)
	sb, err := sandbox.New(sandbox.WithSize(ents, products), sandbox.WithRateLimit(0, 0))
	if err != nil {
		tb.Fatal(err)
	}
	defer sb.Close()
	api, err := client.New(client.WithBaseURL("http://sandbox.invalid"),
		client.WithHTTPClient(&http.Client{Transport: inProcess{sb}}),
		client.WithRetryPolicy(client.RetryPolicy{}))
	if err != nil {
		tb.Fatal(err)
	}
	clk := newFakeClock()
	c, err := cache.New(api, cache.WithClock(clk.Now), cache.WithTTL(ttl), cache.WithStaleWhileRevalidate(0),
		cache.WithMaxEntries(2*products), cache.WithBatching(false))
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()

	gtins := make([]string, products)
	for i := range products {
		p, ok := sb.Product(i%ents, i/ents)
		if !ok {
			tb.Fatalf("no product %d", i)
		}
		gtins[i] = string(p.GTIN)
	}
	z := zipf.New(products, s, 1)
	step := time.Hour / time.Duration(views)
	start := clk.Now()
	lastFetch := make(map[int]time.Time, products)
	var model int64
	ctx := context.Background()
	after := ""
	var touched int64
	warm := views / 4
	for v := range views {
		if events > 0 && v > warm && v%(views/events) == 0 {
			// A change published, then applied from the feed: a revocation
			// of the commitment of a product somebody is looking at.
			k := z.Next()
			st, err := statusByGTIN(c, ctx, client.GTIN(gtins[k]))
			if err == nil && st.Commitment != nil {
				sb.Revoke(st.Commitment.ID)
				for f := range lastFetch {
					if f%ents == k%ents {
						touched++
					}
				}
			}
			page, _, err := api.Changes.List(ctx, &client.ChangesOptions{After: after})
			if err != nil {
				tb.Fatal(err)
			}
			for _, ev := range page.Data {
				if err := cache.Apply(ctx, c.Store(), ev); err != nil {
					tb.Fatal(err)
				}
			}
			after = page.NextCursor
		}
		k := z.Next()
		now := start.Add(time.Duration(v) * step)
		clk.mu.Lock()
		clk.t = now
		clk.mu.Unlock()
		if last, ok := lastFetch[k]; !ok || !now.Before(last.Add(ttl)) {
			lastFetch[k] = now
			model++
		}
		if _, err := statusByGTIN(c, ctx, client.GTIN(gtins[k])); err != nil {
			tb.Fatal(err)
		}
	}
	up := sb.Requests("GET /v1/products/{gtin}")
	return simResult{views: int64(views), upstream: up, model: model, refetches: up - int64(len(lastFetch)), touched: touched}
}

// A small simulation runs with every test run: the cache makes no call
// beyond the model minimum.
func TestSimulationMeetsTheModelMinimum(t *testing.T) {
	t.Parallel()
	for _, s := range []float64{0.7, 0.99, 1.2} {
		r := simulate(t, 2000, 40_000, s, 15*time.Minute, 0)
		if r.upstream > r.model {
			t.Errorf("s=%.2f: %d calls for %d views, model minimum %d", s, r.upstream, r.views, r.model)
		}
		if r.upstream < r.model {
			t.Errorf("s=%.2f: %d calls, fewer than the model minimum %d: the model or the count is wrong", s, r.upstream, r.model)
		}
	}
}

// In follow mode entries live long and changes arrive from the feed, so
// once a product has been fetched the API is asked about it again only
// after a change of its maker, and at most once per change.
func TestSimulationInFollowModeRefetchesOnlyWhatChangesTouch(t *testing.T) {
	t.Parallel()
	r := simulate(t, 2000, 40_000, 0.99, 24*time.Hour, 20)
	if r.refetches > r.touched {
		t.Errorf("%d refetches with 20 changes applied; at most %d products of the changed makers were cached", r.refetches, r.touched)
	}
	if r.refetches == 0 {
		t.Error("no refetch after 20 revocations of products being viewed: were the changes applied?")
	}
	t.Logf("%d refetches after 20 changes; %d cached products of the changed makers", r.refetches, r.touched)
}

// BenchmarkSimulation is the full-size simulation of issue "Cache": 1M
// views over 100k products for each Zipf exponent, TTL 15 minutes, one
// virtual hour; and follow mode. Run it with -benchtime 1x.
func BenchmarkSimulation(b *testing.B) {
	for _, s := range []float64{0.7, 0.99, 1.2} {
		b.Run("s="+formatS(s), func(b *testing.B) {
			for b.Loop() {
				r := simulate(b, 100_000, 1_000_000, s, 15*time.Minute, 0)
				b.ReportMetric(float64(r.upstream), "calls")
				b.ReportMetric(float64(r.model), "model-calls")
				b.ReportMetric(float64(r.upstream)/float64(r.model), "calls/model")
			}
		})
	}
	b.Run("follow/s=0.99", func(b *testing.B) {
		for b.Loop() {
			r := simulate(b, 100_000, 1_000_000, 0.99, 24*time.Hour, 100)
			b.ReportMetric(float64(r.upstream), "calls")
			b.ReportMetric(float64(r.refetches), "refetches")
			b.ReportMetric(float64(r.touched), "touched")
		}
	})
}

func formatS(s float64) string {
	switch s {
	case 0.7:
		return "0.70"
	case 0.99:
		return "0.99"
	}
	return "1.20"
}

// BenchmarkMemoryPerEntry fills a cache with n product statuses decoded
// from the sandbox's answers and reports the heap each one holds, store
// overhead and record together. Run it with -benchtime 1x.
func BenchmarkMemoryPerEntry(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			for b.Loop() {
				sb, err := sandbox.New(sandbox.WithSize(n/20, n), sandbox.WithRateLimit(0, 0))
				if err != nil {
					b.Fatal(err)
				}
				api, _ := client.New(client.WithBaseURL("http://sandbox.invalid"), client.WithLogKeys(sb.LogKeys()...),
					client.WithHTTPClient(&http.Client{Transport: inProcess{sb}}))
				// The registry's log is built before the count starts: it
				// is the registry's memory, not the cache's.
				if _, _, err := api.Log.Checkpoint(context.Background()); err != nil {
					b.Fatal(err)
				}
				keys := make([]client.ProductKey, 0, n)
				for i := range n {
					p, _ := sb.Product(i%(n/20), i/(n/20))
					keys = append(keys, client.ProductKey{GTIN: p.GTIN})
				}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				c, _ := cache.New(api, cache.WithMaxEntries(2*n), cache.WithTTL(time.Hour))
				for i := 0; i < n; i += 1000 {
					for _, it := range c.Statuses(context.Background(), keys[i:i+1000]) {
						if it.Err != nil {
							b.Fatal(it.Err)
						}
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "B/entry")
				runtime.KeepAlive(c)
				c.Close()
				sb.Close()
			}
		})
	}
}
