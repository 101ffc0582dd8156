package widget_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/faultproxy"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// A web server that starts with a cold memory tier in front of a Redis
// that holds the listing used to read Redis one product at a time, two
// round trips each, one after another and outside the page's budget
// (Cached had no context): 124 round trips for 60 products, which at
// 5 ms a trip spent the budget many times over and showed every badge
// unknown. A page now reads what memory lacks from Redis in one pipelined
// read, under its own deadline, and asks the registry for nothing Redis
// holds.
func TestAColdPageReadsRedisOnceForAllItsProducts(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	sb := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0), sandbox.WithReferenceTime(reference))
	api, err := client.New(client.WithBaseURL(sb.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	prefix := "test:" + t.Name() + ":"
	server := func(rdb *redis.Client) (*widget.Widget, *cache.Cache) {
		shared, err := redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(timescale.Scale(5*time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		mem, err := cache.NewMemory()
		if err != nil {
			t.Fatal(err)
		}
		tiered, err := cache.NewTiered(mem, shared)
		if err != nil {
			t.Fatal(err)
		}
		qc, err := cache.New(api, cache.WithStore(tiered))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { qc.Close(); tiered.Close(); shared.Close(); mem.Close(); rdb.Close() })
		w, err := widget.New(qc, widget.WithRenderTimeout(timescale.Scale(10*time.Second)),
			widget.WithClock(func() time.Time { return reference.Add(12 * time.Hour) }))
		if err != nil {
			t.Fatal(err)
		}
		return w, qc
	}
	dial := func() *redis.Client {
		return redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
	}
	var gtins []client.GTIN
	for e := 0; len(gtins) < 60; e++ {
		for j := 0; j < 3 && len(gtins) < 60; j++ {
			if p, ok := sb.Product(e, j); ok {
				gtins = append(gtins, p.GTIN)
			}
		}
	}

	// A warm server puts the listing in Redis: looked up with no
	// deadline, the answers are in Redis when Statuses returns (a page's
	// go on to Redis in the background).
	_, warm := server(dial())
	keys := make([]client.ProductKey, len(gtins))
	for i, g := range gtins {
		keys[i] = client.ProductKey{GTIN: g}
	}
	for _, it := range warm.Statuses(context.Background(), keys) {
		if it.Err != nil {
			t.Fatal(it.Err)
		}
	}

	// A server starting now: its memory is cold, Redis holds every product.
	rdb := dial()
	if err := rdb.Ping(context.Background()).Err(); err != nil { // the handshake is not a read
		t.Fatal(err)
	}
	counted := redistest.Count(rdb)
	cold, _ := server(rdb)
	calls := sb.Requests("POST /v1/products/batch") + sb.Requests("GET /v1/products/{gtin}")
	page := cold.Page(context.Background(), gtins...)
	defer page.Close()
	if n := counted.Trips(); n > 3 {
		t.Errorf("a cold page of %d products took %d round trips to Redis; want at most 3 (the entries, then their records and stamps)", len(gtins), n)
	}
	if n := sb.Requests("POST /v1/products/batch") + sb.Requests("GET /v1/products/{gtin}") - calls; n != 0 {
		t.Errorf("a cold page asked the registry %d times for products Redis holds; want none", n)
	}
	for _, g := range gtins {
		html, err := page.Badge(g)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(html), "qcb-unknown") {
			t.Errorf("%s: unknown badge with its answer in Redis", g)
		}
	}
}

// A Redis that does not answer costs a page one bounded read, whatever
// the number of its products, and the registry answers them: no badge is
// unknown while the registry is up.
func TestABlackholedRedisCostsAPageOneRead(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	proxy, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	sb := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0), sandbox.WithReferenceTime(reference))
	api, err := client.New(client.WithBaseURL(sb.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true})
	shared, err := redisstore.New(rdb, redisstore.WithPrefix("test:"+t.Name()+":")) // its default timeout, 100 ms
	if err != nil {
		t.Fatal(err)
	}
	mem, err := cache.NewMemory()
	if err != nil {
		t.Fatal(err)
	}
	tiered, err := cache.NewTiered(mem, shared)
	if err != nil {
		t.Fatal(err)
	}
	qc, err := cache.New(api, cache.WithStore(tiered))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qc.Close(); tiered.Close(); shared.Close(); mem.Close(); rdb.Close() })
	w, err := widget.New(qc, widget.WithRenderTimeout(timescale.Scale(2*time.Second)),
		widget.WithClock(func() time.Time { return reference.Add(12 * time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	var gtins []client.GTIN
	for _, d := range sb.Demo() {
		gtins = append(gtins, d.GTIN)
	}

	proxy.Blackhole()
	page := w.Page(context.Background(), gtins...)
	defer page.Close()
	for _, g := range gtins {
		html, err := page.Badge(g)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(html), "qcb-unknown") {
			t.Errorf("%s: unknown with Redis blackholed and the registry answering", g)
		}
	}
}
