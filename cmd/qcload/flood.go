package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/widget"
)

// FloodReport is what a flood run measured.
type FloodReport struct {
	Seconds           float64            `json:"seconds"` // the flood's length
	FloodTarget       float64            `json:"flood_target_per_second"`
	FloodAddresses    int                `json:"flood_addresses"`
	Flood             int64              `json:"flood_requests"` // answered
	FloodPerSecond    float64            `json:"flood_per_second"`
	FloodMissed       int64              `json:"flood_missed"` // due while every flood connection was busy
	FloodErrors       int64              `json:"flood_errors"` // transport failures
	FloodStatus       map[int]int64      `json:"flood_status"`
	FloodUnknown      int64              `json:"flood_unknown_badges"`
	Quota             float64            `json:"quota_per_second"`
	Burst             int                `json:"quota_burst"`
	Upstream          int64              `json:"upstream_calls"` // during the flood
	UpstreamPerSecond float64            `json:"upstream_calls_per_second"`
	Before            PagePhase          `json:"pages_before"`
	During            PagePhase          `json:"pages_during"`
	HeapBefore        uint64             `json:"heap_inuse_max_bytes_before"`
	HeapDuring        uint64             `json:"heap_inuse_max_bytes_during"`
	LiveBefore        uint64             `json:"heap_live_bytes_before"` // after a GC: what the process keeps
	LiveAfter         uint64             `json:"heap_live_bytes_after"`
	CacheEntries      int                `json:"cache_entries"` // at the end; -1 if the store does not say
	CacheMaxEntries   int                `json:"cache_max_entries"`
	Widget            widget.Stats       `json:"widget"`
	Client            client.ClientStats `json:"client"`
	Cache             cache.Stats        `json:"cache"`
}

// PagePhase is what the platform's own page views saw in one phase.
type PagePhase struct {
	Seconds float64    `json:"seconds"`
	Warm    PageCounts `json:"warm"`
	Cold    PageCounts `json:"cold"`
	Missed  int64      `json:"missed"` // page views due while every page driver was busy
}

// PageCounts are the page views of one kind.
type PageCounts struct {
	Pages        int64              `json:"pages"`
	Errors       int64              `json:"errors"`
	Badges       int64              `json:"badges"`
	Unknown      int64              `json:"unknown_badges"`
	UnknownShare float64            `json:"unknown_share"`
	Latency      map[string]float64 `json:"latency_ms"`
}

func countsOf(t *pageTally) PageCounts {
	return PageCounts{Pages: int64(len(t.lat)), Errors: t.errors, Badges: t.badges, Unknown: t.unknown,
		UnknownShare: t.unknownShare(), Latency: latencyMS(t.lat)}
}

