package widget_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/widget"
)

// publicRequest is a public endpoint's request from addr.
func publicRequest(addr string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/quality/badges", nil)
	r.RemoteAddr = addr
	return r
}

// unknownBadges renders a public page of gtins for a request from addr and
// counts its badges that are the neutral unknown one.
func unknownBadges(t *testing.T, w *widget.Widget, addr string, gtins []string) int {
	t.Helper()
	args := make([]client.GTIN, len(gtins))
	for i, g := range gtins {
		args[i] = client.GTIN(g)
	}
	page := w.PublicPage(publicRequest(addr), args...)
	defer page.Close()
	n := 0
	for _, g := range gtins {
		b, err := page.Badge(g)
		if err != nil {
			t.Fatalf("Badge(%s): %v", g, err)
		}
		if strings.Contains(string(b), "qcb-unknown") {
			n++
		}
	}
	return n
}

// A public page's cold products take lookups from the same limits as the
// badge endpoint's: a flood of listing pages of random barcodes from one
// address spends that address's burst and no more, and every other badge
// is the unknown one, at once, counted.
func TestPublicPageFloodFromOneAddressIsBounded(t *testing.T) {
	e := setup(t, nil) // the default limits, on a clock that stands still
	const pages, perPage = 3, 100
	unknown := 0
	for i := range pages {
		unknown += unknownBadges(t, e.w, "203.0.113.9:51234", randomGTINs(t, 100+uint64(i), perPage))
	}
	want := pages*perPage - widget.DefaultBadgeLookupBurstPerAddress
	if unknown != want {
		t.Errorf("%d unknown badges; want %d: all but the address's burst of %d", unknown, want, widget.DefaultBadgeLookupBurstPerAddress)
	}
	if s := e.w.Stats(); s.BadgesThrottled != int64(want) || s.BadgesThrottledByAddress != int64(want) {
		t.Errorf("Stats = %+v; want %d throttled, all by address", s, want)
	}
	if n := lookupsOf(e); n == 0 || e.qc.Stats().Misses > widget.DefaultBadgeLookupBurstPerAddress {
		t.Errorf("the flood cost %d lookup calls, %d products missed; want at most the burst of %d products",
			n, e.qc.Stats().Misses, widget.DefaultBadgeLookupBurstPerAddress)
	}
}

// Many addresses' public pages together are held by the overall limit.
func TestPublicPagesFromManyAddressesAreBoundedOverall(t *testing.T) {
	const overall = 40
	e := setup(t, nil, widget.WithBadgeLookupLimit(50, overall))
	unknown := 0
	for i := range 10 {
		// 10 addresses, 20 products each: within each one's burst.
		unknown += unknownBadges(t, e.w, fmt.Sprintf("198.51.100.%d:4000", 1+i), randomGTINs(t, 200+uint64(i), 20))
	}
	if want := 10*20 - overall; unknown != want {
		t.Errorf("%d unknown badges; want %d: all but the overall burst of %d", unknown, want, overall)
	}
	if s := e.w.Stats(); s.BadgesThrottledByAddress != 0 {
		t.Errorf("Stats = %+v; want none throttled by address", s)
	}
}

// A warm product is served on a public page whatever the limits say, and
// costs none of them.
func TestPublicPageServesWarmProducts(t *testing.T) {
	e := setup(t, nil, widget.WithBadgeLookupLimit(50, 1), widget.WithBadgeLookupLimitPerAddress(5, 1))
	var warm []string
	for _, d := range e.srv.Demo() {
		warm = append(warm, string(d.GTIN))
	}
	args := make([]client.GTIN, len(warm))
	for i, g := range warm {
		args[i] = client.GTIN(g)
	}
	own := e.w.Page(context.Background(), args...) // the platform's own page warms them
	want := make(map[string]string, len(warm))
	for _, g := range warm {
		b, _ := own.Badge(g)
		want[g] = string(b)
	}
	own.Close()

	const addr = "203.0.113.9:51234"
	if n := unknownBadges(t, e.w, addr, randomGTINs(t, 300, 5)); n != 4 {
		t.Fatalf("%d of 5 cold badges unknown with budgets of 1; want 4", n)
	}
	before := e.w.Stats().BadgesThrottled
	page := e.w.PublicPage(publicRequest(addr), append(args, client.GTIN(randomGTINs(t, 301, 1)[0]))...)
	defer page.Close()
	for _, g := range warm {
		if got, _ := page.Badge(g); string(got) != want[g] {
			t.Errorf("warm %s on a public page with the budgets spent:\n%s\nwant\n%s", g, got, want[g])
		}
	}
	if got := e.w.Stats().BadgesThrottled; got != before+1 {
		t.Errorf("BadgesThrottled %d → %d; want only the one cold product counted", before, got)
	}
}

// A product named twice on a public page is one lookup, and a product
// outside the catalogue none.
func TestPublicPageCountsEachProductOnce(t *testing.T) {
	cold := randomGTINs(t, 400, 3)
	outside := cold[2]
	e := setup(t, nil, widget.WithBadgeLookupLimitPerAddress(5, 2),
		widget.WithCatalogue(func(g client.GTIN) bool { return string(g) != outside }))
	names := []string{cold[0], cold[0], cold[1], cold[0], cold[1], outside}
	if n := unknownBadges(t, e.w, "203.0.113.9:51234", names); n != 1 {
		t.Errorf("%d unknown badges; want 1, the product outside the catalogue", n)
	}
	s := e.w.Stats()
	if s.BadgesThrottled != 0 || s.BadgesRefused != 1 {
		t.Errorf("Stats = %+v; want nothing throttled (two products, a burst of two) and one refused", s)
	}
	if m := e.qc.Stats().Misses; m != 2 {
		t.Errorf("%d products looked up; want 2", m)
	}
}

// A public page's lookups run at low priority: they never take the share
// of the upstream limit the platform's own pages keep.
func TestPublicPageLookupsRunAtLowPriority(t *testing.T) {
	e := setupWithClient(t, []client.Option{client.WithUpstreamLimit(1e-6, 2)}, nil)
	cold := randomGTINs(t, 500, 3)
	unknownBadges(t, e.w, "203.0.113.9:51234", cold[:1])
	unknownBadges(t, e.w, "203.0.113.9:51234", cold[1:2])
	if s := e.api.Stats(); s.ThrottledLow != 1 || s.ThrottledHigh != 0 {
		t.Errorf("client stats after two public pages: %+v; want the second refused at low priority", s)
	}
	if _, _, err := e.w.Status(context.Background(), cold[2]); err != nil {
		t.Errorf("the platform's own lookup after the public spent its share: %v; want the token kept for it", err)
	}
}

// A product the public page did not name up front is admitted as its
// badge is rendered: it cannot escape the limits by being left out of
// the list.
func TestPublicPageAdmitsProductsNamedLater(t *testing.T) {
	const burst = 2
	e := setup(t, nil, widget.WithBadgeLookupLimitPerAddress(5, burst))
	page := e.w.PublicPage(publicRequest("203.0.113.9:51234")) // nothing named up front
	defer page.Close()
	unknown := 0
	for _, g := range randomGTINs(t, 600, burst+3) {
		if b, _ := page.Badge(g); strings.Contains(string(b), "qcb-unknown") {
			unknown++
		}
	}
	if unknown != 3 {
		t.Errorf("%d of %d products named only by their badges unknown; want 3, past the burst of %d", unknown, burst+3, burst)
	}
	if m := e.qc.Stats().Misses; m != burst {
		t.Errorf("%d products looked up; want %d", m, burst)
	}
}
