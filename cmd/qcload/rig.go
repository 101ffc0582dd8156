package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/faultproxy"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
	"github.com/redis/go-redis/v9"
)

// stack is what the page and flood modes measure: a sandbox (faults on,
// if asked), a proxy in front of it when the network is to fail, and the
// client, cache and widget a platform would build over them; with a
// Redis fault, the cache's store is a Redis tier behind memory, as a
// fleet's.
type stack struct {
	sb     *sandbox.Sandbox
	api    *client.Client
	qc     *cache.Cache
	badges *widget.Widget
	redis  *redisTier    // nil: the cache keeps its store in memory
	gtins  []client.GTIN // the catalogue, in sandbox order
	close  []func()      // in reverse order of building
}

// redisTier is the Redis side of a stack.
type redisTier struct {
	fault  redisFault
	srv    *redisServer  // nil when Redis is down
	direct *redis.Client // to srv, around any proxy: what the report reads; nil when down
	rdb    *redis.Client // the cache's way to Redis, through the fault
	tiered *cache.Tiered
	before int64         // commands srv had processed when the run began
	start  time.Duration // what cache.NewTiered took: a server's start waits for it
	stop   time.Duration // what the Tiered store's Close took: a server's shutdown waits for it
}

func newStack(ctx context.Context, o *options, faults []sandbox.Fault, nf netFault, rf redisFault, widgetOpts ...widget.Option) (st *stack, err error) {
	st = &stack{}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	makers := max(1, o.products/20)
	if st.sb, err = sandbox.New(sandbox.WithSize(makers, o.products), sandbox.WithRateLimit(0, 0), sandbox.WithFaults(faults...)); err != nil {
		return nil, err
	}
	st.close = append(st.close, func() { st.sb.Close() })
	// A registry's log is built before it serves; the sandbox builds its
	// own at the first request that needs it (half a second at 200,000
	// products), which would otherwise land on the first pages measured.
	st.sb.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/log/checkpoint", nil))
	base, stopAPI, err := st.sb.Start()
	if err != nil {
		return nil, err
	}
	st.close = append(st.close, stopAPI)
	if base, err = st.network(base, nf); err != nil {
		return nil, err
	}
	// The sandbox's keys in hand, as a platform pins its registry's.
	aopts := []client.Option{client.WithBaseURL(base), client.WithLogKeys(st.sb.LogKeys()...)}
	if o.quota > 0 {
		aopts = append(aopts, client.WithUpstreamLimit(o.quota, o.burst))
	}
	if st.api, err = client.New(aopts...); err != nil {
		return nil, err
	}
	st.close = append(st.close, st.api.CloseIdleConnections)
	copts := []cache.Option{cache.WithFetchTimeout(o.fetchTimeout)}
	if rf.kind == "" {
		copts = append(copts, cache.WithMaxEntries(o.maxEntries))
	} else {
		store, err := st.redisStore(ctx, o, rf)
		if err != nil {
			return nil, err
		}
		copts = append(copts, cache.WithStore(store))
	}
	if st.qc, err = cache.New(st.api, copts...); err != nil {
		return nil, err
	}
	st.close = append(st.close, func() { st.qc.Close() })
	if st.badges, err = widget.New(st.qc, widgetOpts...); err != nil {
		return nil, err
	}
	st.gtins = make([]client.GTIN, o.products)
	for i := range st.gtins {
		p, ok := st.sb.Product(i%makers, i/makers)
		if !ok {
			return nil, fmt.Errorf("the sandbox has no product %d", i)
		}
		st.gtins[i] = p.GTIN
	}
	return st, nil
}

// network puts a proxy with the fault nf between the client and the API
// at base, and returns the base URL the client should use.
func (st *stack) network(base string, nf netFault) (string, error) {
	if nf.kind == "" {
		return base, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	p, err := faultproxy.New(u.Host)
	if err != nil {
		return "", err
	}
	st.close = append(st.close, func() { p.Close() })
	switch nf.kind {
	case "blackhole":
		p.Blackhole()
	case "cut":
		p.Cut()
	case "delay":
		p.SetDelay(nf.delay)
	}
	return "http://" + p.Addr(), nil
}

// redisStore builds the store a fleet's web server has, as cmd/qcbadge
// builds it: a Tiered store of memory (bounded by -max-entries) in front
// of a fresh redis-server of the stack's own, reached through the fault
// rf.
func (st *stack) redisStore(ctx context.Context, o *options, rf redisFault) (cache.Store, error) {
	rt := &redisTier{fault: rf}
	var addr string
	if rf.kind == "down" {
		var err error
		if addr, err = closedAddr(); err != nil {
			return nil, err
		}
	} else {
		srv, err := startRedis(ctx, o.redisBin)
		if err != nil {
			return nil, err
		}
		st.close = append(st.close, srv.stop)
		rt.srv, addr = srv, srv.addr
		rt.direct = redis.NewClient(&redis.Options{Addr: addr})
		st.close = append(st.close, func() { rt.direct.Close() })
	}
	if rf.kind == "delay" || rf.kind == "blackhole" {
		p, err := faultproxy.New(addr)
		if err != nil {
			return nil, err
		}
		st.close = append(st.close, func() { p.Close() })
		if rf.kind == "delay" {
			p.SetDelay(rf.delay)
		} else {
			p.Blackhole()
		}
		addr = p.Addr()
	}
	// As redisstore asks: without ContextTimeoutEnabled a Redis that
	// answers nothing holds each command for go-redis's ReadTimeout (3 s)
	// rather than the store's 100 ms.
	rt.rdb = redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	st.close = append(st.close, func() { rt.rdb.Close() })
	shared, err := redisstore.New(rt.rdb, redisstore.WithPrefix("qcload:"))
	if err != nil {
		return nil, err
	}
	st.close = append(st.close, func() { shared.Close() })
	mem, err := cache.NewMemory(cache.WithMemoryMaxEntries(o.maxEntries))
	if err != nil {
		return nil, err
	}
	st.close = append(st.close, func() { mem.Close() })
	t0 := time.Now()
	tiered, err := cache.NewTiered(mem, shared)
	if err != nil {
		return nil, err
	}
	rt.start = time.Since(t0)
	st.close = append(st.close, func() {
		t0 := time.Now()
		tiered.Close()
		rt.stop = time.Since(t0)
	})
	rt.tiered, st.redis = tiered, rt
	return tiered, nil
}

// Close undoes newStack: the cache first, so that its batch calls end
// before the network under them goes.
func (st *stack) Close() {
	for _, f := range slices.Backward(st.close) {
		f()
	}
	st.close = nil
}

// upstream counts the product lookups that reached the API.
func (st *stack) upstream() int64 {
	return st.sb.Requests("GET /v1/products/{gtin}") + st.sb.Requests("POST /v1/products/batch")
}

// cacheEntries is the number of entries in the cache's store, or -1 when
// the store does not say.
func (st *stack) cacheEntries() int {
	if l, ok := st.qc.Store().(interface{ Len() int }); ok {
		return l.Len()
	}
	return -1
}

// serve serves h on a loopback port until the returned stop is called.
func serve(h http.Handler) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close(); <-served }, nil
}