// runFlood warms a set of pages, views pages alone for a quarter of
// -duration, then for -duration views them while random GTINs flood the
// public badge endpoint.
func runFlood(ctx context.Context, o *options, stdout io.Writer) error {
	var wopts []widget.Option
	catalogue := map[client.GTIN]bool{}
	if o.floodCatalogue {
		// Filled before the server starts, read-only after.
		wopts = append(wopts, widget.WithCatalogue(func(g client.GTIN) bool { return catalogue[g] }))
	}
	st, err := newStack(ctx, o, o.faults, o.net, redisFault{}, append(wopts, o.lookupOptions()...)...)
	if err != nil {
		return err
	}
	defer st.Close()
	if o.floodCatalogue {
		for _, g := range st.gtins {
			catalogue[g] = true
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /list", &listing{badges: st.badges, gtins: st.gtins})
	mux.Handle("/quality/", fromAddrHeader(st.badges.Handler("/quality/")))
	base, stop, err := serve(mux)
	if err != nil {
		return err
	}
	defer stop()
	transport := &http.Transport{MaxIdleConnsPerHost: o.conc, MaxConnsPerHost: o.conc}
	defer transport.CloseIdleConnections()
	ps := &pageStream{pc: pageClient{hc: &http.Client{Transport: transport, Timeout: 10 * time.Second}, base: base},
		badges: o.badges, warmPages: o.warmPages, products: o.products}
	if err := ps.warmUp(ctx, st); err != nil {
		return err
	}

	rep := FloodReport{FloodTarget: o.floodRate, FloodAddresses: o.floodAddrs, Quota: o.quota, Burst: o.burst, CacheMaxEntries: o.maxEntries}
	rep.LiveBefore = liveHeap()
	heap := watchHeap(100 * time.Millisecond)
	bctx, cancel := context.WithTimeout(ctx, o.duration/4)
	rep.Before = ps.run(bctx, o.pageRate, o.conc)
	cancel()
	rep.HeapBefore = heap()

	heap = watchHeap(100 * time.Millisecond)
	fctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	up := st.upstream()
	start := time.Now()
	var ft floodTally
	var wg sync.WaitGroup
	wg.Go(func() { ft = flood(fctx, base, o) })
	rep.During = ps.run(fctx, o.pageRate, o.conc)
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	rep.Upstream = st.upstream() - up
	rep.HeapDuring = heap()
	rep.LiveAfter = liveHeap()

	rep.Flood, rep.FloodMissed, rep.FloodErrors, rep.FloodStatus, rep.FloodUnknown = ft.answered, ft.missed, ft.errors, ft.status, ft.unknown
	rep.FloodPerSecond = float64(ft.answered) / rep.Seconds
	rep.UpstreamPerSecond = float64(rep.Upstream) / rep.Seconds
	rep.CacheEntries = st.cacheEntries()
	rep.Widget, rep.Client, rep.Cache = st.badges.Stats(), st.api.Stats(), st.qc.Stats()
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return floodText(stdout, &rep)
}

// pageStream is the platform's own traffic during a flood: warm pages,
// of products viewed before the flood, and cold pages, of products never
// viewed, in turn.
type pageStream struct {
	pc                          pageClient
	badges, warmPages, products int
	cold                        atomic.Int64 // the next cold page
}

// warmUp views every warm page, then looks up whatever their views left
// out of the cache (a lookup can outlive its page's deadline), so that a
// warm page is warm.
func (s *pageStream) warmUp(ctx context.Context, st *stack) error {
	ids := make([]int, s.badges)
	var t pageTally
	for k := range s.warmPages {
		for i := range ids {
			ids[i] = k*s.badges + i
		}
		s.pc.view(ctx, ids, &t)
	}
	var keys []client.ProductKey
	for _, g := range st.gtins[:s.warmPages*s.badges] {
		if _, _, ok := st.qc.Cached(g); !ok {
			keys = append(keys, client.ProductKey{GTIN: g})
		}
	}
	if len(keys) > 0 {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		st.qc.Statuses(wctx, keys)
	}
	if t.errors > 0 {
		return fmt.Errorf("%d of %d warm-up pages failed", t.errors, s.warmPages)
	}
	return nil
}

// ids fills ids with the products of view n, even views warm and odd
// ones cold; ok is false when the catalogue has no cold page left.
func (s *pageStream) ids(n int64, ids []int) (warm, ok bool) {
	first := int(n/2) % s.warmPages * s.badges
	if n%2 == 1 {
		first = (s.warmPages + int(s.cold.Add(1)-1)) * s.badges
		if first+s.badges > s.products {
			return false, false
		}
	}
	for i := range ids {
		ids[i] = first + i
	}
	return n%2 == 0, true
}

// run views pages at rate per second from workers drivers until ctx ends.
func (s *pageStream) run(ctx context.Context, rate float64, workers int) PagePhase {
	jobs := make(chan int64, workers)
	var missed int64
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() { missed = pace(ctx, rate, jobs) })
	warm, cold := make([]pageTally, workers), make([]pageTally, workers)
	for w := range workers {
		wg.Go(func() {
			ids := make([]int, s.badges)
			for n := range jobs {
				isWarm, ok := s.ids(n, ids)
				switch {
				case !ok:
				case isWarm:
					s.pc.view(ctx, ids, &warm[w])
				default:
					s.pc.view(ctx, ids, &cold[w])
				}
			}
		})
	}
	wg.Wait()
	var allWarm, allCold pageTally
	for w := range workers {
		allWarm.merge(&warm[w])
		allCold.merge(&cold[w])
	}
	return PagePhase{Seconds: time.Since(start).Seconds(), Warm: countsOf(&allWarm), Cold: countsOf(&allCold), Missed: missed}
}

// floodTally is what the flood's connections saw.
type floodTally struct {
	answered, missed, errors, unknown int64
	status                            map[int]int64
}

// flood sends badge requests for random valid GTINs at -flood-rate from
// -flood-conns connections until ctx ends.
func flood(ctx context.Context, base string, o *options) floodTally {
	transport := &http.Transport{MaxIdleConnsPerHost: o.floodConns, MaxConnsPerHost: o.floodConns}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	jobs := make(chan int64, o.floodConns)
	var missed int64
	var wg sync.WaitGroup
	wg.Go(func() { missed = pace(ctx, o.floodRate, jobs) })
	tallies := make([]floodTally, o.floodConns)
	for w := range o.floodConns {
		wg.Go(func() { tallies[w] = floodFrom(ctx, hc, base, o.floodAddrs, uint64(w)+1, jobs) })
	}
	wg.Wait()
	all := floodTally{missed: missed, status: map[int]int64{}}
	for _, t := range tallies {
		all.answered += t.answered
		all.errors += t.errors
		all.unknown += t.unknown
		for k, v := range t.status {
			all.status[k] += v
		}
	}
	return all
}

// addrHeader carries a flood request's fake client address to
// fromAddrHeader: every connection of the harness comes from 127.0.0.1.
const addrHeader = "X-Qcload-Addr"

// fromAddrHeader makes the address in addrHeader the request's
// RemoteAddr, which is where the widget reads a client's address unless
// told otherwise, so that the flood comes from as many addresses as
// -flood-addrs says.
func fromAddrHeader(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get(addrHeader); a != "" {
			r = r.WithContext(r.Context())
			r.RemoteAddr = net.JoinHostPort(a, "1")
		}
		h.ServeHTTP(w, r)
	})
}

