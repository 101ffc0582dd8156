package widget_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/sdktest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// A nil option is the default, as in every package of the SDK: never an
// error, never a meaning of its own.
func TestNilOptionsAreTheDefaults(t *testing.T) {
	// The cache's clock is years past the sandbox's day, when every
	// commitment has lapsed: a widget judging by any other clock (the
	// real one, the sandbox's) shows other verdicts.
	later := reference.AddDate(30, 0, 0)
	srv, _, qc := sdktest.Sandbox(t, []sandbox.Option{sandbox.WithRateLimit(0, 0), sandbox.WithReferenceTime(reference)},
		[]client.Option{client.WithMaxPause(time.Nanosecond)}, cache.WithClock(func() time.Time { return later }))
	build := func(opts ...widget.Option) *widget.Widget {
		t.Helper()
		w, err := widget.New(qc, append([]widget.Option{widget.WithRenderTimeout(timescale.Scale(10 * time.Second))}, opts...)...)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return w
	}
	verdicts := func(w *widget.Widget) map[client.GTIN]client.Verdict {
		gtins := make([]client.GTIN, 0, len(srv.Demo()))
		for _, d := range srv.Demo() {
			gtins = append(gtins, d.GTIN)
		}
		page := w.Page(context.Background(), gtins...)
		defer page.Close()
		got := map[client.GTIN]client.Verdict{}
		for _, d := range srv.Demo() {
			_, dec, err := page.Status(d.GTIN)
			if err != nil {
				t.Fatalf("%s: %v", d.GTIN, err)
			}
			got[d.GTIN] = dec.Verdict
		}
		return got
	}

	byCache := verdicts(build(widget.WithClock(func() time.Time { return later })))
	committed := 0
	for _, v := range byCache {
		if v == client.VerdictCommitted {
			committed++
		}
	}
	if committed > 0 {
		t.Fatalf("%d products committed thirty years on: the test cannot tell the clocks apart", committed)
	}
	for name, w := range map[string]*widget.Widget{
		"no WithClock":   build(),
		"WithClock(nil)": build(widget.WithClock(nil)),
	} {
		for g, v := range verdicts(w) {
			if v != byCache[g] {
				t.Errorf("%s: %s is %s, want %s, as judged by the cache's clock", name, g, v, byCache[g])
			}
		}
	}

	// The badge endpoint, with a nil catalogue and address function:
	// every product, limited by the request's own address.
	w := build(widget.WithCatalogue(nil), widget.WithClientAddress(nil), widget.WithLogger(nil))
	g := srv.Demo()[0].GTIN
	rec := httptest.NewRecorder()
	w.Handler("/").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/badge/"+string(g)+".json", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("WithCatalogue(nil): the badge of %s answered %d, want 200", g, rec.Code)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "203.0.113.7:5000"
	if got := w.ClientAddress(r); got != "203.0.113.7" {
		t.Errorf("WithClientAddress(nil): ClientAddress = %q, want the request's own, 203.0.113.7", got)
	}
}