//go:embed listing.html
var listingHTML string

// listingTemplate renders a page of products the way a storefront's
// listing does: a badge per product, from the request's widget.Page.
var listingTemplate = template.Must(template.New("listing").Parse(listingHTML))

// listing is a storefront's listing page: GET /list?ids=3,14,15 shows
// those products of the catalogue, by index.
type listing struct {
	badges *widget.Widget
	gtins  []client.GTIN
}

type listingItem struct{ GTIN client.GTIN }

func (l *listing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	items, err := l.items(r.URL.Query().Get("ids"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	gtins := make([]client.GTIN, len(items))
	for i, it := range items {
		gtins[i] = it.GTIN
	}
	page := l.badges.Page(r.Context(), gtins...)
	defer page.Close()
	var buf bytes.Buffer
	if err := listingTemplate.Execute(&buf, map[string]any{"QC": page, "Items": items}); err != nil {
		http.Error(w, "page failed to render", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func (l *listing) items(ids string) ([]listingItem, error) {
	var items []listingItem
	for s := range strings.SplitSeq(ids, ",") {
		i, err := strconv.Atoi(s)
		if err != nil || i < 0 || i >= len(l.gtins) {
			return nil, fmt.Errorf("no product %q in the catalogue", s)
		}
		items = append(items, listingItem{l.gtins[i]})
	}
	return items, nil
}

// unknownMarker is how the unknown badge shows in a page: its state
// class, which no other badge carries.
var unknownMarker = []byte("qcb-unknown")

// pageTally is what a driver saw of the pages it viewed.
type pageTally struct {
	lat                     []time.Duration
	errors, badges, unknown int64
}

func (t *pageTally) merge(o *pageTally) {
	t.lat = append(t.lat, o.lat...)
	t.errors += o.errors
	t.badges += o.badges
	t.unknown += o.unknown
}

func (t *pageTally) unknownShare() float64 {
	if t.badges == 0 {
		return 0
	}
	return float64(t.unknown) / float64(t.badges)
}

// pageClient views listing pages over HTTP.
type pageClient struct {
	hc   *http.Client
	base string
}

// view views the page of the products ids and counts it in t. A view the
// end of ctx interrupts is not counted.
func (c pageClient) view(ctx context.Context, ids []int, t *pageTally) {
	var q strings.Builder
	for i, id := range ids {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(strconv.Itoa(id))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/list?ids="+q.String(), nil)
	if err != nil {
		t.errors++
		return
	}
	t0 := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			t.errors++
		}
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		if ctx.Err() == nil {
			t.errors++
		}
		return
	}
	t.lat = append(t.lat, time.Since(t0))
	t.badges += int64(len(ids))
	t.unknown += int64(bytes.Count(body, unknownMarker))
}

// latencyMS returns the p50, p90, p99 and max of lat in milliseconds;
// it sorts lat.
func latencyMS(lat []time.Duration) map[string]float64 {
	slices.Sort(lat)
	at := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
	}
	return map[string]float64{"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1)}
}

// pace sends job numbers 0, 1, 2… at rate per second until ctx ends, then
// closes jobs. It is open-loop: a job falling due while jobs is full is
// not sent but counted in the result, so that a server falling behind
// shows as missed work rather than as a generator slowing down with it.
func pace(ctx context.Context, rate float64, jobs chan<- int64) (missed int64) {
	defer close(jobs)
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var n int64
	for {
		select {
		case <-ctx.Done():
			return missed
		case now := <-tick.C:
			for due := int64(rate * now.Sub(start).Seconds()); n < due; n++ {
				select {
				case jobs <- n:
				default:
					missed++
				}
			}
		}
	}
}

// watchHeap samples the Go heap in use every interval until the returned
// stop is called, which returns the largest sample. The heap is the whole
// process's: the load generator's share is small and about the same with
// or without a flood.
func watchHeap(every time.Duration) (stop func() uint64) {
	done, peak := make(chan struct{}), make(chan uint64)
	go func() {
		var ms runtime.MemStats
		var most uint64
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			most = max(most, ms.HeapInuse)
			select {
			case <-done:
				peak <- most
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(done); return <-peak }
}

// liveHeap is the heap the process keeps: what is allocated after a
// collection, without the garbage a load leaves between collections.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