// floodFrom is one flood connection: a request per job, each for a new
// random GTIN from one of addrs addresses.
func floodFrom(ctx context.Context, hc *http.Client, base string, addrs int, seed uint64, jobs <-chan int64) floodTally {
	r := rand.New(rand.NewPCG(seed, 0xf100d))
	t := floodTally{status: map[int]int64{}}
	for range jobs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/quality/badge/"+string(randomGTIN(r))+".svg", nil)
		if err != nil {
			t.errors++
			continue
		}
		i := r.IntN(addrs)
		req.Header.Set(addrHeader, fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff))
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				t.errors++
			}
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			if ctx.Err() == nil {
				t.errors++
			}
			continue
		}
		t.answered++
		t.status[resp.StatusCode]++
		if bytes.Contains(body, unknownMarker) {
			t.unknown++
		}
	}
	return t
}

// randomGTIN draws a valid GTIN-14 from the whole space, outside the
// range of the sandbox's own makers (a leading 069), so that it names a
// product nobody has looked up.
func randomGTIN(r *rand.Rand) client.GTIN {
	for {
		payload := fmt.Sprintf("%013d", r.Uint64N(1e13))
		if strings.HasPrefix(payload, "069") {
			continue
		}
		g, err := client.CompleteGTIN(payload)
		if err == nil {
			return g
		}
	}
}

func floodText(out io.Writer, r *FloodReport) error {
	fmt.Fprintf(out, "flood       %.0f/s asked from %d addresses: %d answered in %.1fs (%.0f/s), %d missed, %d errors; status %v; %.1f %% unknown\n",
		r.FloodTarget, r.FloodAddresses, r.Flood, r.Seconds, r.FloodPerSecond, r.FloodMissed, r.FloodErrors, r.FloodStatus,
		100*float64(r.FloodUnknown)/float64(max(r.Flood, 1)))
	fmt.Fprintf(out, "upstream    %d calls during the flood: %.1f/s (quota %.0f/s, burst %d)\n", r.Upstream, r.UpstreamPerSecond, r.Quota, r.Burst)
	fmt.Fprintf(out, "heap        in use at most %.1f MiB before the flood, %.1f MiB during; live after a GC %.1f MiB before, %.1f MiB after; cache %d entries (bound %d)\n",
		float64(r.HeapBefore)/(1<<20), float64(r.HeapDuring)/(1<<20), float64(r.LiveBefore)/(1<<20), float64(r.LiveAfter)/(1<<20), r.CacheEntries, r.CacheMaxEntries)
	fmt.Fprintf(out, "widget      %+v\n", r.Widget)
	fmt.Fprintf(out, "client      %d calls refused during a pause (%d pauses), %d high- and %d low-priority calls throttled\n",
		r.Client.Paused, r.Client.Pauses, r.Client.ThrottledHigh, r.Client.ThrottledLow)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "pages\tkind\tpages\tmissed\terrors\tunknown\tp50 ms\tp99 ms\tmax ms\t")
	for _, ph := range []struct {
		name string
		p    PagePhase
	}{{"before", r.Before}, {"during", r.During}} {
		for _, k := range []struct {
			name string
			c    PageCounts
		}{{"warm", ph.p.Warm}, {"cold", ph.p.Cold}} {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.2f %%\t%.1f\t%.1f\t%.1f\t\n", ph.name, k.name, k.c.Pages, ph.p.Missed, k.c.Errors,
				100*k.c.UnknownShare, k.c.Latency["p50"], k.c.Latency["p99"], k.c.Latency["max"])
		}
	}
	return tw.Flush()
}
