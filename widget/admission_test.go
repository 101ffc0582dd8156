package widget_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/widget"
)

// The budgets below never refill during a test: setup judges at a fixed
// time (widget.WithClock), and the lookup limits refill by the same
// clock. So the counts are exact, however slow the machine.

// randomGTINs returns n distinct valid GTINs nobody sells, as a flood
// would send them.
func randomGTINs(t *testing.T, seed uint64, n int) []string {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, seed))
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		g := fmt.Sprintf("0697%09d", rnd.IntN(1_000_000_000))
		g += strconv.Itoa(checkDigit(g))
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// badgeFrom asks for a .json badge as a browser at addr would, and
// returns its verdict and response.
func badgeFrom(t *testing.T, h http.Handler, addr, gtin string, header ...string) (client.Verdict, *http.Response) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/quality/badge/"+gtin+".json", nil)
	req.RemoteAddr = addr
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	var j struct {
		Verdict client.Verdict `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(body(t, resp)), &j); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s's badge from %s: %d, %v; a badge is always drawn", gtin, addr, resp.StatusCode, err)
	}
	return j.Verdict, resp
}

// lookupsOf counts the product lookups the registry received.
func lookupsOf(e *env) int64 {
	// A hedge sends again what a slow call asked: it is no new lookup.
	return e.srv.Requests("GET /v1/products/{gtin}") + e.srv.Requests("POST /v1/products/batch") - e.qc.Stats().Hedges
}

// A flood of valid random barcodes from one address spends at most that
// address's burst of lookups; every other badge is the unknown one, at
// once, with 200, stored by no cache, and counted.
func TestBadgeFloodFromOneAddressIsBounded(t *testing.T) {
	e := setup(t, nil) // the default limits
	h := e.w.Handler("/quality/")
	const flood = 300
	throttled := 0
	for _, g := range randomGTINs(t, 1, flood) {
		v, resp := badgeFrom(t, h, "203.0.113.9:51234", g)
		if resp.Header.Get("Cache-Control") == "no-store" {
			throttled++
			if v != client.VerdictUnknown {
				t.Fatalf("a throttled badge says %s; want unknown", v)
			}
		}
	}
	want := flood - widget.DefaultBadgeLookupBurstPerAddress
	if throttled != want {
		t.Errorf("%d badges throttled (no-store); want %d: all but the address's burst of %d", throttled, want, widget.DefaultBadgeLookupBurstPerAddress)
	}
	if s := e.w.Stats(); s.BadgesThrottled != int64(want) || s.BadgesThrottledByAddress != int64(want) {
		t.Errorf("Stats = %+v; want %d throttled, all by address", s, want)
	}
	// Under the race detector a lookup may pass the render timeout before
	// it is sent, so fewer may arrive; never more.
	if n, up := lookupsOf(e), e.qc.Stats().Upstream-e.qc.Stats().Hedges; n > widget.DefaultBadgeLookupBurstPerAddress || up > widget.DefaultBadgeLookupBurstPerAddress || n == 0 {
		t.Errorf("the flood cost %d lookups (%d upstream calls); want 1 to %d", n, up, widget.DefaultBadgeLookupBurstPerAddress)
	}
}

// Many addresses together, each within its own limit, are held by the
// overall one.
func TestBadgeFloodFromManyAddressesIsBoundedOverall(t *testing.T) {
	const overall = 40
	e := setup(t, nil, widget.WithBadgeLookupLimit(50, overall))
	h := e.w.Handler("/quality/")
	gtins := randomGTINs(t, 2, 300)
	throttled := 0
	for i, g := range gtins {
		// 100 addresses, 3 badges each: far within each one's burst of 60,
		// however the addresses share limiters. Half of them IPv6, in /64s
		// of their own.
		addr := fmt.Sprintf("198.51.100.%d:40000", i%50)
		if i%100 >= 50 {
			addr = fmt.Sprintf("[2001:db8:%x::1]:40000", i%100)
		}
		if v, resp := badgeFrom(t, h, addr, g); resp.Header.Get("Cache-Control") == "no-store" && v == client.VerdictUnknown {
			throttled++
		}
	}
	want := len(gtins) - overall
	if throttled != want {
		t.Errorf("%d badges throttled; want %d: all but the overall burst of %d", throttled, want, overall)
	}
	if s := e.w.Stats(); s.BadgesThrottled != int64(want) || s.BadgesThrottledByAddress != 0 {
		t.Errorf("Stats = %+v; want %d throttled, none by address", s, want)
	}
	if n := lookupsOf(e); n > overall || n == 0 {
		t.Errorf("the flood cost %d lookups; want 1 to %d", n, overall)
	}
}

// A badge the cache can answer is served whatever the limits say: the
// platform's popular products keep their real verdict during a flood.
func TestWarmBadgesAreNeverThrottled(t *testing.T) {
	// A render timeout no slow machine reaches, so that the page warms
	// every product.
	e := setup(t, nil, widget.WithBadgeLookupLimit(50, 1), widget.WithBadgeLookupLimitPerAddress(5, 1),
		widget.WithRenderTimeout(timescale.Scale(10*time.Second)))
	h := e.w.Handler("/quality/")
	demo := e.srv.Demo()
	gtins := make([]client.GTIN, len(demo))
	for i, d := range demo {
		gtins[i] = d.GTIN
	}
	e.w.Page(context.Background(), gtins...).Close() // the platform's own page warms them

	const addr = "203.0.113.9:51234"
	flood := randomGTINs(t, 3, 5)
	for _, g := range flood {
		badgeFrom(t, h, addr, g)
	}
	before := e.w.Stats().BadgesThrottled
	if before != int64(len(flood)-1) {
		t.Fatalf("BadgesThrottled = %d after the flood; want %d: the budgets are spent", before, len(flood)-1)
	}
	for _, d := range demo {
		_, want, err := e.w.Status(context.Background(), string(d.GTIN))
		if err != nil {
			t.Fatalf("Status(%s): %v", d.GTIN, err)
		}
		for _, a := range []string{addr, "192.0.2.77:1000"} {
			got, resp := badgeFrom(t, h, a, string(d.GTIN))
			if got != want.Verdict || resp.Header.Get("Cache-Control") == "no-store" {
				t.Errorf("warm %s (%s) from %s: %s, Cache-Control %q; want its verdict, %s", d.GTIN, d.About, a, got, resp.Header.Get("Cache-Control"), want.Verdict)
			}
		}
	}
	if got := e.w.Stats().BadgesThrottled; got != before {
		t.Errorf("warm badges were throttled: BadgesThrottled %d → %d", before, got)
	}
}

// An IPv6 subscriber's addresses share one limit; behind a proxy,
// WithClientAddress gives each shopper their own.
func TestBadgeLookupLimitPerAddress(t *testing.T) {
	const burst = 3
	spend := func(t *testing.T, h http.Handler, seed uint64, n int, addr string, header ...string) (admitted int) {
		t.Helper()
		for _, g := range randomGTINs(t, seed, n) {
			if _, resp := badgeFrom(t, h, addr, g, header...); resp.Header.Get("Cache-Control") != "no-store" {
				admitted++
			}
		}
		return admitted
	}

	t.Run("ipv6", func(t *testing.T) {
		e := setup(t, nil, widget.WithBadgeLookupLimitPerAddress(5, burst))
		h := e.w.Handler("/quality/")
		if n := spend(t, h, 10, burst, "[2001:db8:1:2::1]:443"); n != burst {
			t.Fatalf("%d of the first %d cold badges admitted; want all", n, burst)
		}
		if n := spend(t, h, 11, 5, "[2001:db8:1:2:ffff:ee:dd:c]:443"); n != 0 {
			t.Errorf("another address of the same /64 had %d lookups admitted; want 0", n)
		}
	})

	t.Run("proxy", func(t *testing.T) {
		const proxy = "10.0.0.1:5555"
		realIP := func(r *http.Request) string { return r.Header.Get("X-Real-IP") }
		for _, c := range []struct {
			name string
			opts []widget.Option
			want int // the second shopper's lookups admitted
		}{
			{"by RemoteAddr, the proxy's", nil, 0},
			{"WithClientAddress", []widget.Option{widget.WithClientAddress(realIP)}, burst},
		} {
			t.Run(c.name, func(t *testing.T) {
				e := setup(t, nil, append(c.opts, widget.WithBadgeLookupLimitPerAddress(5, burst))...)
				h := e.w.Handler("/quality/")
				if n := spend(t, h, 20, burst+2, proxy, "X-Real-IP", "203.0.113.5"); n != burst {
					t.Fatalf("the first shopper had %d lookups admitted; want %d", n, burst)
				}
				// Unrelated addresses share a limiter 1 time in 4096: the
				// second shopper is the first of a few addresses whose own
				// budget is whole.
				got := 0
				for i := range 3 {
					if got = spend(t, h, 21+uint64(i), burst, proxy, "X-Real-IP", fmt.Sprintf("198.51.100.%d", 20+i)); got != 0 {
						break
					}
				}
				if got != c.want {
					t.Errorf("the second shopper behind the proxy had %d lookups admitted; want %d", got, c.want)
				}
			})
		}
	})
}

// An admitted cold badge from the public endpoint is looked up at low
// priority: it never takes the half of the upstream burst the platform's
// own pages keep.
func TestPublicBadgeLookupsRunAtLowPriority(t *testing.T) {
	// Two tokens that never refill during the test: one for the public,
	// one kept for the platform.
	e := setupWithClient(t, []client.Option{client.WithUpstreamLimit(1e-6, 2)}, nil, widget.WithRenderTimeout(timescale.Scale(5*time.Second)))
	api, w := e.api, e.w
	h := w.Handler("/quality/")
	cold := randomGTINs(t, 30, 3)
	for _, g := range cold[:2] {
		badgeFrom(t, h, "203.0.113.9:51234", g)
	}
	if s := api.Stats(); s.ThrottledLow != 1 || s.ThrottledHigh != 0 {
		t.Errorf("client stats after two public cold badges: %+v; want the second refused at low priority", s)
	}
	if _, _, err := w.Status(context.Background(), cold[2]); err != nil {
		t.Errorf("the platform's own lookup after the public spent its share: %v; want the token kept for it", err)
	}
	if s := w.Stats(); s.BadgesThrottled != 0 {
		t.Errorf("BadgesThrottled = %d; want 0: the widget's own limits admitted both", s.BadgesThrottled)
	}
}

// The limits are passive: a widget starts no goroutine for them, and an
// idle one wakes nothing (a limiter's tokens are worked out from the
// clock when a cold badge asks).
func TestBadgeLookupLimitsStartNoGoroutine(t *testing.T) {
	e := setup(t, nil)
	before := runtime.NumGoroutine()
	w, err := widget.New(e.qc, widget.WithBadgeLookupLimit(10, 10), widget.WithBadgeLookupLimitPerAddress(1, 1),
		widget.WithClientAddress(func(r *http.Request) string { return r.Header.Get("X-Real-IP") }))
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Handler("/quality/")
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("building a widget started %d goroutines", after-before)
	}
}

func TestBadgeLookupLimitOptionsAreValidated(t *testing.T) {
	e := setup(t, nil)
	for _, o := range []widget.Option{
		widget.WithBadgeLookupLimit(0, 10),
		widget.WithBadgeLookupLimit(10, 0),
		widget.WithBadgeLookupLimitPerAddress(-1, 10),
		widget.WithBadgeLookupLimitPerAddress(5, 0),
	} {
		if _, err := widget.New(e.qc, o); err == nil {
			t.Errorf("New accepted a bad lookup limit option")
		}
	}
}
